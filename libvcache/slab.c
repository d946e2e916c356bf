/* SPDX-License-Identifier: MIT */
/*
 * slab.c - object handles in memory that is never given back
 *
 * The SIGBUS handler must find the object owning a faulting address without
 * locks or allocation, and must never read freed memory. Handles therefore
 * live in blocks that are allocated once and never freed, carved from
 * large pools (vc_meta_alloc()) so they cost a mapping per 8 MiB, not one
 * per block. Both lookups -
 * address to object for the handler, "is this a handle of ours" for every
 * public call - go through radix trees over page numbers (pagemap.c), in
 * constant time whatever the number of objects (objects in arenas are
 * found through their arena's slot table instead: arena.c); a found
 * object's region
 * (atomics) is checked again, and a stale handle still points at readable
 * memory whose magic says "dead", which is how -ESTALE is detected without
 * undefined behaviour. Free handles are
 * reused oldest-first, so a stale handle stays detectable for as long as
 * possible (it can only be confused with a new object after every other
 * free slot has been reused).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"

#define SLAB_PER_BLOCK 256
#define SLAB_MAX_BLOCKS 16384 /* 4,194,304 live objects per process */
/* Metadata pools: one mapping per 8 MiB of blocks and pagemap nodes. */
#define META_POOL ((size_t)8 << 20)

static struct vcache_object *_Atomic blocks[SLAB_MAX_BLOCKS];
static _Atomic size_t nblocks;
static pthread_mutex_t slab_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct vcache_object *free_head, *free_tail;
static struct vc_pagemap owners;      /* object page -> object */
static struct vc_pagemap slab_blocks; /* slab page -> its block */
static uint8_t *meta_next, *meta_end;

void *vc_meta_alloc(size_t len)
{
	void *p = NULL;

	len = (len + vc_page_size - 1) & ~(vc_page_size - 1);
	if ((size_t)(meta_end - meta_next) < len) {
		size_t pool = len > META_POOL ? len : META_POOL;

		/* The rest of the old pool is left unused (never touched). */
		if (vc_mem_map(pool, PROT_READ | PROT_WRITE, &p) < 0)
			return NULL;
		meta_next = p;
		meta_end = meta_next + pool;
	}
	p = meta_next;
	meta_next += len;
	return p;
}

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
	b = vc_meta_alloc(SLAB_PER_BLOCK * sizeof(*b));
	if (!b)
		return -ENOMEM;
	/* On failure the block stays unused in its pool (never freed). */
	if (vc_pagemap_set(&slab_blocks, (uintptr_t)b,
			   SLAB_PER_BLOCK * sizeof(*b), b) < 0)
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

/* Does p point at the start of a slot of ours? Lock-free, O(1). */
static bool slab_contains(const struct vcache_object *p)
{
	uintptr_t a = (uintptr_t)p;
	uintptr_t b = (uintptr_t)vc_pagemap_get(&slab_blocks, a);

	if (!b || a < b || a >= b + SLAB_PER_BLOCK * sizeof(*p))
		return false;
	return (a - b) % sizeof(*p) == 0;
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
 * Publish o's region [start, end) to the SIGBUS handler (o fully set up)
 * or withdraw it (before teardown). 0 or -ENOMEM.
 */
int vc_slab_publish(struct vcache_object *o, uintptr_t start, uintptr_t end)
{
	int err;

	vc_slab_lock();
	if (vc_arena_set_owner(start, o)) {
		atomic_store(&o->region_end, end);
		atomic_store(&o->region_start, start);
		vc_slab_unlock();
		return 0;
	}
	err = vc_pagemap_set(&owners, start, end - start, o);
	if (err < 0) {
		vc_pagemap_set(&owners, start, end - start, NULL);
	} else {
		atomic_store(&o->region_end, end);
		atomic_store(&o->region_start, start);
	}
	vc_slab_unlock();
	return err;
}

void vc_slab_withdraw(struct vcache_object *o)
{
	uintptr_t start = atomic_load(&o->region_start);
	uintptr_t end = atomic_load(&o->region_end);

	/* The handler checks the region after the lookup: clear it first. */
	atomic_store(&o->region_start, 0);
	atomic_store(&o->region_end, 0);
	if (!start)
		return;
	vc_slab_lock();
	if (!vc_arena_set_owner(start, NULL))
		vc_pagemap_set(&owners, start, end - start, NULL);
	vc_slab_unlock();
}

/*
 * Async-signal-safe: atomic loads of never-freed memory (pagemap.c), then
 * the object's own region, which is published last and cleared first.
 */
struct vcache_object *vc_slab_find(uintptr_t addr)
{
	struct vcache_object *o = NULL;
	uintptr_t start;

	if (!vc_arena_lookup(addr, &o))
		o = vc_pagemap_get(&owners, addr);
	if (!o)
		return NULL;
	start = atomic_load(&o->region_start);
	if (start && addr >= start && addr < atomic_load(&o->region_end))
		return o;
	return NULL;
}
