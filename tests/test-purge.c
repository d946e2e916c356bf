/* SPDX-License-Identifier: MIT */
/*
 * test-purge.c - purging by the library, on every backend that can purge:
 * vcache_purge / _range / _cache really free memory (mincore shows it) and
 * pins then report it; purge priority and least-recently-unpinned order;
 * strict mode (option and VCACHE_STRICT); bad input; and, on the soft
 * backend, purge order under a real memory cgroup limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "tutil.h"

#define MiB (1024ul * 1024)

static uint8_t *data(vcache_object *o)
{
	return vcache_object_data(o);
}

START_TEST(test_purge_now)
{
	vcache *c = tcache_new();
	size_t size = 8 * pagesz;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 701);
	o = tobj_create(c, "now", size, 2 * pagesz, &t);
	ck_assert_uint_eq(resident_pages(data(o), size), 8);
	/* A range: whole pages overlapping it, here pages 1..2. */
	ck_assert_int_eq(vcache_purge_range(o, pagesz + 1, pagesz),
			 (ssize_t)(2 * pagesz));
	ck_assert_uint_eq(resident_pages(data(o), size), 6);
	/* Already purged pages are not counted again. */
	ck_assert_int_eq(vcache_purge_range(o, pagesz, pagesz), 0);
	/* Exact pin reports: chunk 0 and 1 lost a page, 2 and 3 did not. */
	ck_assert_int_eq(vcache_pin_range(o, 4 * pagesz, 4 * pagesz, 0),
			 VCACHE_INTACT);
	/* A pinned chunk is not purged. */
	ck_assert_int_eq(vcache_purge(o), (ssize_t)(2 * pagesz));
	ck_assert_uint_eq(resident_pages(data(o) + 4 * pagesz, 4 * pagesz),
			  4);
	ck_assert_int_eq(vcache_unpin_range(o, 4 * pagesz, 4 * pagesz), 0);
	ck_assert_int_eq(vcache_pin_range(o, 0, pagesz,
					  VCACHE_PIN_REGENERATE),
			 VCACHE_PURGED);
	assert_content(o, t.seed, 0, 2 * pagesz);
	ck_assert_int_eq(vcache_unpin_range(o, 0, pagesz), 0);
	assert_content(o, t.seed, 0, size); /* optimistic: the rest */
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_purge_none_backend)
{
	vcache *c = tcache_new();
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_NONE(c);
	tobj_init(&t, 702);
	o = tobj_create(c, "never", 2 * pagesz, 0, &t);
	ck_assert_int_eq(vcache_purge(o), 0);
	ck_assert_int_eq(vcache_purge_cache(c, SIZE_MAX), 0);
	ck_assert_uint_eq(resident_pages(data(o), 2 * pagesz), 2);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_purge_invalid)
{
	vcache *c = tcache_new();
	vcache_object *o, *stale;
	struct tobj t;

	tobj_init(&t, 703);
	o = tobj_create(c, "bad", 2 * pagesz, 0, &t);
	ck_assert_errno(vcache_purge(NULL), EINVAL);
	ck_assert_errno(vcache_purge_range(NULL, 0, 1), EINVAL);
	ck_assert_errno(vcache_purge_range(o, 0, 0), EINVAL);
	ck_assert_errno(vcache_purge_range(o, 2 * pagesz, 1), EINVAL);
	ck_assert_errno(vcache_purge_range(o, pagesz, SIZE_MAX), EINVAL);
	ck_assert_errno(vcache_purge_cache(NULL, 1), EINVAL);
	ck_assert_int_eq(vcache_purge_cache(c, 0), 0);
	ck_assert_errno(vcache_object_set_priority(NULL, 0), EINVAL);
	ck_assert_errno(vcache_object_set_priority(o, 3), EINVAL);
	ck_assert_errno(vcache_object_set_priority(o, -1), EINVAL);
	ck_assert_errno(vcache_object_priority(NULL), EINVAL);
	ck_assert_int_eq(vcache_object_priority(o), VCACHE_PRIORITY_NORMAL);
	ck_assert_int_eq(vcache_object_set_priority(o, VCACHE_PRIORITY_KEEP),
			 0);
	ck_assert_int_eq(vcache_object_priority(o), VCACHE_PRIORITY_KEEP);
	assert_content(o, t.seed, 0, 2 * pagesz);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	stale = o;
	vcache_object_unref(o);
	ck_assert_errno(vcache_purge(stale), ESTALE);
	ck_assert_errno(vcache_object_set_priority(stale, 0), ESTALE);
	tcache_free(c);
}
END_TEST

