"""syncwait: how long a durable write waits. Under `replicate -config` with a file replica and the control socket,
--syncwait-commits commits, each followed by `litestream sync -wait -socket S DB` (both tools' command, process
start included) and, for ours, by the same request made in-process over the socket (`POST /sync?wait=true`, what
the integration's `sync(_:waitForReplicas:)` sends): seconds from the commit returning until the answer."""
import os
import socket
import sqlite3
import statistics
import subprocess
import time
import urllib.parse

from .. import db
from .. import procs


def _post_over_unix_socket(path, target, timeout=30):
    """A bare HTTP/1.1 POST on a Unix socket; returns the status code."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                   % target).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ", 2)[1])
    finally:
        s.close()


def run(ctx):
    commits = ctx.args.syncwait_commits
    results = {t: {"cli_ms": [], "socket_ms": []} for t in ctx.tools}
    for run in range(ctx.runs):
        for tool in ctx.order(run):
            work = os.path.join(ctx.scratch, "syncwait-" + tool)
            db.rm(work)
            os.makedirs(work)
            path = os.path.join(work, "db.sqlite")
            replica = os.path.join(work, "replica")
            sock = os.path.join(work, "ls.sock")
            config = os.path.join(work, "litestream.yml")
            with open(config, "w") as f:
                f.write("socket:\n  enabled: true\n  path: %s\ndbs:\n  - path: %s\n    replica:\n"
                        "      type: file\n      path: %s\n" % (sock, path, replica))
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            tag = "syncwait-%s-%d" % (tool, run)
            proc = procs.spawn([ctx.bin[tool], "replicate", "-config", config], ctx.log("replicate-" + tag))
            cli, direct = [], []
            try:
                db.wait_for_first_ltx(proc, os.path.join(replica, "ltx", "0"))
                deadline = time.time() + 30
                while not os.path.exists(sock):
                    procs.check_running(proc, "replicate exited before its socket appeared")
                    if time.time() > deadline:
                        raise procs.failure(proc, "syncwait: no control socket after 30 s")
                    time.sleep(0.01)
                time.sleep(0.5)
                for k in range(commits):
                    conn.execute("INSERT INTO t (v) VALUES (?)", ("commit %d" % k,))
                    t0 = time.perf_counter()
                    r = subprocess.run([ctx.bin[tool], "sync", "-wait", "-socket", sock, path],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
                    if r.returncode != 0:
                        raise procs.failure(proc, "syncwait: sync -wait exited %d: %s" % (
                            r.returncode, r.stderr.decode(errors="replace")[-500:]))
                    cli.append((time.perf_counter() - t0) * 1000)
                    time.sleep(0.2)
                    if tool == "ours":
                        conn.execute("INSERT INTO t (v) VALUES (?)", ("direct %d" % k,))
                        t0 = time.perf_counter()
                        status = _post_over_unix_socket(
                            sock, "/sync?" + urllib.parse.urlencode({"path": path, "wait": "true", "timeout": "30"}))
                        if status != 200:
                            raise procs.failure(proc, "syncwait: POST /sync answered %d" % status)
                        direct.append((time.perf_counter() - t0) * 1000)
                        time.sleep(0.2)
                procs.stop(proc, timeout=60)
            finally:
                conn.close()
            results[tool]["cli_ms"].append(statistics.median(cli))
            if direct:
                results[tool]["socket_ms"].append(statistics.median(direct))
            print("  syncwait run %d %-6s sync -wait median %.1f ms (max %.1f)%s" % (
                run + 1, tool, statistics.median(cli), max(cli),
                ", in-process request median %.1f ms (max %.1f)" % (statistics.median(direct), max(direct))
                if direct else ""), flush=True)
            db.rm(work)
    return results
