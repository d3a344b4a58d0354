"""restore: `restore -o` from each tool's own file replica and ours from Litestream's, against a copy + fsync of
the database file (the physical floor). The first run checks every restored file."""
import os
import time

from .. import THEIRS_LABEL
from .. import db
from ..procs import run_timed
from . import snapshot


def prepare(ctx):
    """Without the snapshot suite before it: one replica per tool, untimed."""
    if not ctx.replica:
        print("building one replica per tool for the restore runs ...", flush=True)
        snapshot.run(ctx, timed=False)


def run(ctx):
    prepare(ctx)
    cases = [("ours", "ours", "ours"), ("theirs", "theirs", "theirs"), ("ours_from_theirs", "ours", "theirs")]
    results = {c[0]: [] for c in cases}
    results["floor"] = []
    out_dir = os.path.join(ctx.scratch, "restore")
    db.rm(out_dir)
    os.makedirs(out_dir)
    for run in range(ctx.runs):
        order = cases if run % 2 == 0 else list(reversed(cases))
        for label, tool, replica_of in order:
            out = os.path.join(out_dir, label + ".db")
            db.rm_db(out)
            cmd = [ctx.bin[tool], "restore", "-o", out, "file://" + ctx.replica[replica_of]]
            wall, _, _ = run_timed(cmd, ctx.log("restore-%s-%d" % (label, run)))
            results[label].append(wall)
            if run == 0:
                db.verify_restored(out, ctx.source_meta, "restore %s" % label)
            db.rm_db(out)
        out = os.path.join(out_dir, "floor.db")
        db.rm(out)
        t0 = time.perf_counter()
        db.copy_fsync(ctx.source_db, out)
        results["floor"].append(time.perf_counter() - t0)
        db.rm(out)
        print("  restore run %d: ours %.2f s, %s %.2f s, ours from theirs' replica %.2f s, copy+fsync %.2f s" % (
            run + 1, results["ours"][-1], THEIRS_LABEL, results["theirs"][-1], results["ours_from_theirs"][-1],
            results["floor"][-1]), flush=True)
    db.rm(out_dir)
    return results
