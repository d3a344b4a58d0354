"""Child processes: every child is started in its own session (so that a Ctrl-C in the terminal reaches only the
benchmark) and registered, so that it is stopped whatever way the benchmark ends (`cleanup_children`, also run at
exit)."""
import atexit
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

from . import BenchError

_children = []

# The writer and floor child processes (workload.py), run as a script by path.
WORKLOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workload.py")


def cleanup_children():
    """SIGTERM to every registered child's process group, SIGKILL after 5 s; reaps them."""
    for p in list(_children):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
    deadline = time.time() + 5
    for p in list(_children):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()
        except ChildProcessError:
            pass
    _children.clear()


atexit.register(cleanup_children)


def exit_on_signal(signum, frame):
    """A signal handler (SIGTERM, SIGHUP) that leaves through the normal clean-up path."""
    raise SystemExit(128 + signum)


def adopt(p, cmd, log_path):
    """Registers a child started elsewhere (in its own session) so that it is stopped with the others."""
    p.cmd, p.log_path = cmd, log_path
    _children.append(p)
    return p


def forget(p):
    """Unregisters a child that has exited (or been stopped and reaped)."""
    if p in _children:
        _children.remove(p)


def spawn(cmd, log_path, stdout=None, env=None):
    """Starts cmd with its stderr (and stdout unless given) appended to log_path."""
    log = open(log_path, "ab")
    log.write(("$ %s\n" % " ".join(shlex.quote(c) for c in cmd)).encode())
    log.flush()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else log,
                             stderr=log, start_new_session=True, env=env)
    except OSError as e:
        raise BenchError("cannot start %s: %s" % (cmd[0], e))
    finally:
        log.close()
    return adopt(p, cmd, log_path)


def log_tail(path, lines=15):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no output)"
    return "\n".join("    " + l for l in text.splitlines()[-lines:]) or "    (no output)"


def failure(p, what):
    """A BenchError naming p's command, its exit status and the tail of its log."""
    return BenchError("%s\n  command: %s\n  exit status: %s\n  last output (%s):\n%s" % (
        what, " ".join(shlex.quote(c) for c in p.cmd), p.returncode, p.log_path, log_tail(p.log_path)))


def run_timed(cmd, log_path, timeout=600, env=None):
    """Runs cmd to completion; returns (wall seconds, user+sys CPU seconds, peak RSS bytes) from wait4."""
    t0 = time.perf_counter()
    p = spawn(cmd, log_path, env=env)
    timed_out = []

    def kill():
        timed_out.append(True)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    forget(p)
    if timed_out:
        raise failure(p, "timed out after %d s" % timeout)
    if p.returncode != 0:
        raise failure(p, "command failed")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024


def stop(p, timeout=60, what="replicate"):
    """SIGINT (final sync), wait, and insist on exit status 0."""
    if p.poll() is None:
        os.kill(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            forget(p)
            raise failure(p, "%s did not exit within %d s of SIGINT" % (what, timeout))
    forget(p)
    if p.returncode != 0:
        raise failure(p, "%s exited with an error after SIGINT" % what)


def check_running(p, what):
    """Raises (with p's log) if p has exited."""
    if p.poll() is not None:
        forget(p)
        raise failure(p, what)


def proc_cpu_seconds(pid):
    """utime + stime of a running process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid, key):
    """A kB field of /proc/PID/status, e.g. VmHWM."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# ----------------------------------------------------------------------------------------------------------------
# The workload children (workload.py)

def start_writer(db, seconds, rate, log_path, stdout):
    """Starts the writer child: `rate` small transactions per second into t(v) of db for `seconds` (rate 0: as
    fast as it can); it prints one JSON line of results to stdout."""
    return spawn([sys.executable, WORKLOAD, "writer", db, str(seconds), str(rate)], log_path, stdout=stdout)


def run_writer(db, seconds, rate, log_path, out_path):
    """Runs the writer child to completion and returns its results (tx, seconds, tps, p50_ms, p99_ms, max_ms)."""
    with open(out_path, "wb") as out:
        p = start_writer(db, seconds, rate, log_path, out)
        try:
            p.wait(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            raise failure(p, "the writer did not finish")
    forget(p)
    if p.returncode != 0:
        raise failure(p, "the writer failed")
    with open(out_path) as f:
        return json.load(f)


def run_floor(directory, seconds, rate, log_path):
    """Runs the durable-write floor child for `seconds` at `rate` syncs/s; returns its CPU seconds."""
    p = spawn([sys.executable, WORKLOAD, "floor", directory, str(seconds), str(rate)], log_path,
              stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=seconds + 120)
    forget(p)
    if p.returncode != 0:
        raise failure(p, "the durable-write floor")
    return json.loads(out)["cpu_s"]
