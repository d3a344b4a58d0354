"""fastwriter: an app committing single-row transactions as fast as it can (synchronous=NORMAL, WAL) for
--fast-seconds: tx/s with no replicator, with ours and with theirs running on its database, and the replicator's
CPU. The first run checks that each replica holds every committed row."""
import os
import time

from .. import db
from .. import procs


def run(ctx):
    results = {c: {"tps": [], "cpu_s": [], "kept": []} for c in ("none",) + tuple(ctx.tools)}
    secs = ctx.args.fast_seconds
    for run in range(ctx.runs):
        for cfg in ["none"] + ctx.order(run):
            work = os.path.join(ctx.scratch, "fast-" + cfg)
            db.rm(work)
            os.makedirs(work)
            path = os.path.join(work, "db.sqlite")
            replica = os.path.join(work, "replica")
            db.steady_db(path)
            tag = "fast-%s-%d" % (cfg, run)
            cpu = None

            def writer():
                return procs.run_writer(path, secs, 0, ctx.log("writer-%s" % tag), ctx.log("writer-%s.json" % tag))

            if cfg == "none":
                w = writer()
            else:
                proc = procs.spawn([ctx.bin[cfg], "replicate"] + ctx.flags[cfg] + [path, "file://" + replica],
                                   ctx.log("replicate-" + tag))
                db.wait_for_first_ltx(proc, os.path.join(replica, "ltx", "0"))
                time.sleep(1.0)
                cpu0 = procs.proc_cpu_seconds(proc.pid)
                w = writer()
                procs.check_running(proc, "replicate exited while the writer ran")
                cpu = procs.proc_cpu_seconds(proc.pid) - cpu0
                procs.stop(proc)
                results[cfg]["cpu_s"].append(cpu)
                if run == 0:
                    db.check_replica_rows(ctx, cfg, "file://" + replica, work, w["tx"], "fastwriter")
            results[cfg]["tps"].append(w["tps"])
            if cfg != "none":
                # Against this run's baseline (measured just before): the machine's speed drifts between runs.
                results[cfg]["kept"].append(w["tps"] / results["none"]["tps"][-1])
            print("  fastwriter run %d %-6s %.0f tx/s (p99 commit %.2f ms)%s" % (
                run + 1, cfg, w["tps"], w["p99_ms"], "" if cpu is None else ", replicator CPU %.2f s" % cpu),
                flush=True)
            db.rm(work)
    return results
