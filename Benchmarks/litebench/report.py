"""The markdown table: medians of the per-run values, ours against theirs, with the machine and load average."""
import os
import statistics

from . import THEIRS_LABEL
from .workload import FLOOR_SYNCS_PER_SECOND


def machine_line():
    with open("/proc/meminfo") as f:
        mem_kb = next(int(l.split()[1]) for l in f if l.startswith("MemTotal:"))
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join("%.2f" % x for x in os.getloadavg())
    return "nproc %d (%s), MemTotal %.1f GiB, load average %s" % (os.cpu_count(), cpu, mem_kb / 2**20, load)


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, digits):
    return "—" if x is None else ("%.*f" % (digits, x))


def ratio(a, b, label="theirs/ours"):
    if a is None or b is None or b == 0:
        return "—"
    return "%.2f× (%s)" % (a / b, label) if a / b < 10 else "%.1f× (%s)" % (a / b, label)


def table(ctx, res):
    rows = []

    def row(metric, ours, theirs, digits, r=None):
        rows.append((metric, fmt(ours, digits), fmt(theirs, digits), r if r is not None else ratio(theirs, ours)))

    args = ctx.args
    mb = ctx.source_meta["bytes"] / 1e6 if ctx.source_meta else 0
    if "restore" in res:
        r = {k: med(v) for k, v in res["restore"].items()}
        row("restore %.0f MB db from a file replica, wall (s)" % mb, r["ours"], r["theirs"], 2)
        row("restore: ours from litestream's replica, wall (s)", r["ours_from_theirs"], None, 2, "—")
        row("restore: physical floor, copy + fsync (s)", r["floor"], r["floor"], 2,
            "ours/floor %.2f×, theirs/floor %.1f×" % (r["ours"] / r["floor"], r["theirs"] / r["floor"]))
    if "snapshot" in res:
        s = {t: {k: med(v) for k, v in res["snapshot"][t].items()} for t in ctx.tools}
        row("snapshot `replicate -once -force-snapshot`, wall (s)", s["ours"]["wall_s"], s["theirs"]["wall_s"], 2)
        row("snapshot: CPU user+sys (s)", s["ours"]["cpu_s"], s["theirs"]["cpu_s"], 2)
        row("snapshot: peak RSS (MB)", s["ours"]["rss_mb"], s["theirs"]["rss_mb"], 0)
        row("snapshot: replica size, L0 + L9 (MB)", s["ours"]["replica_mb"], s["theirs"]["replica_mb"], 0)
    if "lag" in res:
        l = {t: {k: med(v) for k, v in res["lag"][t].items()} for t in ctx.tools}
        n = args.lag_commits
        row("lag commit → replica, median of %d commits at %g/s (ms)" % (n, args.lag_rate),
            l["ours"]["median_ms"], l["theirs"]["median_ms"], 1)
        row("lag: max of %d commits (ms)" % n, l["ours"]["max_ms"], l["theirs"]["max_ms"], 1)
    if "steady" in res:
        st = {t: {k: med(v) for k, v in res["steady"][t].items()} for t in list(ctx.tools) + ["none"]}
        secs, rate = args.steady_seconds, args.steady_rate
        row("steady %g tx/s for %g s: replicator CPU (s)" % (rate, secs), st["ours"]["cpu_s"],
            st["theirs"]["cpu_s"], 2)
        row("steady: floor, one durable file, local + replica names, per %d ms, plain loop, CPU (s)"
            % (1000 // FLOOR_SYNCS_PER_SECOND),
            st["none"]["floor_cpu_s"], st["none"]["floor_cpu_s"], 2, "—")
        row("steady: replicator peak RSS, VmHWM (MB)", st["ours"]["rss_mb"], st["theirs"]["rss_mb"], 1)
        row("steady: lag commit → replica under the writer, median of %d probes (ms)" % args.lag_commits,
            st["ours"]["lag_median_ms"], st["theirs"]["lag_median_ms"], 1)
        row("steady: lag under the writer, max (ms)", st["ours"]["lag_max_ms"], st["theirs"]["lag_max_ms"], 1)
        row("steady: writer achieved tx/s (target %g)" % rate, st["ours"]["tps"], st["theirs"]["tps"], 1)
        row("steady: writer tx/s with no replicator (baseline)", st["none"]["tps"], st["none"]["tps"], 1, "—")
        row("steady: writer p99 commit latency (ms)", st["ours"]["p99_ms"], st["theirs"]["p99_ms"], 2)
        row("steady: writer p99 commit latency, no replicator (ms)", st["none"]["p99_ms"], st["none"]["p99_ms"], 2,
            "—")

    if "fastwriter" in res:
        f = {c: {k: med(v) for k, v in res["fastwriter"][c].items()} for c in ("none",) + tuple(ctx.tools)}
        base = f["none"]["tps"]
        row("fastwriter (synchronous=NORMAL, as fast as it can, %g s): tx/s" % args.fast_seconds,
            f["ours"]["tps"], f["theirs"]["tps"], 0)
        row("fastwriter: tx/s with no replicator (baseline)", base, base, 0, "—")
        row("fastwriter: throughput kept, with replicator ÷ without, median of the runs' ratios",
            f["ours"]["kept"], f["theirs"]["kept"], 2, "target ≥ 0.80")
        row("fastwriter: replicator CPU (s)", f["ours"]["cpu_s"], f["theirs"]["cpu_s"], 2)
    if "burst" in res:
        b = {t: {k: med(v) for k, v in res["burst"][t].items()} for t in ctx.tools}
        row("burst: one %d MB transaction, commit → in the replica (s)" % args.burst_mb,
            b["ours"]["seconds"], b["theirs"]["seconds"], 2)
        row("burst: replicator peak RSS, VmHWM (MB)", b["ours"]["rss_mb"], b["theirs"]["rss_mb"], 1)
        row("burst: replicator CPU (s)", b["ours"]["cpu_s"], b["theirs"]["cpu_s"], 2)
    if "syncwait" in res:
        w = {t: {k: med(v) for k, v in res["syncwait"][t].items()} for t in ctx.tools}
        row("syncwait: commit → `sync -wait` returned, file replica, median (ms; the command's process start included)",
            w["ours"]["cli_ms"], w["theirs"]["cli_ms"], 1)
        row("syncwait: commit → `POST /sync?wait=true` answered in-process, file replica, median (ms)",
            w["ours"]["socket_ms"], None, 1, "target < 100")
    if "s3" in res:
        s3 = res["s3"]
        m = {t: {k: med(v) for k, v in s3[t].items() if k != "steady_by_method"} for t in ctx.tools}
        row("s3: restore %.0f MB db from S3 (moto on loopback), wall (s)" % mb, m["ours"]["restore_s"],
            m["theirs"]["restore_s"], 2)
        row("s3: requests during %g s of an idle database" % args.idle_seconds, m["ours"]["idle_requests"],
            m["theirs"]["idle_requests"], 0, "target 0")

        row("s3: isolated commit → in S3 (one every %g s), median (ms)" % args.s3_lag_gap,
            m["ours"]["isolated_lag_ms"], m["theirs"]["isolated_lag_ms"], 0, "target < 100")

        def by_method(tool):
            per = s3[tool]["steady_by_method"]
            kinds = sorted({k for d in per for k in d})
            return ", ".join("%s %.2f" % (k, statistics.median([d.get(k, 0.0) for d in per])) for k in kinds) or "—"

        rows.append(("s3: requests/s under a %g tx/s writer (total)" % args.s3_writer_rate,
                     fmt(m["ours"]["steady_rps"], 2), fmt(m["theirs"]["steady_rps"], 2),
                     ratio(m["theirs"]["steady_rps"], m["ours"]["steady_rps"])))
        rows.append(("s3: requests/s by kind", by_method("ours"), by_method("theirs"), "—"))

    if "tenants" in res:
        tn = {t: {k: med(v) for k, v in res["tenants"][t].items()} for t in ctx.tools}
        n = args.tenants
        row("tenants: %d idle databases, start → every one in its replica (s)" % n,
            tn["ours"]["start_s"], tn["theirs"]["start_s"], 1)
        row("tenants: after that, until settled (< 1%% of a core over 5 s, at most %d s) (s)" % args.tenants_settle_timeout,
            tn["ours"]["settle_s"], tn["theirs"]["settle_s"], 1, "—")
        row("tenants: CPU used while settling, user+sys (s)", tn["ours"]["settle_cpu_s"], tn["theirs"]["settle_cpu_s"], 2)
        row("tenants: idle CPU per minute, user+sys (s)", tn["ours"]["idle_cpu_per_min_s"],
            tn["theirs"]["idle_cpu_per_min_s"], 2)
        row("tenants: RSS when idle, VmRSS (MB)", tn["ours"]["rss_now_mb"], tn["theirs"]["rss_now_mb"], 0)
        row("tenants: peak RSS, VmHWM (MB)", tn["ours"]["rss_mb"], tn["theirs"]["rss_mb"], 0)
        row("tenants: commit to a random tenant → replica, median of %d (ms)" % args.tenants_probes,
            tn["ours"]["write_median_ms"], tn["theirs"]["write_median_ms"], 1)
        row("tenants: `list` over the control socket, median of 3 (ms)", tn["ours"]["list_ms"],
            tn["theirs"]["list_ms"], 0)

    head = "%s — ours: %s (version %s); theirs: %s; %d run%s, medians. %s" % (
        ctx.started.strftime("%Y-%m-%d %H:%M UTC"), ctx.ours_label, ctx.version["ours"], ctx.version["theirs"],
        ctx.runs, "" if ctx.runs == 1 else "s", ctx.machine)
    lines = [head, "", "| metric | ours | %s | ratio |" % THEIRS_LABEL, "|---|---:|---:|---|"]
    lines += ["| %s | %s | %s | %s |" % r for r in rows]
    lines += ["", "Load average at the end: %s." % " ".join("%.2f" % x for x in os.getloadavg())]
    return "\n".join(lines)
