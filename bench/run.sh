#!/usr/bin/env bash
# Build the benchmarks and run every one of them with the arguments whose
# figures bench/README.md records, then draw the plots. Usage:
# bench/run.sh [OUTDIR] (BENCH_ONLY="pin-sizes pressure-series": just those)
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
	if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $name "* ]]; then
		return 0
	fi
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
# The plots: pin cost over six object sizes, and a pressure run over time
# (bench/plot.sh draws them with gnuplot; scripts/deps.sh bench).
run pin-sizes      "$b/bench-pin" --size 16 --size 64 --size 256 \
	--size 1024 --size 4096 --size 16384 --csv "$out/pin.csv"
run pressure-series "$b/bench-pressure" --limit-mib 160 --rounds 12 \
	--series-ms 200 --series "$out/pressure-series.csv"
bench/plot.sh "$out" "($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "== results in $out"
