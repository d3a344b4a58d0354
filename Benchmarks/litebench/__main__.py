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
  syncwait  a commit, then `sync -wait` (and ours: the same request in-process over the socket): time until the
            answer, with a file replica (what the integration's durable-write await costs)
  tenants   --tenants idle one-row databases in a watched directory (`dir:`, `watch: true`): time until all are
            in the replica, the start's remaining work until the process settles, idle CPU per minute after that,
            RSS, commit → replica median for a random tenant
  s3        on a local moto_server: restore of the 250 MB db from S3, and S3 requests (through a counting proxy)
            during 60 s of an idle database and per second under a 100 tx/s writer
Each is repeated --runs times; the table shows medians of the per-run values. Python 3 standard library only.
"""
import argparse
import datetime
import json
import os
import shlex
import signal
import sys
import time

from . import REPO, BenchError, binaries, db, procs, report, suites, workload


class Ctx:
    """What the suites share; see suites/__init__.py."""


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--ours", help="our litestream binary (default: build it with %s/scripts/build-release.sh)" % REPO)
    ap.add_argument("--ours-label", help="how the table header names ours (default: litestream-swift and the git "
                                         "revision of this checkout, or the --ours path if it is outside it)")
    ap.add_argument("--theirs", help="Litestream 0.5.17 binary (default: .venv/bin/litestream in the repo, "
                                     "else /tmp/venv/bin/litestream)")
    ap.add_argument("--runs", type=int, default=3, help="repetitions of each measurement (default 3)")
    ap.add_argument("--only", default=",".join(suites.ALL),
                    help="comma-separated subset of %s (default: all)" % ",".join(suites.ALL))
    ap.add_argument("--workdir", default="/tmp/litestream-bench",
                    help="cache for the generated database and scratch space (default /tmp/litestream-bench)")
    ap.add_argument("--db-size-mb", type=int, default=250, help="size of the restore/snapshot database (250)")
    ap.add_argument("--lag-commits", type=int, default=40, help="commits per lag run (40)")
    ap.add_argument("--lag-rate", type=float, default=4.0, help="commits per second in the lag runs (4)")
    ap.add_argument("--steady-seconds", type=float, default=20, help="length of each steady-state run (20)")
    ap.add_argument("--steady-rate", type=float, default=500, help="writer transactions per second (500)")
    ap.add_argument("--fast-seconds", type=float, default=10, help="length of each fastwriter run (10)")
    ap.add_argument("--burst-mb", type=int, default=200, help="size of the burst transaction in MB (200)")
    ap.add_argument("--syncwait-commits", type=int, default=30, help="commits per syncwait run (30)")
    ap.add_argument("--idle-seconds", type=float, default=60, help="s3: idle time over which requests are counted (60)")
    ap.add_argument("--s3-writer-seconds", type=float, default=60,
                    help="s3: length of the steady writer (60: two L1 compactions, whose requests a 20 s window took or missed by chance)")
    ap.add_argument("--s3-lag-commits", type=int, default=10, help="s3: isolated commits whose lag is measured (10)")
    ap.add_argument("--s3-lag-gap", type=float, default=3, help="s3: seconds of quiet before each isolated commit (3)")
    ap.add_argument("--s3-writer-rate", type=float, default=100, help="s3: writer transactions per second (100)")
    ap.add_argument("--tenants", type=int, default=1000, help="tenants: databases in the watched directory (1000)")
    ap.add_argument("--tenants-idle-seconds", type=float, default=60,
                    help="tenants: idle time over which CPU is measured (60)")
    ap.add_argument("--tenants-probes", type=int, default=20,
                    help="tenants: commits to random tenants whose time to the replica is measured (20)")
    ap.add_argument("--tenants-theirs-max", type=int, default=2000,
                    help="tenants: Litestream runs only up to this many databases; above, ours alone (2000)")
    ap.add_argument("--tenants-settle-timeout", type=float, default=60,
                    help="tenants: longest wait after the start for the process to settle before the idle window (60 s)")
    ap.add_argument("--tenants-start-timeout", type=float, default=900,
                    help="tenants: longest wait for every database to reach its replica (900 s)")
    ap.add_argument("--ours-flags", default="",
                    help="extra flags for our continuous `replicate` (lag, steady), e.g. '-min-sync-interval 10ms'")
    ap.add_argument("--theirs-flags", default="", help="extra flags for Litestream's continuous `replicate`")
    ap.add_argument("--output", help="also write the markdown table to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, replicas)")
    args = ap.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in chosen if s not in suites.ALL]
    if bad or not chosen:
        ap.error("--only: unknown %s (choose from %s)" % (",".join(bad) or "(empty)", ",".join(suites.ALL)))
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    return args, chosen


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("_writer", "_floor"):
        # The workload children as bench.py ran them before they moved to workload.py.
        return workload.main([argv[0][1:]] + argv[1:])
    args, chosen = parse_args(argv)
    # Ctrl-C raises KeyboardInterrupt even if the parent shell started us with SIGINT ignored; SIGTERM and SIGHUP
    # exit through the same clean-up path (children are stopped, scratch removed).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, procs.exit_on_signal)
    signal.signal(signal.SIGHUP, procs.exit_on_signal)

    ctx = Ctx()
    ctx.args = args
    ctx.runs = args.runs
    ctx.started = datetime.datetime.now(datetime.timezone.utc)
    ctx.machine = report.machine_line()
    ctx.tools = ("ours", "theirs")
    ctx.order = lambda run: ["ours", "theirs"] if run % 2 == 0 else ["theirs", "ours"]
    ctx.workdir = os.path.abspath(args.workdir)
    ctx.scratch = os.path.join(ctx.workdir, "scratch")
    logs = os.path.join(ctx.scratch, "logs")
    db.rm(ctx.scratch)
    os.makedirs(logs)
    ctx.log = lambda name: os.path.join(logs, name + ("" if name.endswith(".json") else ".log"))
    ctx.replica = {}
    ctx.flags = {"ours": shlex.split(args.ours_flags), "theirs": shlex.split(args.theirs_flags)}
    t_start = time.time()
    try:
        if os.getloadavg()[0] > 0.75 * (os.cpu_count() or 1):
            print("warning: load average is %.2f on %d CPUs; results will be noisy" % (
                os.getloadavg()[0], os.cpu_count()), file=sys.stderr)
        ours = os.path.abspath(args.ours) if args.ours else binaries.build_ours(ctx.log("build"))
        theirs = os.path.abspath(args.theirs or binaries.find_theirs())
        ctx.bin = {"ours": ours, "theirs": theirs}
        if args.ours_label:
            ctx.ours_label = args.ours_label
        elif not args.ours or ours.startswith(REPO + os.sep):
            ctx.ours_label = "litestream-swift " + binaries.git_describe()
        else:
            ctx.ours_label = ours
        ctx.version = {"ours": binaries.tool_version(ours), "theirs": "litestream " + binaries.tool_version(theirs)}
        if "0.5.17" not in ctx.version["theirs"]:
            print("warning: --theirs reports version %r, not 0.5.17" % ctx.version["theirs"], file=sys.stderr)
        print("ours:   %s (%s)\ntheirs: %s (%s)" % (ours, ctx.version["ours"], theirs, ctx.version["theirs"]),
              flush=True)

        ctx.source_db, ctx.source_meta = None, None
        if "snapshot" in chosen or "restore" in chosen or "s3" in chosen:
            ctx.source_db, ctx.source_meta = db.ensure_source_db(ctx.workdir, args.db_size_mb)
        res = {}
        seconds = {}  # wall time of each suite, in the JSON file only
        for name in suites.ALL:
            if name not in chosen:
                continue
            suite = suites.MODULES[name]
            t_suite = time.time()
            if hasattr(suite, "prepare"):
                suite.prepare(ctx)
            print("%s ..." % suites.TITLES.get(name, name), flush=True)
            res[name] = suite.run(ctx)
            seconds[name] = round(time.time() - t_suite, 1)

        table = report.table(ctx, res)
        print("\n" + table + "\n")
        print("total time %.0f s" % (time.time() - t_start))
        raw = os.path.join(ctx.workdir, "results-%s.json" % ctx.started.strftime("%Y%m%dT%H%M%SZ"))
        with open(raw, "w") as f:
            json.dump({"started": ctx.started.isoformat(), "machine": ctx.machine, "version": ctx.version,
                       "binaries": ctx.bin, "args": vars(args), "results": res, "table": table,
                       "suite_seconds": seconds, "total_seconds": round(time.time() - t_start, 1)}, f, indent=1)
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
        procs.cleanup_children()
        if not args.keep:
            db.rm(ctx.scratch)


if __name__ == "__main__":
    sys.exit(main())
