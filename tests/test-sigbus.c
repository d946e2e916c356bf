/* SPDX-License-Identifier: MIT */
/*
 * test-sigbus.c - the library's SIGBUS handler: every SIGBUS that is not
 * for cache memory reaches the handler installed before it (or the default
 * action), unchanged; the previous handler comes back with the last cache;
 * and the policy for optimistic regeneration failures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tutil.h"

#define NO_PURGE "backend none never purges"

static sigjmp_buf jump;
static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t got_code;
static void *volatile got_addr;

static void record_siginfo(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_signal = sig;
	got_code = si->si_code;
	got_addr = si->si_addr;
	/* A synchronous SIGBUS would recur on return: jump out. */
	if (si->si_code == BUS_ADRERR)
		siglongjmp(jump, 1);
}

static void record_plain(int sig)
{
	got_signal = sig;
	siglongjmp(jump, 1);
}

static void install(struct sigaction *sa)
{
	sigemptyset(&sa->sa_mask);
	ck_assert_int_eq(sigaction(SIGBUS, sa, NULL), 0);
	got_signal = 0;
	got_code = 0;
	got_addr = NULL;
}

/*
 * A file mapping two pages long over a one-page file: the second page is
 * beyond EOF, and touching it raises a SIGBUS that is not the cache's.
 */
static volatile uint8_t *beyond_eof(void)
{
	int fd = memfd_create("vcache-test", MFD_CLOEXEC);
	uint8_t *p;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, pagesz), 0);
	p = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	close(fd);
	return p + pagesz;
}

/* A cache with a live, purged object, so the handler has work of its own. */
static vcache *busy_cache(struct tobj *t, vcache_object **ret)
{
	vcache *c = tcache_new();

	tobj_init(t, 31);
	*ret = tobj_create(c, "mine", 4 * pagesz, 0, t);
	purge_range(vcache_object_data(*ret), 4 * pagesz);
	return c;
}

START_TEST(test_sigbus_foreign_siginfo)
{
	struct sigaction sa = { .sa_sigaction = record_siginfo,
				.sa_flags = SA_SIGINFO };
	volatile uint8_t *bad = beyond_eof();
	vcache_object *o;
	struct tobj t;
	vcache *c;

	install(&sa);
	c = busy_cache(&t, &o);
	if (sigsetjmp(jump, 1) == 0) {
		bad[10] = 1;
		ck_abort_msg("store beyond EOF did not fault");
	}
	ck_assert_int_eq(got_signal, SIGBUS);
	ck_assert_int_eq(got_code, BUS_ADRERR);
	ck_assert_ptr_eq(got_addr, (void *)(bad + 10));
	/* The cache still works after passing a signal on. */
	assert_content(o, t.seed, 0, 4 * pagesz);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_sigbus_foreign_plain_handler)
{
	struct sigaction sa = { .sa_handler = record_plain };
	volatile uint8_t *bad = beyond_eof();
	vcache_object *o;
	struct tobj t;
	vcache *c;
	uint8_t v;

	install(&sa);
	c = busy_cache(&t, &o);
	if (sigsetjmp(jump, 1) == 0) {
		v = bad[0];
		(void)v;
		ck_abort_msg("load beyond EOF did not fault");
	}
	ck_assert_int_eq(got_signal, SIGBUS);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

static int die_of_foreign_sigbus(void *arg)
{
	volatile uint8_t *bad = arg;
	vcache_object *o = NULL;
	struct tobj t;
	vcache *c = NULL;

	signal(SIGBUS, SIG_DFL);
	tobj_init(&t, 32);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "mine", pagesz, 0, tobj_regen,
					 &t, 0, &o) == 0);
	bad[0] = 1;
	return 0; /* should not be reached */
}

START_TEST(test_sigbus_foreign_default_dies)
{
	int st = run_in_child(die_of_foreign_sigbus, (void *)beyond_eof());

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS,
		      "child status 0x%x, expected death by SIGBUS", st);
}
END_TEST

/*
 * SIGBUS with another si_code (here a forged machine-check code, as the
 * kernel sends for a hardware memory error) inside cache memory, and a
 * SIGBUS sent by kill: not the library's, passed on unchanged.
 */
