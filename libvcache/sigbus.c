/* SPDX-License-Identifier: MIT */
/*
 * sigbus.c - the process-wide SIGBUS handler
 *
 * One handler for every cache of the process, installed by the first
 * vcache_new() and restored by the last vcache_free(). A SIGBUS is ours
 * when it is a BUS_ADRERR fault at an address inside a live object; then
 * the chunk is regenerated (regen.c) and the access resumes. Everything
 * else - other si_codes such as BUS_MCEERR_AR, a truncated file mapping,
 * kill(2) - goes to the handler that was installed before us, with its
 * flags honoured, or to the default action.
 *
 * Flags: SA_SIGINFO for si_addr; SA_NODEFER because a regeneration callback
 * running inside the handler may touch another volatile object and fault
 * again on the same thread, and because the probe below leaves the handler
 * with siglongjmp() saved without a signal mask (no syscall per page). Not
 * SA_ONSTACK: callbacks may need more stack than a typical sigaltstack.
 * Consequence: a thread that blocks SIGBUS and touches a purged page is
 * killed by the kernel; do not block SIGBUS in such threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

size_t vc_page_size;

/* A page probe in progress on this thread (see vc_sigbus_probe_pages()). */
struct probe {
	uintptr_t start, end;
	sigjmp_buf env;
};
static _tls_ struct probe *volatile tls_probe;

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int install_count;
static bool installed; /* our handler is (or may still be) in the chain */
static struct sigaction old_action;

/* Hand a SIGBUS that is not ours to whoever would have had it. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction old = old_action;
	sigset_t saved, mask;

	/*
	 * sa_handler and sa_sigaction share storage: SIG_DFL / SIG_IGN are
	 * recognised whatever SA_SIGINFO says.
	 */
	if (old.sa_handler == SIG_IGN) {
		/* The kernel does not let a fault be ignored either. */
		old.sa_handler = SIG_DFL;
	}
	if (old.sa_handler == SIG_DFL) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(sig, &dfl, NULL);
		/*
		 * A fault re-executes the access on return and now gets the
		 * default action with the original si_addr; a sent signal
		 * would not come back, so send it again.
		 */
		if (si->si_code <= 0)
			raise(sig);
		return;
	}

	if (old.sa_flags & SA_RESETHAND) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		old_action = dfl; /* it fires once, as it would have */
	}

	/* Run it with the mask it asked for. */
	mask = old.sa_mask;
	if (!(old.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	pthread_sigmask(SIG_BLOCK, &mask, &saved);
	if (old.sa_flags & SA_SIGINFO)
		old.sa_sigaction(sig, si, uc);
	else
		old.sa_handler(sig);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	struct probe *p = tls_probe;
	uintptr_t addr = (uintptr_t)si->si_addr;
	struct vcache_object *o;

	if (si->si_code == BUS_ADRERR) {
		if (p && addr >= p->start && addr < p->end)
			siglongjmp(p->env, 1);
		o = vc_slab_find(addr);
		if (o) {
			vc_regen_fault(o, addr);
			errno = saved_errno;
			return;
		}
	}
	chain(sig, si, uc);
	errno = saved_errno;
}

int vc_sigbus_install(void)
{
	struct sigaction sa;
	int err = 0;

	pthread_mutex_lock(&install_lock);
	if (install_count == 0 && !installed) {
		vc_page_size = (size_t)sysconf(_SC_PAGESIZE);
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = sigbus_handler;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, &old_action) < 0)
			err = -errno;
		else
			installed = true;
	}
	if (err == 0)
		install_count++;
	pthread_mutex_unlock(&install_lock);
	return err;
}

/*
 * Restore the previous handler only if ours is still the current one. If
 * someone installed a handler on top of ours meanwhile, restoring would
 * throw theirs away; ours stays in their chain instead (harmless: with no
 * objects left it passes everything on), and a later vcache_new() reuses
 * it rather than installing a second copy that would chain to itself.
 */
void vc_sigbus_uninstall(void)
{
	struct sigaction cur;

	pthread_mutex_lock(&install_lock);
	if (--install_count == 0 && installed &&
	    sigaction(SIGBUS, NULL, &cur) == 0 &&
	    (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == sigbus_handler) {
		sigaction(SIGBUS, &old_action, NULL);
		installed = false;
	}
	pthread_mutex_unlock(&install_lock);
}

/*
 * Write every page of [addr, addr + len) with an atomic add of zero, which
 * stores back the value it read: for a lazy-free page that cancels the
 * pending free (see backend-uffd.c), for a purged page it faults and the
 * handler jumps back here. Returns whether any page was purged. Normal
 * context only; the caller holds the chunk BUSY so nobody else installs
 * pages meanwhile.
 */
bool vc_sigbus_probe_pages(void *addr, size_t len)
{
	struct probe p;
	volatile size_t off = 0;
	volatile bool purged = false;

	p.start = (uintptr_t)addr;
	p.end = p.start + len;
	tls_probe = &p;
	/* The handler must see the probe before the first access. */
	atomic_signal_fence(memory_order_seq_cst);
	while (off < len) {
		if (sigsetjmp(p.env, 0)) {
			purged = true;
			off += vc_page_size;
			continue;
		}
		__atomic_fetch_add((unsigned long *)((uintptr_t)addr + off), 0,
				   __ATOMIC_RELAXED);
		off += vc_page_size;
	}
	tls_probe = NULL;
	return purged;
}
