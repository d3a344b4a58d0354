"""snapshot: `replicate -once -force-snapshot` of a fresh copy of the test database into an empty file replica:
wall, CPU (user + sys), peak RSS, replica size. Also makes the replicas the restore suite reads."""
import glob
import os

from .. import BenchError
from .. import db
from ..procs import run_timed


def run(ctx, timed=True):
    """One replicate -once -force-snapshot per tool per run (once per tool if not `timed`). Leaves
    ctx.replica[tool] (the last replica of each tool) for the restore suite."""
    results = {t: {"wall_s": [], "cpu_s": [], "rss_mb": [], "replica_mb": []} for t in ctx.tools}
    runs = ctx.runs if timed else 1
    for run in range(runs):
        for tool in ctx.order(run):
            work = os.path.join(ctx.scratch, "snapshot-" + tool)
            db.rm(work)
            os.makedirs(work)
            path = os.path.join(work, "db.sqlite")
            replica = os.path.join(work, "replica")
            db.copy_fsync(ctx.source_db, path)
            cmd = [ctx.bin[tool], "replicate", "-once", "-force-snapshot", path, "file://" + replica]
            wall, cpu, rss = run_timed(cmd, ctx.log("snapshot-%s-%d" % (tool, run)))
            if not glob.glob(os.path.join(replica, "ltx", "9", "*.ltx")):
                raise BenchError("%s: replicate -once -force-snapshot left no snapshot in %s/ltx/9" % (tool, replica))
            r = results[tool]
            r["wall_s"].append(wall)
            r["cpu_s"].append(cpu)
            r["rss_mb"].append(rss / 2**20)
            r["replica_mb"].append(db.dir_bytes(replica) / 1e6)
            if timed:
                print("  snapshot run %d %-6s wall %.2f s, cpu %.2f s, peak RSS %.0f MB" % (
                    run + 1, tool, wall, cpu, rss / 2**20), flush=True)
            # Keep only the replica; the copied db and its local state are not needed any more.
            final = os.path.join(ctx.scratch, "replica-" + tool)
            db.rm(final)
            os.rename(replica, final)
            ctx.replica[tool] = final
            db.rm(work)
    return results if timed else None
