"""s3: on a local moto_server, the restore of the test database from an S3 replica, and the requests each
replicator makes (through a counting proxy): during --idle-seconds of an idle database after the initial sync,
the lag of isolated commits (--s3-lag-commits of them, --s3-lag-gap seconds apart: the time from a commit to the
first PUT answered after it), and per second under a --s3-writer-rate tx/s writer."""
import os
import sqlite3
import statistics
import time

from .. import BenchError
from .. import db
from .. import procs
from .. import s3

BUCKET = "bench"


def run(ctx):
    env = s3.s3_env()
    moto, port = s3.start_moto(ctx.log("moto"))
    if s3.s3_request(port, "PUT", "/" + BUCKET) not in (200, 409):
        raise BenchError("cannot create bucket %s on moto" % BUCKET)
    results = {t: {"restore_s": [], "idle_requests": [], "steady_rps": [], "steady_by_method": [],
                    "isolated_lag_ms": []} for t in ctx.tools}
    try:
        _restores(ctx, env, port, results)
        _requests(ctx, env, port, results)
    finally:
        s3.stop_moto(moto)
    return results


def _restores(ctx, env, port, results):
    # Replicas of the source db, one per tool, for the restore runs.
    for tool in ctx.tools:
        work = os.path.join(ctx.scratch, "s3-snap-" + tool)
        db.rm(work)
        os.makedirs(work)
        path = os.path.join(work, "db.sqlite")
        db.copy_fsync(ctx.source_db, path)
        procs.run_timed([ctx.bin[tool], "replicate", "-once", "-force-snapshot", path,
                         s3.s3_url(BUCKET, "restore-" + tool, port)], ctx.log("s3-snapshot-" + tool), env=env)
        db.rm(work)
    out_dir = os.path.join(ctx.scratch, "s3-restore")
    db.rm(out_dir)
    os.makedirs(out_dir)
    for run in range(ctx.runs):
        for tool in ctx.order(run):
            out = os.path.join(out_dir, tool + ".db")
            db.rm_db(out)
            wall, _, _ = procs.run_timed(
                [ctx.bin[tool], "restore", "-o", out, s3.s3_url(BUCKET, "restore-" + tool, port)],
                ctx.log("s3-restore-%s-%d" % (tool, run)), env=env)
            if run == 0:
                db.verify_restored(out, ctx.source_meta, "S3 restore %s" % tool)
            db.rm_db(out)
            results[tool]["restore_s"].append(wall)
            print("  s3 restore run %d %-6s %.2f s" % (run + 1, tool, wall), flush=True)
    db.rm(out_dir)


def _requests(ctx, env, port, results):
    # Requests: idle, then a steady writer.
    args = ctx.args
    for run in range(ctx.runs):
        for tool in ctx.order(run):
            work = os.path.join(ctx.scratch, "s3-req-" + tool)
            db.rm(work)
            os.makedirs(work)
            path = os.path.join(work, "db.sqlite")
            db.steady_db(path)
            c = sqlite3.connect(path, isolation_level=None)
            c.execute("INSERT INTO t (v) VALUES ('x')")
            c.close()
            proxy = s3.CountingProxy(port)
            tag = "s3-req-%s-%d" % (tool, run)
            url = s3.s3_url(BUCKET, "req-%s-%d" % (tool, run), proxy.port)
            proc = procs.spawn([ctx.bin[tool], "replicate"] + ctx.flags[tool] + [path, url],
                               ctx.log("replicate-" + tag), env=env)
            try:
                deadline = time.time() + 60
                while proxy.snapshot().get("PUT", 0) == 0:
                    procs.check_running(proc, "replicate exited before its first upload to S3")
                    if time.time() > deadline:
                        raise procs.failure(proc, "replicate made no PUT to S3 within 60 s")
                    time.sleep(0.1)
                s3.wait_quiet(proxy)
                before = proxy.total()
                time.sleep(args.idle_seconds)
                idle = proxy.total() - before
                lags = _isolated_lags(ctx, proc, path, proxy)
                b = proxy.snapshot()
                t0 = time.perf_counter()
                w = procs.run_writer(path, args.s3_writer_seconds, args.s3_writer_rate, ctx.log("writer-%s" % tag),
                                     ctx.log("writer-%s.json" % tag))
                elapsed = time.perf_counter() - t0
                a = proxy.snapshot()
                by = {k: (a.get(k, 0) - b.get(k, 0)) / elapsed for k in a if a.get(k, 0) != b.get(k, 0)}
                procs.stop(proc)
            finally:
                proxy.close()
            if run == 0:
                db.check_replica_rows(ctx, tool, s3.s3_url(BUCKET, "req-%s-%d" % (tool, run), port), work,
                                      w["tx"] + 1 + args.s3_lag_commits, "s3", env=env)
            r = results[tool]
            r["idle_requests"].append(idle)
            r["steady_rps"].append(sum(by.values()))
            r["steady_by_method"].append(by)
            r["isolated_lag_ms"].append(statistics.median(lags))
            print("  s3 requests run %d %-6s idle %d s: %d requests; isolated commit lag median %.0f ms; "
                  "%g tx/s writer: %.2f requests/s (%s)" % (
                run + 1, tool, args.idle_seconds, idle, statistics.median(lags), args.s3_writer_rate, sum(by.values()),
                ", ".join("%s %.2f" % kv for kv in sorted(by.items()))), flush=True)
            db.rm(work)


def _isolated_lags(ctx, proc, path, proxy):
    """Commits one row every --s3-lag-gap seconds, --s3-lag-commits times, on a quiet database; returns each one's
    lag in ms: from the commit's return to the first PUT that moto answered after it (the commit's LTX file)."""
    args = ctx.args
    lags = []
    c = sqlite3.connect(path, isolation_level=None)
    try:
        for i in range(args.s3_lag_commits):
            time.sleep(args.s3_lag_gap)
            c.execute("INSERT INTO t (v) VALUES (?)", ("isolated %d" % i,))
            t = time.perf_counter()
            deadline = t + 30
            while (done := proxy.first_put_after(t)) is None:
                procs.check_running(proc, "replicate exited during the isolated commits")
                if time.perf_counter() > deadline:
                    raise procs.failure(proc, "an isolated commit reached S3 in no PUT within 30 s")
                time.sleep(0.002)
            lags.append((done - t) * 1000)
    finally:
        c.close()
    s3.wait_quiet(proxy)
    return lags
