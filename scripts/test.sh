#!/usr/bin/env bash
# The README's second command (and CI's): every test of the project.
#   1. libvcache + examples, warnings as errors, every native backend
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer,
#      built with clang, and under ThreadSanitizer
#   2b. what others get (scripts/test-ecosystem.sh): exports, man pages,
#      ABI against abi/, vcache as a subproject, via CMake and from C++, .deb build
#   3. the patched kernel: build (cached), boot under QEMU, run the vrange
#      selftest, the library suite on every backend and the examples there
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

# A second compiler: clang folds code gcc leaves alone (it once turned the
# uffd pin probe into a plain load). Plain build, warnings as errors.
stage "clang build (-Werror)"
[ -f build-clang/build.ninja ] ||
	CC=clang meson setup build-clang -Dwerror=true >/dev/null
ninja -C build-clang
stage "clang tests"
meson test -C build-clang --print-errorlogs --suite lib --suite examples

# ThreadSanitizer: the library's lock-free fault path and its signal
# handling under a runtime that runs handlers with every signal blocked.
stage "TSan build"
[ -f build-tsan/build.ninja ] ||
	meson setup build-tsan -Dwerror=true -Db_sanitize=thread \
		-Db_lundef=false >/dev/null
ninja -C build-tsan
stage "TSan tests"
meson test -C build-tsan --print-errorlogs --suite lib

stage "ecosystem: exports, man pages, ABI, consumers, Debian packages"
scripts/test-ecosystem.sh build-test

if [ "${VCACHE_SKIP_KERNEL:-0}" = 1 ]; then
	stage "kernel tests SKIPPED (VCACHE_SKIP_KERNEL=1)"
else
	stage "patched kernel under QEMU: selftests, library suite, examples"
	# The guest runs the native build's programs (dynamic; the harness
	# copies their libraries): every Check program on vrange, uffd and
	# none, then the demos. Logs: build-test/kernel-test/.
	tests/guest/prepare.sh build-test build-test/guest-extra >/dev/null
	# Under TCG the whole guest run takes 10-25 minutes: allow 50.
	VCACHE_KERNEL_LOG="$PWD/build-test/kernel-test/guest.log" \
	VCACHE_QEMU_TIMEOUT=${VCACHE_QEMU_TIMEOUT:-3000} \
		kernel/run-tests.sh --extra-dir build-test/guest-extra
fi
stage "all tests passed"
