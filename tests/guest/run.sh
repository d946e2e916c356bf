#!/bin/sh
# run.sh - the library's Check suite inside the QEMU guest (patched kernel).
#
# kernel/run-tests.sh --extra-dir DIR copies DIR to /extra and runs this
# with /extra as the working directory (busybox sh, root). DIR is made by
# tests/guest/prepare.sh: the test-* programs and this script.
#
# Every program runs once per backend in $VCACHE_GUEST_BACKENDS (default:
# vrange, then uffd for comparison; none adds little over the host run).
# A program exits 77 when its forced backend is refused (printed as SKIP);
# any other non-zero status is a failure. Exit status follows kselftest:
# 0 pass, 4 all skipped, 1 fail.

BACKENDS=${VCACHE_GUEST_BACKENDS:-vrange uffd}
# Check's fork mode keeps its messages in a temporary file.
export TMPDIR=${TMPDIR:-/tmp}
export CK_VERBOSITY=${CK_VERBOSITY:-verbose}
# Slow under TCG: allow it.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4}
export ASAN_OPTIONS=handle_sigbus=0:allow_user_segv_handler=1:allocator_may_return_null=1

pass=0
fail=0
skip=0
for backend in $BACKENDS; do
	for t in ./test-*; do
		[ -x "$t" ] || continue
		name="$(basename "$t")-$backend"
		echo "## $name"
		VCACHE_BACKEND=$backend "$t"
		rc=$?
		case $rc in
		0) pass=$((pass + 1)); echo "## $name: PASS" ;;
		77) skip=$((skip + 1)); echo "## $name: SKIP" ;;
		*) fail=$((fail + 1)); echo "## $name: FAIL (rc=$rc)" ;;
		esac
	done
done
echo "## library suite: $pass passed, $fail failed, $skip skipped"
[ $fail -gt 0 ] && exit 1
[ $pass -eq 0 ] && exit 4
exit 0