START_TEST(test_sigbus_foreign_codes)
{
	struct sigaction sa = { .sa_sigaction = record_siginfo,
				.sa_flags = SA_SIGINFO };
	vcache_object *o;
	struct tobj t;
	siginfo_t si;
	vcache *c;
	uint8_t *addr;

	install(&sa);
	c = busy_cache(&t, &o);
	addr = (uint8_t *)vcache_object_data(o) + pagesz;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = BUS_MCEERR_AR;
	si.si_addr = addr;
	ck_assert_int_eq(syscall(SYS_rt_tgsigqueueinfo, getpid(),
				 syscall(SYS_gettid), SIGBUS, &si),
			 0);
	ck_assert_int_eq(got_signal, SIGBUS);
	ck_assert_int_eq(got_code, BUS_MCEERR_AR);
	ck_assert_ptr_eq(got_addr, addr);

	got_signal = 0;
	ck_assert_int_eq(kill(getpid(), SIGBUS), 0);
	ck_assert_int_eq(got_signal, SIGBUS);
	ck_assert_int_eq(got_code, SI_USER);
	/* The library's own data was not regenerated for either. */
	ck_assert_uint_eq(atomic_load(&t.calls), 4);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_sigbus_restores_previous)
{
	struct sigaction sa = { .sa_sigaction = record_siginfo,
				.sa_flags = SA_SIGINFO }, cur;
	vcache *c1, *c2;
	vcache_object *o;
	struct tobj t;

	install(&sa);
	c1 = tcache_new();
	c2 = tcache_new();
	ck_assert_int_eq(sigaction(SIGBUS, NULL, &cur), 0);
	/* Backend none never faults and installs nothing. */
	if (tcache_purges(c1))
		ck_assert_ptr_ne((void *)cur.sa_sigaction,
				 (void *)record_siginfo);
	else
		ck_assert_ptr_eq((void *)cur.sa_sigaction,
				 (void *)record_siginfo);
	tcache_free(c1);
	/* Still installed for the remaining cache. */
	ck_assert_int_eq(sigaction(SIGBUS, NULL, &cur), 0);
	if (tcache_purges(c2))
		ck_assert_ptr_ne((void *)cur.sa_sigaction,
				 (void *)record_siginfo);
	if (tcache_purges(c2)) {
		tobj_init(&t, 33);
		o = tobj_create(c2, "after-free", 2 * pagesz, 0, &t);
		ck_assert_uint_eq(purge_range(vcache_object_data(o),
					      2 * pagesz), 2);
		assert_content(o, t.seed, 0, 2 * pagesz);
		vcache_object_unref(o);
	}
	tcache_free(c2);
	ck_assert_int_eq(sigaction(SIGBUS, NULL, &cur), 0);
	ck_assert_ptr_eq((void *)cur.sa_sigaction, (void *)record_siginfo);
	ck_assert(cur.sa_flags & SA_SIGINFO);
}
END_TEST

/* --- regeneration failures --------------------------------------------- */

struct fail_child {
	int err_fd;
	vcache_regen_failure_fn hook;
};

static volatile sig_atomic_t hook_calls;

static void returning_hook(vcache_object *object, size_t offset, int error,
			   void *userdata)
{
	(void)object;
	(void)offset;
	(void)error;
	(void)userdata;
	hook_calls++;
}

static int fail_in_child(void *arg)
{
	struct fail_child *fc = arg;
	struct vcache_options opts;
	vcache_object *o = NULL;
	struct tobj t;
	vcache *c = NULL;
	volatile uint8_t *p;

	CHILD_CHECK(dup2(fc->err_fd, STDERR_FILENO) == STDERR_FILENO);
	vcache_options_init(&opts);
	opts.on_regen_failure = fc->hook;
	tobj_init(&t, 34);
	CHILD_CHECK(vcache_new(&opts, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "doomed-object", 4 * pagesz, 0,
					 tobj_regen, &t, 0, &o) == 0);
	CHILD_CHECK(purge_range(vcache_object_data(o), 4 * pagesz) == 4);
	atomic_store(&t.fail, -EIO);
	p = vcache_object_data(o);
	(void)p[2 * pagesz + 5];
	fprintf(stderr, "child survived a failed regeneration\n");
	return 0;
}

