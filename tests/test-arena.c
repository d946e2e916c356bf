/* SPDX-License-Identifier: MIT */
/*
 * test-arena.c - objects carved from arenas (libvcache/arena.c)
 *
 * Under uffd and none, private objects of up to 1 MiB share a few large
 * mappings. What must hold: a new object in a reused slot reads its own
 * contents (never the previous owner's), a removed object's memory goes
 * back at once, purges and pins stay exact per object although neighbours
 * share one mapping, a fork() child faults and regenerates them, the
 * process's mapping count does not grow with the object count, removed
 * handles are stale, objects past the arena limit and objects created
 * after a later mlockall(MCL_CURRENT) still work. Tests about the layout
 * itself (mapping counts, slot reuse, pages given back) skip on soft and
 * vrange, which keep one mapping per object; the others run everywhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tutil.h"

#define ARENA_OBJ_MAX (1u << 20) /* libvcache/internal.h VC_ARENA_OBJ_MAX */

static bool has_arenas(const vcache *c)
{
	enum vcache_backend b = vcache_backend(c);

	return b == VCACHE_BACKEND_UFFD || b == VCACHE_BACKEND_NONE;
}

#define SKIP_UNLESS_ARENAS(c)						\
	do {								\
		if (!has_arenas(c)) {					\
			const char *b_ = vcache_backend_name(		\
				vcache_backend(c));			\
			tcache_free(c);					\
			SKIP_IF(true, "backend %s keeps one mapping per " \
				"object (no arenas)", b_);		\
		}							\
	} while (0)

static long maps_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	long n = 0;
	int ch;

	ck_assert_ptr_nonnull(f);
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static void assert_child_ok(int st)
{
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child status 0x%x", st);
}

enum { N = 48, PAGES = 4 };

/*
 * Slots of removed objects are reused by new ones of the same size; each
 * new object must read its own bytes, also where the old object's pages
 * were resident (volatile or written to) when it went.
 */
