"""burst: one transaction of --burst-mb MB (1 MB random blobs, incompressible) committed while `replicate` runs:
seconds from the commit returning until an L0 file holding it is in the replica (its header's Commit field covers
the database's new size), and the replicator's peak RSS (VmHWM) and CPU over that time."""
import os
import sqlite3
import time

from .. import db
from .. import procs


def run(ctx):
    results = {t: {"seconds": [], "rss_mb": [], "cpu_s": []} for t in ctx.tools}
    rows = ctx.args.burst_mb
    for run in range(ctx.runs):
        for tool in ctx.order(run):
            work = os.path.join(ctx.scratch, "burst-" + tool)
            db.rm(work)
            os.makedirs(work)
            path = os.path.join(work, "db.sqlite")
            replica = os.path.join(work, "replica")
            level0 = os.path.join(replica, "ltx", "0")
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA page_size=%d" % db.PAGE_SIZE)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
            tag = "burst-%s-%d" % (tool, run)
            proc = procs.spawn([ctx.bin[tool], "replicate"] + ctx.flags[tool] + [path, "file://" + replica],
                               ctx.log("replicate-" + tag))
            try:
                db.wait_for_first_ltx(proc, level0)
                time.sleep(1.0)
                cpu0 = procs.proc_cpu_seconds(proc.pid)
                conn.execute("BEGIN")
                conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                             "INSERT INTO t (b) SELECT randomblob(1000000) FROM c", (rows,))
                conn.execute("COMMIT")
                t_commit = time.perf_counter()
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                seen = set()
                while True:
                    done = False
                    for name in db.listdir(level0):
                        if name in seen or not name.endswith(".ltx"):
                            continue
                        c = db.ltx_commit_pages(os.path.join(level0, name))
                        if c is None:
                            continue
                        seen.add(name)
                        if c >= pages:
                            done = True
                    if done:
                        break
                    procs.check_running(proc, "replicate exited during the burst")
                    if time.perf_counter() - t_commit > 300:
                        raise procs.failure(proc, "burst: the transaction did not reach the replica within 300 s")
                    time.sleep(0.005)
                elapsed = time.perf_counter() - t_commit
                cpu = procs.proc_cpu_seconds(proc.pid) - cpu0
                hwm_kb = procs.proc_status_kb(proc.pid, "VmHWM")
                procs.stop(proc, timeout=300)
            finally:
                conn.close()
            r = results[tool]
            r["seconds"].append(elapsed)
            r["rss_mb"].append(hwm_kb / 1024)
            r["cpu_s"].append(cpu)
            print("  burst run %d %-6s %d MB in the replica after %.2f s, peak RSS %.1f MB, CPU %.2f s" % (
                run + 1, tool, rows, elapsed, hwm_kb / 1024, cpu), flush=True)
            db.rm(work)
    return results
