/* SPDX-License-Identifier: MIT */
/*
 * sigsegv.c - the process-wide SIGSEGV handler of the soft backend
 *
 * The soft backend purges a chunk by making its pages PROT_NONE and
 * discarding them; a touch then raises SIGSEGV (SEGV_ACCERR). Which
 * addresses are ours is kept in a GNU libsigsegv area dispatcher
 * (sigsegv_register() / sigsegv_dispatch()): an AVL tree of object
 * mappings, so the handler finds the area in O(log n) with plain loads.
 *
 * We install the signal handler with sigaction() ourselves instead of
 * libsigsegv's sigsegv_install_handler(), because of what that function
 * does (libsigsegv 2.14, src/handler-unix.c, read for this):
 *  - it overwrites the SIGSEGV disposition without remembering the
 *    previous one, and when its handler declines a fault it resets SIGSEGV
 *    to SIG_DFL: a handler installed before it (a runtime, a crash
 *    reporter, ASan) is lost;
 *  - it keeps one global handler per process, so a program using
 *    libsigsegv itself and this library would replace each other's;
 *  - it installs without SA_NODEFER, so a regeneration callback that
 *    touches another purged object (nested regeneration) would fault with
 *    SIGSEGV blocked, and the kernel kills the process.
 * Our handler therefore has the same flags and rules as the SIGBUS one
 * (sigbus.c): SA_SIGINFO | SA_NODEFER | SA_RESTART; every SIGSEGV that is
 * not a SEGV_ACCERR inside a registered area goes to the action installed
 * before ours through the same code (chain.c: its mask and flags, SIG_IGN,
 * SIG_DFL, a previous handler that resets the action); regeneration
 * unblocks SIGBUS and SIGSEGV whatever the entry mask (regen.c); the
 * previous action is restored by the last put only if ours is still the
 * current one; vcache_sigbus_check() covers this handler too.
 *
 * libsigsegv's dispatcher is not thread-safe and sigsegv_register()
 * allocates, so changes happen in normal context under a mutex, and the
 * tree walk in the handler is bracketed by a reader count: a writer sets
 * WRITER, waits for readers to leave (a walk is a few loads), changes the
 * tree and wakes readers that arrived meanwhile (futex). Regeneration runs
 * after the walk, outside the reader section, so a slow callback never
 * holds up a writer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sigsegv.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define WRITER (1u << 31)

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static sigsegv_dispatcher dispatcher; /* changed only with WRITER set */
static _Atomic uint32_t guard;        /* WRITER | number of readers */
static _tls_ void *tls_found;

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int install_count;
static bool installed; /* our handler is (or may still be) in the chain */

static void reader_enter(void)
{
	uint32_t g = atomic_load(&guard);

	for (;;) {
		if (g & WRITER) {
			syscall(SYS_futex, (uint32_t *)&guard,
				FUTEX_WAIT_PRIVATE, g, NULL, NULL, 0);
			g = atomic_load(&guard);
			continue;
		}
		if (atomic_compare_exchange_weak(&guard, &g, g + 1))
			return;
	}
}

static void reader_exit(void)
{
	atomic_fetch_sub(&guard, 1);
}

/* registry_lock held. */
static void writer_enter(void)
{
	atomic_fetch_or(&guard, WRITER);
	while (atomic_load(&guard) & ~WRITER)
		sched_yield();
}

static void writer_exit(void)
{
	atomic_fetch_and(&guard, ~WRITER);
	syscall(SYS_futex, (uint32_t *)&guard, FUTEX_WAKE_PRIVATE, INT32_MAX,
		NULL, NULL, 0);
}

/* The area handler only reports which area matched; see above. */
static int area_found(void *fault_address, void *arg)
{
	(void)fault_address;
	tls_found = arg;
	return 1;
}

int vc_sigsegv_register(void *addr, size_t len, void *arg, void **ret_ticket)
{
	void *ticket;

	pthread_mutex_lock(&registry_lock);
	writer_enter();
	ticket = sigsegv_register(&dispatcher, addr, len, area_found, arg);
	writer_exit();
	pthread_mutex_unlock(&registry_lock);
	if (!ticket)
		return -ENOMEM;
	*ret_ticket = ticket;
	return 0;
}

void vc_sigsegv_unregister(void *ticket)
{
	pthread_mutex_lock(&registry_lock);
	writer_enter();
	sigsegv_unregister(&dispatcher, ticket);
	writer_exit();
	pthread_mutex_unlock(&registry_lock);
}

