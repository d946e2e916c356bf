/* SPDX-License-Identifier: MIT */
/*
 * prim.h - the library's operating-system primitives (never installed)
 *
 * Every system call the library makes about memory, time, sleeping and
 * waking, and the userfaultfd descriptor goes through this layer, so the
 * rest of the library reads as policy and a port (or a sanitizer quirk, a
 * seccomp surprise) has one place to look. What stays outside: signal
 * actions and masks (chain.c, sigbus.c: they are the subject of those
 * files, not a detail), the pressure watcher's cgroup and PSI files
 * (pressure.c), soft's /proc/self/mem (backend-soft.c) and the descriptor
 * reads and writes of vcache_read()/vcache_write() (io.c).
 *
 * The contract, for every primitive below unless its comment says
 * otherwise:
 *
 *  - Errors: an int or long result is 0 (or a count, or a descriptor) on
 *    success and a negative errno on failure: the errno of the system call
 *    underneath, passed on unchanged. errno itself may be overwritten by
 *    any primitive: a signal handler that calls one saves and restores
 *    errno around its work (sigbus.c, sigsegv.c do). Output parameters are
 *    named ret_* and are written only on success (callers that gcc cannot
 *    follow initialise them). Nothing here prints (except the message
 *    writer, whose job it is), allocates from the heap, or takes a lock
 *    (except where noted: page size, userfaultfd get/put/fork lock).
 *  - Async-signal-safety: marked "AS-safe" on each primitive that may be
 *    called from the SIGBUS/SIGSEGV handlers; those are one system call (or
 *    a vDSO call, or a few) plus arithmetic and atomics, nothing else.
 *  - Threads: every primitive may be called from any thread at once. State
 *    shared between threads (vc_page_size, the userfaultfd) is described
 *    where it is declared.
 *  - Memory ranges: addr and len are page aligned (vc_page_size) and lie
 *    inside mappings the caller owns, unless the comment says otherwise.
 *  - Cost: the generic primitives a fault or a pin runs are static inline
 *    here, so they add no function call to those paths; prim.c has only
 *    what runs once or when the process is about to die. The userfaultfd
 *    primitives are out of line in prim-uffd.c (their state is private to
 *    it): the backends' install, attach and detach point straight at them,
 *    and mark_volatile / mark_nonvolatile pay one direct call to
 *    vc_uffd_fd().
 */
#ifndef VCACHE_PRIM_H
#define VCACHE_PRIM_H

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- Page size (prim.c) ---- */

/*
 * The system page size in bytes, a power of two. Written once by
 * vc_page_size_init() (pthread_once: thread-safe, not AS-safe), which
 * vcache_new() calls before anything else; read without synchronisation
 * everywhere after that (AS-safe), including by the handlers, which can
 * only run for objects made after it was set.
 */
extern size_t vc_page_size;
void vc_page_size_init(void);

/* ---- Monotonic clock ---- */

/*
 * CLOCK_MONOTONIC in nanoseconds: idle-delay deadlines, purge order,
 * regeneration time. Cannot fail on Linux. AS-safe (clock_gettime(2) is; usually the vDSO,
 * no system call).
 */
static inline uint64_t vc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- Anonymous mappings ---- */

/*
 * A new private anonymous mapping of len bytes (rounded up to pages by
 * the kernel), zero-filled, with protection prot (PROT_*). *ret_addr on
 * success; 0 or mmap(2)'s negative errno (-ENOMEM, -EINVAL for len 0).
 * AS-safe: the scratch pool maps a buffer from the fault path when its
 * slots are all taken.
 */
static inline int vc_mem_map(size_t len, int prot, void **ret_addr)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	*ret_addr = p;
	return 0;
}

/*
 * Reserve len bytes of address space: a private anonymous mapping with
 * PROT_NONE and MAP_NORESERVE, so it costs no memory, no overcommit
 * charge and (even under mlockall(MCL_FUTURE)) no population until parts
 * of it are made accessible with vc_mem_protect(). *ret_addr or -errno.
 * Not AS-safe by contract (arena.c, normal context).
 */
static inline int vc_mem_reserve(size_t len, void **ret_addr)
{
	void *p = mmap(NULL, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	*ret_addr = p;
	return 0;
}

/*
 * Map len bytes of the file fd from offset off (page aligned) MAP_SHARED:
 * what other processes mapping the file see, this one sees. 0 and
 * *ret_addr, or -errno. Not AS-safe (like vc_mem_map()).
 */
static inline int vc_mem_map_file(int fd, off_t off, size_t len, int prot,
				  void **ret_addr)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);

	if (p == MAP_FAILED)
		return -errno;
	*ret_addr = p;
	return 0;
}

/*
 * Unmap [addr, addr + len). It cannot fail for a range vc_mem_map() gave
 * (munmap(2) only rejects bad arguments), so there is nothing to return.
 * AS-safe.
 */
static inline void vc_mem_unmap(void *addr, size_t len)
{
	(void)munmap(addr, len);
}

