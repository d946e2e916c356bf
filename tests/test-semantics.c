/* SPDX-License-Identifier: MIT */
/*
 * test-semantics.c - where the backends differ, each difference shown by
 * the kernel's own behaviour (the README's backend table cites these):
 *
 *  - a write to a volatile (unpinned) page, then real reclaim;
 *  - a child made by a raw clone(2) that bypasses pthread_atfork();
 *  - transparent huge pages in an object.
 *
 * Each test asserts what its backend does and skips, saying why, where a
 * row does not apply. EFAULT from system calls is in test-syscall.c, fork()
 * through libc in test-fork.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tutil.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

enum { PAGES = 4 };

static bool is_backend(const vcache *c, enum vcache_backend b)
{
	return vcache_backend(c) == b;
}

/* Skip (after freeing the cache) unless the cache runs backend b. */
#define SKIP_UNLESS_BACKEND(c, b)					\
	do {								\
		if (!is_backend(c, b)) {				\
			const char *b_ = vcache_backend_name(		\
				vcache_backend(c));			\
			tcache_free(c);					\
			SKIP_IF(true, "only for backend %s (this is %s)", \
				vcache_backend_name(b), b_);		\
		}							\
	} while (0)

/*
 * Write bytes that differ from the generator's into page 1 of an unpinned
 * object, so what survives reclaim is visible: the written bytes, or the
 * generator's again after a purge and regeneration. Never zeros.
 */
static uint8_t foreign_byte(uint64_t seed, size_t offset)
{
	return gen_byte(seed, offset) ^ 0xff;
}

static void write_foreign(vcache_object *o, uint64_t seed)
{
	uint8_t *p = (uint8_t *)vcache_object_data(o) + pagesz;

	for (size_t i = 0; i < pagesz; i++)
		p[i] = foreign_byte(seed, pagesz + i);
}

static bool page_is_foreign(vcache_object *o, uint64_t seed)
{
	const uint8_t *p = (const uint8_t *)vcache_object_data(o) + pagesz;

	for (size_t i = 0; i < pagesz; i++)
		if (p[i] != foreign_byte(seed, pagesz + i))
			return false;
	return true;
}

/*
 * uffd and vrange: the write dirties the lazy-free page (MADV_FREE, or
 * VRANGE_VOLATILE, which keeps the same per-page state), reclaim keeps it
 * (the kernel's lazy-free cancel) and the written bytes survive until the
 * chunk is made volatile again by a pin/unpin; then the page is purgeable
 * again.
 */
static void write_keeps(vcache *c, unsigned int seed, const char *name)
{
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;

	tobj_init(&t, seed);
	o = tobj_create(c, name, size, 0, &t);
	write_foreign(o, t.seed);
	/* Every page but the written one is dropped. */
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), PAGES - 1);
	ck_assert_uint_eq(resident_pages((uint8_t *)vcache_object_data(o) +
					 pagesz, pagesz), 1);
	ck_assert(page_is_foreign(o, t.seed));
	/* A second reclaim pass does not change that. */
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), PAGES - 1);
	ck_assert(page_is_foreign(o, t.seed));
	/* The dropped pages regenerate; the written page is left as written. */
	assert_content(o, t.seed, 0, pagesz);
	assert_content(o, t.seed, 2 * pagesz, 2 * pagesz);
	ck_assert(page_is_foreign(o, t.seed));
	/* Made volatile again (pin + unpin), the page is purgeable again... */
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), PAGES);
	/* ...and the written bytes are replaced by regeneration. */
	assert_content(o, t.seed, 0, size);
	vcache_object_unref(o);
	tcache_free(c);
}

START_TEST(test_semantics_write_uffd_keeps)
{
	vcache *c = tcache_new();

	SKIP_UNLESS_BACKEND(c, VCACHE_BACKEND_UFFD);
	SKIP_IF_SWAP(c);
	write_keeps(c, 61, "write-uffd");
}
END_TEST

START_TEST(test_semantics_write_vrange_keeps)
{
	vcache *c = tcache_new();

	SKIP_UNLESS_BACKEND(c, VCACHE_BACKEND_VRANGE);
	SKIP_IF_SWAP(c);
	write_keeps(c, 62, "write-vrange");
}
END_TEST

