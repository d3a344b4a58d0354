#!/usr/bin/env bash
# Regenerates scripts/litestream.order, the function order scripts/build-release.sh links with.
#
#   scripts/order-file.sh
#
# Why: the kernel maps 64 KB or more of a binary around every page of code that runs (fault-around), so a replicator
# that runs a few thousand functions scattered over 30 MB of code keeps most of that code resident. Linking the
# functions that `replicate` runs next to each other (lld --symbol-ordering-file; every function in its own
# section) took its peak RSS under a 500 tx/s writer from 19-20 MB to 15.5-16 MB. The list is a profile: every
# function executed (valgrind's callgrind) while `replicate` starts, syncs a database to a file replica under a
# writer for 40 s (long enough for an L1 compaction, every 30 s), and stops. A stale list is harmless: names that
# no longer exist are skipped, and code that is not in the list (e.g. S3) is laid out as before.
#
# Needs valgrind (apt-get install valgrind) and about 15 minutes (a full build with function sections).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
source scripts/lib.sh
{ ensure_system_deps; ensure_swift; ensure_apt_packages valgrind; } >&2

bin="$(LITESTREAM_ORDER_FILE=none scripts/build-release.sh)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# valgrind cannot read the DWARF 5 that swiftc and lld write; symbols are enough.
cp "$bin" "$work/litestream"
strip --strip-debug "$work/litestream"

python3 - "$work/db.sqlite" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
EOF
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
    "$work/litestream" replicate "$work/db.sqlite" "file://$work/replica" > "$work/replicate.log" 2>&1 &
pid=$!
sleep 20  # start-up under valgrind
python3 - "$work/db.sqlite" <<'EOF'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
end = time.time() + 40
while time.time() < end:
    c.execute("INSERT INTO t (v) VALUES (?)", ("x" * 100,))
    time.sleep(0.005)
EOF
sleep 2
kill -INT "$pid"
wait "$pid" || { tail -20 "$work/replicate.log" >&2; die "replicate under valgrind failed"; }

# Every function name callgrind saw, in its order, once; only those our binary defines.
nm --defined-only "$work/litestream" | awk '{print $3}' | sort -u > "$work/defined"
sed -n 's/^c\{0,1\}fn=([0-9]*) //p' "$work/callgrind.out" | awk '!seen[$0]++' |
    awk 'NR == FNR { defined[$0] = 1; next } defined[$0]' "$work/defined" - > scripts/litestream.order
info "scripts/litestream.order: $(wc -l < scripts/litestream.order) functions" >&2
