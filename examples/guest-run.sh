#!/bin/sh
# The examples on the patched kernel, run by tests/guest/run.sh inside the
# QEMU guest (small RAM, no swap). tabcache makes its own memory cgroup
# (v2 in the guest) and must see purges (--expect-purges), on vrange and,
# for comparison on the same kernel, on uffd; every pixel is checked.
rc=0
step() {
	echo "## example: $*"
	"$@"
	r=$?
	echo "## example rc=$r: $*"
	[ $r = 0 ] || rc=1
}
# imgcache generates its PNG test images into $TMPDIR (default /tmp) and
# needs libpng16 and libz (copied by kernel/run-tests.sh through ldd); the
# kernel reclaims an image before each view (MADV_PAGEOUT).
step ./imgcache --generate 0 --views 60 --pressure pageout --expect-purges --quiet
step env VCACHE_BACKEND=uffd ./imgcache --generate 0 --views 60 --pressure pageout --expect-purges --quiet
step ./tabcache --switches 60 --expect-purges --backend vrange --quiet
step ./tabcache --switches 60 --expect-purges --backend uffd --quiet
step ./tabcache --switches 20 --expect-purges --backend vrange --bad-regen --quiet
# Shared objects across two processes (renderer, browser): vrange caches use
# the kernel's shmem volatile ranges where it has them (fvrange), uffd caches
# the stock-kernel path (library purges by punching holes).
# 16 tabs of 3 MiB in a 40 MiB cgroup (the default limit: half the tabs + 16).
step ./sharedtabs --switches 40 --expect-purges --quiet
step env VCACHE_BACKEND=uffd ./sharedtabs --switches 40 --expect-purges --quiet
exit $rc
