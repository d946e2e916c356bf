#!/usr/bin/env bash
# Install the Debian packages a vcache target needs, only those missing.
# Usage: scripts/deps.sh lib|kernel|pkg|bench|all
set -euo pipefail

# clang: the second compiler stage; libsigsegv: the soft backend;
# libseccomp: tests and examples that refuse userfaultfd.
lib_pkgs=(gcc meson ninja-build pkg-config check clang libsigsegv-dev
	  libseccomp-dev)
# imgcache decodes real PNG files; pnggen writes its test images.
lib_pkgs+=(libpng-dev)
# bench/plot.sh draws the benchmark plots.
bench_pkgs=(gnuplot-nox)
# Everything kernel/run-tests.sh uses to build, patch and boot the kernel.
kernel_pkgs=(linux-source-6.12 qemu-system-x86 busybox-static build-essential
	     bc bison flex libelf-dev libssl-dev cpio xz-utils patch ccache
	     coreutils util-linux)
# Packaging and ecosystem checks (scripts/test-ecosystem.sh): the ABI
# check, man page lint, the Debian package build and lintian, the CMake
# consumer test.
pkg_pkgs=(abigail-tools mandoc groff-base man-db cmake debhelper lintian
	  dpkg-dev fakeroot binutils g++)

case "${1:-all}" in
lib)    want=("${lib_pkgs[@]}") ;;
kernel) want=("${kernel_pkgs[@]}") ;;
pkg)    want=("${pkg_pkgs[@]}") ;;
bench)  want=("${lib_pkgs[@]}" "${bench_pkgs[@]}") ;;
all)    want=("${lib_pkgs[@]}" "${kernel_pkgs[@]}" "${pkg_pkgs[@]}" "${bench_pkgs[@]}") ;;
*)      echo "usage: $0 lib|kernel|pkg|bench|all" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "deps: installing ${missing[*]}"
# Wait for a dpkg lock held by another installer instead of failing.
lock=(-o DPkg::Lock::Timeout=600)
$sudo apt-get "${lock[@]}" update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -q \
	--no-install-recommends \
	"${missing[@]}"
