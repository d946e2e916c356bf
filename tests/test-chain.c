/* SPDX-License-Identifier: MIT */
/*
 * test-chain.c - living with other SIGBUS users (issue 7, faults 1-3, 8,
 * 11): a handler installed after the library that chains to it, every flag
 * of a handler installed before it, SIG_IGN and SIG_DFL as previous
 * actions, and a handler replaced behind the library's back.
 *
 * On backend none the library installs no handler, so the "previous"
 * handler is simply the handler: those tests then check that the library
 * changes nothing, and the purge parts are skipped with a reason.
 *
 * Under the soft backend a purged page raises SIGSEGV, and the library's
 * SIGSEGV handler follows the same rules through the same code (chain.c):
 * every case here then runs with SIGSEGV (fault_signal()) in place of
 * SIGBUS - the foreign fault is a store to a PROT_NONE page, the positive
 * si_code SEGV_MAPERR - except the one that has no SIGSEGV kind (an
 * asynchronous positive code, BUS_MCEERR_AO), which says so and is left
 * out. The SIGBUS handler the soft backend installs too runs the same code
 * as under uffd, which that run covers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tutil.h"

enum { PAGES = 16 };

/* --- a handler installed after the library, chaining to it ------------- */

static struct sigaction later_prev;

static void later_handler(int sig, siginfo_t *si, void *uc)
{
	if (later_prev.sa_flags & SA_SIGINFO)
		later_prev.sa_sigaction(sig, si, uc);
	else if (later_prev.sa_handler != SIG_DFL &&
		 later_prev.sa_handler != SIG_IGN)
		later_prev.sa_handler(sig);
}

/* The ordinary way: SA_SIGINFO, no SA_NODEFER, so the signal is blocked
 * in it. */
static void install_later_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = later_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(fault_signal(), &sa, &later_prev), 0);
}

static bool sigbus_blocked(void)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, fault_signal());
}

/* A's chunks are made from B's bytes at the same offset (B touched
 * optimistically), so regenerating A may fault on B: nested. */
struct pair {
	vcache_object *b;
	uint64_t seed_a, seed_b;
};

static int regen_from_b(vcache_object *object, void *dst, size_t offset,
			size_t length, void *userdata)
{
	struct pair *p = userdata;
	const uint8_t *b = vcache_object_data(p->b);
	uint8_t *d = dst;

	(void)object;
	gen_fill(dst, p->seed_a, offset, length);
	for (size_t i = 0; i < length; i++)
		d[i] ^= b[offset + i] ^ gen_byte(p->seed_b, offset + i);
	return 0;
}

static vcache *make_pair(struct pair *p, struct tobj *tb, vcache_object **a)
{
	vcache *c = tcache_new();

	if (!tcache_purges(c))
		return c;
	tobj_init(tb, 71);
	p->seed_a = 72;
	p->seed_b = tb->seed;
	p->b = tobj_create(c, "b", PAGES * pagesz, pagesz, tb);
	ck_assert_int_eq(vcache_object_create(c, "a", PAGES * pagesz, pagesz,
					      regen_from_b, p, 0, a),
			 0);
	treg_add(*a); /* purge_range() under soft */
	return c;
}

static void free_pair(vcache *c, struct pair *p, vcache_object *a)
{
	vcache_object_unref(a);
	vcache_object_unref(p->b);
	tcache_free(c);
}

