/* SPDX-License-Identifier: MIT */
/*
 * backend-soft.c - volatile memory where the kernel offers no help
 *
 * For systems that refuse userfaultfd (container seccomp profiles, gVisor,
 * kernels before 5.11) and have no vrange(2). "Volatile" is then only the
 * library's own bookkeeping (the chunk state's VOLATILE bit); the kernel
 * never discards anything by itself. The library purges instead: when the
 * pressure watcher (pressure.c) reports a shortage, on vcache_purge*(), and
 * at every unpin in strict mode (purge.c picks what, in priority order).
 *
 * Purging pages: mprotect(PROT_NONE), then madvise(MADV_DONTNEED), with the
 * chunk held BUSY. The memory is freed at once; a touch of such a page
 * raises SIGSEGV (SEGV_ACCERR), which sigsegv.c routes to regen.c's fault
 * path, the same one the SIGBUS backends use. A kernel access (a read(2) or
 * write(2) buffer) fails with EFAULT, as under uffd.
 *
 * Which pages were purged is known exactly: one bit per page, set by
 * purge and cleared by install. Pins report from these bits, so a purge
 * report is exact even with swap (mincore() could not tell a swapped-out
 * page from a purged one).
 *
 * Installing regenerated pages atomically: while the pages are still
 * PROT_NONE, nobody can see them, so they are written through
 * /proc/self/mem (which may write to PROT_NONE private pages, as a
 * debugger does) and only then made readable and writable with
 * mprotect(). Where /proc/self/mem cannot be opened or written, install
 * falls back to mprotect() then memcpy(): another thread may then read a
 * partly written page of a chunk being regenerated (documented limit).
 *
 * Costs and limits: each purged run of pages is its own VMA until it is
 * regenerated (vm.max_map_count bounds how fragmented purges can get);
 * writes to a volatile chunk are lost if it is purged (as under vrange);
 * purges happen only when the watcher sees pressure, see pressure.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

#define BITS_PER_WORD (sizeof(unsigned long) * CHAR_BIT)

struct soft_area {
	uintptr_t start;
	size_t len;
	void *ticket;
	_Atomic unsigned long *purged; /* one bit per page */
};

static pthread_mutex_t soft_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int soft_users;
static _Atomic int mem_fd = -1;
static _Atomic pid_t mem_pid;

static int soft_probe(const char **ret_reason)
{
	*ret_reason = NULL;
	return 0;
}

static void mem_open(void)
{
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);

	atomic_store(&mem_pid, getpid());
	atomic_store(&mem_fd, fd);
}

static int soft_get(void)
{
	int err = 0;

	pthread_mutex_lock(&soft_lock);
	/*
	 * Every get, not only the first: it counts, and it takes the place
	 * back from a SIG_DFL/SIG_IGN set since (chain.c, as for SIGBUS).
	 */
	err = vc_chain_install(SIGSEGV);
	if (err == 0 && soft_users++ == 0)
		mem_open();
	pthread_mutex_unlock(&soft_lock);
	return err;
}

static void soft_put(void)
{
	pthread_mutex_lock(&soft_lock);
	if (--soft_users == 0) {
		int fd = atomic_exchange(&mem_fd, -1);

		if (fd >= 0)
			close(fd);
	}
	vc_chain_uninstall(SIGSEGV);
	pthread_mutex_unlock(&soft_lock);
}

static struct soft_area *area_of(const void *addr)
{
	return vc_sigsegv_lookup((uintptr_t)addr);
}

static int soft_attach(void *addr, size_t len)
{
	struct soft_area *a = calloc(1, sizeof(*a));
	size_t pages = len / vc_page_size;
	int err;

	if (!a)
		return -ENOMEM;
	a->start = (uintptr_t)addr;
	a->len = len;
	a->purged = calloc((pages + BITS_PER_WORD - 1) / BITS_PER_WORD,
			   sizeof(*a->purged));
	if (!a->purged) {
		free(a);
		return -ENOMEM;
	}
	err = vc_sigsegv_register(addr, len, a, &a->ticket);
	if (err < 0) {
		free((void *)a->purged);
		free(a);
	}
	return err;
}

static void soft_detach(void *addr, size_t len)
{
	struct soft_area *a = area_of(addr);

	(void)len;
	if (!a || a->start != (uintptr_t)addr)
		return;
	vc_sigsegv_unregister(a->ticket);
	free((void *)a->purged);
	free(a);
}

static size_t page_index(const struct soft_area *a, uintptr_t addr)
{
	return (addr - a->start) / vc_page_size;
}

static bool page_purged(const struct soft_area *a, size_t p)
{
	return atomic_load(&a->purged[p / BITS_PER_WORD]) &
	       (1ul << (p % BITS_PER_WORD));
}

