/* SPDX-License-Identifier: MIT */
/*
 * test-soft.c - the soft backend: auto-selection where userfaultfd is
 * refused (a real seccomp filter built with libseccomp), the SIGSEGV
 * handler living with the program's own handlers (installed before the
 * library's: chained; foreign faults and sent signals reach them
 * unchanged; the previous handler is restored by the last cache), nested
 * regeneration across soft objects, and EFAULT from system calls.
 *
 * These tests force the soft backend themselves (except the seccomp one,
 * which checks auto-selection), so they run under every VCACHE_BACKEND.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <setjmp.h>
#include <sigsegv.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tutil.h"

static vcache *soft_cache(void)
{
	struct vcache_options o;
	vcache *c = NULL;

	vcache_options_init(&o);
	o.backend = VCACHE_BACKEND_SOFT;
	ck_assert_int_eq(vcache_new(&o, &c), 0);
	ck_assert_int_eq(vcache_backend(c), VCACHE_BACKEND_SOFT);
	return c;
}

/* --- auto-selection under seccomp ----------------------------------------- */

/* Refuse userfaultfd(2) and the /dev/userfaultfd way with EPERM. */
static int refuse_uffd(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int err;

	if (!ctx)
		return -ENOMEM;
	err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
			       SCMP_SYS(userfaultfd), 0);
	if (err == 0)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	return err;
}

static int seccomp_child(void *arg)
{
	vcache_object *o = NULL;
	const char *reason = NULL;
	struct tobj t;
	vcache *c = NULL;
	int vrange, r;

	(void)arg;
	r = refuse_uffd();
	if (r < 0) {
		fprintf(stderr, "seccomp_load: %s\n", strerror(-r));
		return EXIT_SKIP;
	}
	CHILD_CHECK(syscall(SYS_userfaultfd, 0) == -1 && errno == EPERM);
	unsetenv("VCACHE_BACKEND");
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_backend_status(c, VCACHE_BACKEND_UFFD, &reason) ==
		    -EPERM);
	vrange = vcache_backend_status(c, VCACHE_BACKEND_VRANGE, NULL);
	printf("under seccomp: backend %s (uffd refused: %s)\n",
	       vcache_backend_name(vcache_backend(c)), reason);
	CHILD_CHECK(vcache_backend(c) == (vrange == 0 ? VCACHE_BACKEND_VRANGE :
					  VCACHE_BACKEND_SOFT));
	/* And it purges and regenerates for real there. */
	tobj_init(&t, 501);
	CHILD_CHECK(vcache_object_create(c, "sandboxed", 8 * pagesz, 0,
					 tobj_regen, &t, 0, &o) == 0);
	CHILD_CHECK(vcache_purge(o) == (ssize_t)(8 * pagesz));
	CHILD_CHECK(resident_pages(vcache_object_data(o), 8 * pagesz) == 0);
	CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0, 8 * pagesz) ==
		    SIZE_MAX);
	CHILD_CHECK(vcache_pin(o, 0) == VCACHE_INTACT);
	CHILD_CHECK(vcache_unpin(o) == 0);
	CHILD_CHECK(vcache_purge_range(o, 0, pagesz) == (ssize_t)pagesz);
	CHILD_CHECK(vcache_pin(o, VCACHE_PIN_REGENERATE) == VCACHE_PURGED);
	CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0, 8 * pagesz) ==
		    SIZE_MAX);
	CHILD_CHECK(vcache_unpin(o) == 0);
	vcache_object_unref(o);
	CHILD_CHECK(vcache_free(c) == 0);
	fflush(stdout);
	return 0;
}

START_TEST(test_soft_seccomp_auto)
{
	int st = run_in_child(seccomp_child, NULL);

	SKIP_IF(WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SKIP,
		"seccomp filters not available here");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child status 0x%x", st);
}
END_TEST

/* --- living with other SIGSEGV handlers ----------------------------------- */

static sigjmp_buf jump;
static volatile sig_atomic_t got_signal, got_code;
static void *volatile got_addr;

static void record(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_signal = sig;
	got_code = si->si_code;
	got_addr = si->si_addr;
	if (si->si_code > 0)
		siglongjmp(jump, 1); /* a fault would come back */
}

