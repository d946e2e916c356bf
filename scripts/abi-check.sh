#!/usr/bin/env bash
# Compare the built libvcache.so with the committed ABI reference:
#   scripts/abi-check.sh [BUILDDIR]       (default build-test)
# Fails on anything but added functions and enumerators appended to an
# enum: a removed or changed function, a changed type (appending a field to
# struct vcache_options or vcache_stats included: compatible by the
# extensible-struct rule, but it must be recorded on purpose), a new
# soname. To accept a change: scripts/abi-update.sh, review, commit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/abi-common.sh
abi_setup "${1:-}"
if [ ! -f "$ref" ]; then
	echo "abi: FAIL: no reference $ref for this soname" \
	     "(a new major version? create it with scripts/abi-update.sh)" >&2
	exit 1
fi
abi_dump "$hdrs/current.abi"
# abidiff's status is a bit mask: 1 error, 2 usage, 4 ABI change,
# 8 incompatible change. Added functions are left out of the comparison
# (--no-added-syms), so any non-zero status is a change to review.
set +e
abidiff --no-added-syms "$ref" "$hdrs/current.abi" >"$hdrs/diff.txt"
rc=$?
set -e
if [ $rc -ne 0 ]; then
	cat "$hdrs/diff.txt"
	echo "abi: FAIL: libvcache's ABI differs from $ref (abidiff status" \
	     "$rc). If intended: scripts/abi-update.sh and commit abi/." >&2
	exit 1
fi
added=$({ abidiff "$ref" "$hdrs/current.abi" || true; } |
	sed -n "s/^  \[A\] 'function \(.*\)'.*/\1/p")
if [ -n "$added" ]; then
	echo "abi: compatible; functions added since $ref (allowed; record" \
	     "them with scripts/abi-update.sh):"
	printf '  %s\n' "$added"
else
	echo "abi: identical to $ref"
fi
