#ifndef LITESTREAM_CSQLITE_SHIM_H
#define LITESTREAM_CSQLITE_SHIM_H
#include <sqlite3.h>

// Swift cannot call C variadic functions; these wrap the few sqlite3_db_config calls we need.

/// Stops this connection from checkpointing (and deleting the WAL) when it closes, so that our own close can never
/// back-fill frames we have not shipped yet.
static inline int litestream_sqlite3_disable_checkpoint_on_close(sqlite3 *db) {
    int out = 0;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &out);
}
#endif
