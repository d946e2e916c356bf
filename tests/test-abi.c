/* SPDX-License-Identifier: MIT */
/*
 * test-abi.c - what keeps programs built against other versions working:
 * the extensible-struct rule for struct vcache_options and struct
 * vcache_stats (clone3/openat2: smaller accepted down to the first
 * published layout, larger only with a zero tail, else -E2BIG), backend
 * names, and the version macros against the loaded library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

/*
 * The rule itself, on a struct that has grown (the public ones have not
 * yet): the library's copy of xstruct.c is internal (local in libvcache.a),
 * so this program compiles its own.
 */
#include "../libvcache/xstruct.c"

/*
 * The layouts vcache 1.0 published, spelled out field by field: what a
 * program compiled against the 1.0 header passes, whatever the header
 * looks like now. Never edit these; when a field is appended to the
 * public structs, these become the "older, smaller" callers.
 */
struct options_v0 {
	size_t size;
	enum vcache_backend backend;
	unsigned int idle_delay_ms;
	unsigned int flags;
	vcache_regen_failure_fn on_regen_failure;
	void *on_regen_failure_userdata;
};

struct stats_v0 {
	uint64_t objects;
	uint64_t bytes_pinned;
	uint64_t bytes_volatile;
	uint64_t purges;
	uint64_t regenerations;
	uint64_t regen_ns;
	uint64_t faults;
};

/* A caller built against a newer header, with fields this library lacks. */
struct options_next {
	struct vcache_options known;
	uint64_t future[3];
};

struct stats_next {
	struct vcache_stats known;
	uint64_t future[3];
};

START_TEST(test_abi_ver0_sizes)
{
	ck_assert_uint_eq(VCACHE_OPTIONS_SIZE_VER0, sizeof(struct options_v0));
	ck_assert_uint_eq(VCACHE_STATS_SIZE_VER0, sizeof(struct stats_v0));
	ck_assert_uint_ge(sizeof(struct vcache_options),
			  VCACHE_OPTIONS_SIZE_VER0);
	ck_assert_uint_ge(sizeof(struct vcache_stats), VCACHE_STATS_SIZE_VER0);
}
END_TEST

/* --- the rule, on a grown struct ---------------------------------------- */

/* Version 0 had size, a, b; version 1 appended c and d (defaults 7, 9). */
struct toy_v0 {
	uint64_t size;
	uint32_t a, b;
};

struct toy_v1 {
	uint64_t size;
	uint32_t a, b;
	uint64_t c, d;
};

struct toy_v2 {
	struct toy_v1 v1;
	uint64_t e[2];
};

#define TOY_VER0 sizeof(struct toy_v0)

static struct toy_v1 toy_defaults(void)
{
	struct toy_v1 k = { sizeof(k), 1, 2, 7, 9 };

	return k;
}

START_TEST(test_abi_rule_older_caller_gets_defaults)
{
	struct toy_v0 user = { sizeof(user), 10, 20 };
	struct toy_v1 k = toy_defaults();

	ck_assert_int_eq(vc_struct_copy_in(&k, sizeof(k), &user, user.size,
					   TOY_VER0), 0);
	ck_assert_uint_eq(k.a, 10);
	ck_assert_uint_eq(k.b, 20);
	ck_assert_uint_eq(k.c, 7); /* missing in the caller's struct */
	ck_assert_uint_eq(k.d, 9);
}
END_TEST

START_TEST(test_abi_rule_same_size)
{
	struct toy_v1 user = { sizeof(user), 10, 20, 30, 40 };
	struct toy_v1 k = toy_defaults();

	ck_assert_int_eq(vc_struct_copy_in(&k, sizeof(k), &user, user.size,
					   TOY_VER0), 0);
	ck_assert_int_eq(memcmp(&k, &user, sizeof(k)), 0);
}
END_TEST

START_TEST(test_abi_rule_newer_caller)
{
	struct toy_v2 user = { { sizeof(user), 10, 20, 30, 40 }, { 0, 0 } };
	struct toy_v1 k = toy_defaults(), before;

	ck_assert_int_eq(vc_struct_copy_in(&k, sizeof(k), &user,
					   user.v1.size, TOY_VER0), 0);
	ck_assert_int_eq(memcmp(&k, &user.v1, sizeof(k)), 0);

	k = toy_defaults();
	before = k;
	user.e[1] = 1;
	ck_assert_errno(vc_struct_copy_in(&k, sizeof(k), &user, user.v1.size,
					  TOY_VER0), E2BIG);
	ck_assert_int_eq(memcmp(&k, &before, sizeof(k)), 0); /* untouched */
}
END_TEST