/* mprotect(2): 0 or -errno (-ENOMEM: not mapped). AS-safe. */
static inline int vc_mem_protect(void *addr, size_t len, int prot)
{
	return mprotect(addr, len, prot) < 0 ? -errno : 0;
}

/*
 * madvise(2) with one MADV_* advice: 0 or -errno (-EINVAL: advice the
 * kernel or the mapping does not take, such as MADV_FREE on locked
 * memory). What each advice means for volatility is the caller's
 * business, and is written where it is used (the backends). AS-safe.
 */
static inline int vc_mem_advise(void *addr, size_t len, int advice)
{
	return madvise(addr, len, advice) < 0 ? -errno : 0;
}

/*
 * munlock(2): undo mlockall(MCL_FUTURE) for a mapping the kernel must be
 * able to reclaim. 0 or -errno; harmless when nothing is locked.
 */
static inline int vc_mem_unlock(void *addr, size_t len)
{
	return munlock(addr, len) < 0 ? -errno : 0;
}

/* ---- Page presence ---- */

/*
 * mincore(2): vec gets one byte per page of [addr, addr + len) (addr page
 * aligned, len need not be), bit 0 set where the page is present in this
 * process's page tables. For the private anonymous memory of objects,
 * "present" is what the backends need: a purged (discarded) page is not,
 * a page that was regenerated or never discarded is. 0 or -errno
 * (-ENOMEM: part of the range is not mapped). AS-safe.
 */
static inline int vc_mem_present(void *addr, size_t len, unsigned char *vec)
{
	return mincore(addr, len, vec) < 0 ? -errno : 0;
}

/*
 * Is the page containing addr (any address, not aligned) present? false
 * also when it cannot be told (not mapped). One system call. AS-safe:
 * the fault path asks it before regenerating.
 */
static inline bool vc_page_present(uintptr_t addr)
{
	unsigned char v = 0;

	if (vc_mem_present((void *)(addr & ~(vc_page_size - 1)), vc_page_size,
			   &v) < 0)
		return false;
	return v & 1;
}

/* ---- Futex ---- */

/*
 * Sleep while *word == expected, until vc_futex_wake_all() on the same
 * word, a signal, or a spurious wake-up: callers re-check their condition
 * in a loop. Private futex (threads of this process; the words live in
 * private memory). 0 when woken, -EAGAIN if *word was not expected at the
 * call, -EINTR. No timeout. AS-safe: the fault path waits for a chunk
 * another thread is regenerating.
 */
static inline int vc_futex_wait(uint32_t *word, uint32_t expected)
{
	return syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL,
		       NULL, 0) < 0 ? -errno : 0;
}

/* Wake every thread sleeping on word. Number woken or -errno. AS-safe. */
static inline int vc_futex_wake_all(uint32_t *word)
{
	long n = syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL,
			 NULL, 0);

	return n < 0 ? -errno : (int)n;
}

/*
 * The same for a word in memory shared between processes (a memfd header):
 * a non-private futex, and a timeout in nanoseconds (0: none), after which
 * -ETIMEDOUT. Used where the waker may have died: the caller's loop then
 * checks for that. AS-safe.
 */
static inline int vc_futex_wait_shared(uint32_t *word, uint32_t expected,
				       uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u),
			       (long)(timeout_ns % 1000000000u) };

	return syscall(SYS_futex, word, FUTEX_WAIT, expected,
		       timeout_ns ? &ts : NULL, NULL, 0) < 0 ? -errno : 0;
}

/* Wake every waiter, in any process, on a shared word. AS-safe. */
static inline int vc_futex_wake_all_shared(uint32_t *word)
{
	long n = syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL,
			 0);

	return n < 0 ? -errno : (int)n;
}

/* ---- vrange(2) ---- */

/*
 * The patched kernel's vrange(2) under the number nr the kernel advertised
 * (backend-vrange.c reads it; never a guessed number). Bytes processed
 * (maybe fewer than len, like write(2)) or -errno; purged as in the ABI
 * (an int, or a byte per page with VRANGE_PURGED_VEC). AS-safe.
 */
static inline long vc_sys_vrange(long nr, uintptr_t start, size_t len,
				 unsigned long mode, unsigned long flags,
				 void *purged)
{
	long n = syscall(nr, start, len, mode, flags, purged);

	return n < 0 ? -errno : n;
}

/*
 * The patched kernel's fvrange(2) (volatile ranges of a shmem file) under
 * the number nr the kernel advertised (shared-fvrange.c reads it). Bytes
 * processed or -errno; *purged as in the ABI (kernel/FVRANGE-API.md).
 * AS-safe.
 */
static inline long vc_sys_fvrange(long nr, int fd, off_t off, size_t len,
				  unsigned long mode, unsigned long flags,
				  int *purged)
{
	long n = syscall(nr, fd, (long long)off, len, mode, flags, purged);

	return n < 0 ? -errno : n;
}

/* ---- Signals to oneself (prim.c) ---- */

