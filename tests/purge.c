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
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "tutil.h"

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

size_t purge_range(void *addr, size_t len)
{
	uintptr_t start;
	size_t span;

	page_span(addr, len, &start, &span);
	ck_assert_msg(madvise((void *)start, span, MADV_PAGEOUT) == 0,
		      "madvise(MADV_PAGEOUT): %m");
	return span / pagesz - resident_pages((void *)start, span);
}

bool have_swap(void)
{
	struct sysinfo si;

	return sysinfo(&si) == 0 && si.totalswap > 0;
}
