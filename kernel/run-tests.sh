#!/bin/bash
# run-tests.sh - build the patched 6.12 kernel and run the vrange tests in QEMU.
#
# One command from a clean Debian 12 machine to a pass/fail verdict:
#   deps -> source tree (pristine + kernel/patches/series) -> kernel (cached)
#   -> static test binaries -> initramfs -> QEMU (TCG) -> verdict from the log.
#
# The kernel is cached under $VCACHE_KERNEL_WORKDIR keyed on the source package
# version, the patches that change the kernel, the config fragment and the
# compiler, so a rerun with an unchanged series skips extraction and build.
# Patches that only touch tools/ (the selftest) do not invalidate the kernel.
#
# See kernel/README.md for options, environment variables and log locations.

set -euo pipefail

KDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$KDIR")
SRCPKG=linux-source-6.12
TARBALL=/usr/src/$SRCPKG.tar.xz
FRAGMENT=$KDIR/vcache.config
SERIES_DIR=$KDIR/patches
GUEST_INIT=$KDIR/guest/init
# Bump when the way the kernel is built changes, to invalidate the cache.
RECIPE=1

WORK=${VCACHE_KERNEL_WORKDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vcache/kernel}
JOBS=${VCACHE_KERNEL_JOBS:-$(nproc)}
QEMU_TIMEOUT=${VCACHE_QEMU_TIMEOUT:-1200}
QEMU_MEM=${VCACHE_QEMU_MEM:-512M}
QEMU_SMP=${VCACHE_QEMU_SMP:-2}
EXTRA_DIR=${VCACHE_KERNEL_EXTRA_DIR:-}
OUTDIR=
VERBOSE=0
BUILD_ONLY=0
TESTS=${VCACHE_KERNEL_TESTS:-}
APPEND_EXTRA=
KERNEL_IMAGE=${VCACHE_KERNEL_IMAGE:-}

usage() {
	cat <<EOF
usage: $0 [options]
  --extra-dir DIR   copy DIR into the guest as /extra and run /extra/run.sh
                    (dynamic ELF files in DIR get their host libraries copied)
  --tests LIST      comma-separated guest steps to run (default: all):
                    vrange, vrange-zram, extra
  --out DIR         where guest.log, kbuild.log, results go
                    (default: \$VCACHE_KERNEL_LOG's dir, \$MESON_BUILD_ROOT/kernel-test,
                    or $REPO/build/kernel-test)
  --build-only      stop after building the kernel and the initramfs
  --append ARGS     extra kernel command line arguments
  --kernel BZIMAGE  boot this kernel instead of building one (debugging a
                    kernel built elsewhere; the selftest still comes from
                    the series)
  -v, --verbose     stream the whole guest console, not just test output
  -h, --help
environment: VCACHE_KERNEL_WORKDIR VCACHE_KERNEL_LOG VCACHE_KERNEL_JOBS
             VCACHE_QEMU_TIMEOUT VCACHE_QEMU_MEM VCACHE_QEMU_SMP
             VCACHE_KERNEL_EXTRA_DIR VCACHE_KERNEL_TESTS VCACHE_KERNEL_IMAGE
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--extra-dir) EXTRA_DIR=$2; shift 2 ;;
	--tests) TESTS=$2; shift 2 ;;
	--out) OUTDIR=$2; shift 2 ;;
	--build-only) BUILD_ONLY=1; shift ;;
	--append) APPEND_EXTRA=$2; shift 2 ;;
	--kernel) KERNEL_IMAGE=$(readlink -f "$2"); shift 2 ;;
	-v|--verbose) VERBOSE=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
	esac
done

if [ -n "${VCACHE_KERNEL_LOG:-}" ]; then
	LOG=$VCACHE_KERNEL_LOG
	OUTDIR=${OUTDIR:-$(dirname "$LOG")}
else
	OUTDIR=${OUTDIR:-${MESON_BUILD_ROOT:-$REPO/build}/kernel-test}
	LOG=$OUTDIR/guest.log