static void expect_abort_naming_object(vcache_regen_failure_fn hook)
{
	struct fail_child fc = { .hook = hook };
	char buf[4096];
	int pipefd[2], st;
	ssize_t n, len = 0;

	ck_assert_int_eq(pipe(pipefd), 0);
	fc.err_fd = pipefd[1];
	st = run_in_child(fail_in_child, &fc);
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(pipefd[0]);
	buf[len] = '\0';
	printf("child stderr: %s", buf);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		      "child status 0x%x, expected abort", st);
	ck_assert_msg(strstr(buf, "doomed-object"),
		      "message does not name the object: \"%s\"", buf);
}

START_TEST(test_sigbus_regen_failure_aborts)
{
	vcache *c = tcache_new();
	bool purges = tcache_purges(c);

	tcache_free(c);
	SKIP_IF(!purges, NO_PURGE);
	expect_abort_naming_object(NULL);
}
END_TEST

START_TEST(test_sigbus_regen_failure_hook_returns)
{
	vcache *c = tcache_new();
	bool purges = tcache_purges(c);

	tcache_free(c);
	SKIP_IF(!purges, NO_PURGE);
	expect_abort_naming_object(returning_hook);
}
END_TEST

struct hook_state {
	vcache_object *object;
	size_t offset;
	int error;
	int calls;
};

static sigjmp_buf hook_jump;

static void jumping_hook(vcache_object *object, size_t offset, int error,
			 void *userdata)
{
	struct hook_state *hs = userdata;

	hs->object = object;
	hs->offset = offset;
	hs->error = error;
	hs->calls++;
	siglongjmp(hook_jump, 1);
}

START_TEST(test_sigbus_regen_failure_siglongjmp)
{
	size_t size = 4 * pagesz, fault = 2 * pagesz + 5;
	struct hook_state hs = { 0 };
	struct vcache_options opts;
	volatile int attempts = 0;
	vcache_object *o;
	struct tobj t;
	vcache *c = NULL;
	volatile uint8_t *p;

	vcache_options_init(&opts);
	opts.on_regen_failure = jumping_hook;
	opts.on_regen_failure_userdata = &hs;
	ck_assert_int_eq(vcache_new(&opts, &c), 0);
	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 35);
	o = tobj_create(c, "jumper", size, 0, &t);
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), 4);
	atomic_store(&t.fail, -EIO);
	p = vcache_object_data(o);
	/* Twice: a failed chunk must not stay locked after the jump. */
	while (sigsetjmp(hook_jump, 1) == 0 || ++attempts < 2)
		(void)p[fault];
	ck_assert_int_eq(hs.calls, 2);
	ck_assert_ptr_eq(hs.object, o);
	ck_assert_int_eq(hs.error, -EIO);
	ck_assert_msg(hs.offset >= 2 * pagesz && hs.offset <= fault,
		      "hook offset %zu is not in the faulting chunk",
		      hs.offset);
	/* Once the callback works again, so does the object. */
	atomic_store(&t.fail, 0);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_sigbus_regen_failure_pin)
{
	vcache *c = tcache_new();
	size_t size = 4 * pagesz;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 36);
	o = tobj_create(c, "pinfail", size, 0, &t);
	ck_assert_uint_eq(purge_range(vcache_object_data(o), size), 4);
	atomic_store(&t.fail, -EIO);
	ck_assert_errno(vcache_pin(o, VCACHE_PIN_REGENERATE), EIO);
	/* The range stays pinned so the caller can refill it. */
	ck_assert_errno(vcache_object_remove(o), EBUSY);
	gen_fill(vcache_object_data(o), t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_errno(vcache_unpin(o), EINVAL);
	atomic_store(&t.fail, 0);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sigbus");
	TCase *tc;

	tc = ttcase("foreign");
	tcase_add_test(tc, test_sigbus_foreign_siginfo);
	tcase_add_test(tc, test_sigbus_foreign_plain_handler);
	tcase_add_test(tc, test_sigbus_foreign_default_dies);
	tcase_add_test(tc, test_sigbus_foreign_codes);
	suite_add_tcase(s, tc);

	tc = ttcase("install");
	tcase_add_test(tc, test_sigbus_restores_previous);
	suite_add_tcase(s, tc);

	tc = ttcase("regen-failure");
	tcase_add_test(tc, test_sigbus_regen_failure_aborts);
	tcase_add_test(tc, test_sigbus_regen_failure_hook_returns);
	tcase_add_test(tc, test_sigbus_regen_failure_siglongjmp);
	tcase_add_test(tc, test_sigbus_regen_failure_pin);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