void *vc_sigsegv_lookup(uintptr_t addr)
{
	void *found = NULL;

	reader_enter();
	tls_found = NULL;
	if (sigsegv_dispatch(&dispatcher, (void *)addr))
		found = tls_found;
	reader_exit();
	return found;
}

static void sigsegv_handler(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	uintptr_t addr = (uintptr_t)si->si_addr;

	if (si->si_code == SEGV_ACCERR && vc_sigsegv_lookup(addr)) {
		struct vcache_object *o = vc_slab_find(addr);

		if (o) {
			vc_regen_fault(o, addr);
			errno = saved_errno;
			return;
		}
	}
	vc_chain(sig, si, uc);
	errno = saved_errno;
}

static bool action_is_ours(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) &&
	       sa->sa_sigaction == sigsegv_handler;
}

bool vc_sigsegv_is_ours(const struct sigaction *sa)
{
	return action_is_ours(sa);
}

/* Put our handler on top; *prev receives what it replaces. */
static int install_on_top(struct sigaction *prev)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsegv_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, prev) < 0)
		return -errno;
	return 0;
}

/* Signal context allowed: chain.c re-installs after a previous handler. */
int vc_sigsegv_reinstall(void)
{
	struct sigaction prev;
	int err = install_on_top(&prev);

	if (err == 0 && !action_is_ours(&prev))
		vc_chain_set_previous(SIGSEGV, &prev);
	return err;
}

/* Same rules as vc_sigbus_install(): see sigbus.c. */
int vc_sigsegv_install(void)
{
	struct sigaction prev, cur;
	int err = 0;

	pthread_mutex_lock(&install_lock);
	if (install_count == 0 && !installed) {
		err = install_on_top(&prev);
		if (err == 0) {
			vc_chain_set_previous(SIGSEGV, &prev);
			installed = true;
		}
	} else if (sigaction(SIGSEGV, NULL, &cur) == 0 &&
		   !action_is_ours(&cur) &&
		   (cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN)) {
		/* Reset since: SIG_DFL and SIG_IGN cannot chain to us. */
		err = vc_sigsegv_reinstall();
	}
	if (err == 0)
		install_count++;
	pthread_mutex_unlock(&install_lock);
	return err;
}

/* The previous action comes back only if ours is still the current one. */
void vc_sigsegv_uninstall(void)
{
	struct sigaction cur, prev;

	pthread_mutex_lock(&install_lock);
	if (--install_count == 0 && installed &&
	    sigaction(SIGSEGV, NULL, &cur) == 0 && action_is_ours(&cur)) {
		vc_chain_get_previous(SIGSEGV, &prev);
		sigaction(SIGSEGV, &prev, NULL);
		installed = false;
	}
	pthread_mutex_unlock(&install_lock);
}

/*
 * vcache_sigbus_check()'s SIGSEGV half: while a soft cache exists its
 * handler is one the library needs.
 */
int vc_sigsegv_check(bool reinstall)
{
	struct sigaction cur;
	int r = 0;

	pthread_mutex_lock(&install_lock);
	if (install_count == 0) {
		pthread_mutex_unlock(&install_lock);
		return 0;
	}
	if (sigaction(SIGSEGV, NULL, &cur) < 0) {
		r = -errno;
	} else if (!action_is_ours(&cur)) {
		r = 1;
		if (reinstall) {
			int err = vc_sigsegv_reinstall();

			if (err < 0)
				r = err;
		}
	}
	pthread_mutex_unlock(&install_lock);
	return r;
}

/*
 * fork(): the registry must not be copied half-changed. These handlers are
 * registered before fork.c's (cache.c), so their prepare runs after
 * fork.c has taken every cache and object lock: a thread removing an
 * object (object lock order: ... -> registry) cannot be holding a lock
 * that fork.c still needs.
 */
static void fork_prepare(void)
{
	pthread_mutex_lock(&registry_lock);
}

static void fork_unlock(void)
{
	pthread_mutex_unlock(&registry_lock);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_err;

static void atfork_once(void)
{
	once_err = -pthread_atfork(fork_prepare, fork_unlock, fork_unlock);
}

int vc_sigsegv_atfork_register(void)
{
	pthread_once(&once, atfork_once);
	return once_err;
}
