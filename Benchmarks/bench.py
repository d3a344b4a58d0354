#!/usr/bin/env python3
"""Benchmark suite: litestream-swift ("ours") against the real Litestream 0.5.17, same machine, same run.

The code is the litebench package beside this file (one module per suite); this is its entry point, so that
`python3 Benchmarks/bench.py --help` works from anywhere. See Benchmarks/README.md.
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from litebench.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
