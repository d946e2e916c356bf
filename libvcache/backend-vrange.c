/* SPDX-License-Identifier: MIT */
/*
 * backend-vrange.c - the vrange(2) system call of the patched kernel
 *
 * ABI (kernel/ in this project, after the 2012-2014 linux-mm proposal):
 *   ssize_t vrange(unsigned long start, size_t len, unsigned long mode,
 *                  unsigned long flags, int *purged);
 *   mode VRANGE_VOLATILE 1 / VRANGE_NONVOLATILE 0, flags 0; returns the
 *   bytes processed, possibly fewer than asked (like write(2)); *purged is
 *   exact for the processed part. A touch of a purged page raises SIGBUS
 *   (BUS_ADRERR). With flags VRANGE_PURGED_VEC (NONVOLATILE only) purged
 *   is a byte per page, 1 where the page was purged: pinning a whole
 *   object is then one call, and only the purged chunks are regenerated.
 *   Kernels of the series before that flag fail it with EINVAL; the
 *   library then asks chunk by chunk.
 *
 * The syscall number is not allocated upstream, so it is only ever taken
 * from /sys/kernel/mm/vrange/syscall_nr: on another kernel the same number
 * may be a different system call, and calling it blindly could do anything.
 *
 * Installing regenerated pages: NONVOLATILE forgets the purges, after which
 * the purged pages would read as zeros to another thread while the chunk is
 * being copied in. When userfaultfd is usable too, the object is also
 * registered with it (MISSING mode, SIGBUS feature): then such a touch
 * raises SIGBUS, the handler finds the chunk BUSY and waits, and install()
 * is UFFDIO_COPY through the process's shared descriptor (prim-uffd.c),
 * atomic per page. Without userfaultfd, install() is a memcpy and that
 * window exists (documented limitation).
 *
 * Tested on the patched kernel under QEMU (an image of the kernel/ series
 * built at 02:18 UTC, /work/build/kharness/kpatch-0218.bzImage, with
 * userfaultfd enabled): the library's tests pass with VCACHE_BACKEND=vrange.
 * The memcpy fallback (kernel without userfaultfd) has not been run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

#define VRANGE_NONVOLATILE 0
#define VRANGE_VOLATILE 1
#define VRANGE_PURGED_VEC 1ul
#define VRANGE_SYSFS "/sys/kernel/mm/vrange/syscall_nr"

static _Atomic long vrange_nr = -1;
static atomic_bool vrange_no_vec; /* the kernel refused VRANGE_PURGED_VEC */
static pthread_mutex_t vrange_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int vrange_users;
static bool with_uffd; /* set while vrange_users > 0 */
/*
 * The process whose address space the userfaultfd serves. A child made by
 * a raw clone() (no atfork handler) inherits the descriptor, and
 * UFFDIO_COPY through it would act on the parent's memory, not the child's
 * (there it fails with EEXIST on the purged page, the child's own page is
 * never filled and reads as zeros). Such a child installs with memcpy().
 */
static pid_t uffd_pid;

static int vrange_read_nr(long *ret_nr)
{
	char buf[32], *end;
	ssize_t n;
	long nr;
	int fd;

	fd = open(VRANGE_SYSFS, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOSYS;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ENOSYS;
	buf[n] = '\0';
	errno = 0;
	nr = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || nr < 0)
		return -ENOSYS;
	*ret_nr = nr;
	return 0;
}

static int vrange_probe(const char **ret_reason)
{
	long nr;

	if (vrange_read_nr(&nr) < 0) {
		*ret_reason = "kernel does not advertise vrange(2) "
			      "(" VRANGE_SYSFS " missing)";
		return -ENOSYS;
	}
	atomic_store(&vrange_nr, nr);
	return 0;
}

static int vrange_get(void)
{
	const char *reason;
	int err = 0;

	pthread_mutex_lock(&vrange_lock);
	if (vrange_users == 0) {
		if (atomic_load(&vrange_nr) < 0)
			err = vrange_probe(&reason);
		/* Optional: only makes install() atomic. */
		if (err == 0)
			with_uffd = vc_uffd_get() == 0;
		uffd_pid = getpid();
	}
	if (err == 0)
		vrange_users++;
	pthread_mutex_unlock(&vrange_lock);
	return err;
}

static void vrange_put(void)
{
	pthread_mutex_lock(&vrange_lock);
	if (--vrange_users == 0 && with_uffd) {
		vc_uffd_put();
		with_uffd = false;
	}
	pthread_mutex_unlock(&vrange_lock);
}

