"""steady: a writer child commits --steady-rate small transactions per second for --steady-seconds under
`replicate DB file:///replica`: replicator CPU and peak RSS, the writer's tx/s and commit latency, against the same
writer with no replicator and the durable-write floor; then, in a separate pass, the lag under that writer."""
import os
import statistics
import time

from .. import db
from .. import procs
from ..workload import FLOOR_SYNCS_PER_SECOND
from .lag import measure_lag


def run(ctx):
    args = ctx.args
    results = {t: {"cpu_s": [], "rss_mb": [], "tps": [], "p99_ms": [], "max_ms": [], "lag_median_ms": [],
                   "lag_max_ms": []} for t in ctx.tools}
    results["none"] = {"tps": [], "p99_ms": [], "max_ms": [], "floor_cpu_s": []}
    for run in range(ctx.runs):
        configs = ["none"] + ctx.order(run)
        for cfg in configs:
            work = os.path.join(ctx.scratch, "steady-" + cfg)
            db.rm(work)
            os.makedirs(work)
            path = os.path.join(work, "db.sqlite")
            db.steady_db(path)
            tag = "%s-%d" % (cfg, run)
            r = results[cfg]

            def writer():
                return procs.run_writer(path, args.steady_seconds, args.steady_rate, ctx.log("writer-%s" % tag),
                                        ctx.log("writer-%s.json" % tag))

            if cfg == "none":
                w = writer()
                floor = procs.run_floor(os.path.join(work, "floor"), args.steady_seconds, FLOOR_SYNCS_PER_SECOND,
                                        ctx.log("steady-floor-" + tag))
                r["floor_cpu_s"].append(floor)
                line = "no replicator; durable-write floor at %d syncs/s: CPU %.3f s" % (FLOOR_SYNCS_PER_SECOND, floor)
            else:
                replica = os.path.join(work, "replica")
                proc = procs.spawn([ctx.bin[cfg], "replicate"] + ctx.flags[cfg] + [path, "file://" + replica],
                                   ctx.log("steady-replicate-" + tag))
                db.wait_for_first_ltx(proc, os.path.join(replica, "ltx", "0"))
                time.sleep(1.0)
                cpu0 = procs.proc_cpu_seconds(proc.pid)
                w = writer()
                procs.check_running(proc, "replicate exited while the writer ran")
                cpu = procs.proc_cpu_seconds(proc.pid) - cpu0
                hwm_kb = procs.proc_status_kb(proc.pid, "VmHWM")
                wal = db.wal_mb(path)
                procs.stop(proc)
                r["cpu_s"].append(cpu)
                r["rss_mb"].append(hwm_kb / 1024)
                if run == 0:
                    # The replica must hold every committed row after the final sync.
                    db.check_replica_rows(ctx, cfg, "file://" + replica, work, w["tx"], "steady")
                line = "replicator CPU %.2f s, peak RSS %.1f MB, WAL %.1f MB at the end" % (cpu, hwm_kb / 1024, wal)
            r["tps"].append(w["tps"])
            r["p99_ms"].append(w["p99_ms"])
            r["max_ms"].append(w["max_ms"])
            print("  steady run %d %-6s writer %.1f tx/s (p99 commit %.2f ms, max %.1f ms), %s" % (
                run + 1, cfg, w["tps"], w["p99_ms"], w["max_ms"], line), flush=True)
            db.rm(work)
            if cfg != "none":
                # Lag under the same load, in a separate pass so that the probe's polling is not in the CPU figures.
                lags = measure_lag(ctx.bin[cfg], ctx.flags[cfg], work, commits=args.lag_commits,
                                   interval=1.0 / args.lag_rate, log_path=ctx.log("steady-lag-" + tag),
                                   load_rate=args.steady_rate)
                r["lag_median_ms"].append(statistics.median(lags) * 1000)
                r["lag_max_ms"].append(max(lags) * 1000)
                print("  steady run %d %-6s lag under %g tx/s: median %.1f ms, max %.1f ms over %d commits" % (
                    run + 1, cfg, args.steady_rate, r["lag_median_ms"][-1], r["lag_max_ms"][-1], len(lags)),
                    flush=True)
                db.rm(work)
    return results
