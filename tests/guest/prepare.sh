#!/bin/sh
# prepare.sh BUILDDIR OUTDIR [--run] - collect the test programs of a meson
# build and run.sh into OUTDIR, for kernel/run-tests.sh --extra-dir OUTDIR
# (which copies the host libraries of dynamic programs along). With --run,
# boot the patched kernel and run them there.
set -eu
build=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
rm -f "$out"/test-*
for t in "$build"/tests/test-*; do
	[ -f "$t" ] && [ -x "$t" ] && cp "$t" "$out"/
done
cp "$here/run.sh" "$out/run.sh"
ls "$out"
if [ "${3:-}" = --run ]; then
	exec "$here/../../kernel/run-tests.sh" --tests extra --extra-dir "$out"
fi
