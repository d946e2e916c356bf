#!/usr/bin/env bash
# The README's second command (and CI's): every test of the project.
#   1. libvcache + examples, warnings as errors, every native backend
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. the patched kernel: build (cached), boot under QEMU, guest tests
# Set VCACHE_SKIP_KERNEL=1 to run only 1 and 2 (it says so).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stage() { printf '\n=== [%4ds] %s\n' $((SECONDS - start)) "$*"; }

scripts/deps.sh all

stage "native build (-Werror)"
[ -f build-test/build.ninja ] || meson setup build-test -Dwerror=true >/dev/null
ninja -C build-test
stage "native tests"
meson test -C build-test --print-errorlogs --suite lib --suite examples

stage "ASan+UBSan build"
[ -f build-asan/build.ninja ] ||
	meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null
ninja -C build-asan
stage "ASan+UBSan tests"
meson test -C build-asan --print-errorlogs --suite lib --suite examples

if [ "${VCACHE_SKIP_KERNEL:-0}" = 1 ]; then
	stage "kernel tests SKIPPED (VCACHE_SKIP_KERNEL=1)"
else
	stage "patched kernel under QEMU"
	kernel/run-tests.sh
fi
stage "all tests passed"