/* Async-signal-safe: the area registry and the bitmap are lock-free. */
static bool soft_page_missing(const void *addr)
{
	struct soft_area *a = area_of(addr);

	return a && page_purged(a, page_index(a, (uintptr_t)addr));
}

static void page_set(struct soft_area *a, size_t p, bool purged)
{
	unsigned long bit = 1ul << (p % BITS_PER_WORD);

	if (purged)
		atomic_fetch_or(&a->purged[p / BITS_PER_WORD], bit);
	else
		atomic_fetch_and(&a->purged[p / BITS_PER_WORD], ~bit);
}

/* Volatility is the chunk state's business (purge.c reads it). */
static int soft_mark_volatile(void *addr, size_t len)
{
	(void)addr;
	(void)len;
	return 0;
}

static int soft_mark_nonvolatile(void *addr, size_t len, bool *ret_purged)
{
	struct soft_area *a = area_of(addr);
	size_t first, n;

	if (!a)
		return -EINVAL;
	first = page_index(a, (uintptr_t)addr);
	n = len / vc_page_size;
	*ret_purged = false;
	for (size_t p = first; p < first + n; p++)
		if (page_purged(a, p)) {
			*ret_purged = true;
			break;
		}
	return 0;
}

/* Chunk BUSY, unpinned: discard the pages that are still there. */
static int soft_purge(void *addr, size_t len)
{
	struct soft_area *a = area_of(addr);
	size_t first;
	int err;

	if (!a)
		return -EINVAL;
	/* Inaccessible first, so no thread reads a page being freed. */
	err = vc_mem_protect(addr, len, PROT_NONE);
	if (err < 0)
		return err;
	err = vc_mem_advise(addr, len, MADV_DONTNEED);
	if (err < 0)
		return err; /* PROT_NONE pages still fault: bits below */
	first = page_index(a, (uintptr_t)addr);
	for (size_t p = first; p < first + len / vc_page_size; p++)
		page_set(a, p, true);
	return 0;
}

/* Write a run of purged pages and open them up. Async-signal-safe. */
static int install_run(uintptr_t dst, const uint8_t *src, size_t len)
{
	int fd = atomic_load(&mem_fd), err;

	/* A child made without our fork handler would write its parent. */
	if (fd >= 0 && getpid() == atomic_load(&mem_pid) &&
	    pwrite(fd, src, len, (off_t)dst) == (ssize_t)len)
		return vc_mem_protect((void *)dst, len, PROT_READ | PROT_WRITE);
	err = vc_mem_protect((void *)dst, len, PROT_READ | PROT_WRITE);
	if (err < 0)
		return err;
	memcpy((void *)dst, src, len);
	return 0;
}

static int soft_install(void *dst, const void *src, size_t len)
{
	struct soft_area *a = area_of(dst);
	size_t first, n, p;

	if (!a)
		return -EINVAL;
	first = page_index(a, (uintptr_t)dst);
	n = len / vc_page_size;
	for (p = first; p < first + n;) {
		size_t run = p, off;
		int err;

		if (!page_purged(a, p)) {
			p++;
			continue;
		}
		while (run < first + n && page_purged(a, run))
			run++;
		off = (p - first) * vc_page_size;
		err = install_run((uintptr_t)dst + off,
				  (const uint8_t *)src + off,
				  (run - p) * vc_page_size);
		if (err < 0)
			return err;
		for (size_t q = p; q < run; q++)
			page_set(a, q, false);
		p = run;
	}
	return 0;
}

/* The child's /proc/self/mem is another file. */
static void soft_fork_child(void)
{
	int fd = atomic_exchange(&mem_fd, -1);

	if (fd < 0)
		return;
	close(fd);
	mem_open();
}

/* fork.c attaches every object again in the child: keep the areas. */
static int soft_reattach(void *addr, size_t len)
{
	struct soft_area *a = area_of(addr);

	if (a && a->start == (uintptr_t)addr && a->len == len)
		return 0;
	return soft_attach(addr, len);
}

const struct backend_ops vc_backend_soft = {
	.id = VCACHE_BACKEND_SOFT,
	.name = "soft",
	.probe = soft_probe,
	.get = soft_get,
	.put = soft_put,
	.attach = soft_reattach,
	.detach = soft_detach,
	.mark_volatile = soft_mark_volatile,
	.mark_nonvolatile = soft_mark_nonvolatile,
	.fault_prepare = NULL,
	.page_missing = soft_page_missing,
	.install = soft_install,
	.fork_child = soft_fork_child,
	.purge = soft_purge,
};