/* Pages of o still resident. */
static size_t left(vcache_object *o)
{
	return resident_pages(data(o), vcache_object_size(o));
}

/*
 * vcache_purge_cache(N bytes): purge-first objects go before normal ones,
 * normal before keep-if-possible, and within a class the least recently
 * unpinned first; it stops once N bytes are freed (whole objects).
 */
START_TEST(test_purge_order)
{
	vcache *c = tcache_new();
	size_t size = 4 * pagesz;
	vcache_object *keep, *normal_old, *normal_new, *first;
	vcache_object *o = NULL;
	struct tobj t[4];

	SKIP_UNLESS_PURGING(c);
	for (int i = 0; i < 4; i++)
		tobj_init(&t[i], 710 + i);
	ck_assert_int_eq(vcache_object_create(c, "keep", size, 0, tobj_regen,
					      &t[0], VCACHE_OBJECT_KEEP, &o),
			 0);
	keep = o;
	normal_old = tobj_create(c, "normal-old", size, 0, &t[1]);
	normal_new = tobj_create(c, "normal-new", size, 0, &t[2]);
	first = tobj_create(c, "first", size, 0, &t[3]);
	ck_assert_int_eq(vcache_object_set_priority(
				 first, VCACHE_PRIORITY_PURGE_FIRST), 0);
	/* Use the objects in this order: keep and first most recently. */
	for (vcache_object **p = (vcache_object *[]){ normal_old, normal_new,
						      keep, first, NULL };
	     *p; p++) {
		ck_assert_int_eq(vcache_pin(*p, 0), VCACHE_INTACT);
		ck_assert_int_eq(vcache_unpin(*p), 0);
	}

	/* One object's worth: the purge-first one, although newest. */
	ck_assert_int_eq(vcache_purge_cache(c, 1), (ssize_t)size);
	ck_assert_uint_eq(left(first), 0);
	ck_assert_uint_eq(left(normal_old), 4);
	/* Next: the least recently unpinned normal one. */
	ck_assert_int_eq(vcache_purge_cache(c, size), (ssize_t)size);
	ck_assert_uint_eq(left(normal_old), 0);
	ck_assert_uint_eq(left(normal_new), 4);
	ck_assert_uint_eq(left(keep), 4);
	ck_assert_int_eq(vcache_purge_cache(c, size), (ssize_t)size);
	ck_assert_uint_eq(left(normal_new), 0);
	ck_assert_uint_eq(left(keep), 4);
	/* Keep-if-possible goes last, when nothing else is left. */
	ck_assert_int_eq(vcache_purge_cache(c, SIZE_MAX), (ssize_t)size);
	ck_assert_uint_eq(left(keep), 0);
	/* And everything comes back. */
	assert_content(first, t[3].seed, 0, size);
	assert_content(keep, t[0].seed, 0, size);
	ck_assert_int_eq(vcache_pin(normal_old, VCACHE_PIN_REGENERATE),
			 VCACHE_PURGED);
	assert_content(normal_old, t[1].seed, 0, size);
	ck_assert_int_eq(vcache_unpin(normal_old), 0);
	vcache_object_unref(keep);
	vcache_object_unref(normal_old);
	vcache_object_unref(normal_new);
	vcache_object_unref(first);
	tcache_free(c);
}
END_TEST

