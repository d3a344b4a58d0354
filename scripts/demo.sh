#!/usr/bin/env bash
# End-to-end demo: replicate a live SQLite database to a file replica, then restore it.
#
#   scripts/demo.sh
#
# 1. installs the apt packages it needs (as scripts/test.sh does) and builds the
#    `litestream` executable (debug configuration: it is the build scripts/test.sh
#    makes too, so a second build is incremental and it is quicker than release;
#    DEMO_CONFIG=release builds and uses the release binary instead),
# 2. creates a sample database in WAL mode in a temporary directory with the sqlite3 CLI,
# 3. runs `litestream replicate DB file://DIR/replica` in the background,
# 4. writes rows (inserts, updates, deletes) for a few seconds (DEMO_SECONDS, default 5),
# 5. stops replicate with SIGINT, as Ctrl-C would (it does a final sync and exits),
# 6. runs `litestream restore -o DIR/restored.db file://DIR/replica`,
# 7. checks PRAGMA integrity_check and that the restored rows equal the source's.
#
# Exits 0 when everything matched, non-zero otherwise. The temporary directory is
# removed at the end unless DEMO_KEEP=1.
#
# LITESTREAM=/path/to/litestream scripts/demo.sh runs the demo with that binary
# instead of building ours (e.g. the reference Litestream 0.5.17 in .venv/bin after
# scripts/test.sh has run: same command-line syntax).
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

DEMO_SECONDS="${DEMO_SECONDS:-5}"
DEMO_CONFIG="${DEMO_CONFIG:-debug}"

WORK=""
REPLICATE_PID=""

cleanup() {
    local status=$?
    if [ -n "$REPLICATE_PID" ] && kill -0 "$REPLICATE_PID" 2>/dev/null; then
        kill -KILL "$REPLICATE_PID" 2>/dev/null || true
        wait "$REPLICATE_PID" 2>/dev/null || true
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "${DEMO_KEEP:-0}" = "1" ] || [ "$status" -ne 0 ]; then
            printf '\n(demo files kept in %s)\n' "$WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    if [ "$status" -ne 0 ]; then
        printf '\nDEMO FAILED (exit status %s)\n' "$status" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_log() {
    if [ -s "$WORK/replicate.log" ]; then
        printf '  --- litestream replicate log (last 40 lines) ---\n' >&2
        tail -n 40 "$WORK/replicate.log" | sed 's/^/  | /' >&2
    fi
}

fail() {
    printf 'error: %s\n' "$*" >&2
    show_log
    exit 1
}

# --- 1. dependencies and binary ---------------------------------------------