START_TEST(test_chain_later_handler_pin_keeps_mask)
{
	struct pair p;
	struct tobj tb;
	vcache_object *a = NULL;
	vcache *c = make_pair(&p, &tb, &a);

	SKIP_UNLESS_PURGING(c);
	install_later_handler();
	ck_assert_uint_eq(purge_range(vcache_object_data(a), PAGES * pagesz),
			  PAGES);
	ck_assert_uint_eq(purge_range(vcache_object_data(p.b),
				      PAGES * pagesz), PAGES);
	ck_assert_int_eq(vcache_pin_range(a, 0, pagesz, 0), VCACHE_PURGED);
	ck_assert_msg(!sigbus_blocked(), "pin left SIG%s blocked",
		      sigabbrev_np(fault_signal()));
	gen_fill(vcache_object_data(a), p.seed_a, 0, pagesz);
	/* Another purged page of A, then of B: optimistic, through both. */
	assert_content(a, p.seed_a, 3 * pagesz, pagesz);
	assert_content(p.b, p.seed_b, 5 * pagesz, pagesz);
	ck_assert_int_eq(vcache_unpin_range(a, 0, pagesz), 0);
	free_pair(c, &p, a);
}
END_TEST

START_TEST(test_chain_later_handler_nested_regen)
{
	struct pair p;
	struct tobj tb;
	vcache_object *a = NULL;
	vcache *c = make_pair(&p, &tb, &a);

	SKIP_UNLESS_PURGING(c);
	install_later_handler();
	ck_assert_uint_eq(purge_range(vcache_object_data(a), PAGES * pagesz),
			  PAGES);
	ck_assert_uint_eq(purge_range(vcache_object_data(p.b),
				      PAGES * pagesz), PAGES);
	/* A's regeneration faults on B inside the (blocking) chain. */
	assert_content(a, p.seed_a, 0, PAGES * pagesz);
	ck_assert_uint_ge(atomic_load(&tb.calls), PAGES + 1);
	ck_assert_msg(!sigbus_blocked(), "SIG%s left blocked",
		      sigabbrev_np(fault_signal()));
	free_pair(c, &p, a);
}
END_TEST

/* The caller itself runs with every signal blocked (TSan's handlers do). */
START_TEST(test_chain_all_blocked_caller)
{
	struct pair p;
	struct tobj tb;
	vcache_object *a = NULL;
	vcache *c = make_pair(&p, &tb, &a);
	sigset_t all, saved, after;

	SKIP_UNLESS_PURGING(c);
	ck_assert_uint_eq(purge_range(vcache_object_data(a), PAGES * pagesz),
			  PAGES);
	ck_assert_uint_eq(purge_range(vcache_object_data(p.b),
				      PAGES * pagesz), PAGES);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	/* Regenerating A faults on B: must not kill us. */
	ck_assert_int_eq(vcache_pin(a, VCACHE_PIN_REGENERATE), VCACHE_PURGED);
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	ck_assert_msg(sigismember(&after, fault_signal()) &&
		      sigismember(&after, SIGUSR1),
		      "the caller's mask was changed");
	assert_content(a, p.seed_a, 0, PAGES * pagesz);
	ck_assert_int_eq(vcache_unpin(a), 0);
	free_pair(c, &p, a);
}
END_TEST

/* Creation fills through the callback too: same rule. */
START_TEST(test_chain_all_blocked_create)
{
	struct pair p;
	struct tobj tb;
	vcache_object *a = NULL, *a2 = NULL;
	vcache *c = make_pair(&p, &tb, &a);
	sigset_t all, saved;
	int r;

	SKIP_UNLESS_PURGING(c);
	ck_assert_uint_eq(purge_range(vcache_object_data(p.b),
				      PAGES * pagesz), PAGES);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	r = vcache_object_create(c, "a2", PAGES * pagesz, pagesz,
				 regen_from_b, &p, 0, &a2);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	ck_assert_int_eq(r, 0);
	treg_add(a2);
	assert_content(a2, p.seed_a, 0, PAGES * pagesz);
	vcache_object_unref(a2);
	free_pair(c, &p, a);
}
END_TEST

/* --- a handler installed before the library: its flags ----------------- */

static volatile sig_atomic_t prev_calls;
static volatile sig_atomic_t prev_saw_bus_blocked;
static volatile sig_atomic_t prev_saw_usr2_blocked;
static volatile sig_atomic_t prev_code;
static volatile pid_t prev_pid;
static void *volatile prev_stack_addr;

