#!/usr/bin/env bash
# Run the benchmarks inside the patched-kernel QEMU guest (vrange backend
# available there): builds them, assembles an extra dir with
# bench/guest-run.sh as its run.sh, and boots it with kernel/run-tests.sh.
# Usage: bench/guest.sh [OUTDIR]   (BUILD: build dir, default build-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-bench}
out=$(mkdir -p "${1:-$build/guest}" && cd "${1:-$build/guest}" && pwd)
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" bench/bench-pin bench/bench-regen bench/bench-pressure \
	bench/bench-many bench/bench-perf bench/bench-scale
extra=$out/extra
rm -rf "$extra"
mkdir -p "$extra"
cp "$build"/bench/bench-{pin,regen,pressure,many,perf,scale} "$extra/"
cp bench/guest-run.sh "$extra/run.sh"
VCACHE_KERNEL_LOG=$out/guest.log VCACHE_QEMU_MEM=${VCACHE_QEMU_MEM:-1G} \
	kernel/run-tests.sh --tests extra --extra-dir "$extra"
echo "guest output: $out/guest.log"
# bench-pin's CSV, printed between markers by guest-run.sh, as a plot.
sed -n '/### pin.csv/,/### end pin.csv/p' "$out/guest.log" | tr -d '\r' |
	sed '1d;$d' > "$out/pin.csv"
if [ -s "$out/pin.csv" ] && command -v gnuplot >/dev/null; then
	bench/plot.sh "$out" "(patched kernel, QEMU TCG guest)"
else
	echo "no plot: no pin.csv in the guest log, or no gnuplot"
fi
