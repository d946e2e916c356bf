/* SPDX-License-Identifier: MIT */
/*
 * test-backend.c - backend selection: auto order, VCACHE_BACKEND and the
 * option (the option wins), status and reasons, forcing an unavailable
 * backend, and a real refusal of userfaultfd (seccomp) making auto fall
 * back to "soft" with the reason recorded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tutil.h"

static vcache *new_with(enum vcache_backend backend)
{
	struct vcache_options o;
	vcache *c = NULL;
	int r;

	vcache_options_init(&o);
	o.backend = backend;
	r = vcache_new(&o, &c);
	ck_assert_msg(r == 0, "vcache_new(%s): %d",
		      vcache_backend_name(backend), r);
	return c;
}

static int new_result(enum vcache_backend backend, vcache **ret)
{
	struct vcache_options o;

	vcache_options_init(&o);
	o.backend = backend;
	return vcache_new(&o, ret);
}

/* Status of a backend as the library probes it, from a throwaway cache. */
static int probe(enum vcache_backend backend, const char **reason)
{
	vcache *c;
	int r;

	unsetenv("VCACHE_BACKEND");
	c = new_with(VCACHE_BACKEND_NONE);
	r = vcache_backend_status(c, backend, reason);
	tcache_free(c);
	return r;
}

START_TEST(test_backend_names)
{
	ck_assert_str_eq(vcache_backend_name(VCACHE_BACKEND_AUTO), "auto");
	ck_assert_str_eq(vcache_backend_name(VCACHE_BACKEND_VRANGE), "vrange");
	ck_assert_str_eq(vcache_backend_name(VCACHE_BACKEND_UFFD), "uffd");
	ck_assert_str_eq(vcache_backend_name(VCACHE_BACKEND_NONE), "none");
	ck_assert_str_eq(vcache_backend_name(VCACHE_BACKEND_SOFT), "soft");
	ck_assert_ptr_null(vcache_backend_name(TEST_BACKEND_PAST_LAST));
	ck_assert_ptr_null(vcache_backend_name((enum vcache_backend)-1));
}
END_TEST

START_TEST(test_backend_auto_order)
{
	const char *reason = "unset";
	int vrange = probe(VCACHE_BACKEND_VRANGE, NULL);
	int uffd = probe(VCACHE_BACKEND_UFFD, NULL);
	enum vcache_backend expect = vrange == 0 ? VCACHE_BACKEND_VRANGE :
				     uffd == 0 ? VCACHE_BACKEND_UFFD :
						 VCACHE_BACKEND_SOFT;
	vcache *c;

	printf("%s: vrange %d, uffd %d\n", __func__, vrange, uffd);
	unsetenv("VCACHE_BACKEND");
	c = new_with(VCACHE_BACKEND_AUTO);
	ck_assert_int_eq(vcache_backend(c), expect);
	ck_assert_int_eq(vcache_backend_status(c, VCACHE_BACKEND_NONE,
					       &reason),
			 0);
	ck_assert_ptr_null(reason);
	ck_assert_int_eq(vcache_backend_status(c, expect, NULL), 0);
	tcache_free(c);
}
END_TEST

START_TEST(test_backend_status_reasons)
{
	enum vcache_backend b;
	const char *reason;
	vcache *c;
	int r;

	unsetenv("VCACHE_BACKEND");
	c = tcache_new();
	for (b = VCACHE_BACKEND_VRANGE; vcache_backend_name(b); b++) {
		reason = "unset";
		r = vcache_backend_status(c, b, &reason);
		printf("%s: %s: %d %s\n", __func__, vcache_backend_name(b), r,
		       reason ? reason : "(usable)");
		ck_assert_int_le(r, 0);
		if (r == 0) {
			ck_assert_ptr_null(reason);
		} else {
			ck_assert_ptr_nonnull(reason);
			ck_assert_int_gt(strlen(reason), 0);
		}
		ck_assert_int_eq(vcache_backend_status(c, b, NULL), r);
	}
	ck_assert_errno(vcache_backend_status(NULL, VCACHE_BACKEND_NONE, NULL),
			EINVAL);
	ck_assert_errno(vcache_backend_status(c, TEST_BACKEND_PAST_LAST, NULL),
			EINVAL);
	tcache_free(c);
}
END_TEST

