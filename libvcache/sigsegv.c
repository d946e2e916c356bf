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
 * Our handler is therefore installed, counted, re-installed and restored
 * by the very code that does it for the SIGBUS one (chain.c, with the
 * same flags SA_SIGINFO | SA_NODEFER | SA_RESTART): every SIGSEGV that is
 * not a SEGV_ACCERR inside a registered area goes to the action installed
 * before ours (its mask and flags, SIG_IGN, SIG_DFL, a previous handler
 * that resets the action); regeneration unblocks SIGBUS and SIGSEGV
 * whatever the entry mask (regen.c); the previous action is restored by
 * the last put only if ours is still the current one;
 * vcache_sigbus_check() covers this handler too.
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
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sigsegv.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

#define WRITER (1u << 31)

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static sigsegv_dispatcher dispatcher; /* changed only with WRITER set */
static _Atomic uint32_t guard;        /* WRITER | number of readers */
static _tls_ void *volatile tls_found; /* read around signal handlers */

static void reader_enter(void)
{
	uint32_t g = atomic_load(&guard);

	for (;;) {
		if (g & WRITER) {
			(void)vc_futex_wait((uint32_t *)&guard, g);
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
	(void)vc_futex_wake_all((uint32_t *)&guard);
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

/*
 * Reentrant: a signal handler on this thread may look up another address
 * between the area handler's store and our read (a SIGSEGV handler that
 * interrupted a lookup of soft's); each lookup puts tls_found back as it
 * found it, so an interrupted one still reads its own area.
 */
void *vc_sigsegv_lookup(uintptr_t addr)
{
	void *found = NULL, *outer = tls_found;

	reader_enter();
	tls_found = NULL;
	if (sigsegv_dispatch(&dispatcher, (void *)addr))
		found = tls_found;
	tls_found = outer;
	reader_exit();
	return found;
}

void vc_sigsegv_handler(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;

	vc_fault_or_chain(sig, si, uc, si->si_code == SEGV_ACCERR &&
			  vc_sigsegv_lookup((uintptr_t)si->si_addr));
	errno = saved_errno;
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
