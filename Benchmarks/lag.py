#!/usr/bin/env python3
"""Commit-to-replica lag of one binary: how long after a commit its LTX file is in a file replica.

The measurement itself is the `lag` suite's (litebench/suites/lag.py, measure_lag); this is a shortcut to run it
for a single binary. `python3 Benchmarks/bench.py --only lag` runs it for ours and Litestream 0.5.17 side by side.

    python3 Benchmarks/lag.py --binary .build/release/litestream --commits 40
    python3 Benchmarks/lag.py --binary .venv/bin/litestream
"""
import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from litebench import BenchError, procs  # noqa: E402
from litebench.suites.lag import measure_lag  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--commits", type=int, default=40)
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between commits (fixed schedule)")
    ap.add_argument("--extra", default="", help="extra replicate flags, e.g. '-min-sync-interval 10ms'")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="lag-")
    try:
        lags = measure_lag(os.path.abspath(args.binary), shlex.split(args.extra), os.path.join(work, "lag"),
                           commits=args.commits, interval=args.interval,
                           log_path=os.path.join(work, "replicate.log"))
        print("%s: median %.1f ms, max %.1f ms over %d commits" % (
            os.path.basename(args.binary), statistics.median(lags) * 1000, max(lags) * 1000, len(lags)))
    except BenchError as e:
        sys.exit("lag failed: %s" % e)
    finally:
        procs.cleanup_children()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
