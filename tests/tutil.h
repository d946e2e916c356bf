/* SPDX-License-Identifier: MIT */
/*
 * tutil.h - shared helpers for the libvcache Check tests
 *
 * Every object in the tests has deterministic contents: byte i of an object
 * with seed s is gen_byte(s, i). The regeneration callback produces exactly
 * that, so any read anywhere can be verified, and a page of zeros (what a
 * silently discarded lazy-free page reads as) is never a valid content.
 */
#ifndef TUTIL_H
#define TUTIL_H

#include <check.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "vcache.h"

/*
 * Built with ThreadSanitizer? It runs signal handlers with its own mask
 * (every signal blocked), reports SEGV itself (exit 66) and its shadow
 * memory counts against memory limits: a few environment-only cases skip.
 */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* Built with AddressSanitizer? Its interceptors make mlock*() no-ops. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Meson treats this exit status of a test program as "skipped". */
#define EXIT_SKIP 77

/*
 * Check has no per-test skip: say why on stdout and end the test early,
 * so the log is honest about what did not run.
 */
#define SKIP_IF(cond, ...)						\
	do {								\
		if (cond) {						\
			/* Check names the function <test>_fn. */	\
			printf("SKIP: %.*s: ", (int)strlen(__func__) - 3, \
			       __func__);				\
			printf(__VA_ARGS__);				\
			printf("\n");					\
			fflush(stdout);					\
			return;						\
		}							\
	} while (0)

/* Skips that release the cache first (LeakSanitizer is watching). */
#define SKIP_UNLESS_PURGING(c)						\
	do {								\
		if (!tcache_purges(c)) {				\
			tcache_free(c);					\
			SKIP_IF(true, "backend none never purges");	\
		}							\
	} while (0)
#define SKIP_UNLESS_NONE(c)						\
	do {								\
		if (tcache_purges(c)) {					\
			const char *b_ = vcache_backend_name(		\
				vcache_backend(c));			\
			tcache_free(c);					\
			SKIP_IF(true, "only for backend none "		\
				"(this is %s)", b_);			\
		}							\
	} while (0)

/*
 * Tests that check "a non-volatile page survives MADV_PAGEOUT" need a
 * machine without swap (with swap the page is swapped out instead).
 */
#define SKIP_IF_SWAP(c)							\
	do {								\
		if (have_swap()) {					\
			tcache_free(c);					\
			SKIP_IF(true, "swap is on: pinned pages would be " \
				"swapped out by MADV_PAGEOUT");		\
		}							\
	} while (0)

/*
 * The first enum vcache_backend value past the last backend (the header
 * has no count: values are ABI, backends are appended). Update when one is.
 */
#define TEST_BACKEND_PAST_LAST ((enum vcache_backend)(VCACHE_BACKEND_SOFT + 1))

/* Assert an exact negative errno (or any exact int) with names in the log. */
#define ck_assert_errno(expr, err) ck_assert_int_eq((expr), -(err))

extern size_t pagesz;

/* --- deterministic contents ------------------------------------------- */

uint8_t gen_byte(uint64_t seed, size_t offset);
void gen_fill(void *dst, uint64_t seed, size_t offset, size_t length);
/* Offset of the first byte that differs from the generator, or SIZE_MAX. */
size_t gen_check(const void *src, uint64_t seed, size_t offset,
		 size_t length);

/*
 * The userdata of every test object. The callback counts its calls (it may
 * run in signal context, so only atomics), checks its arguments against
 * the documented contract and can be told to fail.
 */
struct tobj {
	uint64_t seed;
	atomic_ulong calls;
	atomic_ulong bad_args;       /* calls that broke the contract */
	atomic_int fail;             /* if != 0: return this (negative) */
	atomic_uint *chunk_calls;    /* optional: calls per chunk index */
	size_t nchunks;              /* entries in chunk_calls */
	long sleep_ns;               /* optional: make regeneration slow */
};