START_TEST(test_arena_reuse_content)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	static struct tobj t[2 * N];
	vcache_object *o[2 * N];
	void *old[N];
	bool reused = false;

	for (int i = 0; i < N; i++) {
		char name[16];

		tobj_init(&t[i], 1000 + (uint64_t)i);
		snprintf(name, sizeof(name), "old%d", i);
		o[i] = tobj_create(c, name, size, 0, &t[i]);
		old[i] = vcache_object_data(o[i]);
		/* Resident, and under uffd the first page kept by a write. */
		assert_content(o[i], t[i].seed, 0, size);
		ck_assert_int_ge(vcache_pin(o[i], 0), 0);
		((uint8_t *)old[i])[0] ^= 0xff;
		((uint8_t *)old[i])[0] ^= 0xff;
		ck_assert_int_eq(vcache_unpin(o[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(vcache_object_remove(o[i]), 0);
		o[i] = vcache_object_unref(o[i]);
	}
	for (int i = N; i < 2 * N; i++) {
		char name[16];

		tobj_init(&t[i], 5000 + (uint64_t)i);
		snprintf(name, sizeof(name), "new%d", i);
		o[i] = tobj_create(c, name, size, 0, &t[i]);
		for (int j = 0; j < N; j++)
			reused |= vcache_object_data(o[i]) == old[j];
	}
	for (int i = N; i < 2 * N; i++) {
		assert_content(o[i], t[i].seed, 0, size);
		ck_assert_int_eq(vcache_pin(o[i], VCACHE_PIN_REGENERATE),
				 VCACHE_INTACT);
		assert_content(o[i], t[i].seed, 0, size);
		ck_assert_int_eq(vcache_unpin(o[i]), 0);
	}
	if (has_arenas(c))
		ck_assert_msg(reused, "no slot of a removed object was reused");
	for (int i = N; i < 2 * N; i++)
		vcache_object_unref(o[i]);
	tcache_free(c);
}
END_TEST

/* A removed object's pages go back at once (its slot stays mapped). */
START_TEST(test_arena_remove_frees)
{
	vcache *c = tcache_new();
	size_t size = 16 * pagesz;
	struct tobj t;
	vcache_object *o;
	void *p;

	SKIP_UNLESS_ARENAS(c);
	tobj_init(&t, 77);
	o = tobj_create(c, "gone", size, 0, &t);
	p = vcache_object_data(o);
	ck_assert_uint_eq(resident_pages(p, size), 16);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	ck_assert_uint_eq(resident_pages(p, size), 0);
	tcache_free(c);
}
END_TEST

/*
 * Neighbours in one mapping: purge one object for real (MADV_PAGEOUT),
 * then an optimistic read regenerates it through SIGBUS, a pin of the
 * other reports intact, and pins report purged exactly per range.
 */
START_TEST(test_arena_purge_exact)
{
	vcache *c = tcache_new_delay(0);
	size_t size = 8 * pagesz;
	struct tobj ta, tb;
	vcache_object *a, *b;
	unsigned long calls;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&ta, 11);
	tobj_init(&tb, 12);
	a = tobj_create(c, "a", size, 0, &ta);
	b = tobj_create(c, "b", size, 0, &tb);
	ck_assert_uint_eq(purge_range(vcache_object_data(a), size), 8);
	ck_assert_int_eq(vcache_pin(b, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(b), 0);
	calls = atomic_load(&ta.calls);
	assert_content(a, ta.seed, 0, size); /* 8 faults, 8 regenerations */
	ck_assert_uint_eq(atomic_load(&ta.calls) - calls, 8);

	/* Top half purged: the bottom half is intact, the top is not. */
	ck_assert_uint_eq(purge_range((uint8_t *)vcache_object_data(a) +
				      4 * pagesz, 4 * pagesz), 4);
	ck_assert_int_eq(vcache_pin_range(a, 0, 4 * pagesz, 0),
			 VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin_range(a, 0, 4 * pagesz), 0);
	ck_assert_int_eq(vcache_pin_range(a, 4 * pagesz, 4 * pagesz,
					  VCACHE_PIN_REGENERATE),
			 VCACHE_PURGED);
	assert_content(a, ta.seed, 0, size);
	ck_assert_int_eq(vcache_unpin_range(a, 4 * pagesz, 4 * pagesz), 0);
	assert_content(b, tb.seed, 0, size);
	vcache_object_unref(a);
	vcache_object_unref(b);
	tcache_free(c);
}
END_TEST

struct fork_arg {
	vcache *cache;
	vcache_object *o;
	struct tobj *t;
	size_t size;
};

static int fork_child(void *arg)
{
	struct fork_arg *f = arg;
	vcache_object *n = NULL;
	struct tobj tn;

	/* Purged before the fork: faults and regenerates here. */
	CHILD_CHECK(gen_check(vcache_object_data(f->o), f->t->seed, 0,
			      f->size) == SIZE_MAX);
	/* Purged in the child: the arena is registered again here. */
	CHILD_CHECK(purge_range(vcache_object_data(f->o), f->size) ==
		    f->size / pagesz);
	CHILD_CHECK(gen_check(vcache_object_data(f->o), f->t->seed, 0,
			      f->size) == SIZE_MAX);
	/* New objects in the child's copy of the arena. */
	tobj_init(&tn, 99);
	CHILD_CHECK(vcache_object_create(f->cache, "child", f->size, 0,
					 tobj_regen, &tn, 0, &n) == 0);
	CHILD_CHECK(purge_range(vcache_object_data(n), f->size) ==
		    f->size / pagesz);
	CHILD_CHECK(gen_check(vcache_object_data(n), tn.seed, 0, f->size) ==
		    SIZE_MAX);
	CHILD_CHECK(vcache_object_remove(n) == 0);
	vcache_object_unref(n);
	return 0;
}

START_TEST(test_arena_fork)
{
	vcache *c = tcache_new_delay(0);
	size_t size = 8 * pagesz;
	struct fork_arg f;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 31);
	o = tobj_create(c, "forked", size, 0, &t);
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), 8);
	f = (struct fork_arg){ c, o, &t, size };
	assert_child_ok(run_in_child(fork_child, &f));
	assert_content(o, t.seed, 0, size);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

