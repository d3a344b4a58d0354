"""tenants: one process replicating --tenants N idle databases of one row each, found in a watched directory
(`dir:`, `watch: true`) and sent to a file replica. Measured per tool: seconds from start until every database
has a file in its replica; the CPU of the start's remaining work after that (first snapshots, compactions) until the
process settles; CPU (user+sys) per minute over --tenants-idle-seconds of idleness after that; peak and
current RSS; and the median time from a commit to a random tenant until its replica has it (--tenants-probes
probes, one at a time); and the median wall time of `litestream list` over the control socket (3 runs). Litestream
runs only up to --tenants-theirs-max databases (above, ours alone)."""
import os
import random
import shutil
import sqlite3
import statistics
import time

from .. import db
from .. import procs


def _make_template(path):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("INSERT INTO t (v) VALUES ('tenant')")
    conn.close()  # checkpoints and removes the WAL: the file alone is a WAL-mode database


def _names(n):
    return ["tenant-%05d.db" % i for i in range(n)]


def _replica_max(replica, name):
    """The newest L0 file name in a tenant's replica, or None."""
    files = [f for f in db.listdir(os.path.join(replica, name, "ltx", "0")) if f.endswith(".ltx")]
    return max(files) if files else None


def _wait_all_replicated(proc, replica, names, timeout):
    """Seconds until every tenant's replica has an L0 file (checked every 0.25 s)."""
    t0 = time.time()
    pending = set(names)
    while pending:
        procs.check_running(proc, "replicate exited before every tenant was replicated")
        pending = {n for n in pending if _replica_max(replica, n) is None}
        if not pending:
            break
        if time.time() - t0 > timeout:
            raise procs.failure(proc, "tenants: %d of %d databases still not in their replica after %d s" % (
                len(pending), len(names), timeout))
        time.sleep(0.25)
    return time.time() - t0


def _probe(proc, dbs, replica, name, timeout=30):
    """Commits one row to a tenant; milliseconds until its replica has a newer L0 file."""
    before = _replica_max(replica, name)
    conn = sqlite3.connect(os.path.join(dbs, name), isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("INSERT INTO t (v) VALUES ('probe')")
        t0 = time.perf_counter()
        while True:
            now = _replica_max(replica, name)
            if now is not None and now != before:
                return (time.perf_counter() - t0) * 1000
            if time.perf_counter() - t0 > timeout:
                raise procs.failure(proc, "tenants: a commit to %s was not in its replica after %d s" % (name, timeout))
            time.sleep(0.002)
    finally:
        conn.close()


def _settle(proc, timeout, window=5.0, quiet=0.05):
    """Waits until the process used less than `quiet` CPU seconds (1% of a core) over the last `window` seconds,
    or `timeout` seconds; returns (seconds waited, CPU seconds used meanwhile). A start leaves work behind it
    (every database's first snapshot and compactions, for both tools); the idle window must not measure that."""
    t0, cpu0 = time.time(), procs.proc_cpu_seconds(proc.pid)
    samples = [(t0, cpu0)]
    while time.time() - t0 < timeout:
        time.sleep(0.5)
        procs.check_running(proc, "replicate exited while settling")
        now = (time.time(), procs.proc_cpu_seconds(proc.pid))
        samples.append(now)
        old = [x for x in samples if now[0] - x[0] >= window]
        if old and now[1] - old[-1][1] < quiet:
            break
    return time.time() - t0, procs.proc_cpu_seconds(proc.pid) - cpu0


def run(ctx):
    args = ctx.args
    n = args.tenants
    tools = [t for t in ctx.tools if t == "ours" or n <= args.tenants_theirs_max]
    results = {t: {"start_s": [], "settle_s": [], "settle_cpu_s": [], "idle_cpu_per_min_s": [], "rss_mb": [],
                   "rss_now_mb": [], "write_median_ms": [], "list_ms": []}
               for t in ctx.tools}
    names = _names(n)
    rng = random.Random(20)
    for run in range(ctx.runs):
        for tool in [t for t in ctx.order(run) if t in tools]:
            work = os.path.join(ctx.scratch, "tenants-" + tool)
            db.rm(work)
            dbs = os.path.join(work, "dbs")
            replica = os.path.join(work, "replica")
            os.makedirs(dbs)
            template = os.path.join(work, "template.db")
            _make_template(template)
            for name in names:
                shutil.copyfile(template, os.path.join(dbs, name))
            config = os.path.join(work, "litestream.yml")
            socket = os.path.join(work, "litestream.sock")
            with open(config, "w") as f:
                f.write("socket:\n  enabled: true\n  path: %s\n" % socket)
                f.write("dbs:\n  - dir: %s\n    pattern: \"*.db\"\n    watch: true\n    replica:\n"
                        "      type: file\n      path: %s\n" % (dbs, replica))
            tag = "tenants-%s-%d" % (tool, run)
            proc = procs.spawn([ctx.bin[tool], "replicate", "-config", config], ctx.log("replicate-" + tag))
            # On a failure, procs.cleanup_children stops the process.
            start_s = _wait_all_replicated(proc, replica, names, timeout=args.tenants_start_timeout)
            # The start's snapshots and compactions settle (at most --tenants-settle-timeout), then the idle window.
            settle_s, settle_cpu_s = _settle(proc, args.tenants_settle_timeout)
            cpu0, t0 = procs.proc_cpu_seconds(proc.pid), time.time()
            time.sleep(args.tenants_idle_seconds)
            cpu1, t1 = procs.proc_cpu_seconds(proc.pid), time.time()
            idle = (cpu1 - cpu0) * 60 / (t1 - t0)
            rss_now = procs.proc_status_kb(proc.pid, "VmRSS") / 1024
            latencies = [_probe(proc, dbs, replica, rng.choice(names)) for _ in range(args.tenants_probes)]
            rss = procs.proc_status_kb(proc.pid, "VmHWM") / 1024
            list_ms = statistics.median(
                procs.run_timed([ctx.bin[tool], "list", "-socket", socket], ctx.log("list-" + tag), timeout=120)[0] * 1000
                for _ in range(3))
            procs.stop(proc, timeout=300)
            r = results[tool]
            r["start_s"].append(start_s)
            r["settle_s"].append(settle_s)
            r["settle_cpu_s"].append(settle_cpu_s)
            r["idle_cpu_per_min_s"].append(idle)
            r["rss_mb"].append(rss)
            r["rss_now_mb"].append(rss_now)
            r["write_median_ms"].append(statistics.median(latencies))
            r["list_ms"].append(list_ms)
            print("  tenants run %d %-6s %d dbs: all replicated in %.1f s, settled %.1f s later (%.2f s CPU), idle CPU "
                  "%.2f s/min, RSS %.0f MB (peak %.0f), commit → replica median %.1f ms (max %.1f), list %.0f ms" % (
                      run + 1, tool, n, start_s, settle_s, settle_cpu_s, idle, rss_now, rss,
                      statistics.median(latencies), max(latencies), list_ms),
                  flush=True)
            db.rm(work)
    return results
