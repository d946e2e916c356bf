/* SPDX-License-Identifier: MIT */
/*
 * chain.c - installing the library's fault handlers, and handing a SIGBUS
 * or SIGSEGV that is not ours to the previous action
 *
 * Both of the library's fault handlers use this code: SIGBUS (sigbus.c,
 * backends uffd and vrange) and SIGSEGV (sigsegv.c, backend soft). Each
 * signal has its own install count and previous action; the rules below
 * are the same, with SIGBUS's one asynchronous positive code
 * (BUS_MCEERR_AO) the only difference. "SIGBUS" below stands for either.
 *
 * Installing: the first vc_chain_install() puts our handler on top and
 * remembers what it replaced as the previous action; later ones only count
 * (and take the place back from a SIG_DFL / SIG_IGN set since: those cannot
 * chain to us, and our objects would kill the process on their next purged
 * read). Our flags: SA_SIGINFO for si_addr; SA_NODEFER because a
 * regeneration callback running inside the handler may touch another
 * volatile object and fault again on the same thread; SA_RESTART; not
 * SA_ONSTACK (callbacks may need more stack than a typical sigaltstack;
 * we move to the alternate stack for a previous handler that asked for
 * one, see below). The last vc_chain_uninstall() restores the previous
 * action only if ours is still the current one: if someone installed a
 * handler on top of ours meanwhile, restoring would throw theirs away;
 * ours stays in their chain instead (harmless: with no objects left it
 * passes everything on), and a later install reuses it rather than
 * installing a second copy that would chain to itself.
 *
 * The previous action is applied as the kernel would have applied it had
 * the library never installed a handler:
 *
 *  - SIG_DFL: the process dies of SIGBUS. We reset the action and queue the
 *    signal again with its own siginfo (rt_tgsigqueueinfo() may send any
 *    si_code to the calling thread), so a fault, a BUS_MCEERR_AO and a
 *    sigqueue()d signal all end the way they would have (a fault does not
 *    count on being re-executed, which an asynchronous signal never is).
 *  - SIG_IGN: a sent signal (si_code <= 0) and BUS_MCEERR_AO (the kernel
 *    sends that one like kill() does) are ignored and our handler stays.
 *    The other positive codes are synchronous faults, which the kernel
 *    never lets a program ignore: default action. (A program that queues
 *    itself a fault si_code with SIGBUS ignored gets the default action
 *    too: from the siginfo alone the two cannot be told apart.)
 *  - a handler: run with its sa_mask, SIGBUS itself added unless
 *    SA_NODEFER, reset to SIG_DFL first if SA_RESETHAND, called with
 *    (sig, info, context) if SA_SIGINFO else (sig), and on the thread's
 *    alternate signal stack if SA_ONSTACK and the thread has one and is not
 *    on it already. The kernel would have switched stacks on delivery; we
 *    switch ourselves for the call (x86-64; elsewhere it runs on the
 *    current stack, see vcache.h). We switch rather than re-deliver the
 *    signal because re-delivery would need the previous action installed
 *    process-wide for a moment, racing every other thread's faults.
 *
 * If the previous handler resets the SIGBUS action to SIG_DFL or SIG_IGN
 * while it runs (Rust's std resets it to SIG_DFL for a sent SIGBUS it does
 * not own), that change is taken as a change of the *previous* action -
 * what the program would have without us - and our handler is put back on
 * top, so later purged reads keep working. A new handler installed there
 * is left alone: it may chain to us, and going on top of it would loop.
 *
 * No cycle detection: a handler may leave by siglongjmp() (test harnesses,
 * crash reporters do), so "this thread is inside a chain call" cannot be
 * tracked reliably. Cycles are prevented instead: we only put ourselves
 * back on top of SIG_DFL / SIG_IGN by ourselves, and vcache.h tells
 * programs not to use VCACHE_SIGBUS_REINSTALL over a handler that chains to
 * the library.
 *
 * vc_chain() and vc_chain_reinstall() run in signal context: system
 * calls, atomics, no locks. The previous action lives in two slots
 * published by an index, so a handler never reads one that is half
 * written. Install, uninstall and check are normal context, serialised
 * per signal by a mutex.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"

/* One per signal: [0] SIGBUS, [1] SIGSEGV. */
static struct fault_signal {
	void (*const handler)(int sig, siginfo_t *si, void *uc);
	pthread_mutex_t install_lock;
	unsigned int install_count; /* under install_lock */
	bool installed; /* ours is (or may still be) in the chain */
	/* The previous action: two slots, the current one by index. */
	struct sigaction slots[2];
	_Atomic unsigned int index;
} signals[2] = {
	{ .handler = vc_sigbus_handler,
	  .install_lock = PTHREAD_MUTEX_INITIALIZER },
	{ .handler = vc_sigsegv_handler,
	  .install_lock = PTHREAD_MUTEX_INITIALIZER },
};

