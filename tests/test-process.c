/* SPDX-License-Identifier: MIT */
/*
 * test-process.c - libvcache inside real processes (issue 7, faults 4-7,
 * 10): locked memory, fork() from regeneration callbacks, signal handlers
 * landing inside the library's own work, a daemon closing every
 * descriptor, and fork() children that cannot open a userfaultfd.
 *
 * Most cases change process-wide state (mlockall, seccomp, the descriptor
 * table), so they run in a child process of their own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tutil.h"

enum { PAGES = 16 };

static void assert_child_ok(int st)
{
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child status 0x%x", st);
}

/* The test's backend purges? (Asked once in the parent.) */
static bool backend_purges(void)
{
	vcache *c = tcache_new();
	bool p = tcache_purges(c);

	tcache_free(c);
	return p;
}

/* The lost-descriptor cases are about the uffd backend's descriptor. */
static bool backend_is_uffd(void)
{
	vcache *c = tcache_new();
	bool u = vcache_backend(c) == VCACHE_BACKEND_UFFD;

	tcache_free(c);
	return u;
}

/* Would reading p kill with SIGSEGV? Tried in a child. */
static int read_one(void *arg)
{
	volatile uint8_t *p = arg;

	/* Sanitizers report a SEGV and exit: die of it plainly instead. */
	signal(SIGSEGV, SIG_DFL);
	return p[0] == 0x5a ? 3 : 2; /* must not get here */
}

static bool read_segfaults(void *p)
{
	int st = run_in_child(read_one, p);

	/* TSan catches the SEGV, reports it and exits with 66. */
	if (UNDER_TSAN && WIFEXITED(st) && WEXITSTATUS(st) == 66)
		return true;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

/* --- mlockall ---------------------------------------------------------- */

static int mlockall_child(void *arg)
{
	bool purges = *(bool *)arg;
	vcache_object *o = NULL;
	struct tobj t;
	vcache *c = NULL;

	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		return 77;
	tobj_init(&t, 81);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "locked", PAGES * pagesz, 0,
					 tobj_regen, &t, 0, &o) == 0);
	if (purges) {
		/* Object memory stays purgeable under MCL_FUTURE. */
		CHILD_CHECK(purge_range(vcache_object_data(o),
					PAGES * pagesz) == PAGES);
	}
	CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0,
			      PAGES * pagesz) == SIZE_MAX);
	CHILD_CHECK(vcache_pin(o, 0) == VCACHE_INTACT);
	CHILD_CHECK(vcache_unpin(o) == 0);

	/*
	 * Locked again after creation: documented as never purged (the
	 * kernel refuses to reclaim it at all: MADV_PAGEOUT says EINVAL).
	 * vrange(2) refuses locked memory outright (EINVAL), so a pin
	 * there fails: the uffd and none backends only.
	 */
	if (vcache_backend(c) == VCACHE_BACKEND_VRANGE) {
		printf("SKIP: test_process_mlockall (locked-later part): "
		       "vrange(2) refuses locked memory\n");
		vcache_object_unref(o);
		CHILD_CHECK(vcache_free(c) == 0);
		return 0;
	}
	if (mlockall(MCL_CURRENT) < 0)
		return 77;
	CHILD_CHECK(madvise(vcache_object_data(o), PAGES * pagesz,
			    MADV_PAGEOUT) < 0 && errno == EINVAL);
	CHILD_CHECK(resident_pages(vcache_object_data(o), PAGES * pagesz) ==
		    PAGES);
	CHILD_CHECK(vcache_pin(o, 0) == VCACHE_INTACT);
	CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0,
			      PAGES * pagesz) == SIZE_MAX);
	CHILD_CHECK(vcache_unpin(o) == 0);
	vcache_object_unref(o);
	CHILD_CHECK(vcache_free(c) == 0);
	return 0;
}

