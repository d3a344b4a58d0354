"""Files and databases: the generated test database, scratch files, replicas and the checks of restored copies."""
import glob
import hashlib
import json
import os
import random
import shutil
import sqlite3
import string
import time

from . import BenchError, procs

DB_GENERATOR_VERSION = 1
PAGE_SIZE = 4096


def rm(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def rm_db(path):
    """A database file, its -wal/-shm/-journal/temp siblings and its .NAME-litestream state directory."""
    for f in glob.glob(glob.escape(path) + "*"):
        rm(f)
    d, base = os.path.split(path)
    rm(os.path.join(d, "." + base + "-litestream"))


def listdir(path):
    """os.listdir, or [] if the directory does not exist (yet)."""
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_fsync(src, dst):
    shutil.copyfile(src, dst)
    fsync_path(dst)


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def table_digest(path):
    """(row count, sha256 over every row of t in id order) of the database at path (opened immutable)."""
    conn = sqlite3.connect("file:%s?immutable=1" % path, uri=True)
    try:
        h = hashlib.sha256()
        n = 0
        for rowid, name, data in conn.execute("SELECT id, name, data FROM t ORDER BY id"):
            h.update(rowid.to_bytes(8, "big"))
            h.update(name.encode())
            h.update(len(data).to_bytes(4, "big"))
            h.update(data)
            n += 1
        return n, h.hexdigest()
    finally:
        conn.close()


def integrity_check(path):
    conn = sqlite3.connect("file:%s?immutable=1" % path, uri=True)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def count_rows(path):
    """Rows in t of the database at path (opened immutable)."""
    c = sqlite3.connect("file:%s?immutable=1" % path, uri=True)
    try:
        (n,), = c.execute("SELECT count(*) FROM t").fetchall()
        return n
    finally:
        c.close()


def ensure_source_db(workdir, size_mb):
    """The cached benchmark database: random rows (text 8-64 chars, blob 100-3000 bytes of random bytes or
    zeros, an index on the text) in 4 KiB pages, WAL mode, until the file is size_mb MB. Regenerated only if
    missing or made by another generator version."""
    path = os.path.join(workdir, "source-%dMB.db" % size_mb)
    meta_path = path + ".json"
    want = {"generator": DB_GENERATOR_VERSION, "size_mb": size_mb, "page_size": PAGE_SIZE}
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        if all(meta.get(k) == v for k, v in want.items()) and os.path.getsize(path) == meta["bytes"]:
            return path, meta
    except (OSError, ValueError, KeyError):
        pass
    print("generating a %d MB database in %s (cached for later runs) ..." % (size_mb, path), flush=True)
    t0 = time.time()
    rm_db(path)
    rm(meta_path)
    tmp = path + ".tmp"
    rm_db(tmp)
    rng = random.Random(20251127)
    letters = string.ascii_letters + string.digits
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA page_size=%d" % PAGE_SIZE)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB NOT NULL)")
    conn.execute("CREATE INDEX t_name ON t (name)")
    target = size_mb * 1000 * 1000
    while os.path.getsize(tmp) < target:
        rows = []
        for _ in range(2000):
            name = "".join(rng.choices(letters, k=rng.randint(8, 64)))
            n = rng.randint(100, 3000)
            rows.append((name, rng.randbytes(n) if rng.random() < 0.5 else bytes(n)))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (name, data) VALUES (?, ?)", rows)
        conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    fsync_path(tmp)
    os.rename(tmp, path)
    rows, digest = table_digest(path)
    meta = dict(want, bytes=os.path.getsize(path), rows=rows, sha256=digest)
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    print("  %d rows, %.1f MB, %.0f s" % (rows, meta["bytes"] / 1e6, time.time() - t0), flush=True)
    return path, meta


def verify_restored(path, meta, label):
    """A restored copy of the test database must pass integrity_check and hold the same rows as the source."""
    ic = integrity_check(path)
    if ic != ["ok"]:
        raise BenchError("%s: PRAGMA integrity_check of %s failed: %s" % (label, path, "; ".join(ic[:5])))
    rows, digest = table_digest(path)
    if rows != meta["rows"] or digest != meta["sha256"]:
        raise BenchError("%s: %s has %d rows (sha256 %s…), the source has %d rows (sha256 %s…)" % (
            label, path, rows, digest[:12], meta["rows"], meta["sha256"][:12]))


def steady_db(path):
    """A fresh, empty database for the writer child: t(id, v TEXT), 4 KiB pages, WAL."""
    rm_db(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size=%d" % PAGE_SIZE)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.close()


def wal_mb(db):
    try:
        return os.path.getsize(db + "-wal") / 1e6
    except OSError:
        return 0.0


def ltx_commit_pages(path):
    """The Commit field of an LTX header (database size in pages after the transaction), or None if unreadable."""
    try:
        with open(path, "rb") as f:
            h = f.read(16)
    except OSError:
        return None
    if len(h) < 16 or h[:4] != b"LTX1":
        return None
    return int.from_bytes(h[12:16], "big")


def wait_for_first_ltx(proc, level0, timeout=60):
    """Waits until `replicate` (proc) has written its first L0 file into the replica directory level0."""
    deadline = time.time() + timeout
    while not any(n.endswith(".ltx") for n in listdir(level0)):
        procs.check_running(proc, "replicate exited before writing its first LTX file")
        if time.time() > deadline:
            raise procs.failure(proc, "replicate wrote no LTX file to %s within %d s" % (level0, timeout))
        time.sleep(0.01)


def check_replica_rows(ctx, tool, url, work, want, what, env=None):
    """Restores url and checks that it holds `want` rows in t (after replicate's final sync)."""
    out = os.path.join(work, "restored.db")
    rm_db(out)
    procs.run_timed([ctx.bin[tool], "restore", "-o", out, url], ctx.log("%s-restore-%s" % (what, tool)), env=env)
    n = count_rows(out)
    rm_db(out)
    if n != want:
        raise BenchError("%s %s: the replica holds %d rows after the final sync, the writer committed %d" % (
            what, tool, n, want))