static void note_mask(void)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	prev_saw_bus_blocked = sigismember(&cur, fault_signal());
	prev_saw_usr2_blocked = sigismember(&cur, SIGUSR2);
}

static void prev_siginfo(int sig, siginfo_t *si, void *uc)
{
	volatile char here;

	(void)sig;
	(void)uc;
	prev_calls++;
	prev_code = si->si_code;
	prev_pid = si->si_pid;
	prev_stack_addr = (void *)&here;
	note_mask();
}

static void prev_plain(int sig)
{
	volatile char here;

	(void)sig;
	prev_calls++;
	prev_stack_addr = (void *)&here;
	note_mask();
}

static void install_prev(void (*fn)(int, siginfo_t *, void *),
			 void (*plain)(int), int flags, int masked)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (fn)
		sa.sa_sigaction = fn;
	else
		sa.sa_handler = plain;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (masked)
		sigaddset(&sa.sa_mask, masked);
	ck_assert_int_eq(sigaction(fault_signal(), &sa, NULL), 0);
	prev_calls = 0;
}

/* The library is installed on top (except on backend none). */
static vcache *cache_on_top(void)
{
	vcache *c = tcache_new();
	struct sigaction cur;

	ck_assert_int_eq(sigaction(fault_signal(), NULL, &cur), 0);
	if (tcache_purges(c))
		ck_assert_ptr_ne((void *)cur.sa_sigaction,
				 (void *)prev_siginfo);
	return c;
}

START_TEST(test_chain_flag_siginfo)
{
	vcache *c;

	install_prev(prev_siginfo, NULL, SA_SIGINFO, 0);
	c = cache_on_top();
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(prev_calls, 1);
	ck_assert_int_eq(prev_code, SI_USER);
	ck_assert_int_eq(prev_pid, getpid());
	tcache_free(c);
}
END_TEST

START_TEST(test_chain_flag_plain)
{
	vcache *c;

	SKIP_IF(UNDER_TSAN, "TSan runs handlers with its own signal mask");
	install_prev(NULL, prev_plain, 0, 0);
	c = cache_on_top();
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(prev_calls, 1);
	ck_assert_int_eq(prev_saw_bus_blocked, 1);
	tcache_free(c);
}
END_TEST

START_TEST(test_chain_flag_nodefer)
{
	vcache *c;

	SKIP_IF(UNDER_TSAN, "TSan runs handlers with its own signal mask");
	install_prev(prev_siginfo, NULL, SA_SIGINFO | SA_NODEFER, 0);
	c = cache_on_top();
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(prev_calls, 1);
	ck_assert_int_eq(prev_saw_bus_blocked, 0);
	tcache_free(c);
}
END_TEST

START_TEST(test_chain_flag_defer)
{
	vcache *c;

	SKIP_IF(UNDER_TSAN, "TSan runs handlers with its own signal mask");
	install_prev(prev_siginfo, NULL, SA_SIGINFO, 0);
	c = cache_on_top();
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(prev_calls, 1);
	ck_assert_int_eq(prev_saw_bus_blocked, 1);
	tcache_free(c);
}
END_TEST

START_TEST(test_chain_flag_mask)
{
	vcache *c;

	SKIP_IF(UNDER_TSAN, "TSan runs handlers with its own signal mask");
	install_prev(prev_siginfo, NULL, SA_SIGINFO, SIGUSR2);
	c = cache_on_top();
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(prev_calls, 1);
	ck_assert_int_eq(prev_saw_usr2_blocked, 1);
	/* And the mask is back afterwards. */
	ck_assert(!sigbus_blocked());
	tcache_free(c);
}
END_TEST

