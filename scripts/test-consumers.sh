#!/usr/bin/env bash
# vcache as other projects meet it (run by scripts/test-ecosystem.sh):
#   1. a meson project using vcache as a subproject, with no Check to be
#      found: dependency('vcache') gets the library and nothing else;
#   2. vcache itself configured with -Dtests=disabled without Check;
#   3. `meson install` to a prefix, then a CMake project finding it through
#      pkg-config, and a static link against the installed libvcache.a by
#      a program that defines names the library uses internally.
# Usage: scripts/test-consumers.sh [WORKDIR]   (default: a temporary dir)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
work=${1:-$(mktemp -d)}
[ -n "${1:-}" ] || trap 'rm -rf "$work"' EXIT
rm -rf "$work"/{sub,notests,auto,inst,prefix,cmake,static}
mkdir -p "$work"
step() { printf -- '--- %s\n' "$*"; }

# Every pkg-config file of the system but Check's (Check ships no CMake
# package), as on a machine without Check; other dependencies stay found.
nopc=$work/pkgconfig-without-check
rm -rf "$nopc"
mkdir -p "$nopc"
IFS=: read -ra pcdirs <<<"$(pkg-config --variable pc_path pkg-config)"
for d in "${pcdirs[@]}"; do
	for pc in "$d"/*.pc; do
		[ -e "$pc" ] && [ "${pc##*/}" != check.pc ] &&
			[ ! -e "$nopc/${pc##*/}" ] && ln -s "$pc" "$nopc/"
	done
done
export PKG_CONFIG_LIBDIR=$nopc PKG_CONFIG_PATH=
if pkg-config --exists check; then
	echo "FAIL: Check is still visible to pkg-config" >&2; exit 1
fi

copy_tree() { # DEST: the working tree's files (committed or not)
	mkdir -p "$1"
	git ls-files -co --exclude-standard -z | grep -zv '^kernel/patches/' |
		xargs -0 cp --parents -t "$1"
}

step "1. meson subproject, Check hidden"
mkdir -p "$work/sub/subprojects"
cp tests/consumer/meson.build tests/consumer/consumer.c "$work/sub/"
copy_tree "$work/sub/subprojects/vcache"
meson setup "$work/sub/build" "$work/sub" >"$work/sub.log"
if grep -qiE 'dependency check found|check\.pc' "$work/sub/build/meson-logs/meson-log.txt"; then
	echo "FAIL: the subproject looked for Check" >&2; exit 1
fi
ninja -C "$work/sub/build" >>"$work/sub.log"
# Only the library (and the consumer) got built.
extra=$(ninja -C "$work/sub/build" -t targets all | grep ': c_LINKER' |
	grep -vE '^(consumer|subprojects/vcache/libvcache/libvcache\.so[.0-9]*): ' || true)
if [ -n "$extra" ]; then
	echo "FAIL: the subproject built more than the library:" >&2
	echo "$extra" >&2; exit 1
fi
meson test -C "$work/sub/build" --print-errorlogs consumer >"$work/sub-test.log" ||
	{ cat "$work/sub-test.log"; exit 1; }
"$work/sub/build/consumer"

step "2. vcache with -Dtests=disabled, Check hidden"
meson setup "$work/notests" "$src" -Dtests=disabled -Dwerror=true >"$work/notests.log"
grep -qiE 'dependency check found' "$work/notests/meson-logs/meson-log.txt" &&
	{ echo "FAIL: -Dtests=disabled still looked for Check" >&2; exit 1; }
ninja -C "$work/notests" >>"$work/notests.log"
echo "built without Check: $(ninja -C "$work/notests" -t targets all | grep -c 'c_LINKER') linked targets"
# The default (tests=auto) without Check: configures, tests left out.
meson setup "$work/auto" "$src" >"$work/auto.log"
grep -q 'Run-time dependency check found: NO' "$work/auto/meson-logs/meson-log.txt" ||
	{ echo "FAIL: tests=auto did not notice Check missing" >&2; exit 1; }
if ninja -C "$work/auto" -t targets all | grep -q '^tests/test-api:'; then
	echo "FAIL: tests=auto without Check still builds the suite" >&2; exit 1
fi
echo "tests=auto without Check: configured, suite left out"

unset PKG_CONFIG_LIBDIR
step "3. meson install to a prefix; CMake through pkg-config"
prefix=$work/prefix
meson setup "$work/inst" "$src" --prefix="$prefix" -Dtests=disabled \
	-Dexamples=disabled -Dbench=disabled -Dkernel_harness=disabled \
	-Dvrange_man=true >"$work/inst.log"
meson install -C "$work/inst" >>"$work/inst.log"
for f in include/vcache.h include/vcache-version.h share/man/man3/vcache.3 \
	 share/man/man3/vcache_stats_get.3 share/man/man2/vrange.2; do
	[ -f "$prefix/$f" ] || { echo "FAIL: meson install did not install $f" >&2; exit 1; }
done
echo "meson install: headers, $(ls "$prefix/share/man/man3" | wc -l) man3 pages, vrange.2 (-Dvrange_man=true)"
pcdir=$(dirname "$(find "$prefix" -name vcache.pc)")
export PKG_CONFIG_PATH=$pcdir
echo "pkg-config: vcache $(pkg-config --modversion vcache): $(pkg-config --cflags --libs vcache)"
cmake -S tests/consumer -B "$work/cmake" >"$work/cmake.log"
cmake --build "$work/cmake" >>"$work/cmake.log"
libdir=$(pkg-config --variable=libdir vcache)
LD_LIBRARY_PATH=$libdir "$work/cmake/consumer"
# (grep on a variable: grep -q on a pipe would SIGPIPE ldd under pipefail)
deps=$(LD_LIBRARY_PATH=$libdir ldd "$work/cmake/consumer")
grep -qF "$libdir/libvcache.so.1" <<<"$deps" ||
	{ echo "FAIL: the CMake consumer is not linked to $libdir/libvcache.so.1" >&2; exit 1; }

# The header from C++ too (extern "C", the inline, the macros).
c++ -x c++ -std=c++11 -Wall -Wextra -Werror -o "$work/cmake/consumer-cxx" \
	tests/consumer/consumer.c $(pkg-config --cflags --libs vcache)
LD_LIBRARY_PATH=$libdir "$work/cmake/consumer-cxx"

step "4. static link against the installed libvcache.a"
# The program defines names the library uses internally: with the
# prelinked archive they are the program's own, no clash.
mkdir -p "$work/static"
cat >"$work/static/clash.c" <<'CEOF'
#include <stddef.h>
size_t vc_page_size = 3;
void vc_slab_lock(void) { }
int vc_chain_install(int sig) { (void)sig; return -1; }
CEOF
# shellcheck disable=SC2046
cc -o "$work/static/consumer" tests/consumer/consumer.c "$work/static/clash.c" \
	$(pkg-config --cflags vcache) "$libdir/libvcache.a" \
	$(pkg-config --static --libs-only-l vcache | sed 's/-lvcache//')
"$work/static/consumer"
syms=$(nm "$work/static/consumer")
if grep -q ' T vcache_new$' <<<"$syms"; then
	echo "static consumer: vcache linked in, internal names stay private"
else
	echo "FAIL: vcache_new not linked statically" >&2; exit 1
fi