fi
mkdir -p "$OUTDIR" "$WORK"
OUTDIR=$(cd "$OUTDIR" && pwd)
KBUILD_LOG=$OUTDIR/kbuild.log

T0=$(date +%s)
STAGE_T=$T0
stage() {
	local now
	now=$(date +%s)
	printf '[%4ds] %s\n' $((now - T0)) "$*"
	STAGE_T=$now
}
die() {
	echo "run-tests: FAIL: $*" >&2
	exit 1
}

# ---------------------------------------------------------------- deps
# One installer for the whole project: scripts/deps.sh (installs only what
# is missing; needs root or sudo then).
stage "deps"
"$KDIR/../scripts/deps.sh" kernel || die "missing packages (see above)"

SRCVER=$(dpkg-query -W -f='${Version}' $SRCPKG)
GCCVER=$(gcc -dumpfullversion)

# ---------------------------------------------------------------- series
# The series file lists patch names, one a line; '#' starts a comment.
PATCHES=()
if [ -f "$SERIES_DIR/series" ]; then
	while read -r line; do
		line=${line%%#*}
		line=$(echo "$line" | tr -d '[:space:]')
		[ -z "$line" ] && continue
		[ -f "$SERIES_DIR/$line" ] || die "series names missing patch $line"
		PATCHES+=("$SERIES_DIR/$line")
	done < "$SERIES_DIR/series"
fi

# A patch touches only tools/ if every "+++ b/..." target is under tools/.
tools_only() {
	! grep '^+++ ' "$1" | grep -v '^+++ b/tools/' | grep -q .
}

KERNEL_PATCHES=0
{
	echo "recipe $RECIPE src $SRCVER gcc $GCCVER"
	sha256sum < "$FRAGMENT"
	for p in "${PATCHES[@]}"; do
		tools_only "$p" && continue
		sha256sum < "$p"
	done
} > "$WORK/.kkey.$$"
for p in "${PATCHES[@]}"; do tools_only "$p" || KERNEL_PATCHES=$((KERNEL_PATCHES + 1)); done
KKEY=$(sha256sum < "$WORK/.kkey.$$" | cut -c1-16)
{ cat "$WORK/.kkey.$$"; for p in "${PATCHES[@]}"; do sha256sum < "$p"; done; } |
	sha256sum | cut -c1-16 > "$WORK/.fkey.$$"
FKEY=$(cat "$WORK/.fkey.$$")
rm -f "$WORK/.kkey.$$" "$WORK/.fkey.$$"
stage "series: ${#PATCHES[@]} patches ($KERNEL_PATCHES change the kernel), kernel key $KKEY"

# Everything below touches the shared work dir: one run at a time per
# work dir. The guest boot happens after the lock is released.
exec 9>"$WORK/lock"
if ! flock -n 9; then
	stage "waiting for another run holding $WORK/lock"
	flock 9
fi

# ---------------------------------------------------------------- source
PRISTINE=$WORK/pristine-$SRCVER/$SRCPKG
if [ ! -d "$PRISTINE" ]; then
	stage "extracting $TARBALL"
	rm -rf "$WORK/pristine-$SRCVER.tmp"
	mkdir -p "$WORK/pristine-$SRCVER.tmp"
	tar -C "$WORK/pristine-$SRCVER.tmp" -xJf "$TARBALL"
	mv "$WORK/pristine-$SRCVER.tmp" "$WORK/pristine-$SRCVER"
fi

# The working tree lives at a fixed path so that the object dir and ccache
# can be reused across series. It is a hard-link copy of the pristine tree
# (GNU patch replaces files instead of writing through links, so the
# pristine tree stays pristine).
TREE=$WORK/linux
OBJ=$WORK/obj
patched_files() {
	local p
	for p in "${PATCHES[@]}"; do
		grep '^+++ b/' "$p" | sed 's|^+++ b/||; s|\t.*||' || true
	done | sort -u
}
if [ "$(cat "$TREE/.vcache-fkey" 2>/dev/null)" != "$FKEY" ]; then
	stage "preparing source tree (applying ${#PATCHES[@]} patches)"
	rm -rf "$TREE"
	cp -al "$PRISTINE" "$TREE"
	for p in "${PATCHES[@]}"; do
		if ! (cd "$TREE" && patch -p1 --batch --forward --no-backup-if-mismatch -s < "$p"); then
			rm -rf "$TREE"
			die "patch $(basename "$p") does not apply to $SRCPKG $SRCVER"
		fi
	done
	# Incremental builds in $OBJ compare mtimes: files patched by this or
	# the previous series must look new so that everything using them is
	# rebuilt, including files a previous series patched and this one
	# does not (they were restored to the old pristine mtime).
	patched_files > "$TREE/.vcache-patched"
	{ cat "$TREE/.vcache-patched"; cat "$WORK/last-patched" 2>/dev/null || true; } |
	sort -u |
	while read -r f; do
		[ -f "$TREE/$f" ] || continue
		cp -p "$TREE/$f" "$TREE/$f.vcache-tmp"
		mv -f "$TREE/$f.vcache-tmp" "$TREE/$f"
		touch "$TREE/$f"
	done
	echo "$FKEY" > "$TREE/.vcache-fkey"
fi

# ---------------------------------------------------------------- kernel
KCACHE=$WORK/kernels/$KKEY
MAKE=(make -C "$TREE" O="$OBJ" CC="ccache gcc" HOSTCC="ccache gcc"
	KBUILD_BUILD_TIMESTAMP=vcache KBUILD_BUILD_USER=vcache
	KBUILD_BUILD_HOST=vcache)
export CCACHE_DIR=$WORK/ccache CCACHE_MAXSIZE=3G CCACHE_NOHASHDIR=1

check_config() {
	local cfg=$1 line bad=0
	while read -r line; do
		case $line in CONFIG_*=*) ;; *) continue ;; esac
		grep -qx "$line" "$cfg" || { echo "  not set: $line" >&2; bad=1; }
	done < "$FRAGMENT"
	if [ "$KERNEL_PATCHES" -gt 0 ] && ! grep -qx 'CONFIG_VRANGE=y' "$cfg"; then
		echo "  not set: CONFIG_VRANGE=y (series changes the kernel)" >&2
		bad=1
	fi
	return $bad
}

