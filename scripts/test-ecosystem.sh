#!/usr/bin/env bash
# What the project hands to others, checked from a native build
# (scripts/test.sh runs this after the native tests):
#   exports and man pages (meson suite 'ecosystem'), the ABI against
#   abi/, one version everywhere, the Debian symbols file, vcache as a
#   subproject / through pkg-config and CMake, the Debian packages.
# Usage: scripts/test-ecosystem.sh [BUILDDIR]     (default build-test)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-test}
start=$SECONDS
step() { printf -- '--- [%4ds] %s\n' $((SECONDS - start)) "$*"; }

step "exports (header = vcache.sym = .so = .a), man pages"
meson test -C "$build" --print-errorlogs --suite ecosystem

step "ABI against the reference"
scripts/abi-check.sh "$build"

step "one version: meson.build, vcache.pc, soname, debian/changelog, NEWS"
version=$(meson introspect --projectinfo "$build" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
soname=$(objdump -p "$(readlink -f "$build/libvcache/libvcache.so")" |
	awk '$1 == "SONAME" { print $2 }')
pcversion=$(PKG_CONFIG_PATH=$build/meson-private pkg-config --modversion vcache)
debversion=$(dpkg-parsechangelog -S Version)
newsversion=$(awk '/^[0-9]+\.[0-9]+\.[0-9]+/ { print $1; exit }' NEWS)
echo "meson $version, soname $soname, vcache.pc $pcversion," \
     "debian $debversion, NEWS $newsversion"
[ "$soname" = "libvcache.so.${version%%.*}" ] &&
[ "$pcversion" = "$version" ] && [ "$debversion" = "$version" ] &&
[ "$newsversion" = "$version" ] ||
	{ echo "FAIL: versions disagree" >&2; exit 1; }
[ -f "debian/libvcache${version%%.*}.symbols" ] &&
	grep -qx "Package: libvcache${version%%.*}" debian/control ||
	{ echo "FAIL: debian/ does not name libvcache${version%%.*}" >&2; exit 1; }
scripts/symbols-update.py --check

step "consumers: meson subproject without Check, CMake via pkg-config"
scripts/test-consumers.sh

step "Debian packages"
scripts/test-deb.sh
step "ecosystem checks passed"
