/* SPDX-License-Identifier: MIT */
/*
 * backend-uffd.c - volatile memory on stock kernels
 *
 * Volatile = madvise(MADV_FREE): reclaim may drop the (clean) pages without
 * swap. A dropped page leaves an empty page table entry; the range is
 * registered with userfaultfd in MISSING mode with UFFD_FEATURE_SIGBUS, so a
 * user-mode touch of it raises SIGBUS (BUS_ADRERR) instead of mapping a zero
 * page, and kernel-mode access (read(2)/write(2) buffers) fails with EFAULT
 * because the descriptor is UFFD_USER_MODE_ONLY. That flag is also what makes
 * it work unprivileged with vm.unprivileged_userfaultfd=0.
 *
 * Non-volatile without racing reclaim: any write to a lazy-free page makes
 * its PTE dirty, and reclaim re-checks the dirty bit under the page table
 * lock before discarding, putting the page back to swap-backed instead. So
 * "mark non-volatile" writes to each page with an atomic read-modify-write
 * that stores the value it read (sigbus.c, vc_sigbus_probe_pages()); a page
 * that is already gone faults instead and is reported purged. Verified on
 * 6.18: MADV_FREE 16 pages, atomic add 0 to pages 0..7, MADV_PAGEOUT ->
 * pages 0..7 still resident with their data, pages 8..15 gone.
 *
 * Installing regenerated pages: UFFDIO_COPY maps a whole new page at once
 * and fails with EEXIST where a page is present, which is what install()
 * needs. Such pages are dirty, i.e. no longer volatile, so the fault path
 * marks the chunk volatile again afterwards.
 *
 * One descriptor per process, shared by all caches. Its registration is
 * not inherited by fork() (no UFFD_FEATURE_EVENT_FORK), see fork.c.
 *
 * Losing the descriptor: a daemon that closes every descriptor
 * (close_range(3, ~0U, 0)) after creating caches takes our registration
 * with it, and purged pages then read as zeros - the one thing the library
 * exists to prevent. Every operation that depends on the registration
 * (but install(), see there) therefore first checks, with one fstat(2),
 * that the descriptor number still refers to the very file we opened
 * (userfaultfd files each have their own inode, so a number reused by
 * another open() is noticed). Once lost, the state is sticky (uffd_lost): nothing is marked volatile again,
 * nothing is closed (the number may be somebody else's file now), and
 * lost.c makes the objects inaccessible and has every later call fail
 * with the errno. The same state is entered in a fork() child that cannot
 * open a new descriptor (seccomp, RLIMIT_NOFILE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

static pthread_mutex_t uffd_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int uffd_fd = -1;
static unsigned int uffd_users;
static void *_Atomic drain_page;
/* Identity of the file we opened (set before uffd_fd is published). */
static dev_t uffd_dev;
static ino_t uffd_ino;
static _Atomic int uffd_lost; /* 0, or how the descriptor was lost */

static void uffd_set_lost(int err)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(&uffd_lost, &expected, err))
		atomic_store(&uffd_fd, -1);
}

int vc_uffd_lost(void)
{
	return atomic_load(&uffd_lost);
}

/* Checked already in this pin call on this thread (vc_uffd_check_hold()). */
static _tls_ unsigned int tls_checked;

/*
 * The descriptor, or -errno if it is gone or is no longer our file.
 * One fstat(2), none inside a held check; async-signal-safe.
 */
static int uffd_checked_fd(void)
{
	int fd = atomic_load(&uffd_fd), lost = atomic_load(&uffd_lost);
	struct stat st;

	if (lost)
		return lost;
	if (fd < 0)
		return -EBADF;
	if (tls_checked)
		return fd;
	if (fstat(fd, &st) < 0 || st.st_dev != uffd_dev ||
	    st.st_ino != uffd_ino) {
		uffd_set_lost(-EBADF);
		return atomic_load(&uffd_lost);
	}
	return fd;
}

/*
 * A pin checks once, then makes any number of backend calls: the check
 * holds for the rest of the call (the loss can be noticed at the next).
 */
int vc_uffd_check_hold(void)
{
	int fd = uffd_checked_fd();

	if (fd < 0)
		return fd;
	tls_checked++;
	return 0;
}

void vc_uffd_check_release(void)
{
	tls_checked--;
}

static int uffd_remember(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	uffd_dev = st.st_dev;
	uffd_ino = st.st_ino;
	return 0;
}

static int uffd_open(int *ret_fd, const char **ret_reason)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_SIGBUS,
	};
	int fd, err;

#ifndef SYS_userfaultfd
	*ret_reason = "userfaultfd(2) not known at build time";
	return -ENOSYS;
