/* SPDX-License-Identifier: MIT */
/*
 * fork.c - keeping caches correct across fork()
 *
 * The child gets copies of every object mapping, but not the userfaultfd
 * registration (the library does not use UFFD_FEATURE_EVENT_FORK: that
 * would need a thread reading fork events). Without it, a page purged
 * before or after the fork would silently read as zeros in the child. So
 * in the child, before fork() returns, the backend reopens its process-wide
 * state and every arena (once each: arena.c) and every object with a
 * mapping of its own is attached again; purged pages then fault and
 * regenerate in the child like in the parent.
 *
 * Locks: prepare takes every library lock in the documented order, so the
 * child inherits them in a consistent, unlocked state and no object is half
 * way through a pin. That is only safe because no library lock is ever held
 * across program code or a wait for another thread (pin.c): a regeneration
 * callback may fork() - from a pin, vcache_read/write or an optimistic
 * fault - and prepare then finds every lock free or soon free. The idle
 * threads do not exist in the child; they are restarted by the next delayed
 * unpin (until then pending chunks simply stay non-volatile).
 *
 * A child that cannot re-arm (userfaultfd(2) refused by a seccomp filter
 * applied after the caches were made, say) lives: its caches enter the
 * "lost" state (lost.c) and their objects become inaccessible instead of
 * reading zeros. A child that only exits or execs never notices.
 *
 * Not covered: vfork() shares the address space and the descriptor, so it
 * is fine until exec/_exit; a raw clone() without CLONE_VM bypasses these
 * handlers, and its copy of a purged page reads as zeros.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

static void fork_prepare(void)
{
	vc_uffd_fork_lock(true);
	pthread_mutex_lock(&vc_caches_lock);
	for (struct vcache *c = vc_caches; c; c = c->next) {
		pthread_mutex_lock(&c->lock);
		for (struct vcache_object *o = c->objects; o; o = o->next)
			pthread_mutex_lock(&o->lock);
	}
	vc_arena_fork_lock(true);
	vc_slab_lock();
}

static void fork_unlock(void)
{
	vc_slab_unlock();
	vc_arena_fork_lock(false);
	for (struct vcache *c = vc_caches; c; c = c->next) {
		for (struct vcache_object *o = c->objects; o; o = o->next)
			pthread_mutex_unlock(&o->lock);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&vc_caches_lock);
	vc_uffd_fork_lock(false);
}

static void fork_parent(void)
{
	fork_unlock();
}

static void fork_child(void)
{
	bool done[VC_BACKEND_MAX] = { false };
	int arena_err[VC_BACKEND_MAX] = { 0 };

	vc_scratch_fork_child();

	for (struct vcache *c = vc_caches; c; c = c->next) {
		const struct backend_ops *b = c->backend;

		int k = vc_backend_index(b->id);

		if (!done[k]) {
			if (b->fork_child)
				b->fork_child();
			/* Each arena once, whatever its object count. */
			arena_err[k] = vc_arena_fork_child(b);
			done[k] = true;
		}
		c->idle_running = false;
		atomic_store(&c->idle_alive, false);
	}
	for (struct vcache *c = vc_caches; c; c = c->next) {
		int err = atomic_load(&c->lost);

		if (err == 0)
			err = arena_err[vc_backend_index(c->backend->id)];
		for (struct vcache_object *o = c->objects; o; o = o->next) {
			vc_regen_fork_child(o);
			if (err == 0 && !o->in_arena)
				err = c->backend->attach(o->data, o->map_size);
		}
		/* Inaccessible, not zeros: see lost.c. */
		if (err < 0 && !atomic_load(&c->lost))
			atomic_store(&c->lost, err);
	}
	vc_lost_quarantine_all();
	fork_unlock();
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_err;

static void fork_register_once(void)
{
	once_err = -pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int vc_fork_handlers_register(void)
{
	pthread_once(&once, fork_register_once);
	return once_err;
}