static int resethand_child(void *arg)
{
	struct sigaction cur;
	vcache *c = NULL;

	(void)arg;
	install_prev(prev_siginfo, NULL, SA_SIGINFO | SA_RESETHAND, 0);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(kill(getpid(), fault_signal()) == 0);
	CHILD_CHECK(prev_calls == 1);
	/* Whatever handled it, the library's handler is still in place. */
	CHILD_CHECK(sigaction(fault_signal(), NULL, &cur) == 0);
	if (vcache_backend(c) != VCACHE_BACKEND_NONE)
		CHILD_CHECK(cur.sa_sigaction != prev_siginfo);
	kill(getpid(), fault_signal()); /* now the default action: dies */
	return 0;
}

START_TEST(test_chain_flag_resethand)
{
	int st = run_in_child(resethand_child, NULL);

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == fault_signal(),
		      "child status 0x%x, expected death by the second SIG%s",
		      st, sigabbrev_np(fault_signal()));
}
END_TEST

static char *altstack;
static const size_t altstack_size = 256 * 1024;

static void set_altstack(void)
{
	stack_t ss = { .ss_size = altstack_size };

	altstack = mmap(NULL, altstack_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(altstack, MAP_FAILED);
	ss.ss_sp = altstack;
	ck_assert_int_eq(sigaltstack(&ss, NULL), 0);
}

static bool on_altstack(void *p)
{
	return (char *)p >= altstack && (char *)p < altstack + altstack_size;
}

START_TEST(test_chain_flag_onstack)
{
	vcache *c;

	set_altstack();
	install_prev(prev_siginfo, NULL, SA_SIGINFO | SA_ONSTACK, 0);
	c = cache_on_top();
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(prev_calls, 1);
	ck_assert_msg(on_altstack(prev_stack_addr),
		      "SA_ONSTACK handler ran at %p, not on the alternate "
		      "stack %p+%zu", prev_stack_addr, (void *)altstack,
		      altstack_size);
	/* A plain (no SA_SIGINFO) one too. */
	install_prev(NULL, prev_plain, SA_ONSTACK, 0);
	tcache_free(c);
	c = cache_on_top();
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(prev_calls, 1);
	ck_assert(on_altstack(prev_stack_addr));
	tcache_free(c);
}
END_TEST

START_TEST(test_chain_flag_onstack_without_altstack)
{
	vcache *c;

	install_prev(prev_siginfo, NULL, SA_SIGINFO | SA_ONSTACK, 0);
	c = cache_on_top();
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(prev_calls, 1);
	tcache_free(c);
}
END_TEST

/*
 * An address whose store faults with fault_signal() and is no object's:
 * past the end of a one-page memfd (SIGBUS, BUS_ADRERR) or, under soft, a
 * PROT_NONE page (SIGSEGV, SEGV_ACCERR: the soft backend's own code).
 */
static volatile uint8_t *foreign_fault_addr(void)
{
	uint8_t *p;
	int fd;

	if (fault_signal() == SIGSEGV) {
		p = mmap(NULL, pagesz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		ck_assert_ptr_ne(p, MAP_FAILED);
		return p;
	}
	fd = memfd_create("chain", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, pagesz), 0);
	p = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	close(fd);
	return p + pagesz;
}

/* A positive si_code the previous action gets as a fault's. */
static int positive_code(void)
{
	return fault_signal() == SIGSEGV ? SEGV_MAPERR : BUS_MCEERR_AO;
}

/* A real fault that is not the library's, on the alternate stack. */
static sigjmp_buf onstack_jump;

static void prev_onstack_jumps(int sig, siginfo_t *si, void *uc)
{
	volatile char here;

	(void)sig;
	(void)si;
	(void)uc;
	prev_calls++;
	prev_stack_addr = (void *)&here;
	siglongjmp(onstack_jump, 1);
}

START_TEST(test_chain_flag_onstack_fault)
{
	volatile uint8_t *p = foreign_fault_addr();
	vcache *c;

	set_altstack();
	install_prev(prev_onstack_jumps, NULL, SA_SIGINFO | SA_ONSTACK, 0);
	c = cache_on_top();
	if (sigsetjmp(onstack_jump, 1) == 0) {
		p[0] = 1;
		ck_abort_msg("the foreign store did not fault");
	}
	ck_assert_int_eq(prev_calls, 1);
	ck_assert(on_altstack(prev_stack_addr));
	/* The jump out left a working thread and library. */
	ck_assert(!sigbus_blocked());
	tcache_free(c);
}
END_TEST

/* --- SIG_IGN and SIG_DFL as the previous action ------------------------ */

static int queue_sigbus(int code, void *addr)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = fault_signal();
	si.si_code = code;
	si.si_addr = addr;
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(),
			    syscall(SYS_gettid), fault_signal(), &si);
}