/*
 * soft: a write does not cancel volatility (unlike uffd and vrange); the library's
 * purge drops the written page with the others and the next read
 * regenerates the generator's bytes.
 */
START_TEST(test_semantics_write_soft_drops)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	struct vcache_stats st;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_BACKEND(c, VCACHE_BACKEND_SOFT);
	tobj_init(&t, 63);
	o = tobj_create(c, "write-soft", size, 0, &t);
	write_foreign(o, t.seed);
	ck_assert(page_is_foreign(o, t.seed));
	ck_assert_int_eq(vcache_purge(o), (ssize_t)size);
	ck_assert_uint_eq(resident_pages(vcache_object_data(o), size), 0);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
	ck_assert_uint_eq(st.faults, PAGES);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/* none: nothing is volatile, so the write stays and nothing is dropped. */
START_TEST(test_semantics_write_none_keeps)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_NONE(c);
	SKIP_IF_SWAP(c);
	tobj_init(&t, 63);
	o = tobj_create(c, "write-none", size, 0, &t);
	write_foreign(o, t.seed);
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), 0);
	ck_assert(page_is_foreign(o, t.seed));
	assert_content(o, t.seed, 0, pagesz);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/* What a raw-clone child saw: its exit status. */
enum { SAW_DATA = 10, SAW_ZEROS = 11, SAW_OTHER = 12, SAW_SIGBUS = 13 };

/*
 * The child of a raw clone: no atfork handler ran, so only async-signal-safe
 * work here (reading memory, pure computation, _exit). A touch of a purged
 * page may run the library's SIGBUS handler, which is signal-safe.
 */
static int raw_child_look(const uint8_t *p, uint64_t seed, size_t size)
{
	size_t zeros = 0;

	if (gen_check(p, seed, 0, size) == SIZE_MAX)
		return SAW_DATA;
	for (size_t i = 0; i < size; i++)
		zeros += p[i] == 0;
	return zeros == size ? SAW_ZEROS : SAW_OTHER;
}

typedef int (*raw_child_fn)(const uint8_t *p, uint64_t seed, size_t size);

/* Purge the whole object, raw-clone, return what the child saw. */
static int raw_clone_sees(vcache_object *o, uint64_t seed, size_t size,
			  size_t expect_purged, raw_child_fn child)
{
	int st;
	long pid;

	ck_assert_uint_eq(purge_range(vcache_object_data(o), size),
			  expect_purged);
	fflush(stdout);
	fflush(stderr);
	/* fork() without glibc: pthread_atfork handlers do not run. */
	pid = syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL,
		      NULL);
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(child(vcache_object_data(o), seed, size));
	ck_assert_int_eq(waitpid((pid_t)pid, &st, 0), (pid_t)pid);
	ck_assert_msg(WIFEXITED(st), "raw clone child status 0x%x", st);
	return WEXITSTATUS(st);
}

/*
 * uffd: the child of a raw clone has no userfaultfd on the object (the
 * atfork handler that registers a fresh one did not run), so a page purged
 * before the clone reads as zeros there. A documented limitation.
 */
START_TEST(test_semantics_raw_clone_uffd_zeros)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_BACKEND(c, VCACHE_BACKEND_UFFD);
	tobj_init(&t, 64);
	o = tobj_create(c, "clone-uffd", size, 0, &t);
	ck_assert_int_eq(raw_clone_sees(o, t.seed, size, PAGES,
					raw_child_look), SAW_ZEROS);
	/* The parent is unaffected. */
	assert_content(o, t.seed, 0, size);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/*
 * vrange, kernel side: fork copies the PURGED markers (patch 2), so the
 * raw-clone child faults on a purged page instead of reading zeros. The
 * child replaces the library's SIGBUS handler with one that only reports
 * the signal (sigaction() and _exit() are async-signal-safe).
 */
static void *volatile sigbus_expect;

static void child_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	_exit(si->si_code == BUS_ADRERR && si->si_addr == sigbus_expect ?
	      SAW_SIGBUS : SAW_OTHER);
}

