#!/bin/sh
# prepare.sh BUILDDIR OUTDIR [--run] - collect the test programs and the
# examples of a meson build, with the guest-side scripts, into OUTDIR for
# kernel/run-tests.sh --extra-dir OUTDIR (which copies the host libraries of
# dynamic programs along). With --run, boot the patched kernel and run them.
set -eu
build=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
rm -f "$out"/test-* "$out"/tabcache "$out"/imgcache "$out"/sharedtabs
for t in "$build"/tests/test-* "$build"/examples/tabcache \
	 "$build"/examples/imgcache "$build"/examples/sharedtabs; do
	[ -f "$t" ] && [ -x "$t" ] && cp "$t" "$out"/
done
cp "$here/run.sh" "$out/run.sh"
cp "$here/../../examples/guest-run.sh" "$out/examples-run.sh"
ls "$out"
if [ "${3:-}" = --run ]; then
	exec "$here/../../kernel/run-tests.sh" --tests extra --extra-dir "$out"
fi
