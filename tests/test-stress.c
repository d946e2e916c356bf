/* SPDX-License-Identifier: MIT */
/*
 * test-stress.c - the signal path under load: several threads fault on
 * purged pages, pin and unpin with regeneration, while a purger pages
 * everything out and unrelated SIGUSR1 / SIGALRM handlers land on every
 * thread and read cache objects themselves. Every read is checked against
 * the generator: zero corrupt reads, and the run must end (Check's timeout
 * catches a hang).
 *
 * A crash-reporter-like SIGBUS handler sits on top of the library's
 * (installed after it, the ordinary way: no SA_NODEFER) and chains to it,
 * so every fault and every probe jump goes through a handler that blocks
 * SIGBUS. Under the soft backend the fault signal is SIGSEGV: the
 * reporter takes that one, and the purger asks the library to purge (soft
 * memory is ordinary memory that MADV_PAGEOUT swaps out, never loses).
 *
 * VCACHE_STRESS_SECONDS sets the duration (default 2, for CI). Handlers
 * read a separate set of objects that the worker threads never pin, and
 * block each other (sa_mask): a handler that needs a chunk its own thread
 * is regenerating is the documented impossible case (vcache.h), not what
 * this test is about. A handler entered with SIGBUS blocked (TSan runs
 * handlers with every signal blocked) cannot take a fault at all; it
 * counts the case and reads nothing, and the test prints how often.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

enum { WORK = 6, SIGOBJ = 4, PAGES = 32, CHUNK_PAGES = 4, WORKERS = 3 };

static vcache_object *work[WORK], *sigobj[SIGOBJ];
static struct tobj twork[WORK], tsig[SIGOBJ];
static atomic_bool stop;
static atomic_ulong corrupt, reads, pins, handler_reads, handler_blocked;
static pthread_t workers[WORKERS];

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static _Thread_local uint64_t handler_rng;
/* Handlers that found the fault signal blocked, on this thread. */
static _Thread_local unsigned long tls_handler_blocked;

/* Every thread that may take a handler adds its count before it ends. */
static void count_blocked_handlers(void)
{
	atomic_fetch_add(&handler_blocked, tls_handler_blocked);
	tls_handler_blocked = 0;
}

static void reading_handler(int sig)
{
	int saved = errno;
	sigset_t cur;
	size_t i, off;
	const uint8_t *p;

	(void)sig;
	/*
	 * Neither pthread_sigmask() nor an atomic here while the fault signal
	 * is blocked. TSan runs a late-delivered handler from its pending
	 * signal loop with every signal blocked, and both an interceptor and
	 * an instrumented atomic run that loop again, nested, when another
	 * signal arrived meanwhile: the inner loop overwrites the mask the
	 * outer one saved, and the thread goes on with every signal blocked
	 * until its next fault kills it. A raw system call and a plain
	 * thread-local counter do not re-enter TSan.
	 */
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &cur, _NSIG / 8);
	if (sigismember(&cur, fault_signal())) {
		tls_handler_blocked++;
		errno = saved;
		return;
	}
	if (!handler_rng)
		handler_rng = (uintptr_t)&cur | 1;
	i = rnd(&handler_rng) % SIGOBJ;
	off = rnd(&handler_rng) % (PAGES * pagesz);
	p = vcache_object_data(sigobj[i]);
	if (p[off] != gen_byte(tsig[i].seed, off))
		atomic_fetch_add(&corrupt, 1);
	atomic_fetch_add(&handler_reads, 1);
	errno = saved;
}

static struct sigaction reporter_prev;

static void reporter(int sig, siginfo_t *si, void *uc)
{
	if (reporter_prev.sa_flags & SA_SIGINFO)
		reporter_prev.sa_sigaction(sig, si, uc);
	else
		abort(); /* the library's handler is always SA_SIGINFO */
}

static void install_reporter(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = reporter;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(fault_signal(), &sa, &reporter_prev), 0);
}

static void *reader(void *arg)
{
	uint64_t s = (uintptr_t)arg * 7919 + 1;

	while (!atomic_load(&stop)) {
		size_t i = rnd(&s) % WORK, off = rnd(&s) % (PAGES * pagesz);
		const uint8_t *p = vcache_object_data(work[i]);

		if (p[off] != gen_byte(twork[i].seed, off))
			atomic_fetch_add(&corrupt, 1);
		atomic_fetch_add(&reads, 1);
	}
	count_blocked_handlers();
	return NULL;
}

static void *pinner(void *arg)
{
	uint64_t s = (uintptr_t)arg * 104729 + 1;

	while (!atomic_load(&stop)) {
		size_t i = rnd(&s) % WORK;
		size_t off = (rnd(&s) % PAGES) * pagesz;
		size_t len = pagesz * (1 + rnd(&s) % (PAGES - off / pagesz));
		int r = vcache_pin_range(work[i], off, len,
					 VCACHE_PIN_REGENERATE);

		if (r < 0) {
			atomic_fetch_add(&corrupt, 1);
			continue;
		}
		if (gen_check((uint8_t *)vcache_object_data(work[i]) + off,
			      twork[i].seed, off, len) != SIZE_MAX)
			atomic_fetch_add(&corrupt, 1);
		if (vcache_unpin_range(work[i], off, len) < 0)
			atomic_fetch_add(&corrupt, 1);
		atomic_fetch_add(&pins, 1);
	}
	count_blocked_handlers();
	return NULL;
}