static bool handler_is_library(const vcache *c)
{
	struct sigaction cur;

	ck_assert_int_eq(sigaction(fault_signal(), NULL, &cur), 0);
	if (!tcache_purges(c))
		return true; /* none installs nothing */
	return (cur.sa_flags & SA_SIGINFO) && cur.sa_handler != SIG_DFL &&
	       cur.sa_handler != SIG_IGN;
}

START_TEST(test_chain_ignored_sent)
{
	vcache *c;
	vcache_object *o;
	struct tobj t;

	signal(fault_signal(), SIG_IGN);
	c = tcache_new();
	tobj_init(&t, 73);
	o = tobj_create(c, "ign", 4 * pagesz, 0, &t);
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(queue_sigbus(SI_QUEUE, NULL), 0);
	/* A memory error the kernel reports asynchronously: also ignored. */
	if (fault_signal() == SIGBUS)
		ck_assert_int_eq(queue_sigbus(BUS_MCEERR_AO,
					      vcache_object_data(o)), 0);
	else
		printf("SKIP: part of test_chain_ignored_sent: SIGSEGV has no "
		       "asynchronous positive si_code (BUS_MCEERR_AO is "
		       "SIGBUS's)\n");
	ck_assert(handler_is_library(c));
	if (tcache_purges(c)) {
		ck_assert_uint_eq(purge_range(vcache_object_data(o),
					      4 * pagesz), 4);
		assert_content(o, t.seed, 0, 4 * pagesz);
	}
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

static int ignored_fault_child(void *arg)
{
	volatile uint8_t *p = arg;
	vcache *c = NULL;

	signal(fault_signal(), SIG_IGN);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	p[0] = 1; /* a real fault: the kernel never lets it be ignored */
	return 0;
}

START_TEST(test_chain_ignored_fault_dies)
{
	volatile uint8_t *p = foreign_fault_addr();
	int st;

	st = run_in_child(ignored_fault_child, (void *)p);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == fault_signal(),
		      "child status 0x%x, expected death by SIG%s", st,
		      sigabbrev_np(fault_signal()));
}
END_TEST

static int default_mce_child(void *arg)
{
	vcache *c = NULL;
	vcache_object *o = NULL;
	struct tobj t;

	(void)arg;
	signal(fault_signal(), SIG_DFL);
	tobj_init(&t, 74);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "mce", pagesz, 0, tobj_regen, &t,
					 0, &o) == 0);
	/* SIG_DFL's action for any SIGBUS (SIGSEGV) is to terminate. */
	queue_sigbus(positive_code(), vcache_object_data(o));
	fprintf(stderr, "child survived a SIG%s with SIG_DFL\n",
		sigabbrev_np(fault_signal()));
	return 0;
}

START_TEST(test_chain_default_positive_code_dies)
{
	int st = run_in_child(default_mce_child, NULL);

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == fault_signal(),
		      "child status 0x%x, expected death by SIG%s", st,
		      sigabbrev_np(fault_signal()));
}
END_TEST

/* A positive si_code to a previous handler: it gets it, we stay. */
START_TEST(test_chain_handler_positive_code)
{
	vcache *c;
	int x;

	install_prev(prev_siginfo, NULL, SA_SIGINFO, 0);
	c = cache_on_top();
	ck_assert_int_eq(queue_sigbus(positive_code(), &x), 0);
	ck_assert_int_eq(prev_calls, 1);
	ck_assert_int_eq(prev_code, positive_code());
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_INSTALLED);
	tcache_free(c);
}
END_TEST

