#!/usr/bin/env python3
"""The child processes the suites run beside a replicator. Standard library only and run as a script by path, so
that a child imports nothing of the harness:

    python3 workload.py writer DB SECONDS RATE       RATE small transactions per second (0: as fast as it can)
    python3 workload.py floor DIR SECONDS RATE       the durable-write floor at RATE syncs per second

Each prints one JSON line of results. The harness side is procs.run_writer / procs.run_floor.
"""
import json
import os
import random
import sqlite3
import string
import sys
import time

# Syncs per second of ours under a steady writer (its default minimum sync interval, 100 ms).
FLOOR_SYNCS_PER_SECOND = 10


def writer_main(db, seconds, rate):
    """Commits `rate` small transactions per second (paced on a fixed schedule; if it falls behind it does not
    sleep until it has caught up) for `seconds` and prints JSON with the achieved rate and the commit latencies."""
    rng = random.Random(1)
    letters = string.ascii_letters
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA synchronous=NORMAL")
    lat = []
    start = time.perf_counter()
    end = start + seconds
    n = 0
    while True:
        # rate 0: as fast as it can (the fastwriter suite), else paced on a fixed schedule.
        due = start + n / rate if rate > 0 else time.perf_counter()
        now = time.perf_counter()
        if due >= end:
            break
        if due > now:
            time.sleep(due - now)
        v = "".join(rng.choices(letters, k=100))
        t0 = time.perf_counter()
        conn.execute("INSERT INTO t (v) VALUES (?)", (v,))
        lat.append(time.perf_counter() - t0)
        n += 1
    elapsed = max(time.perf_counter(), end) - start
    conn.close()
    lat.sort()
    print(json.dumps({"tx": n, "seconds": elapsed, "tps": n / elapsed,
                      "p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
                      "max_ms": lat[-1] * 1000}))


def floor_main(directory, seconds, rate):
    """The kernel's share of what a file replica must do per sync, as a plain loop: create a local file, write
    8 KiB, fsync it, rename it, give it a name in the replica directory (a hard link: no second inode, no copy)
    and fsync that directory; files older than 100 writes are removed, as retention would. Prints its own CPU
    seconds."""
    import resource
    local, replica = os.path.join(directory, "local"), os.path.join(directory, "replica")
    os.makedirs(local, exist_ok=True)
    os.makedirs(replica, exist_ok=True)
    data = bytes(range(256)) * 32
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        name = "%016x.ltx" % i
        final = os.path.join(local, name)
        fd = os.open(final + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        os.write(fd, data)
        os.close(fd)
        os.rename(final + ".tmp", final)
        fd = os.open(final, os.O_RDONLY | os.O_CLOEXEC)
        os.fsync(fd)
        os.close(fd)
        os.link(final, os.path.join(replica, name))
        d = os.open(replica, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(d)
        os.close(d)
        if i >= 100:
            old = "%016x.ltx" % (i - 100)
            os.unlink(os.path.join(local, old))
            os.unlink(os.path.join(replica, old))
        i += 1
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    u1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu_s": (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime), "writes": i}))


def main(argv):
    kinds = {"writer": writer_main, "floor": floor_main}
    if len(argv) != 4 or argv[0] not in kinds:
        sys.exit("usage: workload.py writer DB SECONDS RATE | floor DIR SECONDS RATE")
    kinds[argv[0]](argv[1], float(argv[2]), float(argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
