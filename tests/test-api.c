/* SPDX-License-Identifier: MIT */
/*
 * test-api.c - every row of the error table in vcache.h, the object
 * lifetime rules (lookup, ref, remove) and fresh objects. Bad input never
 * crashes and leaves other objects untouched: a witness object is checked
 * after every batch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "tutil.h"

static int nop_regen(vcache_object *object, void *dst, size_t offset,
		     size_t length, void *userdata)
{
	(void)object;
	(void)offset;
	(void)userdata;
	memset(dst, 1, length);
	return 0;
}

/* A cache with one good object whose state every bad call must keep. */
struct fixture {
	vcache *cache;
	vcache_object *witness;
	struct tobj t;
	struct vcache_stats before;
};

static void fixture_setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->cache = tcache_new();
	tobj_init(&f->t, 81);
	f->witness = tobj_create(f->cache, "witness", 4 * pagesz, 0, &f->t);
	ck_assert_int_eq(vcache_stats_get(f->cache, &f->before,
					  sizeof(f->before)), 0);
}

static void fixture_check_and_free(struct fixture *f)
{
	struct vcache_stats after;
	vcache_object *o = NULL;

	ck_assert_int_eq(vcache_stats_get(f->cache, &after, sizeof(after)), 0);
	ck_assert_uint_eq(after.objects, f->before.objects);
	ck_assert_uint_eq(after.bytes_pinned, 0);
	ck_assert_int_eq(vcache_object_lookup(f->cache, "witness", &o), 0);
	ck_assert_ptr_eq(o, f->witness);
	vcache_object_unref(o);
	assert_content(f->witness, f->t.seed, 0, 4 * pagesz);
	ck_assert_uint_eq(atomic_load(&f->t.calls), 4);
	vcache_object_unref(f->witness);
	tcache_free(f->cache);
}

/* --- vcache_new / vcache_free ------------------------------------------- */

