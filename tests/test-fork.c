/* SPDX-License-Identifier: MIT */
/*
 * test-fork.c - a child must never silently read zeros where data was:
 * objects purged before fork(), objects purged in the child after fork(),
 * new objects created in the child, and the parent after the child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tutil.h"

enum { PAGES = 8 };

struct fork_case {
	vcache *cache;
	vcache_object *object;
	struct tobj *tobj;
	int go_fd;  /* child waits for a byte on it, if >= 0 */
};

static int child_reads(void *arg)
{
	struct fork_case *fc = arg;
	size_t size = PAGES * pagesz, bad;
	const uint8_t *p = vcache_object_data(fc->object);
	char go;

	if (fc->go_fd >= 0) {
		CHILD_CHECK(read(fc->go_fd, &go, 1) == 1);
		/*
		 * The parent dropped its mapping, so the pages are the
		 * child's alone and reclaim may take the volatile ones.
		 */
		printf("child: purge after fork dropped %zu of %d pages\n",
		       purge_range(vcache_object_data(fc->object), size),
		       PAGES);
	}
	bad = gen_check(p, fc->tobj->seed, 0, size);
	if (bad != SIZE_MAX)
		fprintf(stderr, "child: wrong byte at %zu: 0x%02x\n", bad,
			p[bad]);
	CHILD_CHECK(bad == SIZE_MAX);
	/* Explicit use works in the child too. */
	CHILD_CHECK(vcache_pin(fc->object, VCACHE_PIN_REGENERATE) >= 0);
	CHILD_CHECK(gen_check(p, fc->tobj->seed, 0, size) == SIZE_MAX);
	CHILD_CHECK(vcache_unpin(fc->object) == 0);
	return 0;
}

static void assert_child_ok(int st)
{
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child status 0x%x", st);
}

START_TEST(test_fork_purged_before)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	struct fork_case fc;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 41);
	o = tobj_create(c, "before", size, 0, &t);
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), PAGES);
	fc = (struct fork_case){ c, o, &t, -1 };
	assert_child_ok(run_in_child(child_reads, &fc));
	assert_content(o, t.seed, 0, size);
	/* And its own purges still work after a fork. */
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), PAGES);
	assert_content(o, t.seed, 0, size);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_fork_purged_after)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	struct fork_case fc;
	int go[2], st;
	struct tobj t;
	vcache_object *o;
	pid_t pid;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 42);
	o = tobj_create(c, "after", size, 0, &t);
	/* Half purged before the fork, half resident and volatile. */
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size / 2),
			  PAGES / 2);
	ck_assert_int_eq(pipe(go), 0);
	fc = (struct fork_case){ c, o, &t, go[0] };
	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(child_reads(&fc));
	/*
	 * Shared pages cannot be reclaimed from one process: drop the
	 * parent's mapping so the child's purge is a real one.
	 */
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	assert_child_ok(st);
}
END_TEST

static int child_creates(void *arg)
{
	size_t size = PAGES * pagesz;
	vcache_object *o = NULL;
	struct tobj t;
	vcache *c = NULL;
	const uint8_t *p;

	(void)arg;
	tobj_init(&t, 43);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "child", size, 0, tobj_regen, &t,
					 0, &o) == 0);
	CHILD_CHECK(purge_range(vcache_object_data(o), size) == PAGES);
	p = vcache_object_data(o);
	CHILD_CHECK(gen_check(p, t.seed, 0, size) == SIZE_MAX);
	CHILD_CHECK(atomic_load(&t.calls) == 2 * PAGES);
	CHILD_CHECK(vcache_object_remove(o) == 0);
	vcache_object_unref(o);
	CHILD_CHECK(vcache_free(c) == 0);
	return 0;
}

START_TEST(test_fork_child_new_cache)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 44);
	o = tobj_create(c, "parent", size, 0, &t);
	/* The child uses the library on its own, with a parent cache live. */
	assert_child_ok(run_in_child(child_creates, NULL));
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), PAGES);
	assert_content(o, t.seed, 0, size);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_fork_none)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	struct fork_case fc;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_NONE(c);
	tobj_init(&t, 45);
	o = tobj_create(c, "none", size, 0, &t);
	purge_range(vcache_object_data(o), size);
	fc = (struct fork_case){ c, o, &t, -1 };
	assert_child_ok(run_in_child(child_reads, &fc));
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fork");
	TCase *tc;

	tc = ttcase("fork");
	tcase_add_test(tc, test_fork_purged_before);
	tcase_add_test(tc, test_fork_purged_after);
	tcase_add_test(tc, test_fork_child_new_cache);
	tcase_add_test(tc, test_fork_none);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
