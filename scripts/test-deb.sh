#!/usr/bin/env bash
# Build the Debian packages from the working tree in a scratch copy, run
# lintian on them (errors fail), and check what they install.
#   scripts/test-deb.sh [OUTDIR]     (default: a temporary dir)
# The library suite already ran in scripts/test.sh: the package build
# skips it (DEB_BUILD_OPTIONS=nocheck, which also means no Check needed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
[ -n "${1:-}" ] || trap 'rm -rf "$out"' EXIT
version=$(dpkg-parsechangelog -S Version)
src=$out/vcache-$version
rm -rf "$src" "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mkdir -p "$src"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$src"

start=$SECONDS
(cd "$src" && DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) ||
	{ tail -40 "$out/build.log"; echo "FAIL: dpkg-buildpackage" >&2; exit 1; }
echo "dpkg-buildpackage -us -uc -b: $((SECONDS - start)) s; log $out/build.log"
ls "$out"/*.deb | sed 's|.*/|  |'

changes=$(ls "$out"/vcache_*.changes)
lintian --fail-on error --tag-display-limit 0 "$changes" | tee "$out/lintian.txt"
echo "lintian: $(grep -c '^E:' "$out/lintian.txt" || true) errors," \
     "$(grep -c '^W:' "$out/lintian.txt" || true) warnings"

# What a user of each package gets.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
major=${version%%.*}
expect() { # DEB PATH...
	local deb=$1 list; shift
	list=$(dpkg-deb -c "$out"/"$deb"_*.deb | awk '{ print $6 }' | sed 's|^\.||')
	for p; do
		grep -qxF "$p" <<<"$list" ||
			{ echo "FAIL: $deb lacks $p" >&2; exit 1; }
	done
}
expect "libvcache$major" "/usr/lib/$arch/libvcache.so.$major" \
	"/usr/lib/$arch/libvcache.so.$version"
expect libvcache-dev /usr/include/vcache.h /usr/include/vcache-version.h \
	"/usr/lib/$arch/libvcache.so" "/usr/lib/$arch/libvcache.a" \
	"/usr/lib/$arch/pkgconfig/vcache.pc" /usr/share/man/man3/vcache.3.gz \
	/usr/share/man/man3/vcache_new.3.gz /usr/share/man/man3/vcache_free.3.gz
expect vcache-examples /usr/libexec/vcache/tabcache /usr/libexec/vcache/imgcache
# vrange(2) is for systems running the patched kernel: not packaged.
if dpkg-deb -c "$out"/libvcache-dev_*.deb | grep -q 'vrange\.2'; then
	echo "FAIL: libvcache-dev ships vrange.2" >&2; exit 1
fi

# Unpacked together, the pages render and the .pc file resolves.
root=$out/root
rm -rf "$root"
for d in "$out"/*.deb; do dpkg-deb -x "$d" "$root"; done
MANWIDTH=80 man --warnings -l "$root/usr/share/man/man3/vcache.3.gz" 2>&1 >/dev/null |
	{ ! grep .; } || { echo "FAIL: man vcache warns" >&2; exit 1; }
pcversion=$(PKG_CONFIG_SYSROOT_DIR=$root \
	PKG_CONFIG_LIBDIR=$root/usr/lib/$arch/pkgconfig pkg-config --modversion vcache)
[ "$pcversion" = "$version" ] ||
	{ echo "FAIL: vcache.pc does not say $version" >&2; exit 1; }
echo "packages: contents, man page and vcache.pc as expected"
