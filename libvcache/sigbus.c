/* SPDX-License-Identifier: MIT */
/*
 * sigbus.c - the process-wide SIGBUS handler
 *
 * One handler for every cache of the process whose backend can purge
 * (backend none needs none), installed by the first such vcache_new() and
 * restored by the last vcache_free() (chain.c does both, for this handler
 * and soft's SIGSEGV one, by the same rules). A SIGBUS is ours when it is a
 * BUS_ADRERR fault at an address inside a live object; then the chunk is
 * regenerated (regen.c) and the access resumes. Everything else - other
 * si_codes such as BUS_MCEERR_AR/AO, a truncated file mapping, kill(2),
 * sigqueue(3) - goes to the action that was installed before us, applied as
 * the kernel would have applied it (chain.c).
 *
 * Our own flags (chain.c): SA_SIGINFO for si_addr; SA_NODEFER because a
 * regeneration callback running inside the handler may touch another
 * volatile object and fault again on the same thread. Not SA_ONSTACK:
 * callbacks may need more stack than a typical sigaltstack (chain.c moves
 * to the alternate stack for a previous handler that asked for one). We
 * cannot rely on our flags, though: a handler installed after us may call
 * us with SIGBUS blocked (the ordinary sigaction() without SA_NODEFER
 * does), and TSan runs every handler with all signals blocked. So every
 * piece of our work that may fault again unblocks SIGBUS itself (regen.c,
 * the probe below), and every jump out of a handler restores the signal
 * mask it jumps to.
 *
 * A thread that blocks SIGBUS *itself* and then touches a purged page is
 * killed by the kernel before any handler runs; nothing can be done there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

/*
 * A page probe in progress on this thread (vc_sigbus_probe_pages()).
 * page is the page being written at this moment (0 between writes).
 */
struct probe {
	volatile uintptr_t page;
	sigset_t mask; /* to restore when jumping back: entry mask - SIGBUS, SIGSEGV */
	sigjmp_buf env;
};
static _tls_ struct probe *volatile tls_probe;

/*
 * SIGBUS (and SIGSEGV) held unblocked by vc_sigbus_open() on this thread,
 * in normal context (a pin call): probes and regenerations inside it need
 * no system call of their own. mask is the caller's mask without them.
 */
static _tls_ struct {
	unsigned int depth;
	sigset_t blocked; /* of SIGBUS, SIGSEGV: what to block again */
	sigset_t mask;
} tls_open;

/*
 * The write that makes a lazy-free page non-volatile again: an atomic
 * read-modify-write that stores the value it read. It must be a real
 * store with every compiler: clang folds __atomic_fetch_add(p, 0) into a
 * plain load, which writes nothing (issue 7, fault 9). On x86-64 it is one
 * instruction in assembly, which also gives the handler its exact address
 * (so only a fault *at this instruction* is claimed by the probe, never a
 * fault of a signal handler that interrupted the probe), and keeps
 * ThreadSanitizer from reporting the same-value store as a race with the
 * program's plain reads. Elsewhere a compare-and-swap loop through a
 * volatile pointer, which compilers do not fold.
 */
#if defined(__x86_64__)
__asm__(".text\n"
	".p2align 4\n"
	".type vc_probe_write, @function\n"
	"vc_probe_write:\n"
	"\t.cfi_startproc\n"
	"vc_probe_insn:\n"
	"\tlock addq $0, (%rdi)\n"
	"\tret\n"
	"\t.cfi_endproc\n"
	".size vc_probe_write, .-vc_probe_write\n");
void vc_probe_write(volatile void *p) __attribute__((visibility("hidden")));
extern const char vc_probe_insn[] __attribute__((visibility("hidden")));