#else
	fd = (int)syscall(SYS_userfaultfd,
			  O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0) {
		err = -errno;
		switch (err) {
		case -EPERM:
			*ret_reason = "userfaultfd(2) refused (EPERM: seccomp "
				      "or vm.unprivileged_userfaultfd)";
			break;
		case -ENOSYS:
			*ret_reason = "userfaultfd(2) not available (ENOSYS)";
			break;
		case -EINVAL:
			*ret_reason = "userfaultfd(2) rejected "
				      "UFFD_USER_MODE_ONLY (kernel < 5.11?)";
			break;
		default:
			*ret_reason = "userfaultfd(2) failed";
		}
		return err;
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		err = -errno;
		close(fd);
		*ret_reason = "UFFDIO_API handshake failed";
		return err;
	}
	if (!(api.features & UFFD_FEATURE_SIGBUS)) {
		close(fd);
		*ret_reason = "userfaultfd lacks UFFD_FEATURE_SIGBUS";
		return -EOPNOTSUPP;
	}
	*ret_fd = fd;
	return 0;
#endif
}

/* fork.c: the child must not inherit uffd_lock held by another thread. */
void vc_uffd_fork_lock(bool lock)
{
	if (lock)
		pthread_mutex_lock(&uffd_lock);
	else
		pthread_mutex_unlock(&uffd_lock);
}

static int uffd_probe(const char **ret_reason)
{
	int fd = -1, err;

	err = uffd_open(&fd, ret_reason);
	if (err < 0)
		return err;
	close(fd);
	return 0;
}