static int raw_child_sigbus(const uint8_t *p, uint64_t seed, size_t size)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = child_sigbus;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGBUS, &sa, NULL))
		return SAW_OTHER;
	sigbus_expect = (void *)p;
	return raw_child_look(p, seed, size);
}

START_TEST(test_semantics_raw_clone_vrange_sigbus)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_BACKEND(c, VCACHE_BACKEND_VRANGE);
	tobj_init(&t, 68);
	o = tobj_create(c, "clone-vrange-sigbus", size, 0, &t);
	ck_assert_int_eq(raw_clone_sees(o, t.seed, size, PAGES,
					raw_child_sigbus), SAW_SIGBUS);
	assert_content(o, t.seed, 0, size);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/*
 * vrange, library side: the child's SIGBUS handler (inherited) runs on the
 * marker, makes the chunk non-volatile in the child and regenerates it.
 * The userfaultfd the child inherited belongs to the parent's address
 * space, so the library installs with memcpy() there (backend-vrange.c):
 * the child reads the data, not zeros.
 */
START_TEST(test_semantics_raw_clone_vrange_data)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_BACKEND(c, VCACHE_BACKEND_VRANGE);
	tobj_init(&t, 65);
	o = tobj_create(c, "clone-vrange", size, 0, &t);
	ck_assert_int_eq(raw_clone_sees(o, t.seed, size, PAGES,
					raw_child_look), SAW_DATA);
	assert_content(o, t.seed, 0, size);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/*
 * soft: the purged pages are PROT_NONE in the child too, so its touch
 * raises SIGSEGV; the inherited handler regenerates them. The inherited
 * /proc/self/mem descriptor is the parent's, so the library installs with
 * mprotect() + memcpy() there (backend-soft.c): the child reads the data.
 */
START_TEST(test_semantics_raw_clone_soft_data)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_BACKEND(c, VCACHE_BACKEND_SOFT);
	tobj_init(&t, 69);
	o = tobj_create(c, "clone-soft", size, 0, &t);
	ck_assert_int_eq(raw_clone_sees(o, t.seed, size, PAGES,
					raw_child_look), SAW_DATA);
	/* The parent still has its purged pages and regenerates its own. */
	ck_assert_uint_eq(resident_pages(vcache_object_data(o), size), 0);
	assert_content(o, t.seed, 0, size);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/* none: nothing was purged, the child reads the data. */
START_TEST(test_semantics_raw_clone_none_data)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_NONE(c);
	tobj_init(&t, 66);
	o = tobj_create(c, "clone-none", size, 0, &t);
	ck_assert_int_eq(raw_clone_sees(o, t.seed, size, 0,
					raw_child_look), SAW_DATA);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

#define PMD_SIZE_ (2ul << 20)

/* AnonHugePages (kB) of the smaps entry containing addr, or -1. */
static long anon_huge_kb(const void *addr)
{
	uintptr_t a = (uintptr_t)addr, lo, hi;
	bool inside = false;
	char line[512];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2
		    && strchr(line, '-') < strchr(line, ' ')) {
			inside = lo <= a && a < hi;
			continue;
		}
		if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

struct thp_obs {
	int collapse_err;   /* 0 or errno of MADV_COLLAPSE */
	long huge_kb;       /* AnonHugePages right after it */
	size_t dropped;     /* pages of the 2 MiB a purge then dropped */
};

/*
 * Ask for a huge page in the PMD-aligned 2 MiB inside the object (which the
 * library marked MADV_NOHUGEPAGE: the program overrides that) and collapse
 * it synchronously; khugepaged's timing would make the test flaky.
 */
static struct thp_obs try_collapse(uint8_t *huge)
{
	struct thp_obs obs = { 0, 0, 0 };

	ck_assert_int_eq(madvise(huge, PMD_SIZE_, MADV_HUGEPAGE), 0);
	if (madvise(huge, PMD_SIZE_, MADV_COLLAPSE))
		obs.collapse_err = errno;
	obs.huge_kb = anon_huge_kb(huge);
	return obs;
}