static bool fault_at_probe(void *uc)
{
	/* A chaining handler that passes no context: trust the address. */
	if (!uc)
		return true;
	return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP] ==
	       (uintptr_t)vc_probe_insn;
}
#else
static void vc_probe_write(volatile void *p)
{
	volatile unsigned long *w = p;
	unsigned long v = *w;

	while (!__atomic_compare_exchange_n(w, &v, v, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* No portable instruction address: the page alone decides (see header). */
static bool fault_at_probe(void *uc)
{
	(void)uc;
	return true;
}
#endif

void vc_sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	struct probe *p = tls_probe;
	uintptr_t addr = (uintptr_t)si->si_addr;

	if (si->si_code == BUS_ADRERR && p && p->page &&
	    (addr & ~(uintptr_t)(vc_page_size - 1)) == p->page &&
	    fault_at_probe(uc)) {
		/*
		 * sigjmp_buf saved without the mask (no system call per
		 * page); whoever called us may have blocked SIGBUS (or
		 * everything): put back the probe's own mask.
		 */
		pthread_sigmask(SIG_SETMASK, &p->mask, NULL);
		siglongjmp(p->env, 1);
	}
	vc_fault_or_chain(sig, si, uc, si->si_code == BUS_ADRERR);
	errno = saved_errno;
}

/*
 * Every handler the library needs: SIGBUS for any cache that can purge,
 * and SIGSEGV too while a soft cache exists (sigsegv.c). Replaced if
 * either is; REINSTALL puts back each one that is.
 */
_public_ int vcache_sigbus_check(unsigned int flags)
{
	bool reinstall = flags & VCACHE_SIGBUS_REINSTALL;
	int r, segv;

	if (flags & ~VCACHE_SIGBUS_REINSTALL)
		return -EINVAL;
	/* 0 = VCACHE_SIGBUS_INSTALLED, 1 = VCACHE_SIGBUS_REPLACED. */
	r = vc_chain_check(SIGBUS, reinstall);
	segv = vc_chain_check(SIGSEGV, reinstall);
	if (r >= 0 && segv != VCACHE_SIGBUS_INSTALLED)
		r = segv;
	return r;
}

static void fault_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGBUS);
	sigaddset(set, SIGSEGV);
}

/* *ret_after (may be NULL): the mask now in force. One system call. */
static void unblock(sigset_t *ret_blocked, sigset_t *ret_after)
{
	sigset_t set, entry;

	fault_set(&set);
	sigemptyset(&entry);
	pthread_sigmask(SIG_UNBLOCK, &set, &entry);
	sigemptyset(ret_blocked);
	if (sigismember(&entry, SIGBUS))
		sigaddset(ret_blocked, SIGBUS);
	if (sigismember(&entry, SIGSEGV))
		sigaddset(ret_blocked, SIGSEGV);
	if (ret_after) {
		sigdelset(&entry, SIGBUS);
		sigdelset(&entry, SIGSEGV);
		*ret_after = entry;
	}
}

void vc_fault_unblock(sigset_t *ret_blocked)
{
	unblock(ret_blocked, NULL);
}

void vc_fault_reblock(const sigset_t *blocked)
{
	if (sigismember(blocked, SIGBUS) || sigismember(blocked, SIGSEGV))
		pthread_sigmask(SIG_BLOCK, blocked, NULL);
}

/*
 * Unblock SIGBUS and SIGSEGV on this thread until vc_sigbus_close()
 * (nests): whatever the caller's mask, a purged page touched by a probe or
 * by a callback must reach the handler, not kill the process. Normal
 * context only: a signal handler landing meanwhile runs with its own mask,
 * so the fault path never relies on this and unblocks for itself.
 */
void vc_sigbus_open(void)
{
	if (tls_open.depth++)
		return;
	unblock(&tls_open.blocked, &tls_open.mask);
}

void vc_sigbus_close(void)
{
	if (--tls_open.depth)
		return;
	vc_fault_reblock(&tls_open.blocked);
}

/*
 * Write every page of [addr, addr + len) with vc_probe_write(): for a
 * lazy-free page that cancels the pending free (see backend-uffd.c), for a
 * purged page it faults and the handler jumps back here. Returns whether
 * any page was purged. Normal context only; the caller holds the chunk
 * BUSY so nobody else installs pages meanwhile.
 *
 * SIGBUS is unblocked for the duration whatever the caller's mask (a
 * purged page would otherwise kill the process), and the caller's mask is
 * what the handler restores when it jumps back: no system call when the
 * caller opened SIGBUS already (pin.c, once per pin call), else one or two.
 */
bool vc_sigbus_probe_pages(void *addr, size_t len)
{
	struct probe p;
	volatile size_t off = 0;
	volatile bool purged = false;

	vc_sigbus_open();
	p.mask = tls_open.mask;
	p.page = 0;
	tls_probe = &p;
	while (off < len) {
		if (sigsetjmp(p.env, 0)) {
			p.page = 0;
			purged = true;
			off += vc_page_size;
			continue;
		}
		p.page = (uintptr_t)addr + off;
		/* The handler must see the page before the access. */
		atomic_signal_fence(memory_order_seq_cst);
		vc_probe_write((volatile void *)((uintptr_t)addr + off));
		atomic_signal_fence(memory_order_seq_cst);
		p.page = 0;
		off += vc_page_size;
	}
	tls_probe = NULL;
	vc_sigbus_close();
	return purged;
}