START_TEST(test_process_mlockall)
{
	bool purges = backend_purges();
	int st;

	SKIP_IF(UNDER_TSAN, "TSan's shadow mappings cannot all be locked");
	SKIP_IF(UNDER_ASAN, "ASan turns mlockall() into a no-op");
	st = run_in_child(mlockall_child, &purges);

	SKIP_IF(WIFEXITED(st) && WEXITSTATUS(st) == 77,
		"mlockall() refused (RLIMIT_MEMLOCK?)");
	assert_child_ok(st);
}
END_TEST

/* --- fork() inside a regeneration callback ----------------------------- */

/* The chunk is computed by a helper process and read from a pipe. */
static int forking_regen(vcache_object *object, void *dst, size_t offset,
			 size_t length, void *userdata)
{
	struct tobj *t = userdata;
	int fds[2], st;
	size_t got = 0;
	pid_t pid;

	(void)object;
	atomic_fetch_add(&t->calls, 1);
	if (pipe(fds) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		static uint8_t buf[PAGES * 4096 * 4];
		size_t n = length < sizeof(buf) ? length : sizeof(buf);

		gen_fill(buf, t->seed, offset, n);
		_exit(write(fds[1], buf, n) == (ssize_t)n ? 0 : 1);
	}
	close(fds[1]);
	while (got < length) {
		ssize_t n = read(fds[0], (uint8_t *)dst + got, length - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) || got != length)
		return -EIO;
	return 0;
}

static int fork_in_callback_child(void *arg)
{
	bool purges = *(bool *)arg;
	vcache_object *o = NULL;
	struct tobj t;
	vcache *c = NULL;
	int fd;

	/* Old library: the pre-fork handler waited for ever. */
	alarm(60);
	tobj_init(&t, 82);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "forker", PAGES * pagesz, 0,
					 forking_regen, &t, 0, &o) == 0);
	treg_add(o); /* purge_range() under soft */
	if (!purges)
		return 0;
	/* 1. pin with regeneration */
	CHILD_CHECK(purge_range(vcache_object_data(o), PAGES * pagesz) ==
		    PAGES);
	CHILD_CHECK(vcache_pin(o, VCACHE_PIN_REGENERATE) == VCACHE_PURGED);
	CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0,
			      PAGES * pagesz) == SIZE_MAX);
	CHILD_CHECK(vcache_unpin(o) == 0);
	/* 2. vcache_write */
	CHILD_CHECK(purge_range(vcache_object_data(o), PAGES * pagesz) ==
		    PAGES);
	/* (a memfd, not /dev/null: the QEMU guest has a bare /dev) */
	fd = memfd_create("written", MFD_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(vcache_write(fd, o, 0, PAGES * pagesz) ==
		    (ssize_t)(PAGES * pagesz));
	/* 3. vcache_read: the written bytes back into a purged object */
	CHILD_CHECK(purge_range(vcache_object_data(o), PAGES * pagesz) ==
		    PAGES);
	CHILD_CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHILD_CHECK(vcache_read(fd, o, 0, PAGES * pagesz) ==
		    (ssize_t)(PAGES * pagesz));
	close(fd);
	CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0,
			      PAGES * pagesz) == SIZE_MAX);
	/* 4. optimistic */
	CHILD_CHECK(purge_range(vcache_object_data(o), PAGES * pagesz) ==
		    PAGES);
	CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0,
			      PAGES * pagesz) == SIZE_MAX);
	vcache_object_unref(o);
	CHILD_CHECK(vcache_free(c) == 0);
	return 0;
}

START_TEST(test_process_fork_in_callback)
{
	bool purges = backend_purges();

	assert_child_ok(run_in_child(fork_in_callback_child, &purges));
	SKIP_IF(!purges, "backend none never purges (creation forked only)");
}
END_TEST

/* --- a signal handler lands inside a pin's page probe ------------------ */

/*
 * To land a signal at the exact moment, the test write-protects a page of
 * the object: the probe's write raises SIGSEGV there. The handler makes
 * the page writable again (so the write succeeds when it resumes) and,
 * like any unrelated handler, reads cache memory.
 */