static struct fault_signal *fault_signal(int sig)
{
	return &signals[sig == SIGSEGV];
}

static void set_previous(int sig, const struct sigaction *sa)
{
	struct fault_signal *f = fault_signal(sig);
	unsigned int next = (atomic_load(&f->index) + 1) & 1;

	f->slots[next] = *sa;
	atomic_store(&f->index, next);
}

static void get_previous(int sig, struct sigaction *ret)
{
	struct fault_signal *f = fault_signal(sig);

	*ret = f->slots[atomic_load(&f->index) & 1];
}

bool vc_chain_is_ours(int sig, const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) &&
	       sa->sa_sigaction == fault_signal(sig)->handler;
}

/* Put our handler on top; *prev receives what it replaces. */
static int install_on_top(int sig, struct sigaction *prev)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fault_signal(sig)->handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, prev) < 0)
		return -errno;
	return 0;
}

int vc_chain_reinstall(int sig)
{
	struct sigaction prev;
	int err = install_on_top(sig, &prev);

	if (err == 0 && !vc_chain_is_ours(sig, &prev))
		set_previous(sig, &prev);
	return err;
}

int vc_chain_install(int sig)
{
	struct fault_signal *f = fault_signal(sig);
	struct sigaction prev, cur;
	int err = 0;

	pthread_mutex_lock(&f->install_lock);
	if (f->install_count == 0 && !f->installed) {
		err = install_on_top(sig, &prev);
		if (err == 0) {
			set_previous(sig, &prev);
			f->installed = true;
		}
	} else if (sigaction(sig, NULL, &cur) == 0 &&
		   !vc_chain_is_ours(sig, &cur) &&
		   (cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN)) {
		/* Reset since: their action becomes the previous one. */
		err = vc_chain_reinstall(sig);
	}
	if (err == 0)
		f->install_count++;
	pthread_mutex_unlock(&f->install_lock);
	return err;
}

void vc_chain_uninstall(int sig)
{
	struct fault_signal *f = fault_signal(sig);
	struct sigaction cur, prev;

	pthread_mutex_lock(&f->install_lock);
	if (--f->install_count == 0 && f->installed &&
	    sigaction(sig, NULL, &cur) == 0 && vc_chain_is_ours(sig, &cur)) {
		get_previous(sig, &prev);
		sigaction(sig, &prev, NULL);
		f->installed = false;
	}
	pthread_mutex_unlock(&f->install_lock);
}

int vc_chain_check(int sig, bool reinstall)
{
	struct fault_signal *f = fault_signal(sig);
	struct sigaction cur;
	int r = 0;

	pthread_mutex_lock(&f->install_lock);
	if (f->install_count == 0) {
		/* No cache needs this handler: nothing is missing. */
		pthread_mutex_unlock(&f->install_lock);
		return 0;
	}
	if (sigaction(sig, NULL, &cur) < 0) {
		r = -errno;
	} else if (!vc_chain_is_ours(sig, &cur)) {
		r = 1;
		if (reinstall) {
			int err = vc_chain_reinstall(sig);

			if (err < 0)
				r = err;
		}
	}
	pthread_mutex_unlock(&f->install_lock);
	return r;
}

/* A positive si_code the kernel sends like kill() does (not a fault). */
static bool async_code(int sig, int code)
{
	return sig == SIGBUS && code == BUS_MCEERR_AO;
}

/* Die of sig with the given siginfo, as the default action would. */
static void default_action(int sig, siginfo_t *si)
{
	struct sigaction dfl;
	sigset_t set;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	/* Queue it, then make sure it can be delivered: it is, at once. */
	vc_signal_self(sig, si);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/*
	 * Not reached for SIGBUS or SIGSEGV. Should the kernel still hold it back,
	 * returning re-executes a fault, which then meets SIG_DFL.
	 */
}

