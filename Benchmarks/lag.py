#!/usr/bin/env python3
"""Commit-to-replica lag: how long after a commit its LTX file is in a file replica.

Starts `<binary> replicate DB file://REPLICA`, commits one small transaction every --interval seconds, and after
each commit polls the replica's ltx/0 directory until a file with a higher TXID appears. Prints the median and max
lag. Run it for ours and for litestream 0.5.17 in the same session (see Benchmarks/README.md).

    python3 Benchmarks/lag.py --binary .build/release/litestream --commits 50
"""
import argparse, os, shutil, signal, sqlite3, statistics, subprocess, sys, tempfile, time


def newest_txid(level_dir):
    best = 0
    try:
        for name in os.listdir(level_dir):
            if name.endswith(".ltx") and len(name) == 37:
                best = max(best, int(name[17:33], 16))
    except FileNotFoundError:
        pass
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--commits", type=int, default=50)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--extra", default="", help="extra replicate flags, e.g. '-min-sync-interval 10ms'")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="lag-")
    db = os.path.join(work, "db.sqlite")
    replica = os.path.join(work, "replica")
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    cmd = [args.binary, "replicate"] + args.extra.split() + [db, "file://" + replica]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    level0 = os.path.join(replica, "ltx", "0")
    try:
        deadline = time.time() + 30
        while newest_txid(level0) == 0:
            if time.time() > deadline:
                sys.exit("replica never started")
            time.sleep(0.01)
        time.sleep(1.5)
        lags = []
        for i in range(args.commits):
            before = newest_txid(level0)
            conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 100,))
            t0 = time.perf_counter()
            while newest_txid(level0) <= before:
                if time.perf_counter() - t0 > 10:
                    sys.exit("commit %d never reached the replica" % i)
                time.sleep(0.0005)
            lags.append(time.perf_counter() - t0)
            time.sleep(args.interval)
        print("%s: median %.1f ms, max %.1f ms over %d commits" % (
            os.path.basename(args.binary), statistics.median(lags) * 1000, max(lags) * 1000, len(lags)))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