static struct {
	uint8_t *wp_page;
	volatile uint8_t *read_at; /* what the handler reads */
	uint64_t seed;
	size_t offset;
	volatile sig_atomic_t done;
	volatile sig_atomic_t ok;
} segv;

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if ((uint8_t *)si->si_addr < segv.wp_page ||
	    (uint8_t *)si->si_addr >= segv.wp_page + pagesz)
		abort();
	mprotect(segv.wp_page, pagesz, PROT_READ | PROT_WRITE);
	segv.ok = segv.read_at[0] == gen_byte(segv.seed, segv.offset);
	segv.done = 1;
}

static void install_segv(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
}

START_TEST(test_process_signal_in_probe_reads_other)
{
	vcache *c = tcache_new();
	vcache_object *a, *b;
	struct tobj ta, tb;

	SKIP_UNLESS_PURGING(c);
	if (vcache_backend(c) != VCACHE_BACKEND_UFFD) {
		tcache_free(c);
		SKIP_IF(true, "the page probe is the uffd backend's");
	}
	if (UNDER_TSAN) {
		tcache_free(c);
		SKIP_IF(true, "TSan runs the handler with SIGBUS blocked: a "
			"handler that reads purgeable memory cannot run there");
	}
	tobj_init(&ta, 83);
	tobj_init(&tb, 84);
	a = tobj_create(c, "probed", PAGES * pagesz, PAGES * pagesz, &ta);
	b = tobj_create(c, "other", PAGES * pagesz, 0, &tb);
	ck_assert_uint_eq(purge_range(vcache_object_data(b), PAGES * pagesz),
			  PAGES);
	/* Page 5 of A is intact, write-protected; the handler reads B. */
	segv.wp_page = (uint8_t *)vcache_object_data(a) + 5 * pagesz;
	segv.read_at = (uint8_t *)vcache_object_data(b) + 7 * pagesz + 3;
	segv.seed = tb.seed;
	segv.offset = 7 * pagesz + 3;
	install_segv();
	ck_assert_int_eq(mprotect(segv.wp_page, pagesz, PROT_READ), 0);
	ck_assert_int_eq(vcache_pin(a, 0), VCACHE_INTACT);
	ck_assert_int_eq(segv.done, 1);
	ck_assert_int_eq(segv.ok, 1);
	assert_content(a, ta.seed, 0, PAGES * pagesz);
	ck_assert_int_eq(vcache_unpin(a), 0);
	vcache_object_unref(a);
	vcache_object_unref(b);
	tcache_free(c);
}
END_TEST

/*
 * The impossible case: the handler reads a purged page of the very chunk
 * this thread is probing (held BUSY). The probe must not claim that fault
 * (it would jump out of the handler); the documented message and abort.
 */
static int probe_same_chunk_child(void *arg)
{
	int err_fd = *(int *)arg;
	vcache_object *a = NULL;
	struct tobj ta;
	vcache *c = NULL;

	CHILD_CHECK(dup2(err_fd, STDERR_FILENO) == STDERR_FILENO);
	tobj_init(&ta, 85);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "self", PAGES * pagesz,
					 PAGES * pagesz, tobj_regen, &ta, 0,
					 &a) == 0);
	/* Pages 8.. purged; page 5 intact and write-protected. */
	CHILD_CHECK(purge_range((uint8_t *)vcache_object_data(a) + 8 * pagesz,
				8 * pagesz) == 8);
	segv.wp_page = (uint8_t *)vcache_object_data(a) + 5 * pagesz;
	segv.read_at = (uint8_t *)vcache_object_data(a) + 9 * pagesz;
	segv.seed = ta.seed;
	segv.offset = 9 * pagesz;
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = segv_handler;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSEGV, &sa, NULL);
	}
	CHILD_CHECK(mprotect(segv.wp_page, pagesz, PROT_READ) == 0);
	vcache_pin(a, 0);
	fprintf(stderr, "child: pin returned, handler done=%d\n",
		(int)segv.done);
	return 0;
}