static int uffd_get(void)
{
	const char *reason;
	int err = 0, fd = -1;

	pthread_mutex_lock(&uffd_lock);
	if (uffd_users == 0) {
		err = uffd_open(&fd, &reason);
		if (err == 0) {
			err = uffd_remember(fd);
			if (err < 0)
				close(fd);
		}
		if (err == 0) {
			atomic_store(&uffd_lost, 0);
			atomic_store(&uffd_fd, fd);
		}
		if (err == 0 && !atomic_load(&drain_page)) {
			void *p = mmap(NULL, vc_page_size, PROT_READ,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			/*
			 * Kept for the process: mark_volatile may run late.
			 * Unlocked (mlockall(MCL_FUTURE)): MADV_COLD refuses
			 * locked memory and would drain nothing.
			 */
			if (p != MAP_FAILED) {
				(void)munlock(p, vc_page_size);
				atomic_store(&drain_page, p);
			}
		}
	}
	if (err == 0)
		uffd_users++;
	pthread_mutex_unlock(&uffd_lock);
	return err;
}

static void uffd_put(void)
{
	pthread_mutex_lock(&uffd_lock);
	if (--uffd_users == 0) {
		/* A lost number may belong to another file now: leave it. */
		if (!atomic_load(&uffd_lost))
			close(atomic_load(&uffd_fd));
		atomic_store(&uffd_fd, -1);
		atomic_store(&uffd_lost, 0);
	}
	pthread_mutex_unlock(&uffd_lock);
}

static int uffd_attach(void *addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = uffd_checked_fd();

	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	if (!(reg.ioctls & (1ull << _UFFDIO_COPY)))
		return -EOPNOTSUPP;
	return 0;
}

static void uffd_detach(void *addr, size_t len)
{
	struct uffdio_range range = { .start = (uintptr_t)addr, .len = len };
	int fd = uffd_checked_fd();

	/* munmap() unregisters anyway; failure here changes nothing. */
	if (fd >= 0)
		(void)ioctl(fd, UFFDIO_UNREGISTER, &range);
}

/*
 * MADV_FREE queues the pages for the lazy-free LRU in a per-CPU batch;
 * until that batch is drained they cannot be reclaimed at all, and a
 * thread that goes to sleep right after (the idle thread) can leave them
 * there indefinitely. MADV_COLD begins with a drain of the calling CPU's
 * batches; on an empty page it does nothing else.
 */
static int uffd_mark_volatile(void *addr, size_t len)
{
	void *drain = atomic_load(&drain_page);
	int fd = uffd_checked_fd();

	/* Without the registration a purged page would read as zeros. */
	if (fd < 0)
		return fd;
	if (madvise(addr, len, MADV_FREE) < 0)
		return -errno;
	if (drain)
		(void)madvise(drain, vc_page_size, MADV_COLD);
	return 0;
}

#define PROBE_BATCH 256 /* pages per mincore() call */

/* Probe the resident pages of [addr, addr + n pages), runs per call. */
static bool probe_resident(uint8_t *addr, size_t n)
{
	unsigned char vec[PROBE_BATCH];
	bool purged = false;

	for (size_t off = 0; off < n; off += PROBE_BATCH) {
		size_t m = n - off < PROBE_BATCH ? n - off : PROBE_BATCH;
		uint8_t *a = addr + off * vc_page_size;

		if (mincore(a, m * vc_page_size, vec) < 0) {
			purged |= vc_sigbus_probe_pages(a, m * vc_page_size);
			continue;
		}
		for (size_t i = 0; i < m;) {
			size_t j = i;

			while (j < m && (vec[j] & 1))
				j++;
			if (j > i)
				purged |= vc_sigbus_probe_pages(
					a + i * vc_page_size,
					(j - i) * vc_page_size);
			i = j + 1;
		}
	}
	return purged;
}

/*
 * Non-volatile = a write to every lazy-free page (see the top). The probe
 * writes page by page and costs nothing on a present page; the first
 * purged one faults, and then the call's report (one chunk) is known: of
 * the rest, only resident pages can be lazy-free, so mincore() says which
 * to write and the purged ones cost no signal each (a page reclaimed
 * since mincore faults and is simply purged too). A fully purged chunk
 * costs one signal and one mincore(), not a signal per page; an intact
 * one no system call. With swap, a page that is not resident may be
 * swapped out rather than purged: it is not lazy-free either, so it needs
 * no write, and install() keeps it (EEXIST).
 */
static int uffd_mark_nonvolatile(void *addr, size_t len, bool *ret_purged)
{
	uint8_t *p = addr;
	size_t pages = len / vc_page_size, k = 0;
	bool purged = false;
	int fd = uffd_checked_fd();

	/* Without the registration the probe would find zeros, not purges. */
	if (fd < 0)
		return fd;
	vc_sigbus_open(); /* nests: no system call inside a pin */
	while (k < pages && !purged)
		purged = vc_sigbus_probe_pages(p + k++ * vc_page_size,
					       vc_page_size);
	if (k < pages)
		(void)probe_resident(p + k * vc_page_size, pages - k);
	vc_sigbus_close();
	*ret_purged = purged;
	return 0;
}

/*
 * No fstat() first, unlike the other operations: install() runs on the
 * fault path (once per fault) and after a pin's probe, and both prove
 * the registration is alive - a purged page raised SIGBUS instead of
 * reading as zeros, which only a registered range does. What is left to
 * check is the number: if it was closed behind our back while the file
 * lives on elsewhere, the ioctl fails (EBADF, ENOTTY, ENOENT on another
 * userfaultfd), and only then does the identity check run.
 */
static int uffd_install(void *dst, const void *src, size_t len)
{
	size_t done = 0;
	int fd = atomic_load(&uffd_fd), err, lost = atomic_load(&uffd_lost);

	if (lost)
		return lost;
	if (fd < 0)
		return -EBADF;
	while (done < len) {
		struct uffdio_copy copy = {
			.dst = (uintptr_t)dst + done,
			.src = (uintptr_t)src + done,
			.len = len - done,
			.mode = 0,
		};

		if (ioctl(fd, UFFDIO_COPY, &copy) == 0)
			return 0;
		if (errno == EEXIST) {
			/* A page is present at dst + done: keep it. */
			done += vc_page_size;
		} else if (errno == EAGAIN && copy.copy > 0) {
			/* Partial copy, stopped before a present page. */
			done += (size_t)copy.copy;
		} else if (errno == EAGAIN) {
			continue;
		} else {
			err = -errno;
			fd = uffd_checked_fd();
			return fd < 0 ? fd : err;
		}
	}
	return 0;
}

/*
 * vcache_purge*() and strict mode: MADV_DONTNEED empties the page table
 * entries exactly as reclaim of a lazy-free page does, so a touch raises
 * SIGBUS and the probe reports the purge. Unlike MADV_PAGEOUT it does not
 * skip pages still waiting in another CPU's LRU batch.
 */
static int uffd_purge(void *addr, size_t len)
{
	return madvise(addr, len, MADV_DONTNEED) < 0 ? -errno : 0;
}

/*
 * In the child the old descriptor refers to the parent's address space.
 * Close it first, then open a new one: with a full descriptor table the
 * new one takes the freed number, so this works where opening first would
 * fail with EMFILE (single-threaded here: nobody else can take the number).
 * If it lands elsewhere, move it onto the old number, so the number every
 * other part of the library loads stays valid. If no descriptor can be
 * opened (a seccomp filter, say) the state is "lost" and fork.c makes the
 * objects inaccessible: the child lives, and never reads zeros.
 */
static void uffd_fork_child(void)
{
	const char *reason;
	int fd, err, old = atomic_load(&uffd_fd);

	if (old < 0)
		return;
	close(old);
	err = uffd_open(&fd, &reason);
	if (err == 0 && fd != old) {
		if (dup3(fd, old, O_CLOEXEC) == old) {
			close(fd);
			fd = old;
		}
	}
	if (err == 0)
		err = uffd_remember(fd);
	if (err < 0) {
		atomic_store(&uffd_fd, -1);
		atomic_store(&uffd_lost, err);
		return;
	}
	atomic_store(&uffd_fd, fd);
}

const struct backend_ops vc_backend_uffd = {
	.id = VCACHE_BACKEND_UFFD,
	.name = "uffd",
	.probe = uffd_probe,
	.get = uffd_get,
	.put = uffd_put,
	.attach = uffd_attach,
	.detach = uffd_detach,
	.mark_volatile = uffd_mark_volatile,
	.mark_nonvolatile = uffd_mark_nonvolatile,
	.fault_prepare = NULL,
	.install = uffd_install,
	.fork_child = uffd_fork_child,
	.purge = uffd_purge,
};