/* --- someone else replaces the handler --------------------------------- */

START_TEST(test_chain_check_replaced)
{
	vcache *c = tcache_new();
	vcache_object *o;
	struct tobj t;

	ck_assert_errno(vcache_sigbus_check(2), EINVAL);
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_INSTALLED);
	signal(fault_signal(), SIG_DFL);
	if (!tcache_purges(c)) {
		/* Nothing is needed, so nothing is missing. */
		ck_assert_int_eq(vcache_sigbus_check(0),
				 VCACHE_SIGBUS_INSTALLED);
		tcache_free(c);
		SKIP_IF(true, "backend none installs no handler");
	}
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_REPLACED);
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_REPLACED);
	ck_assert_int_eq(vcache_sigbus_check(VCACHE_SIGBUS_REINSTALL),
			 VCACHE_SIGBUS_REPLACED);
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_INSTALLED);
	tobj_init(&t, 75);
	o = tobj_create(c, "back", 4 * pagesz, 0, &t);
	ck_assert_uint_eq(purge_range(vcache_object_data(o), 4 * pagesz), 4);
	assert_content(o, t.seed, 0, 4 * pagesz);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/*
 * A handler that does not chain replaces the library's: reported, left
 * alone by vcache_new() (it might chain), put back on request.
 */
static void non_chaining(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	prev_calls++;
}

START_TEST(test_chain_check_replaced_by_handler)
{
	struct sigaction sa;
	vcache *c, *c2;
	vcache_object *o;
	struct tobj t;

	/* No cache: nothing needed, nothing missing. */
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_INSTALLED);
	c = tcache_new();
	SKIP_UNLESS_PURGING(c);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = non_chaining;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(fault_signal(), &sa, NULL), 0);
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_REPLACED);
	c2 = tcache_new();
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_REPLACED);
	tcache_free(c2);
	ck_assert_int_eq(vcache_sigbus_check(VCACHE_SIGBUS_REINSTALL),
			 VCACHE_SIGBUS_REPLACED);
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_INSTALLED);
	/* Ours works again, and the replaced one is now the previous. */
	tobj_init(&t, 78);
	o = tobj_create(c, "again", 4 * pagesz, 0, &t);
	ck_assert_uint_eq(purge_range(vcache_object_data(o), 4 * pagesz), 4);
	assert_content(o, t.seed, 0, 4 * pagesz);
	prev_calls = 0;
	ck_assert_int_eq(kill(getpid(), fault_signal()), 0);
	ck_assert_int_eq(prev_calls, 1);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/* vcache_new() takes the place back from SIG_DFL by itself. */
START_TEST(test_chain_new_reinstalls)
{
	vcache *c1 = tcache_new(), *c2;
	vcache_object *o;
	struct tobj t;

	SKIP_UNLESS_PURGING(c1);
	signal(fault_signal(), SIG_DFL);
	c2 = tcache_new();
	ck_assert_int_eq(vcache_sigbus_check(0), VCACHE_SIGBUS_INSTALLED);
	tobj_init(&t, 76);
	o = tobj_create(c1, "c1", 4 * pagesz, 0, &t);
	ck_assert_uint_eq(purge_range(vcache_object_data(o), 4 * pagesz), 4);
	assert_content(o, t.seed, 0, 4 * pagesz);
	vcache_object_unref(o);
	tcache_free(c2);
	tcache_free(c1);
}
END_TEST

/*
 * A previous handler that resets SIGBUS to SIG_DFL when it gets a SIGBUS
 * it does not own (as Rust's std does): afterwards purged reads still
 * work, and the next foreign SIGBUS gets what the program now has: SIG_DFL.
 */
static void resetting_handler(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	prev_calls++;
	signal(sig, SIG_DFL);
}