START_TEST(test_process_signal_in_probe_same_chunk)
{
	char buf[4096];
	int fds[2], st;
	ssize_t n, len = 0;

	SKIP_IF(!backend_is_uffd(), "the page probe is the uffd backend's");
	SKIP_IF(UNDER_TSAN, "TSan runs the handler with SIGBUS blocked: the "
		"kernel kills before the library can say anything");
	ck_assert_int_eq(pipe(fds), 0);
	st = run_in_child(probe_same_chunk_child, &fds[1]);
	close(fds[1]);
	while ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fds[0]);
	buf[len] = '\0';
	printf("child stderr: %s", buf);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		      "child status 0x%x, expected the documented abort", st);
	ck_assert_msg(strstr(buf, "'self'") &&
		      strstr(buf, "chunk it is regenerating or pinning"),
		      "not the documented message: \"%s\"", buf);
}
END_TEST

/* --- close_range() in a daemon ----------------------------------------- */

static int closed_child(void *arg)
{
	bool purges = *(bool *)arg;
	vcache_object *o = NULL, *o2 = NULL;
	struct tobj t;
	vcache *c = NULL;
	int fd;

	tobj_init(&t, 86);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "daemon", PAGES * pagesz, 0,
					 tobj_regen, &t, 0, &o) == 0);
	if (purges)
		CHILD_CHECK(purge_range(vcache_object_data(o),
					PAGES * pagesz) == PAGES);
	CHILD_CHECK(syscall(SYS_close_range, 3, ~0U, 0) == 0);
	/* The number comes back, as another file. */
	fd = memfd_create("reuses-the-number", MFD_CLOEXEC);
	CHILD_CHECK(fd >= 3);
	if (!purges) {
		CHILD_CHECK(vcache_pin(o, 0) == VCACHE_INTACT);
		CHILD_CHECK(vcache_unpin(o) == 0);
		vcache_object_unref(o);
		CHILD_CHECK(vcache_free(c) == 0);
		return 0;
	}
	/* Never INTACT over zeros: the loss is reported. */
	CHILD_CHECK(vcache_pin(o, 0) == -EBADF);
	CHILD_CHECK(vcache_pin(o, VCACHE_PIN_REGENERATE) == -EBADF);
	CHILD_CHECK(vcache_write(fd, o, 0, pagesz) == -EBADF);
	CHILD_CHECK(vcache_object_create(c, "after", pagesz, 0, tobj_regen,
					 &t, 0, &o2) == -EBADF);
	/* Reading is a crash at the address, not zeros. */
	CHILD_CHECK(read_segfaults(vcache_object_data(o)));
	/* Cleaning up works, and does not close the new file. */
	CHILD_CHECK(vcache_object_remove(o) == 0);
	vcache_object_unref(o);
	CHILD_CHECK(vcache_free(c) == 0);
	CHILD_CHECK(fcntl(fd, F_GETFD) >= 0);
	/* A new cache works again. */
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "fresh", PAGES * pagesz, 0,
					 tobj_regen, &t, 0, &o) == 0);
	CHILD_CHECK(purge_range(vcache_object_data(o), PAGES * pagesz) ==
		    PAGES);
	CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0,
			      PAGES * pagesz) == SIZE_MAX);
	vcache_object_unref(o);
	CHILD_CHECK(vcache_free(c) == 0);
	return 0;
}

START_TEST(test_process_close_range)
{
	bool purges = backend_is_uffd();

	assert_child_ok(run_in_child(closed_child, &purges));
	SKIP_IF(!purges, "only the uffd backend has a descriptor to lose "
		"(the rest ran as a plain daemon)");
}
END_TEST

/* --- fork() children that cannot open a userfaultfd -------------------- */

struct restricted {
	vcache_object *o;
	struct tobj *t;
	bool purges;
	int expect_err; /* pin errno expected in the child, 0: works */
};

