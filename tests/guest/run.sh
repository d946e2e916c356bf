#!/bin/sh
# run.sh - the library's Check suite inside the QEMU guest (patched kernel).
#
# kernel/run-tests.sh --extra-dir DIR copies DIR to /extra and runs this
# with /extra as the working directory (busybox sh, root). DIR is made by
# tests/guest/prepare.sh: the test-* programs, the examples, this script and
# examples-run.sh.
#
# Every program runs once per backend in $VCACHE_GUEST_BACKENDS (default:
# every backend the guest has: vrange, uffd, none). A program exits 77 when
# its forced backend is refused (printed as SKIP; for vrange, which the
# patched guest kernel must offer, a FAIL); any other non-zero status is a
# failure. Then examples-run.sh runs the demos. Exit status follows
# kselftest: 0 pass, 4 all skipped, 1 fail.

BACKENDS=${VCACHE_GUEST_BACKENDS:-vrange uffd none}
# Check's fork mode keeps its messages in a temporary file.
export TMPDIR=${TMPDIR:-/tmp}
export CK_VERBOSITY=${CK_VERBOSITY:-verbose}
# Slow under TCG: allow it, and shorten the thread stress.
export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4}
export VCACHE_TEST_ITERATIONS=${VCACHE_TEST_ITERATIONS:-2000}
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
		77)
			# The harness always boots the patched kernel: a refused
			# vrange backend there is a failure, not a skip.
			if [ "$backend" = vrange ]; then
				fail=$((fail + 1)); echo "## $name: FAIL (vrange refused)"
			else
				skip=$((skip + 1)); echo "## $name: SKIP"
			fi ;;
		*) fail=$((fail + 1)); echo "## $name: FAIL (rc=$rc)" ;;
		esac
	done
done
echo "## library suite: $pass passed, $fail failed, $skip skipped"

# The examples on the same kernel, when prepare.sh put them here.
if [ -f ./examples-run.sh ]; then
	sh ./examples-run.sh || fail=$((fail + 1))
fi
[ $fail -gt 0 ] && exit 1
[ $pass -eq 0 ] && exit 4
exit 0
