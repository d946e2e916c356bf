/* SPDX-License-Identifier: MIT */
/*
 * shared-fvrange.c - the patched kernel's volatile ranges on shmem
 *
 * fvrange(fd, offset, len, mode, flags, purged) (kernel/ series, patches
 * 0016 on; contract in kernel/FVRANGE-API.md): volatility and purge
 * records belong to the memfd itself, so every process that maps it sees
 * them. Reclaim drops a volatile page (with or without swap) and leaves a
 * record: a mapped access in any process raises SIGBUS (BUS_ADRERR),
 * read(2)/write(2) of it fail with EIO, and NONVOLATILE reports and clears
 * it (the page becomes a hole, to refill). A write does not cancel
 * volatility.
 *
 * Discovery as for vrange(2): the number is read from
 * /sys/kernel/mm/vrange/fvrange_syscall_nr; the library never calls an
 * unadvertised number (on another kernel it may be another syscall), and
 * a kernel that advertises it but answers ENOSYS is treated as not having
 * it. Compiled always; used only where advertised.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared.h"

#define FVRANGE_SYSFS "/sys/kernel/mm/vrange/fvrange_syscall_nr"
#define FV_NONVOLATILE 0ul
#define FV_VOLATILE 1ul
#define FV_PURGED_VEC (1ul << 0)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic long fv_nr = -1;

static void discover(void)
{
	char buf[32];
	ssize_t n;
	long nr;
	char *end;
	int fd = open(FVRANGE_SYSFS, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	nr = strtol(buf, &end, 10);
	if (end == buf || nr <= 0)
		return;
	atomic_store(&fv_nr, nr);
}

bool vc_fvrange_available(void)
{
	pthread_once(&once, discover);
	return atomic_load(&fv_nr) > 0;
}

/*
 * One call over [offset, offset + len) of fd, looping over short
 * returns. mode 0 NONVOLATILE (then *ret_purged: a page of the range had
 * been purged), 1 VOLATILE. 0 or -errno; -ENOSYS turns discovery off.
 * Async-signal-safe (after vc_fvrange_available() in normal context).
 */
int vc_fvrange(int fd, uint64_t offset, size_t len, int mode,
	       bool *ret_purged)
{
	long nr = atomic_load(&fv_nr);
	size_t done = 0;

	if (ret_purged)
		*ret_purged = false;
	if (nr <= 0)
		return -ENOSYS;
	while (done < len) {
		int purged = 0;
		long n = vc_sys_fvrange(nr, fd, (off_t)(offset + done),
					len - done,
					mode ? FV_VOLATILE : FV_NONVOLATILE,
					0ul, mode ? NULL : &purged);

		if (n == -EINTR)
			continue;
		if (n < 0) {
			if (n == -ENOSYS)
				atomic_store(&fv_nr, -1);
			return (int)n;
		}
		if (n == 0)
			return -EIO;
		if (purged && ret_purged)
			*ret_purged = true;
		done += (size_t)n;
	}
	return 0;
}
