import LitestreamClient
import CLitestreamSQLite

/// The row `litestream verify` writes into a live database and looks for in a restore of it: proof that a fresh
/// commit went all the way to the replica and back.
///
/// It lives in a table of ours, created on first use, so the user's tables and rows are never touched:
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS _litestream_verification (
///     id INTEGER PRIMARY KEY CHECK (id = 1),  -- one row, replaced at each verification
///     nonce TEXT NOT NULL,                    -- random, 32 hex digits
///     written_at INTEGER NOT NULL             -- Unix milliseconds
/// )
/// ```
///
/// Apps may drop the table; the next verification creates it again.
public enum VerificationSentinel {
    public static let table = "_litestream_verification"

    public struct Written: Sendable {
        public var nonce: String
        /// Unix milliseconds, as stored in `written_at`.
        public var writtenAt: Int64
    }

    /// Writes a new nonce in one short write transaction (busy timeout 5 s, as an app's own write would wait).
    ///
    /// The database must exist: creating it here would verify nothing.
    public static func write(database: String) throws -> Written {
        var rng = SystemRandomNumberGenerator()
        let nonce = (0..<2).map { _ in String(rng.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
        let now = POSIX.nowMilliseconds()
        guard POSIX.exists(database) else {
            throw EngineError(.databaseNotFound, "database \(database) does not exist")
        }
        let db = try SQLiteConnection(path: database, busyTimeout: 5000)
        defer { db.close() }
        // BEGIN IMMEDIATE: take the write lock up front, so a busy database waits here rather than failing on a
        // lock upgrade half-way. The nonce is hex we made: no quoting issue.
        try db.exec("""
            BEGIN IMMEDIATE;
            CREATE TABLE IF NOT EXISTS \(table) (
                id INTEGER PRIMARY KEY CHECK (id = 1), nonce TEXT NOT NULL, written_at INTEGER NOT NULL);
            INSERT OR REPLACE INTO \(table) (id, nonce, written_at) VALUES (1, '\(nonce)', \(now));
            COMMIT;
            """)
        return Written(nonce: nonce, writtenAt: now)
    }

    /// The nonce in a database file that no one else uses (a restored copy), or nil when it has none.
    public static func read(database: String) throws -> String? {
        // immutable=1: a restored copy in a private directory; no locks, no -wal/-shm files created beside it.
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2("file:\(database)?immutable=1", &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil)
        defer { sqlite3_close_v2(handle) }
        guard rc == SQLITE_OK, let handle else {
            throw SQLiteError(code: rc, message: "cannot open \(database)")
        }
        var stmt: OpaquePointer?
        let sql = "SELECT nonce FROM \(table) WHERE id = 1"
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK else {
            let message = String(cString: sqlite3_errmsg(handle))
            if message.contains("no such table") { return nil }
            throw SQLiteError(code: sqlite3_errcode(handle), message: message)
        }
        defer { sqlite3_finalize(stmt) }
        switch sqlite3_step(stmt) {
        case SQLITE_ROW: return sqlite3_column_text(stmt, 0).map { String(cString: $0) }
        case SQLITE_DONE: return nil
        default: throw SQLiteError(code: sqlite3_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
        }
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