START_TEST(test_backend_env)
{
	int uffd = probe(VCACHE_BACKEND_UFFD, NULL);
	vcache *c = NULL;
	int r;

	ck_assert_int_eq(setenv("VCACHE_BACKEND", "none", 1), 0);
	c = tcache_new();
	ck_assert_int_eq(vcache_backend(c), VCACHE_BACKEND_NONE);
	tcache_free(c);

	ck_assert_int_eq(setenv("VCACHE_BACKEND", "uffd", 1), 0);
	c = NULL;
	r = vcache_new(NULL, &c);
	ck_assert_int_eq(r, uffd);
	if (r == 0) {
		ck_assert_int_eq(vcache_backend(c), VCACHE_BACKEND_UFFD);
		tcache_free(c);
	}

	ck_assert_int_eq(setenv("VCACHE_BACKEND", "no-such-backend", 1), 0);
	c = NULL;
	ck_assert_errno(vcache_new(NULL, &c), EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_backend_option_beats_env)
{
	int uffd = probe(VCACHE_BACKEND_UFFD, NULL);
	vcache *c;

	ck_assert_int_eq(setenv("VCACHE_BACKEND", "uffd", 1), 0);
	c = new_with(VCACHE_BACKEND_NONE);
	ck_assert_int_eq(vcache_backend(c), VCACHE_BACKEND_NONE);
	tcache_free(c);

	SKIP_IF(uffd != 0, "uffd unavailable here (%d)", uffd);
	ck_assert_int_eq(setenv("VCACHE_BACKEND", "none", 1), 0);
	c = new_with(VCACHE_BACKEND_UFFD);
	ck_assert_int_eq(vcache_backend(c), VCACHE_BACKEND_UFFD);
	tcache_free(c);
	/* A bad name in the environment does not matter when forced. */
	ck_assert_int_eq(setenv("VCACHE_BACKEND", "no-such-backend", 1), 0);
	c = new_with(VCACHE_BACKEND_NONE);
	tcache_free(c);
}
END_TEST

START_TEST(test_backend_option_invalid)
{
	vcache *c = NULL;

	unsetenv("VCACHE_BACKEND");
	ck_assert_errno(new_result(TEST_BACKEND_PAST_LAST, &c), EINVAL);
	ck_assert_errno(new_result((enum vcache_backend)-1, &c), EINVAL);
	ck_assert_errno(new_result((enum vcache_backend)1000, &c), EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_backend_vrange_unavailable)
{
	const char *reason = NULL;
	int vrange = probe(VCACHE_BACKEND_VRANGE, &reason);
	bool advertised = access("/sys/kernel/mm/vrange/syscall_nr", F_OK) == 0;
	vcache *c = NULL;

	/* The library must follow the kernel's advertisement exactly. */
	ck_assert_int_eq(vrange == 0, advertised);
	SKIP_IF(advertised, "this kernel has vrange(2)");
	ck_assert_int_eq(vrange, -ENOSYS);
	ck_assert_ptr_nonnull(reason);
	ck_assert_errno(new_result(VCACHE_BACKEND_VRANGE, &c), ENOSYS);
	ck_assert_int_eq(setenv("VCACHE_BACKEND", "vrange", 1), 0);
	ck_assert_errno(vcache_new(NULL, &c), ENOSYS);
	ck_assert_ptr_null(c);
}
END_TEST

/* --- a real userfaultfd refusal ------------------------------------------ */

#if defined(__x86_64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef THIS_AUDIT_ARCH
/*
 * userfaultfd(2) and the /dev/userfaultfd ioctl that creates one both fail
 * with EPERM, as under a container runtime's default seccomp profile.
 */
static int refuse_userfaultfd(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, USERFAULTFD_IOC_NEW, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}

static int refused_child(void *arg)
{
	const char *reason = NULL;
	vcache_object *o = NULL;
	struct tobj t;
	vcache *c = NULL;
	int vrange;

	(void)arg;
	if (refuse_userfaultfd()) {
		fprintf(stderr, "seccomp filter refused: %m\n");
		return EXIT_SKIP;
	}
	CHILD_CHECK(syscall(__NR_userfaultfd, 0) == -1 && errno == EPERM);
	unsetenv("VCACHE_BACKEND");
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_backend_status(c, VCACHE_BACKEND_UFFD, &reason) ==
		    -EPERM);
	CHILD_CHECK(reason != NULL && *reason);
	fprintf(stderr, "uffd refused: %s\n", reason);
	vrange = vcache_backend_status(c, VCACHE_BACKEND_VRANGE, NULL);
	CHILD_CHECK(vcache_backend(c) == (vrange == 0 ? VCACHE_BACKEND_VRANGE :
					  VCACHE_BACKEND_SOFT));
	/* The fallback cache works. */
	tobj_init(&t, 61);
	CHILD_CHECK(vcache_object_create(c, "fallback", 2 * pagesz, 0,
					 tobj_regen, &t, 0, &o) == 0);
	CHILD_CHECK(vcache_pin(o, 0) == VCACHE_INTACT);
	CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0,
			      2 * pagesz) == SIZE_MAX);
	CHILD_CHECK(vcache_unpin(o) == 0);
	vcache_object_unref(o);
	CHILD_CHECK(vcache_free(c) == 0);

	/* Forced: the errno userfaultfd(2) gave. */
	c = NULL;
	CHILD_CHECK(new_result(VCACHE_BACKEND_UFFD, &c) == -EPERM);
	CHILD_CHECK(setenv("VCACHE_BACKEND", "uffd", 1) == 0);
	CHILD_CHECK(vcache_new(NULL, &c) == -EPERM);
	CHILD_CHECK(c == NULL);
	return 0;
}
#endif

START_TEST(test_backend_uffd_refused)
{
#ifdef THIS_AUDIT_ARCH
	int st;

	SKIP_IF(probe(VCACHE_BACKEND_UFFD, NULL) != 0,
		"uffd is not available here to begin with");
	st = run_in_child(refused_child, NULL);
	SKIP_IF(WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SKIP,
		"no seccomp filters here (kernel without CONFIG_SECCOMP_FILTER)");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child status 0x%x", st);
#else
	SKIP_IF(true, "no seccomp filter for this architecture");
#endif
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backend");
	TCase *tc;

	tc = ttcase("names");
	tcase_add_test(tc, test_backend_names);
	suite_add_tcase(s, tc);

	tc = ttcase("selection");
	tcase_add_test(tc, test_backend_auto_order);
	tcase_add_test(tc, test_backend_env);
	tcase_add_test(tc, test_backend_option_beats_env);
	tcase_add_test(tc, test_backend_option_invalid);
	suite_add_tcase(s, tc);

	tc = ttcase("status");
	tcase_add_test(tc, test_backend_status_reasons);
	tcase_add_test(tc, test_backend_vrange_unavailable);
	suite_add_tcase(s, tc);

	tc = ttcase("fallback");
	tcase_add_test(tc, test_backend_uffd_refused);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