START_TEST(test_semantics_thp)
{
	vcache *c = tcache_new();
	size_t size = 2 * PMD_SIZE_;
	struct thp_obs vol, pinned;
	vcache_object *o;
	struct tobj t;
	uint8_t *huge;
	long after;

	SKIP_UNLESS_PURGING(c);
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK)) {
		tcache_free(c);
		SKIP_IF(true, "kernel without transparent huge pages");
	}
	tobj_init(&t, 67);
	o = tobj_create(c, "thp", size, 0, &t);
	huge = (uint8_t *)(((uintptr_t)vcache_object_data(o) + PMD_SIZE_ - 1)
			   & ~(PMD_SIZE_ - 1));

	/* While volatile; then is the 2 MiB still purgeable? */
	vol = try_collapse(huge);
	vol.dropped = purge_range(huge, PMD_SIZE_);
	assert_content(o, t.seed, 0, size);
	/* While pinned (non-volatile), then unpinned (volatile again). */
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	pinned = try_collapse(huge);
	ck_assert_int_eq(vcache_unpin(o), 0);
	after = anon_huge_kb(huge);
	printf("%s: %s: volatile: MADV_COLLAPSE %s, AnonHugePages %ld kB, "
	       "purge then dropped %zu pages; pinned: MADV_COLLAPSE %s, "
	       "%ld kB; unpinned: %ld kB\n",
	       __func__, vcache_backend_name(vcache_backend(c)),
	       strerror(vol.collapse_err), vol.huge_kb, vol.dropped,
	       strerror(pinned.collapse_err), pinned.huge_kb, after);

	if (is_backend(c, VCACHE_BACKEND_VRANGE)) {
		/* Never huge-mapped while volatile: collapse refused... */
		ck_assert_int_eq(vol.collapse_err, EINVAL);
		ck_assert_int_eq(vol.huge_kb, 0);
		/* ...so the 2 MiB stayed volatile and was dropped. */
		ck_assert_uint_eq(vol.dropped, PMD_SIZE_ / pagesz);
		/* Unpinning (VRANGE_VOLATILE) splits any huge mapping. */
		ck_assert_int_eq(after, 0);
	} else if (is_backend(c, VCACHE_BACKEND_SOFT)) {
		/*
		 * soft: ordinary anonymous memory, so it collapses like any;
		 * the library's purge splits the huge page and drops it all.
		 */
		ck_assert_int_eq(vol.collapse_err, 0);
		ck_assert_uint_eq(vol.dropped, PMD_SIZE_ / pagesz);
	} else {
		/*
		 * uffd: MADV_FREE'd pages are collapsed into a new THP, which
		 * is an ordinary swap-backed folio: the 2 MiB silently stops
		 * being volatile (without swap nothing is dropped) until the
		 * chunks are next made volatile (unpin: MADV_FREE).
		 */
		ck_assert_int_eq(vol.collapse_err, 0);
		ck_assert_int_eq(vol.huge_kb, PMD_SIZE_ >> 10);
		if (!have_swap())
			ck_assert_uint_eq(vol.dropped, 0);
	}
	/* Whatever the mapping, purges stay per page. */
	ck_assert_uint_eq(purge_range(huge + pagesz, pagesz), 1);
	ck_assert_uint_eq(resident_pages(huge, pagesz), 1);
	assert_content(o, t.seed, 0, size);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("semantics");
	TCase *tc;

	tc = ttcase("write-to-volatile");
	tcase_add_test(tc, test_semantics_write_uffd_keeps);
	tcase_add_test(tc, test_semantics_write_vrange_keeps);
	tcase_add_test(tc, test_semantics_write_soft_drops);
	tcase_add_test(tc, test_semantics_write_none_keeps);
	suite_add_tcase(s, tc);

	tc = ttcase("raw-clone");
	tcase_add_test(tc, test_semantics_raw_clone_uffd_zeros);
	tcase_add_test(tc, test_semantics_raw_clone_vrange_sigbus);
	tcase_add_test(tc, test_semantics_raw_clone_vrange_data);
	tcase_add_test(tc, test_semantics_raw_clone_soft_data);
	tcase_add_test(tc, test_semantics_raw_clone_none_data);
	suite_add_tcase(s, tc);

	tc = ttcase("thp");
	tcase_add_test(tc, test_semantics_thp);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
