#!/usr/bin/env bash
# Build the benchmarks and run every one of them with the arguments whose
# figures bench/README.md records. Usage: bench/run.sh [OUTDIR]
# Build directory: $BUILD (default build-bench); OUTDIR defaults to
# $BUILD/results. bench-pressure needs root for the cgroup and skips,
# saying why, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-bench}
out=${1:-$build/results}
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" bench/bench-pin bench/bench-regen bench/bench-pressure
mkdir -p "$out"
b=$build/bench
run() { # name, command...
	local name=$1; shift
	echo "== $name: $*"
	"$@" | tee "$out/$name.txt"
}
run pin            "$b/bench-pin"
run pin-chunk64    "$b/bench-pin" --chunk 64
run regen          "$b/bench-regen"
run regen-cheap    "$b/bench-regen" --cheap
run pressure       "$b/bench-pressure"
run pressure-skew  "$b/bench-pressure" --skewed
run pressure-160   "$b/bench-pressure" --limit-mib 160
echo "== results in $out"
