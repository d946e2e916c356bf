/* SPDX-License-Identifier: MIT */
/*
 * slab.c - object handles in memory that is never given back
 *
 * The SIGBUS handler must find the object owning a faulting address without
 * locks or allocation, and must never read freed memory. Handles therefore
 * live in blocks that are mmap()ed once and never unmapped; the handler
 * scans them reading only atomics (region_start/region_end), and a stale
 * handle still points at readable memory whose magic says "dead", which is
 * how -ESTALE is detected without undefined behaviour. Free handles are
 * reused oldest-first, so a stale handle stays detectable for as long as
 * possible (it can only be confused with a new object after every other
 * free slot has been reused).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define SLAB_PER_BLOCK 64
#define SLAB_MAX_BLOCKS 4096 /* 262144 live objects per process */

static struct vcache_object *_Atomic blocks[SLAB_MAX_BLOCKS];
static _Atomic size_t nblocks;
static pthread_mutex_t slab_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct vcache_object *free_head, *free_tail;

void vc_slab_lock(void)
{
	pthread_mutex_lock(&slab_mutex);
}

void vc_slab_unlock(void)
{
	pthread_mutex_unlock(&slab_mutex);
}

static int slab_grow(void)
{
	size_t n = atomic_load(&nblocks);
	struct vcache_object *b;

	if (n == SLAB_MAX_BLOCKS)
		return -ENOMEM;
	b = mmap(NULL, SLAB_PER_BLOCK * sizeof(*b), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return -ENOMEM;
	for (size_t i = 0; i < SLAB_PER_BLOCK; i++) {
		atomic_init(&b[i].magic, OBJ_MAGIC_DEAD);
		b[i].free_next = NULL;
		if (free_tail)
			free_tail->free_next = &b[i];
		else
			free_head = &b[i];
		free_tail = &b[i];
	}
	atomic_store(&blocks[n], b);
	atomic_store(&nblocks, n + 1); /* publish after the block pointer */
	return 0;
}

struct vcache_object *vc_slab_alloc(void)
{
	struct vcache_object *o = NULL;

	vc_slab_lock();
	if (!free_head && slab_grow() < 0)
		goto out;
	o = free_head;
	free_head = o->free_next;
	if (!free_head)
		free_tail = NULL;
	o->free_next = NULL;
out:
	vc_slab_unlock();
	return o;
}

void vc_slab_free(struct vcache_object *o)
{
	atomic_store(&o->magic, OBJ_MAGIC_DEAD);
	vc_slab_lock();
	o->free_next = NULL;
	if (free_tail)
		free_tail->free_next = o;
	else
		free_head = o;
	free_tail = o;
	vc_slab_unlock();
}

/* Does p point at the start of a slot of ours? Lock-free. */
static bool slab_contains(const struct vcache_object *p)
{
	size_t n = atomic_load(&nblocks);
	uintptr_t a = (uintptr_t)p;

	for (size_t i = 0; i < n; i++) {
		uintptr_t b = (uintptr_t)atomic_load(&blocks[i]);

		if (a >= b && a < b + SLAB_PER_BLOCK * sizeof(*p))
			return (a - b) % sizeof(*p) == 0;
	}
	return false;
}

int vc_object_check(const struct vcache_object *o)
{
	if (!o || !slab_contains(o))
		return -EINVAL;
	if (atomic_load(&((struct vcache_object *)o)->magic) != OBJ_MAGIC_LIVE)
		return -ESTALE;
	return 0;
}

/*
 * Async-signal-safe: only atomic loads of never-freed memory. The region
 * is published (start last) after the object is fully set up and cleared
 * (start first) before it is torn down.
 */
struct vcache_object *vc_slab_find(uintptr_t addr)
{
	size_t n = atomic_load(&nblocks);

	for (size_t i = 0; i < n; i++) {
		struct vcache_object *b = atomic_load(&blocks[i]);

		for (size_t j = 0; j < SLAB_PER_BLOCK; j++) {
			uintptr_t start = atomic_load(&b[j].region_start);

			if (start && addr >= start &&
			    addr < atomic_load(&b[j].region_end))
				return &b[j];
		}
	}
	return NULL;
}