if [ -n "$KERNEL_IMAGE" ]; then
	[ -f "$KERNEL_IMAGE" ] || die "--kernel $KERNEL_IMAGE: no such file"
	stage "kernel: using $KERNEL_IMAGE (not built here)"
elif [ -f "$KCACHE/bzImage" ]; then
	stage "kernel: cached ($KCACHE)"
else
	stage "kernel: configuring (tinyconfig + $(basename "$FRAGMENT"))"
	mkdir -p "$OBJ"
	{
		"${MAKE[@]}" tinyconfig &&
		"$TREE/scripts/kconfig/merge_config.sh" -m -O "$OBJ" "$OBJ/.config" "$FRAGMENT" &&
		if [ "$KERNEL_PATCHES" -gt 0 ]; then
			echo CONFIG_VRANGE=y >> "$OBJ/.config"
		fi &&
		"${MAKE[@]}" olddefconfig
	} > "$KBUILD_LOG" 2>&1 || die "kernel configuration failed, see $KBUILD_LOG"
	check_config "$OBJ/.config" || die "config fragment options were dropped (see above)"
	# Until this build succeeds, the object dir may hold objects of both
	# the previous series and this one: remember both sets of files.
	{ cat "$TREE/.vcache-patched"; cat "$WORK/last-patched" 2>/dev/null || true; } |
		sort -u > "$WORK/last-patched.new"
	mv "$WORK/last-patched.new" "$WORK/last-patched"
	stage "kernel: building bzImage with -j$JOBS (log: $KBUILD_LOG)"
	if ! "${MAKE[@]}" -j"$JOBS" bzImage headers >> "$KBUILD_LOG" 2>&1; then
		grep -E 'error|Error' "$KBUILD_LOG" | head -20 >&2
		die "kernel build failed, see $KBUILD_LOG"
	fi
	grep -E '(warning|error):' "$KBUILD_LOG" | grep -v '^scripts/' | head -20 || true
	mkdir -p "$KCACHE.tmp"
	cp "$OBJ/arch/x86/boot/bzImage" "$OBJ/.config" "$OBJ/System.map" "$KCACHE.tmp/"
	# The uapi headers of this kernel, for tests that want __NR_vrange.
	cp -a "$OBJ/usr/include" "$KCACHE.tmp/include"
	rm -rf "$KCACHE"
	mv "$KCACHE.tmp" "$KCACHE"
	cp "$TREE/.vcache-patched" "$WORK/last-patched"
	stage "kernel: built $(du -h "$KCACHE/bzImage" | cut -f1)"