static int fill_regen(vcache_object *object, void *dst, size_t offset,
		      size_t length, void *userdata)
{
	(void)object;
	(void)userdata;
	/* The object's index in its first byte of each chunk. */
	memset(dst, 0x33, length);
	memcpy(dst, &offset, sizeof(offset) < length ? sizeof(offset) : length);
	return 0;
}

/* 20,000 objects cost the process a bounded number of mappings. */
START_TEST(test_arena_maps_bounded)
{
	enum { MANY = 20000 };
	vcache *c = tcache_new();
	vcache_object **o = calloc(MANY, sizeof(*o));
	long before, created, removed;

	ck_assert_ptr_nonnull(o);
	if (!has_arenas(c))
		free(o);
	SKIP_UNLESS_ARENAS(c);
	before = maps_lines();
	for (int i = 0; i < MANY; i++) {
		char name[16];

		snprintf(name, sizeof(name), "m%d", i);
		ck_assert_int_eq(vcache_object_create(c, name, pagesz, 0,
						      fill_regen, NULL, 0,
						      &o[i]), 0);
	}
	created = maps_lines();
	ck_assert_uint_eq(((uint8_t *)vcache_object_data(o[MANY - 1]))[8],
			  0x33);
	for (int i = 0; i < MANY; i++) {
		ck_assert_int_eq(vcache_object_remove(o[i]), 0);
		vcache_object_unref(o[i]);
	}
	removed = maps_lines();
	printf("maps lines: %ld before, %ld with %d objects, %ld after "
	       "removal\n", before, created, MANY, removed);
	ck_assert_int_lt(created - before, 100);
	ck_assert_int_lt(removed - before, 100);
	free(o);
	tcache_free(c);
}
END_TEST

/* A removed arena object's handle is stale, also once its slot is reused. */
START_TEST(test_arena_stale_handle)
{
	vcache *c = tcache_new();
	struct tobj t, t2;
	vcache_object *o, *n;

	tobj_init(&t, 5);
	tobj_init(&t2, 6);
	o = tobj_create(c, "s", 2 * pagesz, 0, &t);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	n = tobj_create(c, "s", 2 * pagesz, 0, &t2);
	ck_assert_errno(vcache_pin(o, 0), ESTALE);
	ck_assert_errno(vcache_unpin(o), ESTALE);
	ck_assert_errno(vcache_object_remove(o), ESTALE);
	ck_assert_ptr_null(vcache_object_data(o));
	assert_content(n, t2.seed, 0, 2 * pagesz);
	vcache_object_unref(n);
	tcache_free(c);
}
END_TEST

/* Past the arena limit: a mapping of its own, same behaviour. */
START_TEST(test_arena_large_objects)
{
	vcache *c = tcache_new_delay(0);
	size_t sizes[] = { ARENA_OBJ_MAX, ARENA_OBJ_MAX + pagesz,
			   2 * ARENA_OBJ_MAX + 123 };
	bool purges = tcache_purges(c);

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k], pages = (size + pagesz - 1) / pagesz;
		struct tobj t;
		vcache_object *o;
		char name[16];

		tobj_init(&t, 200 + k);
		snprintf(name, sizeof(name), "big%zu", k);
		o = tobj_create(c, name, size, 16 * pagesz, &t);
		assert_content(o, t.seed, 0, size);
		if (purges) {
			ck_assert_uint_eq(purge_range(vcache_object_data(o),
						      pages * pagesz), pages);
			ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE),
					 VCACHE_PURGED);
			assert_content(o, t.seed, 0, size);
			ck_assert_int_eq(vcache_unpin(o), 0);
			ck_assert_uint_eq(purge_range(vcache_object_data(o),
						      pages * pagesz), pages);
			assert_content(o, t.seed, 0, size); /* by faults */
		}
		ck_assert_int_eq(vcache_object_remove(o), 0);
		vcache_object_unref(o);
	}
	tcache_free(c);
}
END_TEST

