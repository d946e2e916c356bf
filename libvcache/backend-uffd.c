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
 * The descriptor (one per process, shared with backend-vrange.c), its
 * loss behind our back and its reopening after fork() are prim-uffd.c's;
 * every operation here that depends on the registration first asks
 * vc_uffd_fd() (the copy of a fault, vc_uffd_copy(), only when its ioctl
 * fails: see there), which fails with the lost errno once the descriptor is
 * gone (lost.c then makes the objects inaccessible).
 */
#define _GNU_SOURCE
#include <stdatomic.h>

#include "backend.h"
#include "internal.h"

static void *_Atomic drain_page;

static int uffd_get(void)
{
	int err = vc_uffd_get();
	void *p = NULL;

	if (err == 0 && !atomic_load(&drain_page) &&
	    vc_mem_map(vc_page_size, PROT_READ, &p) == 0) {
		void *expected = NULL;

		/*
		 * Kept for the process: mark_volatile may run late.
		 * Unlocked (mlockall(MCL_FUTURE)): MADV_COLD refuses
		 * locked memory and would drain nothing.
		 */
		(void)vc_mem_unlock(p, vc_page_size);
		if (!atomic_compare_exchange_strong(&drain_page, &expected, p))
			vc_mem_unmap(p, vc_page_size); /* another get won */
	}
	return err;
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
	int fd = vc_uffd_fd(), err;

	/* Without the registration a purged page would read as zeros. */
	if (fd < 0)
		return fd;
	err = vc_mem_advise(addr, len, MADV_FREE);
	if (err < 0)
		return err;
	if (drain)
		(void)vc_mem_advise(drain, vc_page_size, MADV_COLD);
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

		if (vc_mem_present(a, m * vc_page_size, vec) < 0) {
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
	int fd = vc_uffd_fd();

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
 * vcache_purge*() and strict mode: MADV_DONTNEED empties the page table
 * entries exactly as reclaim of a lazy-free page does, so a touch raises
 * SIGBUS and the probe reports the purge. Unlike MADV_PAGEOUT it does not
 * skip pages still waiting in another CPU's LRU batch.
 */
static int uffd_purge(void *addr, size_t len)
{
	return vc_mem_advise(addr, len, MADV_DONTNEED);
}

const struct backend_ops vc_backend_uffd = {
	.id = VCACHE_BACKEND_UFFD,
	.name = "uffd",
	.arena = true,
	.probe = vc_uffd_probe,
	.get = uffd_get,
	.put = vc_uffd_put,
	.attach = vc_uffd_register,
	.detach = vc_uffd_unregister,
	.mark_volatile = uffd_mark_volatile,
	.mark_nonvolatile = uffd_mark_nonvolatile,
	.fault_prepare = NULL,
	.install = vc_uffd_copy,
	.fork_child = vc_uffd_fork_child,
	.purge = uffd_purge,
};