/*
 * Queue sig with the given siginfo to the calling thread
 * (rt_tgsigqueueinfo(2), which keeps any si_code for one's own thread);
 * if the kernel refuses, send it plainly (tgkill(2)). The signal is then
 * pending; delivering it is the caller's business (its mask). AS-safe:
 * chain.c ends a foreign fault with the default action this way.
 */
void vc_signal_self(int sig, const siginfo_t *si);

/* ---- Message writer (prim.c) ---- */

/*
 * Write a string, or a number in decimal, to standard error with write(2):
 * no stdio, no locks, no allocation, no formatting state, so a message can
 * be written from a signal handler just before abort(). A short or failed
 * write is not retried or reported (there is no one to report it to).
 * AS-safe. Library code prints nothing else: this is for the documented
 * last words of the regeneration-failure policy (regen.c).
 */
void vc_msg_str(const char *s);
void vc_msg_u64(uint64_t v);

/* ---- userfaultfd (prim-uffd.c) ---- */

/*
 * One userfaultfd per process, shared by every cache whose backend uses it
 * (uffd always; vrange when it can, for atomic installs): opened
 * O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY (unprivileged; kernel-mode
 * access to a registered missing page then fails with EFAULT), API
 * handshake asking for UFFD_FEATURE_SIGBUS (a user touch of a missing page
 * raises SIGBUS BUS_ADRERR instead of waiting for a reader of the
 * descriptor, which the library does not have).
 *
 * The descriptor can be lost behind the library's back (close_range() in a
 * daemon, a number then reused by another open()): every primitive that
 * uses it first checks, with one fstat(2), that the number still refers to
 * the file it opened (each userfaultfd file has its own inode). From the
 * first failed check the state is "lost", sticky until the last put: the
 * number is not used or closed again, and the primitives fail with the
 * lost errno (-EBADF, or the errno a fork() child's reopen got). lost.c
 * turns that into inaccessible objects.
 *
 * Thread safety: get, put and the fork lock serialise on one mutex
 * (fork.c takes it before every other library lock; backend-vrange.c
 * calls get/put under its own lock, which therefore comes first); probe
 * touches no shared state; the rest read atomics (and a thread-local
 * count) and may run on any thread at any time.
 */

/*
 * Can this process open a usable userfaultfd? 0, or a negative errno with
 * *ret_reason a static string saying why not (-EPERM seccomp or
 * vm.unprivileged_userfaultfd, -ENOSYS, -EINVAL kernel < 5.11,
 * -EOPNOTSUPP no UFFD_FEATURE_SIGBUS). Opens and closes a descriptor.
 */
int vc_uffd_probe(const char **ret_reason);

/*
 * Take / drop a reference on the process's descriptor; the first get opens
 * it (0 or the errno of opening: nothing held then), the last put closes
 * it unless it was lost (the number may be somebody else's file by then)
 * and forgets the lost state. Normal context.
 */
int vc_uffd_get(void);
void vc_uffd_put(void);

/*
 * The checked descriptor, or the lost errno, or -EBADF with no reference
 * held. One fstat(2) unless this thread holds a check (below). AS-safe.
 */
int vc_uffd_fd(void);

/* 0, or the errno the descriptor was lost with. AS-safe (an atomic load). */
int vc_uffd_lost(void);

/*
 * A pin checks once, then makes any number of calls: while this thread
 * holds a check, vc_uffd_fd() trusts the descriptor without fstat(2) (a
 * loss is then noticed by the next call that does not hold one). hold:
 * 0, or the lost errno (nothing held). Nests; normal context.
 */
int vc_uffd_check_hold(void);
void vc_uffd_check_release(void);

/*
 * Register [addr, addr + len) in MISSING mode: from now on a user touch of
 * a page missing there raises SIGBUS. 0, -errno of UFFDIO_REGISTER, the
 * lost errno, or -EOPNOTSUPP if the range cannot take UFFDIO_COPY.
 * unregister undoes it, ignoring failure (munmap() unregisters anyway).
 * AS-safe (ioctls).
 */
int vc_uffd_register(void *addr, size_t len);
void vc_uffd_unregister(void *addr, size_t len);

/*
 * Fill the missing pages of the registered range [dst, dst + len) from
 * src (len bytes, outside the range) with UFFDIO_COPY: each page appears
 * whole or not at all, and a page already present is kept as it is
 * (EEXIST skips it; EAGAIN after a partial copy continues past what was
 * copied, with nothing copied retries). 0, -errno of UFFDIO_COPY, or the
 * lost errno. AS-safe: this is how the fault path installs.
 */
int vc_uffd_copy(void *dst, const void *src, size_t len);

/*
 * fork(): lock(true) in prepare, lock(false) in parent and child, so the
 * child never inherits the mutex held by a thread that does not exist
 * there. fork_child, in the child only, single-threaded: the inherited
 * descriptor serves the parent's address space; close it and open a new
 * one under the same number (fork.c then registers every object again).
 * If no descriptor can be opened the state is lost with that errno.
 * Each backend that uses it calls it (uffd, vrange): a second call opens
 * yet another descriptor under the number, which is harmless.
 */
void vc_uffd_fork_lock(bool lock);
void vc_uffd_fork_child(void);

#endif