fi
if [ -z "$KERNEL_IMAGE" ]; then
	check_config "$KCACHE/.config" || die "cached kernel config lacks options (see above)"
	BZIMAGE=$KCACHE/bzImage
else
	BZIMAGE=$KERNEL_IMAGE
fi

# ---------------------------------------------------------------- tests
RUN=$(mktemp -d "$WORK/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
ROOT=$RUN/root
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,tmp,tests,extra,etc,root}

SELFTEST=$TREE/tools/testing/selftests/mm/vrange.c
if [ -f "$SELFTEST" ]; then
	stage "selftest: gcc -static vrange.c"
	gcc -static -O2 -g -Wall -Wextra -Werror \
		-isystem "$KCACHE/include" \
		-I"$TREE/tools/testing/selftests" -I"$TREE/tools/testing/selftests/mm" \
		-o "$ROOT/tests/vrange" "$SELFTEST" -lpthread ||
		die "selftest vrange.c does not build"
else
	stage "selftest: $SELFTEST absent in the patched tree, not run"
fi

# Release the work-dir lock: the tree is no longer needed.
flock -u 9

cp /bin/busybox "$ROOT/bin/busybox"
mkdir -p "$ROOT/usr/bin" "$ROOT/usr/sbin"
for applet in $(/bin/busybox --list-full); do
	[ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done
cp "$GUEST_INIT" "$ROOT/init"
chmod 755 "$ROOT/init"

# Copy a dynamic ELF's host libraries (and loader) so an extra dir can
# hold ordinary binaries built against the host's glibc.
copy_libs() {
	local lib
	for lib in $(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+'); do
		[ -e "$ROOT$lib" ] && continue
		mkdir -p "$ROOT$(dirname "$lib")"
		cp -L "$lib" "$ROOT$lib"
	done
}
if [ -n "$EXTRA_DIR" ]; then
	[ -d "$EXTRA_DIR" ] || die "--extra-dir $EXTRA_DIR is not a directory"
	stage "extra: copying $EXTRA_DIR"
	cp -a "$EXTRA_DIR/." "$ROOT/extra/"
	while read -r f; do
		# ldd fails on static binaries and scripts: nothing to copy.
		if ldd "$f" >/dev/null 2>&1; then
			copy_libs "$f"
		fi
	done < <(find "$ROOT/extra" -type f -perm -u+x)
fi
echo "${TESTS:-all}" > "$ROOT/etc/vcache-tests"
echo "$QEMU_SMP" > "$ROOT/etc/vcache-smp"

stage "initramfs"
(cd "$ROOT" && find . | cpio -o -H newc --quiet) > "$RUN/initramfs.cpio"
stage "initramfs: $(du -h "$RUN/initramfs.cpio" | cut -f1)"

if [ $BUILD_ONLY -eq 1 ]; then
	cp "$RUN/initramfs.cpio" "$OUTDIR/initramfs.cpio"
	stage "build only: kernel $KCACHE/bzImage, initramfs $OUTDIR/initramfs.cpio"
	exit 0
fi

# ---------------------------------------------------------------- boot
stage "qemu: booting (TCG, -smp $QEMU_SMP -m $QEMU_MEM, timeout ${QEMU_TIMEOUT}s, log $LOG)"
: > "$LOG"
# The console goes to stdout (piped into the log); the guest powers off
# through a reboot, which -no-reboot turns into a QEMU exit. panic=-1 does
# the same on a panic.
set +e
timeout -k 10 "$QEMU_TIMEOUT" qemu-system-x86_64 \
	-accel tcg -cpu max -smp "$QEMU_SMP" -m "$QEMU_MEM" \
	-display none -vga none -no-reboot -monitor none -serial stdio \
	-kernel "$BZIMAGE" -initrd "$RUN/initramfs.cpio" \
	-append "console=ttyS0 loglevel=7 panic=-1 $APPEND_EXTRA" \
	< /dev/null 2>&1 | tr -d '\r' | tee "$LOG" |
	if [ $VERBOSE -eq 1 ]; then cat; else
		sed -un '/^VCACHE-TEST-BEGIN/,/^VCACHE-TEST-END/p'
	fi
QRC=${PIPESTATUS[0]}
set -e
stage "qemu: exited with status $QRC"

# ---------------------------------------------------------------- verdict
FAIL=0
if [ "$QRC" -eq 124 ] || [ "$QRC" -eq 137 ]; then
	echo "run-tests: guest timed out after ${QEMU_TIMEOUT}s" >&2
	FAIL=1
fi
# Kernel messages carry a [ seconds.micro ] stamp (CONFIG_PRINTK_TIME), so
# test output that happens to contain these words is not mistaken for one.
SPLAT='WARNING:|BUG:|kernel BUG at|Oops|general protection fault|Kernel panic|'
SPLAT+='possible circular locking|inconsistent lock state|possible recursive locking|'
SPLAT+='possible irq lock inversion|suspicious RCU usage|lock held when returning|'
SPLAT+='DEBUG_LOCKS_WARN_ON|UBSAN:|Unable to handle|Bad page|bad pmd|bad pte|'
SPLAT+='page dumped because|INFO: task .* blocked|soft lockup|hard LOCKUP|'
SPLAT+='stack-protector|list_add corruption|list_del corruption|Bad rss-counter'
if grep -E '^\[ *[0-9]+\.[0-9]+\] ' "$LOG" | grep -E "$SPLAT" > "$OUTDIR/splats.txt"; then
	echo "run-tests: kernel splat(s) in the guest log:" >&2
	head -20 "$OUTDIR/splats.txt" >&2
	FAIL=1
fi
END=$(grep -a '^VCACHE-TEST-END' "$LOG" | tail -1 || true)
if [ -z "$END" ]; then
	echo "run-tests: no VCACHE-TEST-END marker (guest crashed, hung or was killed)" >&2
	FAIL=1
else
	STATUS=${END##*status=}
	[ "$STATUS" = 0 ] || { echo "run-tests: guest reports $STATUS failing step(s)" >&2; FAIL=1; }
fi
# The guest's own check (step "cpus") fails the run too; this one also
# catches a guest whose init did not get that far.
CPUS=$(grep -a '^### cpus: ' "$LOG" | tail -1 | sed 's/^### cpus: //' || true)
if [ "$QEMU_SMP" -gt 1 ] && { [ -z "$CPUS" ] || [ "$CPUS" = 0 ]; }; then
	echo "run-tests: guest has one CPU online (${CPUS:-unknown}), -smp $QEMU_SMP" >&2
	FAIL=1
fi
sed -n '/^VCACHE-TEST-BEGIN/,/^VCACHE-TEST-END/p' "$LOG" > "$OUTDIR/results.txt"
P=$(grep -cE '^ok ' "$OUTDIR/results.txt" || true)
N=$(grep -cE '^not ok ' "$OUTDIR/results.txt" || true)
S=$(grep -cE '^ok .*# SKIP' "$OUTDIR/results.txt" || true)
stage "TAP: $((P - S)) ok, $S skipped, $N not ok"
grep '^### step .* rc=' "$OUTDIR/results.txt" | sed 's/^### /  /' || true
if [ $FAIL -ne 0 ]; then
	echo "run-tests: FAIL (guest log: $LOG)"
	exit 1
fi
echo "run-tests: PASS"