static int resetting_child(void *arg)
{
	vcache *c = NULL;
	vcache_object *o = NULL;
	struct tobj t;

	(void)arg;
	install_prev(resetting_handler, NULL, SA_SIGINFO, 0);
	tobj_init(&t, 77);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_create(c, "rust", 4 * pagesz, 0, tobj_regen,
					 &t, 0, &o) == 0);
	CHILD_CHECK(kill(getpid(), fault_signal()) == 0);
	CHILD_CHECK(prev_calls == 1);
	if (vcache_backend(c) != VCACHE_BACKEND_NONE) {
		CHILD_CHECK(vcache_sigbus_check(0) == VCACHE_SIGBUS_INSTALLED);
		CHILD_CHECK(purge_range(vcache_object_data(o), 4 * pagesz) == 4);
		CHILD_CHECK(gen_check(vcache_object_data(o), t.seed, 0,
				      4 * pagesz) == SIZE_MAX);
	}
	kill(getpid(), fault_signal()); /* SIG_DFL now: dies */
	return 0;
}

START_TEST(test_chain_previous_resets_itself)
{
	int st = run_in_child(resetting_child, NULL);

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == fault_signal(),
		      "child status 0x%x, expected death by the second SIG%s",
		      st, sigabbrev_np(fault_signal()));
}
END_TEST

/* Backend none needs no handler and installs none. */
START_TEST(test_chain_none_installs_nothing)
{
	struct sigaction before, after;
	vcache *c;

	install_prev(prev_siginfo, NULL, SA_SIGINFO, 0);
	ck_assert_int_eq(sigaction(fault_signal(), NULL, &before), 0);
	c = tcache_new();
	ck_assert_int_eq(sigaction(fault_signal(), NULL, &after), 0);
	if (tcache_purges(c)) {
		tcache_free(c);
		SKIP_IF(true, "only for backend none (this is %s)",
			getenv("VCACHE_BACKEND") ? getenv("VCACHE_BACKEND") :
						   "auto");
	}
	ck_assert_ptr_eq((void *)after.sa_sigaction,
			 (void *)before.sa_sigaction);
	ck_assert_int_eq(after.sa_flags, before.sa_flags);
	tcache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chain");
	TCase *tc;

	tc = ttcase("later-handler");
	tcase_add_test(tc, test_chain_later_handler_pin_keeps_mask);
	tcase_add_test(tc, test_chain_later_handler_nested_regen);
	tcase_add_test(tc, test_chain_all_blocked_caller);
	tcase_add_test(tc, test_chain_all_blocked_create);
	suite_add_tcase(s, tc);

	tc = ttcase("previous-flags");
	tcase_add_test(tc, test_chain_flag_siginfo);
	tcase_add_test(tc, test_chain_flag_plain);
	tcase_add_test(tc, test_chain_flag_nodefer);
	tcase_add_test(tc, test_chain_flag_defer);
	tcase_add_test(tc, test_chain_flag_mask);
	tcase_add_test(tc, test_chain_flag_resethand);
	tcase_add_test(tc, test_chain_flag_onstack);
	tcase_add_test(tc, test_chain_flag_onstack_without_altstack);
	tcase_add_test(tc, test_chain_flag_onstack_fault);
	suite_add_tcase(s, tc);

	tc = ttcase("previous-disposition");
	tcase_add_test(tc, test_chain_ignored_sent);
	tcase_add_test(tc, test_chain_ignored_fault_dies);
	tcase_add_test(tc, test_chain_default_positive_code_dies);
	tcase_add_test(tc, test_chain_handler_positive_code);
	suite_add_tcase(s, tc);

	tc = ttcase("replaced");
	tcase_add_test(tc, test_chain_check_replaced);
	tcase_add_test(tc, test_chain_check_replaced_by_handler);
	tcase_add_test(tc, test_chain_new_reinstalls);
	tcase_add_test(tc, test_chain_previous_resets_itself);
	tcase_add_test(tc, test_chain_none_installs_nothing);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