/*
 * Strict mode: the bug it catches. The program changes an object in place
 * while pinned (the regeneration callback cannot reproduce that) and then
 * reads it after unpinning. Normally that works until a rare purge; in
 * strict mode the unpin purges at once, so the first read already shows
 * the regenerated bytes instead of the change.
 */
static void strict_catches(vcache *c)
{
	size_t size = 4 * pagesz;
	struct vcache_stats st;
	vcache_object *o;
	struct tobj t;
	uint8_t *p;

	tobj_init(&t, 720);
	o = tobj_create(c, "strict", size, 0, &t);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_INTACT);
	p = data(o);
	memset(p, 0xee, size);  /* the in-place change */
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_uint_eq(resident_pages(p, size), 0); /* purged at unpin */
	ck_assert_uint_ne(p[0], 0xee); /* the bug shows on the first run */
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
	ck_assert_uint_eq(st.faults, 4);
	/* A nested pin keeps the chunk until the last unpin. */
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_pin_range(o, 0, pagesz, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_uint_eq(resident_pages(p, pagesz), 1);
	ck_assert_uint_eq(resident_pages(p + pagesz, size - pagesz), 0);
	ck_assert_int_eq(vcache_unpin_range(o, 0, pagesz), 0);
	ck_assert_uint_eq(resident_pages(p, pagesz), 0);
	vcache_object_unref(o);
}

START_TEST(test_purge_strict_option)
{
	struct vcache_options opts;
	vcache *c = NULL;

	vcache_options_init(&opts);
	opts.flags = VCACHE_OPT_STRICT;
	opts.idle_delay_ms = 60000; /* ignored in strict mode */
	ck_assert_int_eq(vcache_new(&opts, &c), 0);
	SKIP_UNLESS_PURGING(c);
	strict_catches(c);
	tcache_free(c);
}
END_TEST

START_TEST(test_purge_strict_env)
{
	vcache *c = NULL;

	ck_assert_int_eq(setenv("VCACHE_STRICT", "yes", 1), 0);
	ck_assert_errno(vcache_new(NULL, &c), EINVAL);
	ck_assert_int_eq(setenv("VCACHE_STRICT", "1", 1), 0);
	c = tcache_new();
	ck_assert_int_eq(unsetenv("VCACHE_STRICT"), 0);
	SKIP_UNLESS_PURGING(c);
	strict_catches(c);
	tcache_free(c);
}
END_TEST

