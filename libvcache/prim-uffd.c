/* SPDX-License-Identifier: MIT */
/*
 * prim-uffd.c - the process's userfaultfd (contract: prim.h)
 *
 * Shared by backend-uffd.c (which needs it) and backend-vrange.c (which
 * uses it for atomic installs when it can), so that neither backend calls
 * into the other. One descriptor per process, opened by the first get.
 * Its registrations are not inherited by fork() (no UFFD_FEATURE_EVENT_FORK:
 * that would need a thread reading fork events), see fork.c.
 *
 * Losing the descriptor: a daemon that closes every descriptor
 * (close_range(3, ~0U, 0)) after creating caches takes the registration
 * with it, and purged pages then read as zeros - the one thing the library
 * exists to prevent. So every use first checks, with one fstat(2), that the
 * number still refers to the very file we opened (userfaultfd files each
 * have their own inode, so a number reused by another open() is noticed).
 * Once lost, the state is sticky (uffd_lost): nothing is registered or
 * copied again, nothing is closed (the number may be somebody else's file
 * now), and lost.c makes the objects inaccessible and has every later call
 * fail with the errno. The same state is entered in a fork() child that
 * cannot open a new descriptor (seccomp, RLIMIT_NOFILE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static pthread_mutex_t uffd_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int uffd_fd = -1;
static unsigned int uffd_users;
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

int vc_uffd_fd(void)
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

int vc_uffd_check_hold(void)
{
	int fd = vc_uffd_fd();

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

void vc_uffd_fork_lock(bool lock)
{
	if (lock)
		pthread_mutex_lock(&uffd_lock);
	else
		pthread_mutex_unlock(&uffd_lock);
}

int vc_uffd_probe(const char **ret_reason)
{
	int fd = -1, err;

	err = uffd_open(&fd, ret_reason);
	if (err < 0)
		return err;
	close(fd);
	return 0;
}

int vc_uffd_get(void)
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
	}
	if (err == 0)
		uffd_users++;
	pthread_mutex_unlock(&uffd_lock);
	return err;
}

void vc_uffd_put(void)
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

int vc_uffd_register(void *addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = vc_uffd_fd();

	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	if (!(reg.ioctls & (1ull << _UFFDIO_COPY)))
		return -EOPNOTSUPP;
	return 0;
}

void vc_uffd_unregister(void *addr, size_t len)
{
	struct uffdio_range range = { .start = (uintptr_t)addr, .len = len };
	int fd = vc_uffd_fd();

	/* munmap() unregisters anyway; failure here changes nothing. */
	if (fd >= 0)
		(void)ioctl(fd, UFFDIO_UNREGISTER, &range);
}

/*
 * No identity check (fstat) first, unlike the other operations: the copy
 * runs on the fault path (once per fault) and after a pin's probe, and
 * both prove the registration is alive - a purged page raised SIGBUS
 * instead of reading as zeros, which only a registered range does. What
 * is left to check is the number: if it was closed behind our back, the
 * ioctl on whatever took the number fails (EBADF, ENOTTY; ENOENT or
 * EINVAL on another process's userfaultfd with nothing registered there),
 * and only then does the identity check run. Not caught: the number taken
 * by another userfaultfd of this very process (the copy then lands in our
 * range through it, which is harmless), or by another process's
 * userfaultfd with a registered range at the same address.
 */
int vc_uffd_copy(void *dst, const void *src, size_t len)
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
			fd = vc_uffd_fd();
			return fd < 0 ? fd : err;
		}
	}
	return 0;
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
void vc_uffd_fork_child(void)
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