void tobj_init(struct tobj *t, uint64_t seed);
int tobj_regen(vcache_object *object, void *dst, size_t offset,
	       size_t length, void *userdata);

/* Create an object backed by t; fails the test on error. */
vcache_object *tobj_create(vcache *cache, const char *name, size_t size,
			   size_t chunk_size, struct tobj *t);

/* Verify [offset, offset + length) of object through its data pointer. */
void assert_content(vcache_object *object, uint64_t seed, size_t offset,
		    size_t length);

/* --- caches ------------------------------------------------------------ */

/* A cache with default options (backend from VCACHE_BACKEND, if set). */
vcache *tcache_new(void);
/* Same, with an idle delay. */
vcache *tcache_new_delay(unsigned int idle_delay_ms);
/* Whether the cache's backend can purge at all (not "none"). */
bool tcache_purges(const vcache *cache);
/* Free a cache, asserting success. */
void tcache_free(vcache *cache);

/* --- forcing purges (purge.c) ----------------------------------------- */

/*
 * Ask the kernel to reclaim [addr, addr + len) now with MADV_PAGEOUT.
 * Volatile pages (lazy-free, or vrange-marked) are discarded even without
 * swap; non-volatile anonymous pages stay because there is no swap.
 * Returns the number of pages of the range not resident afterwards.
 */
size_t purge_range(void *addr, size_t len);
/*
 * Under the soft backend the kernel never discards object memory by
 * itself, so purge_range() asks the library instead: vcache_purge_range()
 * on every registered object overlapping the range (the library's own,
 * real purge: PROT_NONE + MADV_DONTNEED). Objects whose callback is
 * tobj_regen register themselves when filled; others call treg_add().
 */
void treg_add(vcache_object *object);
/* Whether default caches of this run use the soft backend (cached). */
bool backend_is_soft(void);
/* The signal a purged page raises: SIGSEGV under soft, else SIGBUS. */
int fault_signal(void);

/*
 * Wait until vcache_stats_get() reports at least size bytes volatile,
 * looking every poll_us microseconds (below a second); false after polls
 * looks (the bound only turns a hang into a failure). Polls without
 * purging anything.
 */
bool wait_bytes_volatile(vcache *cache, size_t size, unsigned int poll_us,
			 unsigned int polls);

/* Pages of the range resident (mincore). */
size_t resident_pages(const void *addr, size_t len);
/* Whether this machine has swap in use (then "stays resident" is weaker). */
bool have_swap(void);

/* --- processes --------------------------------------------------------- */

/*
 * Run fn(arg) in a forked child and return its wait status. The child
 * exits with fn's return value; a child that fails prints why on stderr.
 */
int run_in_child(int (*fn)(void *arg), void *arg);

/* In a child process: print a failure with its line, exit non-zero. */
#define CHILD_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: child check failed: %s\n", \
				__FILE__, __LINE__, #cond);		\
			fflush(stderr);					\
			_exit(100);					\
		}							\
	} while (0)

/* --- runner ------------------------------------------------------------ */

/* A tcase with a generous timeout (scaled by CK_TIMEOUT_MULTIPLIER). */
TCase *ttcase(const char *name);

/*
 * Run a suite and return the number of failures (the exit status of the
 * test program). If VCACHE_BACKEND forces a backend that this system
 * refuses, print why and return EXIT_SKIP instead.
 *
 * run_suite() first binds the process to one CPU: a page faulted in on one
 * CPU sits in that CPU's LRU batch, and MADV_FREE issued from another CPU
 * then silently leaves it non-volatile (the kernel only marks folios that
 * are on the LRU lazy-free). That kernel behaviour would make exact purge
 * counts flaky; it is not what these tests are about. run_suite_smp()
 * keeps every CPU, for the tests about true parallelism, which do not
 * count purges exactly.
 */
int run_suite(Suite *suite);
int run_suite_smp(Suite *suite);

#endif