static void purge_all(vcache_object *o)
{
	if (backend_is_soft())
		(void)vcache_purge_range(o, 0, PAGES * pagesz);
	else
		madvise(vcache_object_data(o), PAGES * pagesz, MADV_PAGEOUT);
}

static void *purger(void *arg)
{
	sigset_t handlers;

	(void)arg;
	/*
	 * Under soft this thread calls the library, which holds the chunk it
	 * purges: a handler landing here that reads that chunk would be the
	 * documented impossible case (vcache.h, Signal safety), not what
	 * this test is about.
	 */
	if (backend_is_soft()) {
		sigemptyset(&handlers);
		sigaddset(&handlers, SIGUSR1);
		sigaddset(&handlers, SIGALRM);
		pthread_sigmask(SIG_BLOCK, &handlers, NULL);
	}
	while (!atomic_load(&stop)) {
		for (int i = 0; i < WORK; i++)
			purge_all(work[i]);
		for (int i = 0; i < SIGOBJ; i++)
			purge_all(sigobj[i]);
		usleep(1000);
	}
	count_blocked_handlers();
	return NULL;
}

/* SIGUSR1 at the workers, one after another. */
static void *signaller(void *arg)
{
	unsigned int n = 0;

	(void)arg;
	while (!atomic_load(&stop)) {
		pthread_kill(workers[n++ % WORKERS], SIGUSR1);
		usleep(200);
	}
	count_blocked_handlers();
	return NULL;
}

static void install(int sig, int other)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = reading_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, other);
	ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
}

START_TEST(test_stress_signals)
{
	const char *env = getenv("VCACHE_STRESS_SECONDS");
	unsigned int seconds = env && *env ? (unsigned int)atoi(env) : 2;
	struct itimerval it = { { 0, 700 }, { 0, 700 } }, off = { 0 };
	pthread_t purge_thr, sig_thr;
	vcache *c = tcache_new();
	struct vcache_stats st;
	char name[32];

	SKIP_UNLESS_PURGING(c);
	for (int i = 0; i < WORK; i++) {
		tobj_init(&twork[i], 900 + i);
		snprintf(name, sizeof(name), "work%d", i);
		work[i] = tobj_create(c, name, PAGES * pagesz,
				      CHUNK_PAGES * pagesz, &twork[i]);
	}
	for (int i = 0; i < SIGOBJ; i++) {
		tobj_init(&tsig[i], 950 + i);
		snprintf(name, sizeof(name), "sig%d", i);
		sigobj[i] = tobj_create(c, name, PAGES * pagesz,
					CHUNK_PAGES * pagesz, &tsig[i]);
	}
	install(SIGUSR1, SIGALRM);
	install(SIGALRM, SIGUSR1);
	install_reporter();

	ck_assert_int_eq(pthread_create(&workers[0], NULL, reader,
					(void *)1), 0);
	ck_assert_int_eq(pthread_create(&workers[1], NULL, reader,
					(void *)2), 0);
	ck_assert_int_eq(pthread_create(&workers[2], NULL, pinner,
					(void *)3), 0);
	ck_assert_int_eq(pthread_create(&purge_thr, NULL, purger, NULL), 0);
	ck_assert_int_eq(pthread_create(&sig_thr, NULL, signaller, NULL), 0);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	/* This thread takes SIGALRMs too, while it sleeps. */
	for (struct timespec ts = { seconds, 0 };
	     nanosleep(&ts, &ts) < 0 && errno == EINTR;)
		;
	setitimer(ITIMER_REAL, &off, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i], NULL);
	pthread_join(purge_thr, NULL);
	pthread_join(sig_thr, NULL);
	signal(SIGALRM, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	count_blocked_handlers();

	ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
	printf("stress %us: %lu reads, %lu pins, %lu handler reads, "
	       "%lu handlers with SIG%s blocked (read nothing), %llu faults, "
	       "%llu regenerations, %lu corrupt\n",
	       seconds, atomic_load(&reads), atomic_load(&pins),
	       atomic_load(&handler_reads), atomic_load(&handler_blocked),
	       sigabbrev_np(fault_signal()), (unsigned long long)st.faults,
	       (unsigned long long)st.regenerations, atomic_load(&corrupt));
	if (atomic_load(&handler_blocked))
		printf("SKIP: part of test_stress_signals: %lu handlers ran "
		       "with SIG%s blocked (inside the reporter before it "
		       "reached the library, or under TSan) and could not "
		       "read purgeable memory\n", atomic_load(&handler_blocked),
		       sigabbrev_np(fault_signal()));
	ck_assert_uint_eq(atomic_load(&corrupt), 0);
	ck_assert_uint_gt(atomic_load(&reads), 0);
	if (!UNDER_TSAN)
		ck_assert_uint_gt(atomic_load(&handler_reads), 0);
	ck_assert_uint_gt(atomic_load(&pins), 0);
	ck_assert_uint_gt(st.faults, 0);
	for (int i = 0; i < WORK; i++) {
		vcache_object_unref(work[i]);
		ck_assert_uint_eq(atomic_load(&twork[i].bad_args), 0);
	}
	for (int i = 0; i < SIGOBJ; i++)
		vcache_object_unref(sigobj[i]);
	tcache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = ttcase("signals");

	tcase_add_test(tc, test_stress_signals);
	suite_add_tcase(s, tc);
	return run_suite_smp(s);
}