START_TEST(test_api_new_invalid)
{
	struct vcache_options o;
	vcache *c = NULL;

	unsetenv("VCACHE_BACKEND");
	ck_assert_errno(vcache_new(NULL, NULL), EINVAL);
	vcache_options_init(&o);
	ck_assert_errno(vcache_new(&o, NULL), EINVAL);
	o.size = 0;
	ck_assert_errno(vcache_new(&o, &c), EINVAL);
	o.size = offsetof(struct vcache_options, flags);
	ck_assert_errno(vcache_new(&o, &c), EINVAL);
	vcache_options_init(&o);
	o.flags = 1u << 2; /* the first after VCACHE_OPT_NO_IDLE_DELAY */
	ck_assert_errno(vcache_new(&o, &c), EINVAL);
	/* No delay and a delay at once. */
	o.flags = VCACHE_OPT_NO_IDLE_DELAY;
	o.idle_delay_ms = 10;
	ck_assert_errno(vcache_new(&o, &c), EINVAL);
	o.idle_delay_ms = 0;
	o.flags = 1u << 31;
	ck_assert_errno(vcache_new(&o, &c), EINVAL);
	vcache_options_init(&o);
	o.backend = TEST_BACKEND_PAST_LAST;
	ck_assert_errno(vcache_new(&o, &c), EINVAL);
	ck_assert_int_eq(setenv("VCACHE_BACKEND", "bogus", 1), 0);
	ck_assert_errno(vcache_new(NULL, &c), EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif

/*
 * Out of memory for real: cap the address space of a child at what it
 * uses now, then create caches until one cannot be allocated. The failure
 * must be -ENOMEM, cleanly.
 */
static int new_until_enomem(void *arg)
{
	struct rlimit rl;
	long pages = 0, dummy;
	FILE *f = fopen("/proc/self/statm", "r");
	vcache *c;
	int i, r = 0;

	(void)arg;
	CHILD_CHECK(f && fscanf(f, "%ld %ld", &pages, &dummy) == 2);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = (rlim_t)pages * pagesz + (1 << 20);
	CHILD_CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
	for (i = 0; i < 1000000; i++) {
		c = NULL;
		r = vcache_new(NULL, &c);
		if (r)
			break;
	}
	fprintf(stderr, "vcache_new failed with %d after %d caches\n", r, i);
	CHILD_CHECK(r == -ENOMEM);
	CHILD_CHECK(c == NULL);
	return 0;
}

START_TEST(test_api_new_enomem)
{
	int st;

#ifdef ASAN
	SKIP_IF(true, "ASan needs more address space than RLIMIT_AS leaves");
#endif
	SKIP_IF(UNDER_TSAN, "TSan needs more address space than RLIMIT_AS "
		"leaves");
	st = run_in_child(new_until_enomem, NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child status 0x%x", st);
}
END_TEST

START_TEST(test_api_options_init)
{
	struct vcache_options o;

	memset(&o, 0xff, sizeof(o));
	vcache_options_init(&o);
	ck_assert_uint_eq(o.size, sizeof(o));
	ck_assert_int_eq(o.backend, VCACHE_BACKEND_AUTO);
	ck_assert_uint_eq(o.idle_delay_ms, 0);
	ck_assert_uint_eq(o.flags, 0);
	ck_assert_ptr_null(o.on_regen_failure);
	ck_assert_ptr_null(o.on_regen_failure_userdata);
}
END_TEST

START_TEST(test_api_free_busy)
{
	vcache *c = tcache_new();
	vcache_object *o, *o2 = NULL;
	struct tobj t;

	ck_assert_int_eq(vcache_free(NULL), 0);
	tobj_init(&t, 82);
	o = tobj_create(c, "held", pagesz, 0, &t);
	/* A handle is held. */
	ck_assert_errno(vcache_free(c), EBUSY);
	/* Pinned, no handle held. */
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	vcache_object_unref(o);
	ck_assert_errno(vcache_free(c), EBUSY);
	ck_assert_int_eq(vcache_object_lookup(c, "held", &o2), 0);
	ck_assert_int_eq(vcache_unpin(o2), 0);
	ck_assert_errno(vcache_free(c), EBUSY);
	/* Nothing changed by the failures. */
	assert_content(o2, t.seed, 0, pagesz);
	vcache_object_unref(o2);
	/* Objects left in the cache go with it. */
	vcache_object_unref(tobj_create(c, "left-1", pagesz, 0, &t));
	tcache_free(c);
}
END_TEST

START_TEST(test_api_free_with_objects)
{
	vcache *c = tcache_new();
	struct tobj t;
	int i;

	tobj_init(&t, 83);
	for (i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "obj-%d", i);
		vcache_object_unref(tobj_create(c, name, 3 * pagesz, 0,
						&t));
	}
	tcache_free(c);
}
END_TEST

/* --- vcache_object_create ------------------------------------------------ */

START_TEST(test_api_create_invalid)
{
	char longname[VCACHE_NAME_MAX + 2];
	struct fixture f;
	vcache_object *o = NULL;
	vcache *c;

	fixture_setup(&f);
	c = f.cache;
	ck_assert_errno(vcache_object_create(NULL, "x", pagesz, 0, nop_regen,
					     NULL, 0, &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, NULL, pagesz, 0, nop_regen,
					     NULL, 0, &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "", pagesz, 0, nop_regen,
					     NULL, 0, &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "x", 0, 0, nop_regen, NULL, 0,
					     &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "x", pagesz, 1000,
					     nop_regen, NULL, 0, &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "x", pagesz, pagesz + 1,
					     nop_regen, NULL, 0, &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "x", pagesz,
					     pagesz / 2, nop_regen, NULL, 0,
					     &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "x", pagesz, 0, NULL, NULL,
					     0, &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "x", pagesz, 0, nop_regen,
					     NULL, 1u << 2, &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "x", pagesz, 0, nop_regen,
					     NULL, VCACHE_OBJECT_PURGE_FIRST |
					     VCACHE_OBJECT_KEEP, &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "x", pagesz, 0, nop_regen,
					     NULL, 1u << 31, &o), EINVAL);
	ck_assert_errno(vcache_object_create(c, "x", pagesz, 0, nop_regen,
					     NULL, 0, NULL), EINVAL);

	memset(longname, 'n', sizeof(longname));
	longname[VCACHE_NAME_MAX + 1] = '\0';
	ck_assert_errno(vcache_object_create(c, longname, pagesz, 0,
					     nop_regen, NULL, 0, &o),
			ENAMETOOLONG);
	ck_assert_errno(vcache_object_create(c, "witness", pagesz, 0,
					     nop_regen, NULL, 0, &o), EEXIST);
	ck_assert_ptr_null(o);
	/* The longest legal name works. */
	longname[VCACHE_NAME_MAX] = '\0';
	ck_assert_int_eq(vcache_object_create(c, longname, pagesz, 0,
					      nop_regen, NULL, 0, &o), 0);
	ck_assert_str_eq(vcache_object_name(o), longname);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	fixture_check_and_free(&f);
}
END_TEST

START_TEST(test_api_create_too_large)
{
	struct fixture f;
	vcache_object *o = NULL;
	vcache *c;

	fixture_setup(&f);
	c = f.cache;
	/* Rounding up to a chunk would wrap. */
	ck_assert_errno(vcache_object_create(c, "huge", SIZE_MAX, 0, nop_regen,
					     NULL, 0, &o), EOVERFLOW);
	ck_assert_errno(vcache_object_create(c, "huge", SIZE_MAX - pagesz,
					     4 * pagesz, nop_regen, NULL, 0,
					     &o), EOVERFLOW);
	/* Larger than any mapping can be (PTRDIFF_MAX). */
	ck_assert_errno(vcache_object_create(c, "huge", SIZE_MAX / 2 + 1, 0,
					     nop_regen, NULL, 0, &o),
			EOVERFLOW);
	/* Representable, but more than the address space has: 1 PiB. */
	ck_assert_errno(vcache_object_create(c, "huge", (size_t)1 << 50, 0,
					     nop_regen, NULL, 0, &o), ENOMEM);
	ck_assert_ptr_null(o);
	/* The failed name is free. */
	ck_assert_errno(vcache_object_lookup(c, "huge", &o), ENOENT);
	fixture_check_and_free(&f);
}
END_TEST

START_TEST(test_api_create_callback_fails)
{
	struct fixture f;
	vcache_object *o = NULL;
	struct tobj t;

	fixture_setup(&f);
	tobj_init(&t, 84);
	atomic_store(&t.fail, -ENODATA);
	ck_assert_errno(vcache_object_create(f.cache, "fails", 4 * pagesz, 0,
					     tobj_regen, &t, 0, &o), ENODATA);
	ck_assert_ptr_null(o);
	ck_assert_uint_ge(atomic_load(&t.calls), 1);
	ck_assert_errno(vcache_object_lookup(f.cache, "fails", &o), ENOENT);
	/* The name is usable once the callback works. */
	atomic_store(&t.fail, 0);
	o = tobj_create(f.cache, "fails", 4 * pagesz, 0, &t);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	fixture_check_and_free(&f);
}
END_TEST

/* --- fresh objects -------------------------------------------------------- */

START_TEST(test_api_create_filled)
{
	vcache *c = tcache_new();
	size_t chunk = 2 * pagesz, size = 3 * pagesz + 100, i;
	atomic_uint counts[2] = { 0 };
	struct vcache_stats st;
	vcache_object *o;
	struct tobj t;

	tobj_init(&t, 85);
	t.chunk_calls = counts;
	t.nchunks = 2;
	o = tobj_create(c, "filled", size, chunk, &t);
	/* Every chunk once, the short last one with the right length. */
	for (i = 0; i < 2; i++)
		ck_assert_uint_eq(atomic_load(&counts[i]), 1);
	ck_assert_uint_eq(atomic_load(&t.bad_args), 0);
	ck_assert_uint_eq(vcache_object_size(o), size);
	ck_assert_uint_eq(vcache_object_chunk_size(o), chunk);
	ck_assert_str_eq(vcache_object_name(o), "filled");
	ck_assert_uint_eq((uintptr_t)vcache_object_data(o) % pagesz, 0);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
	ck_assert_uint_eq(st.regenerations, 0);
	ck_assert_uint_eq(st.bytes_pinned, 0);
	/* Left volatile: the kernel may take it at once. */
	if (tcache_purges(c))
		ck_assert_uint_eq(purge_range(vcache_object_data(o), size), 4);
	vcache_object_unref(o);

	/* Smaller than a page: one short chunk, all of it correct. */
	o = tobj_create(c, "tiny", 100, 0, &t);
	ck_assert_uint_eq(vcache_object_size(o), 100);
	assert_content(o, t.seed, 0, 100);
	ck_assert_int_eq(vcache_pin_range(o, 99, 1, 0), VCACHE_INTACT);
	ck_assert_errno(vcache_pin_range(o, 100, 1, 0), EINVAL);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);

	/* chunk_size 0 means the page size. */
	o = tobj_create(c, "default-chunk", pagesz, 0, &t);
	ck_assert_uint_eq(vcache_object_chunk_size(o), pagesz);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/* --- lookup, ref, remove ------------------------------------------------ */

START_TEST(test_api_lookup)
{
	struct fixture f;
	vcache_object *o = NULL, *o2 = NULL;

	fixture_setup(&f);
	ck_assert_errno(vcache_object_lookup(f.cache, "absent", &o), ENOENT);
	ck_assert_errno(vcache_object_lookup(NULL, "witness", &o), EINVAL);
	ck_assert_errno(vcache_object_lookup(f.cache, NULL, &o), EINVAL);
	ck_assert_errno(vcache_object_lookup(f.cache, "witness", NULL), EINVAL);
	ck_assert_errno(vcache_object_lookup(f.cache, "", &o), ENOENT);
	ck_assert_errno(vcache_object_lookup(f.cache, "witnes", &o), ENOENT);
	ck_assert_errno(vcache_object_lookup(f.cache, "witness2", &o), ENOENT);
	ck_assert_ptr_null(o);
	ck_assert_int_eq(vcache_object_lookup(f.cache, "witness", &o), 0);
	ck_assert_int_eq(vcache_object_lookup(f.cache, "witness", &o2), 0);
	ck_assert_ptr_eq(o, f.witness);
	ck_assert_ptr_eq(o2, f.witness);
	/* Each lookup is a reference of its own. */
	ck_assert_ptr_null(vcache_object_unref(o));
	ck_assert_ptr_null(vcache_object_unref(o2));
	ck_assert_str_eq(vcache_object_name(f.witness), "witness");
	fixture_check_and_free(&f);
}
END_TEST

START_TEST(test_api_ref_remove)
{
	vcache *c = tcache_new();
	vcache_object *o, *r, *o2, *l = NULL;
	struct tobj t, t2;

	tobj_init(&t, 86);
	tobj_init(&t2, 87);
	ck_assert_ptr_null(vcache_object_ref(NULL));
	ck_assert_ptr_null(vcache_object_unref(NULL));
	o = tobj_create(c, "name", 2 * pagesz, 0, &t);
	r = vcache_object_ref(o);
	ck_assert_ptr_eq(r, o);
	ck_assert_ptr_null(vcache_object_unref(r));

	ck_assert_int_eq(vcache_object_remove(o), 0);
	ck_assert_errno(vcache_object_remove(o), ENOENT);
	ck_assert_errno(vcache_object_lookup(c, "name", &l), ENOENT);
	/* The name is free at once; the old object lives on for its handle. */
	o2 = tobj_create(c, "name", pagesz, 0, &t2);
	ck_assert_ptr_ne(o2, o);
	ck_assert_int_eq(vcache_object_lookup(c, "name", &l), 0);
	ck_assert_ptr_eq(l, o2);
	vcache_object_unref(l);
	assert_content(o, t.seed, 0, 2 * pagesz);
	ck_assert_str_eq(vcache_object_name(o), "name");
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	ck_assert_int_eq(vcache_object_remove(o2), 0);
	vcache_object_unref(o2);
	tcache_free(c);
}
END_TEST

START_TEST(test_api_remove_pinned)
{
	struct fixture f;
	vcache_object *o, *l = NULL;
	struct tobj t;

	fixture_setup(&f);
	tobj_init(&t, 88);
	o = tobj_create(f.cache, "pinned", 4 * pagesz, 0, &t);
	ck_assert_errno(vcache_object_remove(NULL), EINVAL);
	/* One chunk pinned is enough. */
	ck_assert_int_eq(vcache_pin_range(o, 3 * pagesz, 1, 0),
			 VCACHE_INTACT);
	ck_assert_errno(vcache_object_remove(o), EBUSY);
	/* Still findable: the failed remove changed nothing. */
	ck_assert_int_eq(vcache_object_lookup(f.cache, "pinned", &l), 0);
	ck_assert_ptr_eq(l, o);
	vcache_object_unref(l);
	ck_assert_int_eq(vcache_unpin_range(o, 3 * pagesz, 1), 0);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	fixture_check_and_free(&f);
}
END_TEST

START_TEST(test_api_stale_handle)
{
	vcache *c = tcache_new();
	vcache_object *o;
	struct tobj t;

	tobj_init(&t, 89);
	o = tobj_create(c, "stale", pagesz, 0, &t);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	/* Freed: detectable, and the check must not crash. */
	ck_assert_errno(vcache_pin(o, 0), ESTALE);
	ck_assert_errno(vcache_unpin(o), ESTALE);
	ck_assert_errno(vcache_object_remove(o), ESTALE);
	tcache_free(c);
}
END_TEST

/* --- accessors ----------------------------------------------------------- */

START_TEST(test_api_accessors_null)
{
	ck_assert_ptr_null(vcache_object_data(NULL));
	ck_assert_uint_eq(vcache_object_size(NULL), 0);
	ck_assert_uint_eq(vcache_object_chunk_size(NULL), 0);
	ck_assert_ptr_null(vcache_object_name(NULL));
}
END_TEST

/* --- pin / unpin --------------------------------------------------------- */

START_TEST(test_api_pin_invalid)
{
	struct fixture f;
	vcache_object *o;
	size_t size = 4 * pagesz;

	fixture_setup(&f);
	o = f.witness;
	ck_assert_errno(vcache_pin(NULL, 0), EINVAL);
	ck_assert_errno(vcache_pin_range(NULL, 0, 1, 0), EINVAL);
	ck_assert_errno(vcache_pin(o, 2), EINVAL);
	ck_assert_errno(vcache_pin(o, 1u << 31), EINVAL);
	ck_assert_errno(vcache_pin_range(o, 0, 1, ~VCACHE_PIN_REGENERATE),
			EINVAL);
	ck_assert_errno(vcache_pin_range(o, 0, 0, 0), EINVAL);
	ck_assert_errno(vcache_pin_range(o, size, 1, 0), EINVAL);
	ck_assert_errno(vcache_pin_range(o, size - 1, 2, 0), EINVAL);
	ck_assert_errno(vcache_pin_range(o, 0, size + 1, 0), EINVAL);
	ck_assert_errno(vcache_pin_range(o, SIZE_MAX, 2, 0), EINVAL);
	ck_assert_errno(vcache_pin_range(o, pagesz, SIZE_MAX, 0), EINVAL);
	/* Nothing was pinned by any of them. */
	ck_assert_errno(vcache_unpin(o), EINVAL);
	fixture_check_and_free(&f);
}
END_TEST

START_TEST(test_api_unpin_invalid)
{
	struct fixture f;
	vcache_object *o;
	size_t p = pagesz, size = 4 * p;

	fixture_setup(&f);
	o = f.witness;
	ck_assert_errno(vcache_unpin(NULL), EINVAL);
	ck_assert_errno(vcache_unpin_range(NULL, 0, 1), EINVAL);
	ck_assert_errno(vcache_unpin(o), EINVAL);
	ck_assert_int_eq(vcache_pin_range(o, 0, p, 0), VCACHE_INTACT);
	ck_assert_errno(vcache_unpin_range(o, 0, 0), EINVAL);
	ck_assert_errno(vcache_unpin_range(o, size, 1), EINVAL);
	ck_assert_errno(vcache_unpin_range(o, 0, size + 1), EINVAL);
	ck_assert_errno(vcache_unpin_range(o, SIZE_MAX, 2), EINVAL);
	/* Chunk 1 is not pinned: the whole call fails, chunk 0 stays. */
	ck_assert_errno(vcache_unpin_range(o, 0, 2 * p), EINVAL);
	ck_assert_errno(vcache_unpin(o), EINVAL);
	ck_assert_errno(vcache_object_remove(o), EBUSY);
	ck_assert_int_eq(vcache_unpin_range(o, 0, p), 0);
	/* Double unpin. */
	ck_assert_errno(vcache_unpin_range(o, 0, p), EINVAL);
	fixture_check_and_free(&f);
}
END_TEST

/*
 * The pin count is finite. The header does not say how large it is, so
 * count up to a bound: if the count overflows first, the failed pin must
 * leave it unchanged.
 */
START_TEST(test_api_pin_overflow)
{
	const unsigned long bound = 1ul << 20;
	struct fixture f;
	unsigned long n;
	int r = 0;

	fixture_setup(&f);
	for (n = 0; n < bound; n++) {
		r = vcache_pin_range(f.witness, 0, 1, 0);
		if (r != VCACHE_INTACT)
			break;
	}
	if (r == VCACHE_INTACT) {
		printf("%s: no overflow within %lu pins (count is wider)\n",
		       __func__, bound);
	} else {
		ck_assert_errno(r, EOVERFLOW);
		printf("%s: EOVERFLOW after %lu pins\n", __func__, n);
	}
	while (n--)
		ck_assert_int_eq(vcache_unpin_range(f.witness, 0, 1), 0);
	ck_assert_errno(vcache_unpin_range(f.witness, 0, 1), EINVAL);
	fixture_check_and_free(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tc = ttcase("cache");
	tcase_add_test(tc, test_api_new_invalid);
	tcase_add_test(tc, test_api_new_enomem);
	tcase_add_test(tc, test_api_options_init);
	tcase_add_test(tc, test_api_free_busy);
	tcase_add_test(tc, test_api_free_with_objects);
	suite_add_tcase(s, tc);

	tc = ttcase("create");
	tcase_add_test(tc, test_api_create_invalid);
	tcase_add_test(tc, test_api_create_too_large);
	tcase_add_test(tc, test_api_create_callback_fails);
	tcase_add_test(tc, test_api_create_filled);
	suite_add_tcase(s, tc);

	tc = ttcase("lifetime");
	tcase_add_test(tc, test_api_lookup);
	tcase_add_test(tc, test_api_ref_remove);
	tcase_add_test(tc, test_api_remove_pinned);
	tcase_add_test(tc, test_api_stale_handle);
	tcase_add_test(tc, test_api_accessors_null);
	suite_add_tcase(s, tc);

	tc = ttcase("pin-errors");
	tcase_add_test(tc, test_api_pin_invalid);
	tcase_add_test(tc, test_api_unpin_invalid);
	tcase_add_test(tc, test_api_pin_overflow);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