/* Loop over short returns; OR the purge reports of every step. */
static int vrange_call(void *addr, size_t len, unsigned long mode,
		       bool *ret_purged)
{
	long nr = atomic_load(&vrange_nr);
	uintptr_t p = (uintptr_t)addr;
	bool any = false;

	if (nr < 0)
		return -ENOSYS;
	while (len > 0) {
		int purged = 0;
		long n = vc_sys_vrange(nr, p, len, mode, 0ul, &purged);

		if (n < 0)
			return (int)n;
		if (n == 0 || (size_t)n > len)
			return -EIO;
		any |= purged != 0;
		p += (size_t)n;
		len -= (size_t)n;
	}
	if (ret_purged)
		*ret_purged = any;
	return 0;
}

/* The kernel raises SIGBUS on purged pages by itself; uffd: see above. */
static int vrange_attach(void *addr, size_t len)
{
	return with_uffd ? vc_uffd_register(addr, len) : 0;
}

static void vrange_detach(void *addr, size_t len)
{
	if (with_uffd)
		vc_uffd_unregister(addr, len);
}

static int vrange_mark_volatile(void *addr, size_t len)
{
	return vrange_call(addr, len, VRANGE_VOLATILE, NULL);
}

static int vrange_mark_nonvolatile(void *addr, size_t len, bool *ret_purged)
{
	return vrange_call(addr, len, VRANGE_NONVOLATILE, ret_purged);
}

/*
 * One NONVOLATILE|VRANGE_PURGED_VEC over the range (looping over short
 * returns). The kernel zeroes the vector of each call's range before it
 * changes anything, so after a failure the part it did not process is set
 * back to VC_PAGE_UNKNOWN.
 */
static int vrange_mark_nonvolatile_pages(void *addr, size_t len,
					 unsigned char *vec)
{
	long nr = atomic_load(&vrange_nr);
	uintptr_t p = (uintptr_t)addr;
	size_t done = 0;
	int err = 0;

	if (nr < 0 || atomic_load(&vrange_no_vec)) {
		memset(vec, VC_PAGE_UNKNOWN, len / vc_page_size);
		return -ENOSYS;
	}
	while (done < len) {
		long n = vc_sys_vrange(nr, p + done, len - done,
				       VRANGE_NONVOLATILE, VRANGE_PURGED_VEC,
				       vec + done / vc_page_size);

		if (n < 0) {
			err = (int)n;
			if (err == -EINVAL && done == 0)
				atomic_store(&vrange_no_vec, true);
			break;
		}
		if (n == 0 || (size_t)n > len - done) {
			err = -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (err)
		memset(vec + done / vc_page_size, VC_PAGE_UNKNOWN,
		       (len - done) / vc_page_size);
	return err;
}

static int vrange_fault_prepare(void *addr, size_t len)
{
	bool purged;

	return vrange_call(addr, len, VRANGE_NONVOLATILE, &purged);
}

static int vrange_install(void *dst, const void *src, size_t len)
{
	/* getpid() is async-signal-safe and not cached by glibc. */
	if (with_uffd && getpid() == uffd_pid)
		return vc_uffd_copy(dst, src, len);
	memcpy(dst, src, len); /* not atomic: see above */
	return 0;
}

/*
 * vcache_purge*(): the kernel's own reclaim of the range, which leaves the
 * purge markers NONVOLATILE reports (MADV_DONTNEED would not).
 */
static int vrange_purge(void *addr, size_t len)
{
	return vc_mem_advise(addr, len, MADV_PAGEOUT);
}

static void vrange_fork_child(void)
{
	if (with_uffd) {
		vc_uffd_fork_child();
		uffd_pid = getpid();
	}
}

const struct backend_ops vc_backend_vrange = {
	.id = VCACHE_BACKEND_VRANGE,
	.name = "vrange",
	.probe = vrange_probe,
	.get = vrange_get,
	.put = vrange_put,
	.attach = vrange_attach,
	.detach = vrange_detach,
	.mark_volatile = vrange_mark_volatile,
	.mark_nonvolatile = vrange_mark_nonvolatile,
	.mark_nonvolatile_pages = vrange_mark_nonvolatile_pages,
	.fault_prepare = vrange_fault_prepare,
	.install = vrange_install,
	.fork_child = vrange_fork_child,
	.purge = vrange_purge,
};