START_TEST(test_abi_rule_bad_sizes)
{
	struct toy_v1 user = { 0, 10, 20, 30, 40 };
	struct toy_v1 k = toy_defaults(), before = k;

	ck_assert_errno(vc_struct_copy_in(&k, sizeof(k), &user, TOY_VER0 - 1,
					  TOY_VER0), EINVAL);
	ck_assert_errno(vc_struct_copy_in(&k, sizeof(k), &user, 0, TOY_VER0),
			EINVAL);
	/* Refused before reading: user is far smaller than these. */
	ck_assert_errno(vc_struct_copy_in(&k, sizeof(k), &user,
					  VC_STRUCT_SIZE_MAX + 1, TOY_VER0),
			E2BIG);
	ck_assert_errno(vc_struct_check_size(&user, (size_t)-1, sizeof(k),
					     TOY_VER0), E2BIG);
	ck_assert_int_eq(memcmp(&k, &before, sizeof(k)), 0);
}
END_TEST

/* --- struct vcache_options ------------------------------------------- */

START_TEST(test_abi_options_v0_accepted)
{
	struct options_v0 o;
	vcache *c = NULL;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.backend = VCACHE_BACKEND_NONE; /* an explicit option beats the env */
	ck_assert_int_eq(vcache_new((struct vcache_options *)&o, &c), 0);
	ck_assert_int_eq(vcache_backend(c), VCACHE_BACKEND_NONE);
	tcache_free(c);
}
END_TEST

