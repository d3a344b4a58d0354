#!/usr/bin/env bash
# Issue 15, test 8: a CLI-only build of the package compiles neither Vapor nor Hummingbird, and does not even
# check them out. Builds `--product litestream` in a fresh scratch path (nothing left over from a build with the
# traits on can hide a regression), then looks at what SwiftPM fetched and compiled there.
#
#   scripts/check-cli-only-build.sh            # exits 0 when the build is framework-free
#   KEEP_SCRATCH=1 scripts/check-cli-only-build.sh
#   SCRATCH=.build scripts/check-cli-only-build.sh
#
# SCRATCH reuses a scratch path that only ever built this package with its traits off (CI's clean clone after the
# main suite: a superset of the CLI-only build, so the same checks prove more and the build is already done).
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
ensure_swift

if [ -n "${SCRATCH:-}" ]; then
    scratch="$SCRATCH"
else
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/litestream-cli-only.XXXXXX")"
fi
if [ -z "${KEEP_SCRATCH:-}" ] && [ -z "${SCRATCH:-}" ]; then
    trap 'rm -rf "$scratch"' EXIT
fi

info "swift build --product litestream --scratch-path $scratch"
start=$(date +%s)
swift build --product litestream --scratch-path "$scratch" 2>&1 | grep -E "error|warning: .*(Vapor|Hummingbird)|Compiling (Vapor|Hummingbird)" || true
[ -x "$scratch/debug/litestream" ] || die "the CLI-only build failed (no $scratch/debug/litestream)"
info "built in $(( $(date +%s) - start )) s"

# The framework packages and the ones only they bring in (console-kit, routing-kit, multipart-kit, ...).
framework_pattern='^(vapor|hummingbird|console-kit|routing-kit|multipart-kit|websocket-kit|async-kit|fluent.*|sqlite-nio|sql-kit)$'
found=$(ls "$scratch/checkouts" 2>/dev/null | grep -E -i "$framework_pattern" || true)
[ -z "$found" ] || die "a CLI-only build checked out framework packages: $found"

modules=$(find "$scratch" -name '*.swiftmodule' -printf '%f\n' 2>/dev/null | sort -u)
# A fresh `--product litestream` build must not even compile the glue targets; a reused whole-package build
# compiles them, empty (their sources are inside `#if Vapor` / `#if Hummingbird`), so there only the frameworks count.
glue='|LitestreamVapor|LitestreamHummingbird'
[ -z "${SCRATCH:-}" ] || glue=''
built=$(printf '%s\n' "$modules" | grep -E "^(Vapor|Hummingbird|HummingbirdCore|ConsoleKit|RoutingKit$glue)" || true)
[ -z "$built" ] || die "a CLI-only build compiled framework modules: $built"

info "checked out: $(ls "$scratch/checkouts" | tr '\n' ' ')"
info "no Vapor or Hummingbird package was checked out, no framework module was built"
