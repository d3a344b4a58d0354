#!/usr/bin/env bash
# Builds the `litestream` binary to deploy, and prints its path.
#
#   scripts/build-release.sh            # -> .build-release/release/litestream
#
# On Linux it is a plain `swift build -c release` plus link options that change no code, only how much memory the
# running process maps (measured in Benchmarks/RESULTS.md):
#   --static-swift-stdlib     the Swift runtime and Foundation linked in: only what we use, no dynamic symbol lookups
#                             through their large symbol tables at start-up. The binary runs on any machine with the
#                             same glibc or newer, without a Swift toolchain.
#   lld, -z pack-relative-relocs
#                             relative relocations as a bitmap (DT_RELR, glibc 2.36+) instead of 24-byte entries that
#                             the loader reads, all of them, at every start. Skipped on an older glibc.
#   --no-export-dynamic       SwiftPM exports every symbol of an executable; nothing looks ours up, so the dynamic
#                             linker need not search them when it binds libc and libstdc++.
#   -function-sections, --symbol-ordering-file=scripts/litestream.order
#                             the functions `replicate` runs, linked next to each other (the kernel maps 64 KB or
#                             more around each page of code that runs, so scattered code costs memory).
#                             scripts/order-file.sh regenerates the list; LITESTREAM_ORDER_FILE=none builds without it.
# On macOS it is the plain release build (no static Swift standard library there).
#
# The build goes to its own scratch directory, so that it does not invalidate `swift build -c release` in .build.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
source scripts/lib.sh
{ ensure_system_deps; ensure_swift; } >&2

scratch=.build-release
args=(build -c release --product litestream --scratch-path "$scratch")
order_args=()  # link-time only: kept out of the stamp below

if [[ "$(uname -s)" == Linux ]]; then
    args+=(--static-swift-stdlib -Xlinker --no-export-dynamic)
    args+=(-Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections)
    order="${LITESTREAM_ORDER_FILE:-$PWD/scripts/litestream.order}"
    if [[ "$order" != none ]]; then
        [[ -f "$order" ]] || die "no order file at $order (LITESTREAM_ORDER_FILE=none builds without one)"
        order_args+=(-Xlinker "--symbol-ordering-file=$order" -Xlinker --no-warn-symbol-ordering)
    fi
    swift_bin="$(dirname "$(readlink -f "$(command -v swift)")")"
    if [[ -x "$swift_bin/ld.lld" ]] || command -v ld.lld > /dev/null; then
        args+=(-Xswiftc -use-ld=lld)
        glibc="$(getconf GNU_LIBC_VERSION 2> /dev/null | awk '{print $2}')"
        if [[ -n "$glibc" ]] && printf '2.36\n%s\n' "$glibc" | sort -V -C; then
            args+=(-Xlinker -z -Xlinker pack-relative-relocs)
        fi
    fi
fi

# SwiftPM does not always recompile dependencies when only these flags change, and a dependency left without
# function sections cannot be ordered (peak RSS ~2 MB higher, seen once). A build with other flags than the last
# one starts from an empty scratch directory. The order file only changes the link (scripts/order-file.sh builds
# without it, then with it), so it is not in the stamp; nor is its content: after regenerating it, touch a source
# file so that the binary is linked again.
stamp="$scratch/build-release.flags"
if [[ -d "$scratch" && "$(cat "$stamp" 2> /dev/null)" != "${args[*]}" ]]; then
    echo "build-release.sh: flags differ from the last build in $scratch (or were not recorded); starting afresh" >&2
    rm -rf "$scratch"
fi
echo "+ swift ${args[*]} ${order_args[*]-}" >&2
swift "${args[@]}" ${order_args[@]+"${order_args[@]}"} >&2
printf '%s\n' "${args[*]}" > "$stamp"
echo "$(swift build -c release --scratch-path "$scratch" --show-bin-path)/litestream"
