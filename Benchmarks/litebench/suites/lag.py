"""lag: commit-to-replica lag under `replicate DB file:///replica`, --lag-commits commits at --lag-rate per second
on a fixed schedule. `measure_lag` is also the steady suite's lag under a writer, and Benchmarks/lag.py's."""
import os
import sqlite3
import statistics
import subprocess
import time

from .. import BenchError
from .. import db
from .. import procs


def measure_lag(binary, flags, work, commits=40, interval=0.25, log_path=None, settle=1.0, load_rate=0):
    """Commit-to-replica lag under `replicate`: commits one transaction every `interval` seconds (on a fixed
    schedule, not waiting for the previous one to arrive) and polls the replica's ltx/0 directory every ~1 ms.
    Each commit adds an 8000-byte blob, so the database grows by at least one page per commit; commit k is in the
    replica once an L0 file whose header's Commit field (db size in pages) is >= the size after commit k exists.
    Returns the list of lags in seconds (commit returned -> file visible).

    With `load_rate`, a writer child commits that many small transactions per second into the same table while
    the probes run (the steady suite's lag). The database only grows, and each probe adds at least two pages, so
    a file whose Commit is at least the size read inside the probe's own transaction holds that probe."""
    db.rm(work)
    os.makedirs(work)
    path = os.path.join(work, "db.sqlite")
    replica = os.path.join(work, "replica")
    level0 = os.path.join(replica, "ltx", "0")
    log_path = log_path or os.path.join(work, "replicate.log")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size=%d" % db.PAGE_SIZE)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB, v TEXT)")
    proc = procs.spawn([binary, "replicate"] + list(flags) + [path, "file://" + replica], log_path)
    load = None
    try:
        db.wait_for_first_ltx(proc, level0)
        if load_rate > 0:
            seconds = settle + commits * interval + 2
            load = procs.start_writer(path, seconds, load_rate, log_path + ".load", subprocess.DEVNULL)
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
            for name in db.listdir(level0):
                if name in seen or not name.endswith(".ltx"):
                    continue
                c = db.ltx_commit_pages(os.path.join(level0, name))
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
                    raise procs.failure(proc, "lag: commit %d did not reach the replica within 30 s" % i)
                else:
                    still.append((i, pages, t_commit))
            pending = still
            procs.check_running(proc, "replicate exited during the lag measurement")
            time.sleep(0.001)
        conn.close()
        if load is not None:
            if load.wait(timeout=60) != 0:
                raise procs.failure(load, "the load writer failed")
            procs.forget(load)
        procs.stop(proc)
        return lags
    finally:
        conn.close()  # (again, harmless) on the error path; the children are stopped by procs.cleanup_children


def run(ctx):
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
            db.rm(os.path.join(ctx.scratch, "lag-" + tool))
    return results