/*
 * The program locks everything after the arena exists (mlockall
 * (MCL_CURRENT)): an object created afterwards in the locked arena is
 * still volatile (purgeable), as a fresh mapping would be.
 */
static int mlock_child(void *arg)
{
	bool purges = *(bool *)arg;
	vcache_object *a = NULL, *b = NULL;
	struct tobj ta, tb;
	vcache *c = NULL;

	tobj_init(&ta, 61);
	tobj_init(&tb, 62);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "a", PAGES * pagesz, 0,
					 tobj_regen, &ta, 0, &a) == 0);
	if (mlockall(MCL_CURRENT) < 0)
		return 77;
	CHILD_CHECK(vcache_object_create(c, "b", PAGES * pagesz, 0,
					 tobj_regen, &tb, 0, &b) == 0);
	if (purges)
		CHILD_CHECK(purge_range(vcache_object_data(b),
					PAGES * pagesz) == PAGES);
	CHILD_CHECK(gen_check(vcache_object_data(b), tb.seed, 0,
			      PAGES * pagesz) == SIZE_MAX);
	CHILD_CHECK(gen_check(vcache_object_data(a), ta.seed, 0,
			      PAGES * pagesz) == SIZE_MAX);
	return 0;
}

START_TEST(test_arena_mlock_later)
{
	vcache *c = tcache_new();
	bool purges = tcache_purges(c);
	int st;

	tcache_free(c);
	SKIP_IF(UNDER_TSAN, "TSan's shadow mappings cannot all be locked");
	SKIP_IF(UNDER_ASAN, "ASan turns mlockall() into a no-op");
	st = run_in_child(mlock_child, &purges);
	SKIP_IF(WIFEXITED(st) && WEXITSTATUS(st) == 77,
		"mlockall() refused (RLIMIT_MEMLOCK?)");
	assert_child_ok(st);
}
END_TEST

static bool mapped(const void *p)
{
	unsigned char v;

	return mincore((void *)((uintptr_t)p & ~(uintptr_t)(pagesz - 1)),
		       pagesz, &v) == 0;
}

/*
 * Arenas are shared by the caches of a backend: freeing one cache leaves
 * the other's objects (in the same arena) whole and regenerating; freeing
 * the last one unmaps every arena.
 */
START_TEST(test_arena_two_caches_teardown)
{
	vcache *c1 = tcache_new_delay(0), *c2 = tcache_new_delay(0);
	size_t size = PAGES * pagesz;
	struct tobj t1, t2;
	vcache_object *o1, *o2;
	void *p1, *p2;

	tobj_init(&t1, 71);
	tobj_init(&t2, 72);
	o1 = tobj_create(c1, "one", size, 0, &t1);
	o2 = tobj_create(c2, "two", size, 0, &t2);
	p1 = vcache_object_data(o1);
	p2 = vcache_object_data(o2);
	vcache_object_unref(o1);
	tcache_free(c1);
	assert_content(o2, t2.seed, 0, size);
	if (tcache_purges(c2)) {
		ck_assert_uint_eq(purge_range(p2, size), PAGES);
		assert_content(o2, t2.seed, 0, size); /* by faults */
	}
	vcache_object_unref(o2);
	tcache_free(c2);
	ck_assert_msg(!mapped(p1) && !mapped(p2),
		      "object memory still mapped after the last vcache_free()");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arena");
	TCase *tc;

	tc = ttcase("slots");
	tcase_add_test(tc, test_arena_reuse_content);
	tcase_add_test(tc, test_arena_remove_frees);
	tcase_add_test(tc, test_arena_stale_handle);
	tcase_add_test(tc, test_arena_large_objects);
	tcase_add_test(tc, test_arena_two_caches_teardown);
	suite_add_tcase(s, tc);
	tc = ttcase("purge");
	tcase_add_test(tc, test_arena_purge_exact);
	tcase_add_test(tc, test_arena_fork);
	tcase_add_test(tc, test_arena_mlock_later);
	suite_add_tcase(s, tc);
	tc = ttcase("scale");
	tcase_add_test(tc, test_arena_maps_bounded);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