/*
 * A handler installed before the first soft cache: the library's purged
 * pages are handled without it ever seeing them; a foreign fault (a
 * PROT_NONE page of the program's own) and a sent SIGSEGV reach it with
 * their siginfo; after the last cache it is the handler again.
 */
START_TEST(test_soft_sigsegv_chain_before)
{
	struct sigaction sa, cur;
	volatile uint8_t *foreign;
	vcache_object *o;
	struct tobj t;
	vcache *c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = record;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	got_signal = 0;

	c = soft_cache();
	tobj_init(&t, 502);
	o = tobj_create(c, "chained", 4 * pagesz, 0, &t);
	ck_assert_int_eq(vcache_purge(o), (ssize_t)(4 * pagesz));
	assert_content(o, t.seed, 0, 4 * pagesz); /* faults: ours */
	ck_assert_int_eq(got_signal, 0);

	foreign = mmap(NULL, pagesz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	ck_assert_ptr_ne((void *)foreign, MAP_FAILED);
	if (sigsetjmp(jump, 1) == 0) {
		(void)foreign[3];
		ck_abort_msg("no fault on a PROT_NONE page");
	}
	ck_assert_int_eq(got_signal, SIGSEGV);
	ck_assert_int_eq(got_code, SEGV_ACCERR);
	ck_assert_ptr_eq(got_addr, (void *)(foreign + 3));

	got_signal = 0;
	ck_assert_int_eq(raise(SIGSEGV), 0);
	ck_assert_int_eq(got_signal, SIGSEGV);
	ck_assert_int_eq(got_code, SI_TKILL);

	vcache_object_unref(o);
	tcache_free(c);
	ck_assert_int_eq(sigaction(SIGSEGV, NULL, &cur), 0);
	ck_assert_ptr_eq((void *)cur.sa_sigaction, (void *)record);
	munmap((void *)foreign, pagesz);
}
END_TEST

/*
 * A program that uses GNU libsigsegv itself, installed before the first
 * soft cache: its handler (which makes its own PROT_NONE page accessible)
 * still gets its faults through the library's chaining, and never sees
 * the library's.
 */
static volatile uint8_t *lib_area;
static volatile sig_atomic_t lib_calls;

static int lib_handler(void *fault_address, int serious)
{
	uintptr_t a = (uintptr_t)fault_address, s = (uintptr_t)lib_area;

	(void)serious;
	if (a < s || a >= s + pagesz)
		return 0;
	lib_calls++;
	return mprotect((void *)s, pagesz, PROT_READ | PROT_WRITE) == 0;
}

START_TEST(test_soft_libsigsegv_before)
{
	vcache_object *o;
	struct tobj t;
	vcache *c;

	lib_area = mmap(NULL, pagesz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	ck_assert_ptr_ne((void *)lib_area, MAP_FAILED);
	lib_calls = 0;
	ck_assert_int_eq(sigsegv_install_handler(lib_handler), 0);
	c = soft_cache();
	tobj_init(&t, 505);
	o = tobj_create(c, "with-libsigsegv", 4 * pagesz, 0, &t);
	ck_assert_int_eq(vcache_purge(o), (ssize_t)(4 * pagesz));
	assert_content(o, t.seed, 0, 4 * pagesz);
	ck_assert_int_eq(lib_calls, 0);
	lib_area[7] = 42; /* the program's own fault, handled by its handler */
	ck_assert_int_eq(lib_calls, 1);
	ck_assert_uint_eq(lib_area[7], 42);
	vcache_object_unref(o);
	tcache_free(c);
	sigsegv_deinstall_handler();
	munmap((void *)lib_area, pagesz);
}
END_TEST

/*
 * A handler installed after the first soft cache that chains to the one it
 * replaced (as the header asks): the library's regeneration still works
 * through it.
 */
static struct sigaction replaced;
static volatile sig_atomic_t after_calls;

static void after_handler(int sig, siginfo_t *si, void *uc)
{
	after_calls++;
	if (replaced.sa_flags & SA_SIGINFO)
		replaced.sa_sigaction(sig, si, uc);
}

START_TEST(test_soft_sigsegv_chain_after)
{
	struct sigaction sa;
	vcache_object *o;
	struct tobj t;
	vcache *c = soft_cache();

	tobj_init(&t, 506);
	o = tobj_create(c, "chained-to", 4 * pagesz, 0, &t);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = after_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, &replaced), 0);
	after_calls = 0;
	ck_assert_int_eq(vcache_purge(o), (ssize_t)(4 * pagesz));
	assert_content(o, t.seed, 0, 4 * pagesz);
	ck_assert_int_eq(after_calls, 4); /* one fault per page */
	ck_assert_int_eq(sigaction(SIGSEGV, &replaced, NULL), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/* With no previous handler, a foreign fault still gets the default action. */
static int default_child(void *arg)
{
	volatile uint8_t *p;
	vcache *c;

	(void)arg;
	signal(SIGSEGV, SIG_DFL);
	{
		struct vcache_options o;

		vcache_options_init(&o);
		o.backend = VCACHE_BACKEND_SOFT;
		CHILD_CHECK(vcache_new(&o, &c) == 0);
	}
	p = mmap(NULL, pagesz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(p != MAP_FAILED);
	(void)p[0];
	return 0; /* not reached */
}

START_TEST(test_soft_sigsegv_default)
{
	int st = run_in_child(default_child, NULL);

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
		      "child status 0x%x, want killed by SIGSEGV", st);
}
END_TEST

/* --- nested regeneration and system calls --------------------------------- */

struct derived {
	vcache_object *src;
};

/* Reads another purged soft object: a SIGSEGV inside the handler. */
static int derived_regen(vcache_object *object, void *dst, size_t offset,
			 size_t length, void *userdata)
{
	struct derived *d = userdata;
	const uint8_t *s = vcache_object_data(d->src);
	uint8_t *out = dst;

	(void)object;
	for (size_t i = 0; i < length; i++)
		out[i] = s[offset + i] ^ 0xa5;
	return 0;
}

START_TEST(test_soft_nested)
{
	vcache *c = soft_cache();
	size_t size = 4 * pagesz;
	struct derived d;
	vcache_object *a, *b = NULL;
	const uint8_t *pa, *pb;
	struct tobj t;

	tobj_init(&t, 503);
	a = tobj_create(c, "src", size, 0, &t);
	d.src = a;
	ck_assert_int_eq(vcache_object_create(c, "derived", size, 0,
					      derived_regen, &d, 0, &b), 0);
	ck_assert_int_eq(vcache_purge(a), (ssize_t)size);
	ck_assert_int_eq(vcache_purge(b), (ssize_t)size);
	pa = vcache_object_data(a);
	pb = vcache_object_data(b);
	for (size_t i = 0; i < size; i += 97)
		ck_assert_uint_eq(pb[i], gen_byte(t.seed, i) ^ 0xa5);
	ck_assert_uint_eq(pa[5], gen_byte(t.seed, 5));
	vcache_object_unref(b);
	vcache_object_unref(a);
	tcache_free(c);
}
END_TEST

START_TEST(test_soft_syscall_efault)
{
	vcache *c = soft_cache();
	size_t size = 2 * pagesz;
	vcache_object *o;
	struct tobj t;
	int fd[2];

	tobj_init(&t, 504);
	o = tobj_create(c, "syscall", size, 0, &t);
	ck_assert_int_eq(pipe(fd), 0);
	ck_assert_int_eq(vcache_purge(o), (ssize_t)size);
	/* The kernel does not regenerate: EFAULT, never zeros. */
	ck_assert_int_eq(write(fd[1], vcache_object_data(o), 16), -1);
	ck_assert_int_eq(errno, EFAULT);
	ck_assert_int_eq(vcache_write(fd[1], o, 0, 16), 16);
	close(fd[0]);
	close(fd[1]);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("soft");
	TCase *tc;

	tc = ttcase("seccomp");
	tcase_add_test(tc, test_soft_seccomp_auto);
	suite_add_tcase(s, tc);

	tc = ttcase("sigsegv");
	tcase_add_test(tc, test_soft_sigsegv_chain_before);
	tcase_add_test(tc, test_soft_sigsegv_default);
	tcase_add_test(tc, test_soft_libsigsegv_before);
	tcase_add_test(tc, test_soft_sigsegv_chain_after);
	suite_add_tcase(s, tc);

	tc = ttcase("regen");
	tcase_add_test(tc, test_soft_nested);
	tcase_add_test(tc, test_soft_syscall_efault);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