if [ -n "${LITESTREAM:-}" ]; then
    section "Dependencies"
    ensure_apt_packages sqlite3
    command -v "$LITESTREAM" >/dev/null 2>&1 || die "LITESTREAM=$LITESTREAM is not an executable"
    LS="$(command -v "$LITESTREAM")"
    case "$LS" in /*) ;; *) LS="$PWD/$LS" ;; esac
    info "using LITESTREAM=$LS (not building)"
else
    section "Dependencies"
    ensure_system_deps
    ensure_swift

    section "Build (swift build -c $DEMO_CONFIG --product litestream)"
    swift build -c "$DEMO_CONFIG" --product litestream
    LS="$(swift build -c "$DEMO_CONFIG" --show-bin-path)/litestream"
    [ -x "$LS" ] || die "built binary not found at $LS"
fi
info "binary:  $LS"
info "version: $("$LS" version 2>&1 || true)"

# --- 2. sample database -----------------------------------------------------

WORK="$(mktemp -d "${TMPDIR:-/tmp}/litestream-demo.XXXXXX")"
DB="$WORK/app.db"
REPLICA_DIR="$WORK/replica"
REPLICA_URL="file://$REPLICA_DIR"
RESTORED="$WORK/restored.db"

section "Sample database"
sqlite3 -batch -bail "$DB" >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
CREATE TABLE items (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    qty     INTEGER NOT NULL,
    payload BLOB
);
CREATE INDEX items_name ON items(name);
INSERT INTO items (name, qty, payload)
    SELECT 'seed-' || value, value, randomblob(200)
    FROM generate_series(1, 100);
SQL
[ "$(sqlite3 "$DB" 'PRAGMA journal_mode')" = "wal" ] || fail "database is not in WAL mode"
info "database: $DB (WAL mode, $(sqlite3 "$DB" 'SELECT count(*) FROM items') seed rows)"
info "replica:  $REPLICA_URL"

# --- 3. replicate in the background ------------------------------------------

section "Replicate: litestream replicate $DB $REPLICA_URL"
# Background jobs of a script start with SIGINT ignored; reset it so that
# SIGINT reaches the process as a Ctrl-C would.
( trap - INT QUIT; exec "$LS" replicate "$DB" "$REPLICA_URL" ) >"$WORK/replicate.log" 2>&1 </dev/null &
REPLICATE_PID=$!
info "started (pid $REPLICATE_PID, log $WORK/replicate.log)"
sleep 1
kill -0 "$REPLICATE_PID" 2>/dev/null || fail "litestream replicate exited right away"

# --- 4. write for a few seconds ----------------------------------------------

section "Writing for ${DEMO_SECONDS}s"
start=$SECONDS
rounds=0
while [ $((SECONDS - start)) -lt "$DEMO_SECONDS" ]; do
    rounds=$((rounds + 1))
    sqlite3 -batch -bail "$DB" >/dev/null <<SQL || fail "write round $rounds failed"
PRAGMA busy_timeout = 5000;
BEGIN;
INSERT INTO items (name, qty, payload)
    SELECT 'round-$rounds-' || value, value * $rounds, randomblob(100 + abs(random() % 900))
    FROM generate_series(1, 25);
UPDATE items SET qty = qty + 1 WHERE id % 7 = $((rounds % 7));
DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY random() LIMIT 3);
COMMIT;
SQL
    kill -0 "$REPLICATE_PID" 2>/dev/null || fail "litestream replicate died while writing (round $rounds)"
    sleep 0.2
done
# One last write right before the stop: the final sync on SIGINT must carry it.
sqlite3 -batch -bail "$DB" "PRAGMA busy_timeout = 5000; INSERT INTO items (name, qty) VALUES ('last-write', 0);" >/dev/null \
    || fail "last write failed"
rows="$(sqlite3 "$DB" 'SELECT count(*) FROM items')"
info "$rounds write transactions (+1 last write); source now has $rows rows"

# --- 5. stop with SIGINT -----------------------------------------------------

section "Stopping replicate with SIGINT"
kill -INT "$REPLICATE_PID"
stopped=0
for _ in $(seq 1 300); do
    if ! kill -0 "$REPLICATE_PID" 2>/dev/null; then
        stopped=1
        break
    fi
    sleep 0.1
done
if [ "$stopped" -ne 1 ]; then
    fail "litestream replicate did not exit within 30s of SIGINT"
fi
set +e
wait "$REPLICATE_PID"
replicate_status=$?
set -e
REPLICATE_PID=""
[ "$replicate_status" -eq 0 ] || fail "litestream replicate exited with status $replicate_status after SIGINT"
info "replicate exited with status 0"

ltx_files="$(find "$REPLICA_DIR" -name '*.ltx' -type f 2>/dev/null | wc -l | tr -d ' ')"
replica_bytes="$(du -sk "$REPLICA_DIR" 2>/dev/null | cut -f1)"
[ "$ltx_files" -gt 0 ] || fail "no LTX files in $REPLICA_DIR"
info "replica holds $ltx_files LTX file(s), ${replica_bytes} KiB"

section "LTX files: litestream ltx $REPLICA_URL"
if ! "$LS" ltx "$REPLICA_URL" 2>&1 | sed 's/^/  /'; then
    info "(warning: 'litestream ltx' failed; not part of the pass/fail check)"
fi

# --- 6. restore --------------------------------------------------------------

section "Restore: litestream restore -o $RESTORED $REPLICA_URL"
"$LS" restore -o "$RESTORED" "$REPLICA_URL" >"$WORK/restore.log" 2>&1 || {
    sed 's/^/  | /' "$WORK/restore.log" >&2
    fail "litestream restore failed"
}
[ -f "$RESTORED" ] || fail "restore did not create $RESTORED"

# --- 7. verify ---------------------------------------------------------------

section "Verify"
integrity="$(sqlite3 "$RESTORED" 'PRAGMA integrity_check')"
[ "$integrity" = "ok" ] || fail "integrity_check on the restored database: $integrity"
info "PRAGMA integrity_check: ok"

restored_rows="$(sqlite3 "$RESTORED" 'SELECT count(*) FROM items')"
[ "$restored_rows" = "$rows" ] || fail "row count differs: source $rows, restored $restored_rows"
info "row count: $restored_rows (matches)"

content_query="SELECT id, name, qty, hex(payload) FROM items ORDER BY id"
source_sum="$(sqlite3 "$DB" "$content_query" | sha256sum | cut -d' ' -f1)"
restored_sum="$(sqlite3 "$RESTORED" "$content_query" | sha256sum | cut -d' ' -f1)"
[ "$source_sum" = "$restored_sum" ] || fail "row contents differ (sha256 $source_sum vs $restored_sum)"
info "content sha256: $restored_sum (matches)"

source_schema="$(sqlite3 "$DB" .schema)"
restored_schema="$(sqlite3 "$RESTORED" .schema)"
[ "$source_schema" = "$restored_schema" ] || fail "schema differs"
info "schema: matches"

[ "$(sqlite3 "$RESTORED" "SELECT count(*) FROM items WHERE name = 'last-write'")" = "1" ] \
    || fail "the last write before SIGINT is missing from the restored database"
info "last write before SIGINT: present"

section "Summary"
info "binary:        $LS"
info "writes:        $rounds transactions over ${DEMO_SECONDS}s + 1 last write"
info "replica:       $ltx_files LTX file(s), ${replica_bytes} KiB in $REPLICA_URL"
info "restored:      $restored_rows rows, integrity ok, contents identical to the source"
printf '\nDEMO OK\n'
