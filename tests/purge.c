/* SPDX-License-Identifier: MIT */
/*
 * purge.c - force real purges.
 *
 * MADV_PAGEOUT runs the kernel's own reclaim on the given pages. A
 * lazy-free (MADV_FREE) or vrange-volatile page is dropped without being
 * written anywhere, so this works without swap, and it is exactly what
 * memory pressure would do to the page. A non-volatile anonymous page
 * cannot be reclaimed without swap, so on this machine "the purge did
 * nothing" is observable with mincore(). No mock: if the library did not
 * really make a page volatile, it is not purged.
 *
 * One subtlety: MADV_FREE only queues a page in a per-CPU batch; the page
 * becomes lazy-free (droppable) when that CPU's batch is drained, and
 * MADV_PAGEOUT drains only the batch of the CPU it runs on. A page made
 * volatile by another thread (the idle-delay thread, a fault on another
 * thread) may sit in another CPU's batch for a long time. So the purge is
 * issued once on every CPU this thread may run on: each call drains that
 * CPU's batch, then reclaims. The reverse matters too: a page that could
 * not be reclaimed (pinned) goes back through the batch of the CPU the
 * pageout ran on, and a later MADV_FREE from another CPU would miss it. So
 * afterwards every CPU's batch is drained once more, with MADV_COLD on an
 * untouched page (it drains the local batch and does nothing else).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <signal.h>

#include "tutil.h"

#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static void page_span(const void *addr, size_t len, uintptr_t *start,
		      size_t *span)
{
	uintptr_t a = (uintptr_t)addr & ~(uintptr_t)(pagesz - 1);
	uintptr_t e = ((uintptr_t)addr + len + pagesz - 1) &
		      ~(uintptr_t)(pagesz - 1);

	*start = a;
	*span = e - a;
}

size_t resident_pages(const void *addr, size_t len)
{
	uintptr_t start;
	size_t span, n, i, res = 0;
	unsigned char *vec;

	page_span(addr, len, &start, &span);
	n = span / pagesz;
	vec = calloc(n ? n : 1, 1);
	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)start, span, vec), 0);
	for (i = 0; i < n; i++)
		res += vec[i] & 1;
	free(vec);
	return res;
}

static void pageout(uintptr_t start, size_t span)
{
	ck_assert_msg(madvise((void *)start, span, MADV_PAGEOUT) == 0,
		      "madvise(MADV_PAGEOUT): %m");
}

static void drain_here(void)
{
	static void *untouched;

	if (!untouched) {
		untouched = mmap(NULL, pagesz, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert_ptr_ne(untouched, MAP_FAILED);
		/* MADV_COLD refuses locked memory (mlockall tests). */
		(void)munlock(untouched, pagesz);
	}
	ck_assert_int_eq(madvise(untouched, pagesz, MADV_COLD), 0);
}

/* Run fn(start, span) once on each CPU of *cpus. */
static void on_each_cpu(const cpu_set_t *cpus,
			void (*fn)(uintptr_t start, size_t span),
			uintptr_t start, size_t span)
{
	cpu_set_t one;
	int cpu;

	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, cpus))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) == 0)
			fn(start, span);
	}
}

static void drain(uintptr_t start, size_t span)
{
	(void)start;
	(void)span;
	drain_here();
}

void treg_each(const void *addr, size_t len,
	       void (*fn)(vcache_object *o, size_t off, size_t len, void *arg),
	       void *arg);

/*
 * The backend every default cache of this test run gets. run_suite() asks
 * once before the tests run: a test's child may be unable to create a
 * cache (seccomp filter, full descriptor table) and still purge.
 */
bool backend_is_soft(void)
{
	static int soft = -1;

	if (soft < 0) {
		vcache *c = NULL;

		/* A refused backend is reported by run_suite() itself. */
		soft = vcache_new(NULL, &c) == 0 &&
		       vcache_backend(c) == VCACHE_BACKEND_SOFT;
		vcache_free(c);
	}
	return soft;
}

int fault_signal(void)
{
	return backend_is_soft() ? SIGSEGV : SIGBUS;
}

static void library_purge(vcache_object *o, size_t off, size_t len,
			  void *arg)
{
	ssize_t r = vcache_purge_range(o, off, len);

	ck_assert_msg(r >= 0, "vcache_purge_range: %zd", r);
	*(bool *)arg = true;
}

size_t purge_range(void *addr, size_t len)
{
	uintptr_t start;
	cpu_set_t saved;
	size_t span;
	bool found = false;

	page_span(addr, len, &start, &span);
	if (backend_is_soft()) {
		treg_each((void *)start, span, library_purge, &found);
		if (found)
			return span / pagesz -
			       resident_pages((void *)start, span);
	}
	if (sched_getaffinity(0, sizeof(saved), &saved)) {
		pageout(start, span);
		drain_here();
	} else {
		on_each_cpu(&saved, pageout, start, span);
		on_each_cpu(&saved, drain, 0, 0);
		ck_assert_int_eq(sched_setaffinity(0, sizeof(saved), &saved),
				 0);
	}
	return span / pagesz - resident_pages((void *)start, span);
}

bool have_swap(void)
{
	struct sysinfo si;

	return sysinfo(&si) == 0 && si.totalswap > 0;
}
