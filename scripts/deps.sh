#!/usr/bin/env bash
# Install the Debian packages a vcache target needs, only those missing.
# Usage: scripts/deps.sh lib|kernel|all
set -euo pipefail

lib_pkgs=(gcc meson ninja-build pkg-config check libsigsegv-dev libseccomp-dev)
# Everything kernel/run-tests.sh uses to build, patch and boot the kernel.
kernel_pkgs=(linux-source-6.12 qemu-system-x86 busybox-static build-essential
	     bc bison flex libelf-dev libssl-dev cpio xz-utils patch ccache
	     coreutils util-linux)

case "${1:-all}" in
lib)    want=("${lib_pkgs[@]}") ;;
kernel) want=("${kernel_pkgs[@]}") ;;
all)    want=("${lib_pkgs[@]}" "${kernel_pkgs[@]}") ;;
*)      echo "usage: $0 lib|kernel|all" >&2; exit 2 ;;
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