/* Without strict mode the same bug goes unnoticed (no purge happened). */
START_TEST(test_purge_not_strict)
{
	vcache *c = tcache_new();
	size_t size = 4 * pagesz;
	vcache_object *o;
	struct tobj t;

	SKIP_IF_SWAP(c);
	tobj_init(&t, 721);
	o = tobj_create(c, "lenient", size, 0, &t);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	memset(data(o), 0xee, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_uint_eq(data(o)[0], 0xee);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/* --- order under a real memory limit (soft backend) ------------------------ */

/*
 * 64 MiB group: the watcher keeps 4 margins (4 x 8 MiB) free. 40 MiB of
 * objects (half purge-first) + 16 MiB of filler + the process: 24 MiB or
 * a little more must go, more than the 20 MiB of purge-first objects and
 * much less than all 40 (small objects: a pass overshoots by at most one).
 */
enum { LIMIT_MB = 64, OBJ_MB = 2, NOBJ = 20, FILLER_MB = 16 };

static int order_child(void *arg)
{
	struct cgroup_group *cg = arg;
	vcache_object *o[NOBJ];
	struct tobj t[NOBJ];
	size_t osize = OBJ_MB * MiB, gone[2] = { 0, 0 };
	vcache *c = NULL;
	uint8_t *filler;
	char name[32];

	CHILD_CHECK(cgroup_enter(cg, 0) == 0);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	for (int i = 0; i < NOBJ; i++) {
		tobj_init(&t[i], 730 + i);
		snprintf(name, sizeof(name), "obj-%d", i);
		/* Even: purge-first; odd: normal, all created alike. */
		CHILD_CHECK(vcache_object_create(c, name, osize, 16 * pagesz,
						 tobj_regen, &t[i],
						 i % 2 ? 0 :
						 VCACHE_OBJECT_PURGE_FIRST,
						 &o[i]) == 0);
	}
	/* Past 4 margins below the limit: the watcher purges. */
	filler = mmap(NULL, FILLER_MB * MiB, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(filler != MAP_FAILED);
	for (size_t i = 0; i < FILLER_MB * MiB; i += pagesz)
		filler[i] = 1;
	/*
	 * The watcher purges in passes (it polls every 100 ms while memory
	 * is tight): look until at least the purge-first share is gone,
	 * checking the order on every look. Up to 10 s.
	 */
	for (int tries = 0; tries < 100; tries++) {
		/*
		 * Normal objects first, purge-first ones after: the watcher
		 * purges while we count, and purged pages stay purged, so a
		 * normal page seen gone means every purge-first page is gone
		 * by the time we look at them (the other order raced).
		 */
		gone[0] = gone[1] = 0;
		for (int k = 0; k < NOBJ; k++) {
			int i = k < NOBJ / 2 ? 2 * k + 1 : 2 * (k - NOBJ / 2);

			gone[i % 2] += osize / pagesz -
				resident_pages(vcache_object_data(o[i]), osize);
		}
		CHILD_CHECK(gone[1] == 0 || gone[0] == NOBJ / 2 * osize / pagesz);
		if (gone[0] + gone[1] >= NOBJ / 2 * osize / pagesz)
			break;
		usleep(100000);
	}
	printf("under pressure: purge-first objects lost %zu pages, normal "
	       "ones %zu (of %zu each); level now %d\n", gone[0], gone[1],
	       NOBJ / 2 * osize / pagesz, vcache_pressure());
	fflush(stdout);
	/*
	 * The watcher purged, and never a normal page while a purge-first
	 * one was left (checked on every look above). How much it purges is
	 * its headroom policy, not the order: when the rest of the group
	 * shrank meanwhile (page cache) it may stop before the purge-first
	 * share is gone, and then the normal objects must be untouched.
	 */
	CHILD_CHECK(gone[0] > 0);
	if (gone[0] < NOBJ / 2 * osize / pagesz) {
		CHILD_CHECK(gone[1] == 0);
		printf("SKIP: part of test_purge_order_pressure: the watcher "
		       "stopped after %zu purge-first pages (pressure gone), "
		       "so normal objects were never reached\n", gone[0]);
	}
	CHILD_CHECK(gone[1] < NOBJ / 2 * osize / pagesz);
	CHILD_CHECK(munmap(filler, FILLER_MB * MiB) == 0);
	for (int i = 0; i < NOBJ; i++) {
		CHILD_CHECK(gen_check(vcache_object_data(o[i]), t[i].seed, 0,
				      osize) == SIZE_MAX);
		vcache_object_unref(o[i]);
	}
	CHILD_CHECK(vcache_free(c) == 0);
	return 0;
}

START_TEST(test_purge_order_pressure)
{
	struct cgroup_group cg;
	vcache *c = tcache_new();
	char why[512];
	int st;

	if (vcache_backend(c) != VCACHE_BACKEND_SOFT) {
		tcache_free(c);
		SKIP_IF(true, "the library orders all purges only on soft "
			"(the kernel reclaims by itself elsewhere)");
	}
	tcache_free(c);
	SKIP_IF(UNDER_TSAN, "TSan's shadow memory counts against the cgroup "
		"limit (the child is OOM-killed)");
	SKIP_IF(cgroup_create(&cg, "vcache-order", LIMIT_MB * MiB, why,
			      sizeof(why)) < 0, "%s", why);
	st = run_in_child(order_child, &cg);
	cgroup_remove(&cg);
	ck_assert_msg(!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL),
		      "child killed (OOM?)");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child status 0x%x", st);
}
END_TEST

/*
 * vcache_pressure(): the watcher's level follows the cgroup's real usage
 * against its limit. The child fills a 256 MiB group with ordinary memory
 * until 20 MiB are left (margin 32 MiB: MEDIUM or worse), then frees it
 * (NONE). It reads the group's usage as it goes rather than fill a fixed
 * amount: what the process charges besides (ASan's own memory among it)
 * differs by machine, and a fixed 236 MiB was OOM-killed under ASan on a
 * 6.18 host where the rest came to 23 MiB. The watcher polls every 100 ms
 * while tight, every second otherwise: wait up to 10 s for each change.
 */
enum { LEVEL_LIMIT_MB = 256 };

static int wait_level(bool (*ok)(int level))
{
	for (int i = 0; i < 200; i++) {
		if (ok(vcache_pressure()))
			return vcache_pressure();
		usleep(50000);
	}
	return -1;
}

static bool level_tight(int level)
{
	return level >= VCACHE_PRESSURE_MEDIUM;
}

static bool level_none(int level)
{
	return level == VCACHE_PRESSURE_NONE;
}

static int level_child(void *arg)
{
	struct cgroup_group *cg = arg;
	size_t fill = (LEVEL_LIMIT_MB - 20) * MiB;
	vcache *c = NULL;
	uint8_t *p;
	int tight, calm;

	CHILD_CHECK(cgroup_enter(cg, 0) == 0);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	p = mmap(NULL, fill, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(p != MAP_FAILED);
	for (size_t i = 0; i < fill; i += pagesz) {
		uint64_t usage;

		if (i % MiB == 0) {
			CHILD_CHECK(cgroup_usage(cg->dir, cg->version,
						 &usage) == 0);
			if (usage + 20 * MiB >= LEVEL_LIMIT_MB * MiB)
				break;
		}
		p[i] = 1;
	}
	tight = wait_level(level_tight);
	CHILD_CHECK(munmap(p, fill) == 0);
	calm = wait_level(level_none);
	printf("pressure level with < 20 MiB left: %d, after freeing: %d\n",
	       tight, calm);
	fflush(stdout);
	CHILD_CHECK(tight >= VCACHE_PRESSURE_MEDIUM);
	CHILD_CHECK(calm == VCACHE_PRESSURE_NONE);
	CHILD_CHECK(vcache_free(c) == 0);
	/* No purging cache left: no watcher, level none. */
	CHILD_CHECK(vcache_pressure() == VCACHE_PRESSURE_NONE);
	return 0;
}

START_TEST(test_purge_pressure_level)
{
	struct cgroup_group cg;
	vcache *c = tcache_new();
	char why[512];
	int st;

	SKIP_UNLESS_PURGING(c);
	tcache_free(c);
	SKIP_IF(UNDER_TSAN, "TSan's shadow memory counts against the cgroup "
		"limit (the child is OOM-killed)");
	SKIP_IF(cgroup_create(&cg, "vcache-level", LEVEL_LIMIT_MB * MiB, why,
			      sizeof(why)) < 0, "%s", why);
	st = run_in_child(level_child, &cg);
	cgroup_remove(&cg);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child status 0x%x", st);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("purge");
	TCase *tc;

	tc = ttcase("now");
	tcase_add_test(tc, test_purge_now);
	tcase_add_test(tc, test_purge_none_backend);
	tcase_add_test(tc, test_purge_invalid);
	suite_add_tcase(s, tc);

	tc = ttcase("order");
	tcase_add_test(tc, test_purge_order);
	tcase_add_test(tc, test_purge_order_pressure);
	suite_add_tcase(s, tc);

	tc = ttcase("level");
	tcase_add_test(tc, test_purge_pressure_level);
	suite_add_tcase(s, tc);

	tc = ttcase("strict");
	tcase_add_test(tc, test_purge_strict_option);
	tcase_add_test(tc, test_purge_strict_env);
	tcase_add_test(tc, test_purge_not_strict);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
