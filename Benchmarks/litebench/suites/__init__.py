"""One module per suite. Each has `run(ctx)`, which returns the per-run values that report.table reads; the
context (set up by __main__) has the options (`args`), `runs`, `tools` ("ours", "theirs"), `order(run)` (which
goes first in that run), `bin` and `flags` per tool, `scratch`, `log(name)`, `source_db`/`source_meta` (the test
database, for snapshot, restore and s3) and `replica` (per tool, the snapshot suite's replica, which restore
reads)."""
from . import burst, fastwriter, lag, restore, s3, snapshot, steady, syncwait, tenants

# In the order they run.
ALL = ("snapshot", "restore", "lag", "steady", "fastwriter", "burst", "syncwait", "s3", "tenants")
MODULES = {"snapshot": snapshot, "restore": restore, "lag": lag, "steady": steady, "fastwriter": fastwriter,
           "burst": burst, "syncwait": syncwait, "s3": s3, "tenants": tenants}
TITLES = {"steady": "steady state"}