#if defined(__x86_64__)
/*
 * vc_call_on_stack(top, fn, sig, si, uc): call fn(sig, si, uc) with the
 * stack pointer at top (rounded down to 16 bytes), then come back. The
 * frame pointer keeps the old stack; CFI lets unwinders (crash reporters
 * walking the stack from the previous handler) get through.
 */
__asm__(".text\n"
	".p2align 4\n"
	".type vc_call_on_stack, @function\n"
	"vc_call_on_stack:\n"
	"\t.cfi_startproc\n"
	"\tpushq %rbp\n"
	"\t.cfi_def_cfa_offset 16\n"
	"\t.cfi_offset %rbp, -16\n"
	"\tmovq %rsp, %rbp\n"
	"\t.cfi_def_cfa_register %rbp\n"
	"\tandq $-16, %rdi\n"
	"\tmovq %rdi, %rsp\n"
	"\tmovq %rsi, %rax\n"
	"\tmovl %edx, %edi\n"
	"\tmovq %rcx, %rsi\n"
	"\tmovq %r8, %rdx\n"
	"\tcall *%rax\n"
	"\tmovq %rbp, %rsp\n"
	"\tpopq %rbp\n"
	"\t.cfi_def_cfa %rsp, 8\n"
	"\tret\n"
	"\t.cfi_endproc\n"
	".size vc_call_on_stack, .-vc_call_on_stack\n");
void vc_call_on_stack(void *top, void *fn, int sig, siginfo_t *si, void *uc)
	__attribute__((visibility("hidden")));

/* Where to run a handler that asked for SA_ONSTACK; NULL: right here. */
static void *altstack_top(void)
{
	stack_t ss;

	if (sigaltstack(NULL, &ss) < 0 || (ss.ss_flags & SS_DISABLE) ||
	    (ss.ss_flags & SS_ONSTACK) || !ss.ss_sp || !ss.ss_size)
		return NULL;
	return (char *)ss.ss_sp + ss.ss_size;
}
#endif

static void call_handler(const struct sigaction *sa, int sig, siginfo_t *si,
			 void *uc)
{
#if defined(__x86_64__)
	void *top = (sa->sa_flags & SA_ONSTACK) ? altstack_top() : NULL;

	if (top) {
		/* Both kinds take sig in %edi; a plain one ignores the rest. */
		vc_call_on_stack(top, (sa->sa_flags & SA_SIGINFO) ?
				 (void *)sa->sa_sigaction :
				 (void *)sa->sa_handler, sig, si, uc);
		return;
	}
#endif
	if (sa->sa_flags & SA_SIGINFO)
		sa->sa_sigaction(sig, si, uc);
	else
		sa->sa_handler(sig);
}

static bool same_action(const struct sigaction *a, const struct sigaction *b)
{
	return a->sa_handler == b->sa_handler && a->sa_flags == b->sa_flags;
}

void vc_chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction prev, before, after;
	sigset_t mask, saved;
	bool have_before;

	get_previous(sig, &prev);

	/* sa_handler and sa_sigaction share storage: test it either way. */
	if (prev.sa_handler == SIG_IGN) {
		if (si->si_code <= 0 || async_code(sig, si->si_code))
			return;
		default_action(sig, si);
		return;
	}
	if (prev.sa_handler == SIG_DFL) {
		default_action(sig, si);
		return;
	}

	if (prev.sa_flags & SA_RESETHAND) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		set_previous(sig, &dfl); /* fires once, as it would have */
	}

	/* Run it with the mask the kernel would have given it. */
	mask = prev.sa_mask;
	if (!(prev.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	have_before = sigaction(sig, NULL, &before) == 0;
	pthread_sigmask(SIG_BLOCK, &mask, &saved);
	call_handler(&prev, sig, si, uc);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);

	/* Did it change the action while it ran? See the top of the file. */
	if (have_before && sigaction(sig, NULL, &after) == 0 &&
	    !same_action(&before, &after) && !vc_chain_is_ours(sig, &after) &&
	    (after.sa_handler == SIG_DFL || after.sa_handler == SIG_IGN))
		(void)vc_chain_reinstall(sig);
}