START_TEST(test_abi_options_below_v0)
{
	struct vcache_options o;
	vcache *c = NULL;

	vcache_options_init(&o);
	o.size = VCACHE_OPTIONS_SIZE_VER0 - 1;
	ck_assert_errno(vcache_new(&o, &c), EINVAL);
	o.size = sizeof(o.size);
	ck_assert_errno(vcache_new(&o, &c), EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_abi_options_larger_zero_tail)
{
	struct options_next o;
	vcache *c = NULL;

	memset(&o, 0, sizeof(o));
	o.known.size = sizeof(o);
	o.known.backend = VCACHE_BACKEND_NONE;
	ck_assert_int_eq(vcache_new(&o.known, &c), 0);
	ck_assert_int_eq(vcache_backend(c), VCACHE_BACKEND_NONE);
	tcache_free(c);
}
END_TEST

START_TEST(test_abi_options_larger_nonzero_tail)
{
	struct options_next o;
	vcache *c = NULL;

	/* Any unknown non-zero byte, first or last, refuses the call. */
	for (size_t i = 0; i < sizeof(o.future); i++) {
		memset(&o, 0, sizeof(o));
		o.known.size = sizeof(o);
		((unsigned char *)o.future)[i] = 0x01;
		ck_assert_errno(vcache_new(&o.known, &c), E2BIG);
		ck_assert_ptr_null(c);
	}
	/* An absurd size is refused before anything is read. */
	memset(&o, 0, sizeof(o));
	o.known.size = 4097;
	ck_assert_errno(vcache_new(&o.known, &c), E2BIG);
	o.known.size = (size_t)-1;
	ck_assert_errno(vcache_new(&o.known, &c), E2BIG);
	ck_assert_ptr_null(c);
	/* A byte past the caller's size is not looked at. */
	memset(&o, 0, sizeof(o));
	o.known.size = sizeof(o) - 1;
	((unsigned char *)o.future)[sizeof(o.future) - 1] = 0xff;
	ck_assert_int_eq(vcache_new(&o.known, &c), 0);
	tcache_free(c);
}
END_TEST

START_TEST(test_abi_options_init_fits_caller)
{
	/* The inline init writes the caller's sizeof, not the library's. */
	struct {
		struct vcache_options o;
		unsigned char canary[16];
	} b;

	memset(&b, 0xa5, sizeof(b));
	vcache_options_init(&b.o);
	ck_assert_uint_eq(b.o.size, sizeof(b.o));
	for (size_t i = 0; i < sizeof(b.canary); i++)
		ck_assert_uint_eq(b.canary[i], 0xa5);
	vcache_options_init(NULL); /* does nothing, no crash */
}
END_TEST

/* --- struct vcache_stats --------------------------------------------- */

/* A cache with one object, pinned once, so several counters are non-zero. */
static vcache *busy_cache(vcache_object **ret_object, struct tobj *t)
{
	vcache *c = tcache_new();

	tobj_init(t, 11);
	*ret_object = tobj_create(c, "abi", 4 * pagesz, 0, t);
	ck_assert_int_ge(vcache_pin_range(*ret_object, 0, pagesz, 0), 0);
	return c;
}

static void release(vcache *c, vcache_object *o)
{
	ck_assert_int_eq(vcache_unpin_range(o, 0, pagesz), 0);
	vcache_object_unref(o);
	tcache_free(c);
}

START_TEST(test_abi_stats_v0_exact_bytes)
{
	struct {
		struct stats_v0 st;
		unsigned char canary[32];
	} b;
	struct vcache_stats now;
	vcache_object *o;
	struct tobj t;
	vcache *c = busy_cache(&o, &t);

	memset(&b, 0xa5, sizeof(b));
	ck_assert_int_eq(vcache_stats_get(c, (struct vcache_stats *)&b.st,
					  sizeof(b.st)), 0);
	for (size_t i = 0; i < sizeof(b.canary); i++)
		ck_assert_uint_eq(b.canary[i], 0xa5);
	ck_assert_int_eq(vcache_stats_get(c, &now, sizeof(now)), 0);
	ck_assert_uint_eq(b.st.objects, 1);
	ck_assert_uint_eq(b.st.objects, now.objects);
	ck_assert_uint_eq(b.st.bytes_pinned, pagesz);
	ck_assert_uint_eq(b.st.bytes_pinned, now.bytes_pinned);
	ck_assert_uint_eq(b.st.bytes_volatile, now.bytes_volatile);
	ck_assert_uint_eq(b.st.faults, now.faults);
	release(c, o);
}
END_TEST

START_TEST(test_abi_stats_below_v0)
{
	struct vcache_stats st;
	vcache_object *o;
	struct tobj t;
	vcache *c = busy_cache(&o, &t);

	memset(&st, 0xa5, sizeof(st));
	ck_assert_errno(vcache_stats_get(c, &st, VCACHE_STATS_SIZE_VER0 - 1),
			EINVAL);
	ck_assert_errno(vcache_stats_get(c, &st, 0), EINVAL);
	/* Nothing written on failure. */
	for (size_t i = 0; i < sizeof(st); i++)
		ck_assert_uint_eq(((unsigned char *)&st)[i], 0xa5);
	release(c, o);
}
END_TEST

START_TEST(test_abi_stats_larger_zero_tail)
{
	struct stats_next st;
	vcache_object *o;
	struct tobj t;
	vcache *c = busy_cache(&o, &t);

	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(vcache_stats_get(c, &st.known, sizeof(st)), 0);
	ck_assert_uint_eq(st.known.objects, 1);
	ck_assert_uint_eq(st.known.bytes_pinned, pagesz);
	for (size_t i = 0; i < 3; i++)
		ck_assert_uint_eq(st.future[i], 0); /* unknown: reads 0 */
	release(c, o);
}
END_TEST

START_TEST(test_abi_stats_larger_nonzero_tail)
{
	struct stats_next st, before;
	vcache_object *o;
	struct tobj t;
	vcache *c = busy_cache(&o, &t);

	for (size_t i = 0; i < sizeof(st.future); i++) {
		memset(&st, 0, sizeof(st));
		((unsigned char *)st.future)[i] = 0x80;
		before = st;
		ck_assert_errno(vcache_stats_get(c, &st.known, sizeof(st)),
				E2BIG);
		ck_assert_int_eq(memcmp(&st, &before, sizeof(st)), 0);
	}
	/* An absurd size is refused before anything is read or written. */
	memset(&st, 0, sizeof(st));
	ck_assert_errno(vcache_stats_get(c, &st.known, 4097), E2BIG);
	ck_assert_errno(vcache_stats_get(c, &st.known, (size_t)-1), E2BIG);
	ck_assert_uint_eq(st.known.objects, 0);
	release(c, o);
}
END_TEST

/* --- backend names ----------------------------------------------------- */

START_TEST(test_abi_backend_from_name)
{
	enum vcache_backend b, got;
	int n = 0;

	/* Every name vcache_backend_name() gives parses back to its value. */
	for (b = VCACHE_BACKEND_AUTO; vcache_backend_name(b); b++, n++) {
		got = (enum vcache_backend)-1;
		ck_assert_int_eq(vcache_backend_from_name(vcache_backend_name(b),
							  &got), 0);
		ck_assert_int_eq(got, b);
	}
	ck_assert_int_eq(n, TEST_BACKEND_PAST_LAST);
	ck_assert_int_eq(vcache_backend_from_name("none", &got), 0);
	ck_assert_int_eq(got, VCACHE_BACKEND_NONE);
	ck_assert_int_eq(vcache_backend_from_name("auto", &got), 0);
	ck_assert_int_eq(got, VCACHE_BACKEND_AUTO);
}
END_TEST

START_TEST(test_abi_backend_from_name_errors)
{
	enum vcache_backend got = (enum vcache_backend)1234;

	ck_assert_errno(vcache_backend_from_name("bogus", &got), ENOENT);
	ck_assert_errno(vcache_backend_from_name("", &got), ENOENT);
	ck_assert_errno(vcache_backend_from_name("UFFD", &got), ENOENT);
	ck_assert_errno(vcache_backend_from_name("uffd ", &got), ENOENT);
	ck_assert_errno(vcache_backend_from_name(NULL, &got), EINVAL);
	ck_assert_errno(vcache_backend_from_name("uffd", NULL), EINVAL);
	ck_assert_int_eq(got, 1234); /* untouched on failure */
}
END_TEST

/* --- version ----------------------------------------------------------- */

START_TEST(test_abi_version)
{
	char s[64];

	/* The suite is built with the library it tests: they agree. */
	ck_assert_uint_eq(vcache_version(), VCACHE_VERSION);
	ck_assert_uint_eq(VCACHE_VERSION >> 16, VCACHE_VERSION_MAJOR);
	ck_assert_uint_eq((VCACHE_VERSION >> 8) & 0xff, VCACHE_VERSION_MINOR);
	ck_assert_uint_eq(VCACHE_VERSION & 0xff, VCACHE_VERSION_MICRO);
	snprintf(s, sizeof(s), "%d.%d.%d", VCACHE_VERSION_MAJOR,
		 VCACHE_VERSION_MINOR, VCACHE_VERSION_MICRO);
	ck_assert_str_eq(s, VCACHE_VERSION_STRING);

	ck_assert(VCACHE_VERSION_CHECK(VCACHE_VERSION_MAJOR,
				       VCACHE_VERSION_MINOR,
				       VCACHE_VERSION_MICRO));
	ck_assert(VCACHE_VERSION_CHECK(0, 0, 0));
	ck_assert(VCACHE_VERSION_CHECK(1, 0, 0));
	ck_assert(!VCACHE_VERSION_CHECK(VCACHE_VERSION_MAJOR,
					VCACHE_VERSION_MINOR,
					VCACHE_VERSION_MICRO + 1));
	ck_assert(!VCACHE_VERSION_CHECK(VCACHE_VERSION_MAJOR + 1, 0, 0));
	/* Minor outranks micro, major outranks both. */
	ck_assert(VCACHE_VERSION_ENCODE(1, 2, 0) > VCACHE_VERSION_ENCODE(1, 1, 255));
	ck_assert(VCACHE_VERSION_ENCODE(2, 0, 0) > VCACHE_VERSION_ENCODE(1, 255, 255));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("abi");
	TCase *tc;

	tc = ttcase("rule");
	tcase_add_test(tc, test_abi_rule_older_caller_gets_defaults);
	tcase_add_test(tc, test_abi_rule_same_size);
	tcase_add_test(tc, test_abi_rule_newer_caller);
	tcase_add_test(tc, test_abi_rule_bad_sizes);
	suite_add_tcase(s, tc);

	tc = ttcase("options");
	tcase_add_test(tc, test_abi_ver0_sizes);
	tcase_add_test(tc, test_abi_options_v0_accepted);
	tcase_add_test(tc, test_abi_options_below_v0);
	tcase_add_test(tc, test_abi_options_larger_zero_tail);
	tcase_add_test(tc, test_abi_options_larger_nonzero_tail);
	tcase_add_test(tc, test_abi_options_init_fits_caller);
	suite_add_tcase(s, tc);

	tc = ttcase("stats");
	tcase_add_test(tc, test_abi_stats_v0_exact_bytes);
	tcase_add_test(tc, test_abi_stats_below_v0);
	tcase_add_test(tc, test_abi_stats_larger_zero_tail);
	tcase_add_test(tc, test_abi_stats_larger_nonzero_tail);
	suite_add_tcase(s, tc);

	tc = ttcase("names");
	tcase_add_test(tc, test_abi_backend_from_name);
	tcase_add_test(tc, test_abi_backend_from_name_errors);
	suite_add_tcase(s, tc);

	tc = ttcase("version");
	tcase_add_test(tc, test_abi_version);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
