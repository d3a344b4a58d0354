"""litebench: litestream-swift ("ours") against the real Litestream 0.5.17 ("theirs"), same machine, same run.

    python3 Benchmarks/bench.py --help        (or, from Benchmarks/: python3 -m litebench --help)

Modules: procs (child processes: start, time, stop, clean up), db (the test database, replicas, checks), workload
(the writer and floor child processes), binaries (building and naming the two binaries), s3 (moto and the counting
proxy), report (the table), suites/ (one module per suite), __main__ (options and the order of the run).
Python 3.9+ standard library only; Linux (it reads /proc). What each suite measures: Benchmarks/README.md.
"""
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
THEIRS_LABEL = "litestream 0.5.17"


class BenchError(Exception):
    """A measurement could not be made; the message says which command failed and how."""
