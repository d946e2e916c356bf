/* SPDX-License-Identifier: MIT */
/*
 * lost.c - what happens to a cache whose backend lost its descriptor
 *
 * Under uffd, a purged page only faults while the userfaultfd registration
 * exists; without it the page reads as zeros. prim-uffd.c notices a
 * descriptor closed behind its back (close_range() in a daemon) and a
 * fork() child that could not open its own; from then on the cache is
 * "lost": the library cannot tell which pages still hold data. So:
 *
 *  - every object of the cache becomes inaccessible (PROT_NONE; its pages
 *    are dropped): a read crashes with SIGSEGV at the address instead of
 *    returning zeros that look like data;
 *  - vcache_pin*(), vcache_read(), vcache_write() and vcache_object_create()
 *    fail with the errno (-EBADF closed behind our back, or the errno the
 *    child's userfaultfd(2) gave, e.g. -EPERM);
 *  - unpin, remove, unref and vcache_free() keep working, so the program
 *    can drop the cache and create a new one (the descriptor is reopened
 *    when the last uffd cache is freed and a new one created).
 *
 * Pages touched between the loss and the library noticing it cannot be
 * told apart from data; the check runs on every backend operation (pin of
 * a volatile chunk, unpin, object creation, fault), so the window is the
 * time until the program's next vcache call.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "backend.h"
#include "internal.h"

static int backend_lost(const struct backend_ops *b)
{
	return b == &vc_backend_uffd ? vc_uffd_lost() : 0;
}

/* The object's memory can never be read as data again. */
static void quarantine_object(struct vcache_object *o)
{
	(void)vc_mem_protect(o->data, o->map_size, PROT_NONE);
	(void)vc_mem_advise(o->data, o->map_size, MADV_DONTNEED);
}

/*
 * Normal context, no library lock held. Other threads may be inside a
 * probe or a regeneration of one of the objects: each chunk is claimed
 * BUSY first, so no probe writes to a page that has just become PROT_NONE.
 */
static void quarantine_cache(struct vcache *c, int err)
{
	pthread_mutex_lock(&c->lock);
	if (atomic_load(&c->lost)) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	atomic_store(&c->lost, err);
	for (struct vcache_object *o = c->objects; o; o = o->next) {
		uint64_t s;

		for (size_t i = 0; i < o->nchunks; i++)
			(void)vc_chunk_claim(o, i, false, true, &s);
		quarantine_object(o);
		for (size_t i = 0; i < o->nchunks; i++)
			vc_chunk_release(o, i, 0);
	}
	pthread_mutex_unlock(&c->lock);
}

int vc_cache_lost(struct vcache *c)
{
	int err = atomic_load(&c->lost);

	if (err)
		return err;
	err = backend_lost(c->backend);
	if (err)
		quarantine_cache(c, err);
	return err;
}

/*
 * A pin call is about to make its first backend call: SIGBUS unblocked
 * and (uffd) the descriptor checked once for the whole call, instead of a
 * system call of each kind per chunk. 0, or the lost errno (nothing held).
 */
int vc_backend_open(struct vcache *c)
{
	int err = 0;

	if (c->backend == &vc_backend_uffd)
		err = vc_uffd_check_hold();
	if (err < 0)
		return err;
	vc_sigbus_open();
	return 0;
}

void vc_backend_close(struct vcache *c)
{
	vc_sigbus_close();
	if (c->backend == &vc_backend_uffd)
		vc_uffd_check_release();
}

/* fork() child, single-threaded, every library lock held (fork.c). */
void vc_lost_quarantine_all(void)
{
	for (struct vcache *c = vc_caches; c; c = c->next) {
		int err = atomic_load(&c->lost);

		if (!err)
			err = backend_lost(c->backend);
		if (!err)
			continue;
		atomic_store(&c->lost, err);
		for (struct vcache_object *o = c->objects; o; o = o->next)
			quarantine_object(o);
	}
}
