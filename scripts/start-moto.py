#!/usr/bin/env python3
"""Starts moto_server, the S3 server that the tests and the benchmark talk to, on a free loopback port and waits
until it answers. It is the one way the project starts it: scripts/lib.sh (start_moto) runs this file, and the
benchmark's s3 suite (Benchmarks/litebench/s3.py) imports it.

    python3 scripts/start-moto.py [--exe PATH] [--log FILE]

prints the port once moto answers, then stays in the foreground until it gets SIGTERM, SIGINT or SIGHUP, when it
stops moto and exits 0; if moto exits first, so does this, with moto's status. If moto cannot be started it exits 1
and prints the tail of the log. moto_server is --exe, else .venv/bin/moto_server in the repository, else
/tmp/venv/bin/moto_server, else the one on PATH. Python 3 standard library only.
"""
import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"


class StartError(Exception):
    pass


def find_moto_server():
    """The moto_server executable to use, or None."""
    for c in (os.path.join(REPO, ".venv", "bin", "moto_server"), "/tmp/venv/bin/moto_server",
              shutil.which("moto_server") or ""):
        if c and os.access(c, os.X_OK):
            return c
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def answers(port):
    """True when something answers HTTP on the port (any status code counts)."""
    try:
        c = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            c.request("GET", "/")
            c.getresponse().read()
        finally:
            c.close()
        return True
    except (OSError, http.client.HTTPException):
        return False


def log_tail(path, lines=20):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "    (no output)"
    return "\n".join("    " + l for l in text.splitlines()[-lines:]) or "    (no output)"


def _die_with_parent():
    # Linux: moto gets SIGTERM when the process (thread) that started it dies, even by SIGKILL.
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def stop(p, timeout=10):
    """SIGTERM, then SIGKILL after `timeout` seconds; reaps it."""
    if p.poll() is None:
        try:
            p.terminate()
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        except ProcessLookupError:
            p.wait()


def start(exe, log_path, attempts=3, timeout=30, new_session=False):
    """Starts `exe` on a free port of 127.0.0.1 and waits until it answers HTTP. If it exits first (the port was
    taken in the meantime) or does not answer within `timeout` seconds, it is stopped and a new port is tried.
    Returns (Popen, port). The log (truncated first) gets each attempt's command and output. Raises StartError
    with the log's tail. With `new_session`, moto runs in a session of its own (a Ctrl-C in the terminal does not
    reach it; the caller stops it)."""
    open(log_path, "wb").close()
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    for attempt in range(1, attempts + 1):
        port = free_port()
        cmd = [exe, "-H", HOST, "-p", str(port)]
        with open(log_path, "ab") as log:
            log.write(("$ %s\n" % " ".join(cmd)).encode())
            log.flush()
            try:
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=new_session, preexec_fn=preexec)
            except OSError as e:
                raise StartError("cannot start %s: %s" % (exe, e))
        try:
            deadline = time.monotonic() + timeout
            while p.poll() is None and time.monotonic() < deadline:
                if answers(port) and p.poll() is None:
                    return p, port
                time.sleep(0.2)
        except BaseException:
            stop(p)
            raise
        stop(p)
    raise StartError("moto_server did not start (%d attempts); last output (%s):\n%s" % (
        attempts, log_path, log_tail(log_path)))


def _exit_on_signal(signum, frame):
    raise SystemExit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exe", help="moto_server executable (default: .venv/bin/moto_server, /tmp/venv/bin, PATH)")
    ap.add_argument("--log", default=os.devnull, help="moto's output goes here (default: nowhere)")
    args = ap.parse_args()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _exit_on_signal)
    exe = args.exe or find_moto_server()
    if not exe or not os.access(exe, os.X_OK):
        print("start-moto: moto_server not found (%s); pip install 'moto[server]'" % (exe or "no --exe, none in "
              ".venv/bin, /tmp/venv/bin or on PATH"), file=sys.stderr)
        return 1
    p = None
    try:
        p, port = start(exe, args.log)
        print(port, flush=True)
        return p.wait()
    except StartError as e:
        print("start-moto: %s" % e, file=sys.stderr)
        return 1
    finally:
        if p is not None:
            stop(p)


if __name__ == "__main__":
    sys.exit(main())