static int restricted_grandchild(void *arg)
{
	struct restricted *r = arg;
	int p = vcache_pin(r->o, VCACHE_PIN_REGENERATE);

	if (!r->purges || r->expect_err == 0) {
		CHILD_CHECK(p >= 0);
		CHILD_CHECK(gen_check(vcache_object_data(r->o), r->t->seed, 0,
				      PAGES * pagesz) == SIZE_MAX);
		CHILD_CHECK(vcache_unpin(r->o) == 0);
		return 0;
	}
	if (p != -r->expect_err) {
		fprintf(stderr, "grandchild: pin gave %d, expected %d\n", p,
			-r->expect_err);
		return 1;
	}
	CHILD_CHECK(read_segfaults(vcache_object_data(r->o)));
	return 0;
}

static int just_exit(void *arg)
{
	(void)arg;
	return 0;
}

static int restricted_common(struct restricted *r)
{
	int st = run_in_child(just_exit, NULL);

	CHILD_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = run_in_child(restricted_grandchild, r);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		fprintf(stderr, "grandchild status 0x%x\n", st);
	CHILD_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* And the parent is unaffected. */
	CHILD_CHECK(gen_check(vcache_object_data(r->o), r->t->seed, 0,
			      PAGES * pagesz) == SIZE_MAX);
	return 0;
}

static int seccomp_child(void *arg)
{
	struct restricted *r = arg;
	scmp_filter_ctx ctx;
	struct tobj t;
	vcache *c = NULL;

	tobj_init(&t, 87);
	r->t = &t;
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "sandboxed", PAGES * pagesz, 0,
					 tobj_regen, &t, 0, &r->o) == 0);
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	CHILD_CHECK(ctx);
	CHILD_CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
				     SCMP_SYS(userfaultfd), 0) == 0);
	if (seccomp_load(ctx) < 0)
		return 77;
	seccomp_release(ctx);
	if (r->purges)
		CHILD_CHECK(purge_range(vcache_object_data(r->o),
					PAGES * pagesz) == PAGES);
	r->expect_err = EPERM;
	return restricted_common(r);
}

START_TEST(test_process_child_seccomp)
{
	struct restricted r = { .purges = backend_is_uffd() };
	int st;

	SKIP_IF(!r.purges && backend_purges(), "written for uffd (under vrange "
		"the userfaultfd is optional; its loss makes the cache lost "
		"too, untested)");
	st = run_in_child(seccomp_child, &r);

	SKIP_IF(WIFEXITED(st) && WEXITSTATUS(st) == 77,
		"seccomp filter could not be loaded");
	assert_child_ok(st);
}
END_TEST

static int fdfull_child(void *arg)
{
	struct restricted *r = arg;
	struct rlimit rl = { 64, 64 };
	struct tobj t;
	vcache *c = NULL;

	tobj_init(&t, 88);
	r->t = &t;
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "crowded", PAGES * pagesz, 0,
					 tobj_regen, &t, 0, &r->o) == 0);
	CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	while (dup(0) >= 0)
		;
	CHILD_CHECK(errno == EMFILE);
	if (r->purges)
		CHILD_CHECK(purge_range(vcache_object_data(r->o),
					PAGES * pagesz) == PAGES);
	/* The child re-opens in place of the parent's descriptor: works. */
	r->expect_err = 0;
	return restricted_common(r);
}

START_TEST(test_process_child_fd_table_full)
{
	struct restricted r = { .purges = backend_purges() };

	assert_child_ok(run_in_child(fdfull_child, &r));
	SKIP_IF(!r.purges, "backend none never purges (the child only forked)");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("process");
	TCase *tc;

	tc = ttcase("mlockall");
	tcase_add_test(tc, test_process_mlockall);
	suite_add_tcase(s, tc);

	tc = ttcase("fork-in-callback");
	tcase_add_test(tc, test_process_fork_in_callback);
	suite_add_tcase(s, tc);

	tc = ttcase("signal-in-probe");
	tcase_add_test(tc, test_process_signal_in_probe_reads_other);
	tcase_add_test(tc, test_process_signal_in_probe_same_chunk);
	suite_add_tcase(s, tc);

	tc = ttcase("lost-descriptor");
	tcase_add_test(tc, test_process_close_range);
	tcase_add_test(tc, test_process_child_seccomp);
	tcase_add_test(tc, test_process_child_fd_table_full);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
