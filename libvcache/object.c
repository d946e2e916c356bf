/* SPDX-License-Identifier: MIT */
/*
 * object.c - named objects: creation, lookup, references, removal
 *
 * An object's memory is a private anonymous mapping of whole pages, filled
 * by the callback before the backend starts managing it, then published to
 * the SIGBUS handler and marked volatile. Under backends with arenas
 * (uffd, none), objects of up to VC_ARENA_OBJ_MAX bytes are slots of an
 * arena instead (arena.c), filled through the backend's install(). The
 * cache keeps the object until vcache_object_remove(); handles are
 * references on top of that, and the memory goes when the object is both
 * removed and unreferenced.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"
#include "shared.h"

static uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h;
}

static struct vcache_object **name_bucket(struct vcache *c, const char *name)
{
	return &c->buckets[name_hash(name) & (c->nbuckets - 1)];
}

static struct vcache_object *name_find(struct vcache *c, const char *name)
{
	struct vcache_object *o;

	if (!c->nbuckets)
		return NULL;
	for (o = *name_bucket(c, name); o; o = o->hash_next)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

static void name_unlink(struct vcache *c, struct vcache_object *o)
{
	struct vcache_object **p = name_bucket(c, o->name);

	while (*p != o)
		p = &(*p)->hash_next;
	*p = o->hash_next;
	o->hash_next = NULL;
}

/*
 * Insert o (cache->lock held). The table doubles when it holds as many
 * objects as buckets, so a lookup stays O(1) with a million objects;
 * if the larger table cannot be allocated, chains just get longer. Only
 * creation needs a table at all: -ENOMEM if not even the first one fits.
 */
static int name_insert(struct vcache *c, struct vcache_object *o)
{
	if (c->nobjects + 1 > c->nbuckets) {
		size_t n = c->nbuckets ? 2 * c->nbuckets : NAME_BUCKETS_MIN;
		struct vcache_object **t = calloc(n, sizeof(*t));

		if (t) {
			for (size_t i = 0; i < c->nbuckets; i++)
				while (c->buckets[i]) {
					struct vcache_object *x = c->buckets[i];
					struct vcache_object **b;

					c->buckets[i] = x->hash_next;
					b = &t[name_hash(x->name) & (n - 1)];
					x->hash_next = *b;
					*b = x;
				}
			free(c->buckets);
			c->buckets = t;
			c->nbuckets = n;
		} else if (!c->nbuckets) {
			return -ENOMEM;
		}
	}
	{
		struct vcache_object **b = name_bucket(c, o->name);

		o->hash_next = *b;
		*b = o;
	}
	return 0;
}

/* Check offset/length against the object; chunks first..last overlap it. */
int vc_object_range(const struct vcache_object *o, size_t offset, size_t length,
		 size_t *ret_first, size_t *ret_last)
{
	if (length == 0 || offset >= o->size || length > o->size - offset)
		return -EINVAL;
	*ret_first = offset / o->chunk_size;
	*ret_last = (offset + length - 1) / o->chunk_size;
	return 0;
}

/* Unmap and free everything; the handle becomes stale. */
static void object_destroy(struct vcache_object *o)
{
	/* Stop the SIGBUS handler from finding it first. */
	vc_slab_withdraw(o);
	if (o->shared) {
		vc_shared_destroy(o); /* its mapping and memfd */
		o->shared = NULL;
	} else if (o->data && o->in_arena) {
		/*
		 * Memory back now, and the slot starts with missing pages for
		 * the next object (install() keeps present ones: arena.c).
		 */
		(void)vc_mem_advise(o->data, o->map_size, MADV_DONTNEED);
		vc_arena_free(o->data, o->map_size);
	} else if (o->data) {
		o->cache->backend->detach(o->data, o->map_size);
		vc_mem_unmap(o->data, o->map_size);
	}
	vc_idle_forget_object(o);
	free((void *)o->chunks); /* with the deadlines and the name */
	pthread_mutex_destroy(&o->lock);
	o->chunks = NULL;
	o->deadline = NULL;
	o->name = NULL;
	o->data = NULL;
	o->in_arena = false;
	vc_slab_free(o);
}

/* cache->lock held; the object is out of the name table and unreferenced. */
void vc_object_release(struct vcache_object *o)
{
	struct vcache *c = o->cache;

	vc_purge_order_del(o);
	vc_purge_ahead_forget(o);
	if (o->prev)
		o->prev->next = o->next;
	else
		c->objects = o->next;
	if (o->next)
		o->next->prev = o->prev;
	object_destroy(o);
}

/*
 * The callback may read other volatile objects: SIGBUS unblocked for it
 * whatever the caller's mask, as for every regeneration (regen.c).
 */
static int object_fill(struct vcache_object *o)
{
	int err = 0;

	vc_sigbus_open();
	for (size_t i = 0; i < o->nchunks && err == 0; i++) {
		err = o->regen(o, o->data + chunk_offset(o, i),
			       chunk_offset(o, i), chunk_length(o, i),
			       o->userdata);
		if (err > 0 || err < -4095)
			err = -EIO;
	}
	vc_sigbus_close();
	return err;
}

/*
 * An arena slot is attached already (userfaultfd: a plain write into one
 * of its missing pages raises SIGBUS), so the callback writes every chunk
 * into a buffer and the backend installs the whole object in one call
 * (UFFDIO_COPY), as a regeneration would. Normal context, like
 * object_fill(), so the buffer comes from the heap (page aligned, as
 * UFFDIO_COPY wants its source): not the scratch pool, whose reserved
 * slots other creations wait for, which a slow callback would hold.
 */
static int object_fill_install(struct vcache_object *o)
{
	uint8_t *buf;
	int err = 0;

	buf = aligned_alloc(vc_page_size, o->map_size);
	if (!buf)
		return -ENOMEM;
	vc_sigbus_open();
	for (size_t i = 0; i < o->nchunks && err == 0; i++) {
		err = o->regen(o, buf + chunk_offset(o, i), chunk_offset(o, i),
			       chunk_length(o, i), o->userdata);
		if (err > 0 || err < -4095)
			err = -EIO;
	}
	vc_sigbus_close();
	if (err == 0) {
		/* Past size is not the callback's; zero as regen.c does. */
		memset(buf + o->size, 0, o->map_size - o->size);
		err = o->cache->backend->install(o->data, buf, o->map_size);
	}
	free(buf);
	return err;
}

/* Filled and about to be handed to the kernel: every chunk volatile. */
static void chunks_all_volatile(struct vcache_object *o)
{
	for (size_t i = 0; i < o->nchunks; i++)
		atomic_store(&o->chunks[i], CHUNK_VOLATILE);
	o->nvolatile = o->nchunks;
}

/*
 * Arena objects: a slot instead of a mapping (arena.c), filled through
 * install(), no attach (the arena is). Marking it volatile fails with
 * EINVAL only if the program locked the arena since (mlockall
 * (MCL_CURRENT)): unlock the object's range, as object_setup() does for a
 * new mapping, and try again. -E2BIG/-ENOMEM: no slot, use a mapping.
 */
static int object_setup_arena(struct vcache *c, struct vcache_object *o)
{
	void *data = NULL;
	int err;

	err = vc_arena_alloc(c->backend, o->map_size, &data);
	if (err < 0)
		return err;
	o->data = data;
	o->in_arena = true;
	err = object_fill_install(o);
	if (err < 0)
		return err;
	chunks_all_volatile(o);
	err = c->backend->mark_volatile(data, o->map_size);
	if (err == -EINVAL && vc_mem_unlock(data, o->map_size) == 0)
		err = c->backend->mark_volatile(data, o->map_size);
	if (err < 0)
		return err;
	return vc_slab_publish(o, (uintptr_t)data, (uintptr_t)data + o->map_size);
}

static size_t lines(size_t bytes)
{
	return (bytes + VC_CACHE_LINE - 1) & ~(size_t)(VC_CACHE_LINE - 1);
}

/*
 * The per-object arrays and the name in one zeroed allocation of whole
 * cache lines: chunk states, then deadlines (each from a line boundary),
 * then the name. One allocation, not three, and the name out of the
 * never-freed handle, keep the metadata near 600 bytes for an object of
 * 16 chunks. The states and deadlines are written by every pin and
 * unpin: two objects' arrays sharing a line would make threads pinning
 * different objects slow each other down.
 */
static int object_meta_alloc(struct vcache_object *o, const char *name)
{
	size_t a = lines(o->nchunks * sizeof(*o->chunks));
	size_t d = lines(o->nchunks * sizeof(*o->deadline));
	size_t n = strlen(name) + 1;
	uint8_t *p;

	if (o->nchunks > SIZE_MAX / 32)
		return -ENOMEM;
	p = aligned_alloc(VC_CACHE_LINE, lines(a + d + n));
	if (!p)
		return -ENOMEM;
	memset(p, 0, a + d);
	o->chunks = (_Atomic uint64_t *)p;
	o->deadline = (uint64_t *)(p + a);
	o->name = memcpy(p + a + d, name, n);
	return 0;
}

static int object_setup(struct vcache *c, struct vcache_object *o,
			const char *name, size_t size, size_t chunk_size,
			vcache_regen_fn regen, void *userdata)
{
	bool in_arena;
	void *data = NULL;
	int err;

	o->cache = c;
	o->size = size;
	o->map_size = (size + vc_page_size - 1) & ~(vc_page_size - 1);
	o->chunk_size = chunk_size;
	o->nchunks = (size + chunk_size - 1) / chunk_size;
	o->regen = regen;
	o->userdata = userdata;
	err = object_meta_alloc(o, name);
	if (err < 0)
		return err;
	err = vc_scratch_reserve(chunk_size < o->map_size ? chunk_size
						       : o->map_size);
	if (err < 0)
		return err;
	if (o->shared)
		return vc_shared_setup(o); /* maps the memfd (shared.c) */
	/* Room first: for the object, and in an arena for the buffer it is
	 * filled through too (object_fill_install()). */
	in_arena = c->backend->arena && o->map_size <= VC_ARENA_OBJ_MAX;
	vc_purge_before_alloc(c, NULL, 0,
			      in_arena ? 2 * o->map_size : o->map_size);
	if (in_arena) {
		err = object_setup_arena(c, o);
		/* No arena to be had (address space): a mapping may work. */
		if (o->data || (err != -E2BIG && err != -ENOMEM))
			return err;
	}
	if (vc_mem_map(o->map_size, PROT_READ | PROT_WRITE, &data) < 0)
		return -ENOMEM;
	o->data = data;
	/*
	 * Under mlockall(MCL_FUTURE) the new mapping is locked, and locked
	 * memory can be neither made lazy-free (MADV_FREE: EINVAL) nor marked
	 * volatile (vrange: EINVAL). Object memory is the one thing the
	 * program wants the kernel to be able to take: unlock it. (If the
	 * program locks it again later, with mlockall(MCL_CURRENT), it simply
	 * is never purged: see vcache.h.) Harmless when nothing is locked.
	 */
	(void)vc_mem_unlock(data, o->map_size);
	/* Huge pages would be split by every per-chunk madvise anyway. */
	(void)vc_mem_advise(data, o->map_size, MADV_NOHUGEPAGE);

	err = object_fill(o);
	if (err < 0)
		return err;
	/* Past size is not the callback's; keep it zero like regen.c does. */
	memset(o->data + size, 0, o->map_size - size);
	err = c->backend->attach(data, o->map_size);
	if (err < 0) {
		c->backend->detach(data, o->map_size);
		return err;
	}
	chunks_all_volatile(o);
	err = c->backend->mark_volatile(data, o->map_size);
	if (err < 0)
		return err;
	return vc_slab_publish(o, (uintptr_t)data, (uintptr_t)data + o->map_size);
}

_public_ int vcache_object_create(vcache *cache, const char *name,
				  size_t size, size_t chunk_size,
				  vcache_regen_fn regen, void *userdata,
				  unsigned int flags,
				  vcache_object **ret_object)
{
	return vc_object_new(cache, name, size, chunk_size, regen, userdata,
			     flags, NULL, ret_object);
}

/*
 * sh: the shared part (shared.c, NULL for a private object), owned by the
 * object from here on, also when this fails.
 */
int vc_object_new(struct vcache *cache, const char *name, size_t size,
		  size_t chunk_size, vcache_regen_fn regen, void *userdata,
		  unsigned int flags, struct vc_shared *sh,
		  struct vcache_object **ret_object)
{
	struct vcache_object *o;
	size_t name_len;
	uint64_t now;
	int err = -EINVAL;

	if (!cache || !name || !regen || !ret_object || size == 0 ||
	    (flags & ~(VCACHE_OBJECT_PURGE_FIRST | VCACHE_OBJECT_KEEP)) ||
	    (flags & VCACHE_OBJECT_PURGE_FIRST && flags & VCACHE_OBJECT_KEEP))
		goto fail_shared;
	name_len = strnlen(name, VCACHE_NAME_MAX + 1);
	if (name_len == 0)
		goto fail_shared;
	if (name_len > VCACHE_NAME_MAX) {
		err = -ENAMETOOLONG;
		goto fail_shared;
	}
	if (chunk_size == 0)
		chunk_size = vc_page_size;
	if (chunk_size % vc_page_size)
		goto fail_shared;
	if (size > PTRDIFF_MAX - vc_page_size || chunk_size > PTRDIFF_MAX) {
		err = -EOVERFLOW;
		goto fail_shared;
	}
	err = vc_cache_lost(cache);
	if (err < 0)
		goto fail_shared;

	/* Fail early on a duplicate; checked again when inserting. */
	pthread_mutex_lock(&cache->lock);
	err = name_find(cache, name) ? -EEXIST : 0;
	pthread_mutex_unlock(&cache->lock);
	if (err < 0)
		goto fail_shared;

	o = vc_slab_alloc();
	if (!o) {
		err = -ENOMEM;
		goto fail_shared;
	}
	o->shared = sh;
	pthread_mutex_init(&o->lock, NULL);
	o->data = NULL;
	o->in_arena = false;
	o->chunks = NULL;
	o->deadline = NULL;
	o->name = NULL;
	o->pending = 0;
	o->deadline_all = 0;
	atomic_store(&o->whole_pins, 0);
	o->nvolatile = 0;
	o->pinned_chunks = 0;
	o->refs = 1;
	o->in_cache = true;
	atomic_store(&o->priority,
		     flags & VCACHE_OBJECT_PURGE_FIRST ? VCACHE_PRIORITY_PURGE_FIRST :
		     flags & VCACHE_OBJECT_KEEP ? VCACHE_PRIORITY_KEEP :
						  VCACHE_PRIORITY_NORMAL);
	now = vc_now_ns();
	atomic_store(&o->unpinned_ns, now);
	atomic_store(&o->used_ns, now);
	atomic_store(&o->delay_ns, 0);
	o->hash_next = o->next = o->prev = NULL;
	/* Accessors work for the fill callbacks. */
	atomic_store(&o->magic, OBJ_MAGIC_LIVE);

	err = object_setup(cache, o, name, size, chunk_size, regen, userdata);
	if (err < 0) {
		object_destroy(o); /* frees sh too */
		(void)vc_cache_lost(cache); /* attach may have found it gone */
		return err;
	}

	pthread_mutex_lock(&cache->lock);
	err = name_find(cache, name) ? -EEXIST : name_insert(cache, o);
	if (err < 0) {
		pthread_mutex_unlock(&cache->lock);
		object_destroy(o);
		return err;
	}
	o->next = cache->objects;
	if (o->next)
		o->next->prev = o;
	cache->objects = o;
	vc_purge_order_add(o);
	cache->nobjects++;
	pthread_mutex_unlock(&cache->lock);
	/* Faults hand regenerated chunks to the idle thread (idle.c). */
	if (cache->backend->purge)
		vc_idle_kick(cache, 0);

	*ret_object = o;
	return 0;

fail_shared:
	if (sh)
		vc_shared_free(sh);
	return err;
}

_public_ int vcache_object_lookup(vcache *cache, const char *name,
				  vcache_object **ret_object)
{
	struct vcache_object *o;

	if (!cache || !name || !ret_object)
		return -EINVAL;
	pthread_mutex_lock(&cache->lock);
	o = name_find(cache, name);
	if (o)
		o->refs++;
	pthread_mutex_unlock(&cache->lock);
	if (!o)
		return -ENOENT;
	*ret_object = o;
	return 0;
}

_public_ vcache_object *vcache_object_ref(vcache_object *object)
{
	if (vc_object_check(object) < 0)
		return NULL;
	pthread_mutex_lock(&object->cache->lock);
	object->refs++;
	pthread_mutex_unlock(&object->cache->lock);
	return object;
}

_public_ vcache_object *vcache_object_unref(vcache_object *object)
{
	struct vcache *c;

	if (vc_object_check(object) < 0)
		return NULL;
	c = object->cache;
	pthread_mutex_lock(&c->lock);
	if (object->refs > 0 && --object->refs == 0 && !object->in_cache)
		vc_object_release(object);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

_public_ int vcache_object_remove(vcache_object *object)
{
	struct vcache *c;
	int err = 0;

	err = vc_object_check(object);
	if (err < 0)
		return err;
	c = object->cache;
	pthread_mutex_lock(&c->lock);
	pthread_mutex_lock(&object->lock);
	if (!object->in_cache)
		err = -ENOENT;
	else if (object->shared ? vc_shared_pinned_here(object)
				: vc_object_pinned(object))
		err = -EBUSY;
	pthread_mutex_unlock(&object->lock);
	if (err == 0) {
		name_unlink(c, object);
		object->in_cache = false;
		c->nobjects--;
		if (object->refs == 0)
			vc_object_release(object);
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

/*
 * Async-signal-safe accessors: a lock-free handle check, then loads of
 * fields that are constant while the object is live.
 */
_public_ void *vcache_object_data(vcache_object *object)
{
	if (vc_object_check(object) < 0)
		return NULL;
	vc_object_used(object); /* the purge order's "last use" (purge.c) */
	return object->data;
}

_public_ size_t vcache_object_size(const vcache_object *object)
{
	return vc_object_check(object) == 0 ? object->size : 0;
}

_public_ size_t vcache_object_chunk_size(const vcache_object *object)
{
	return vc_object_check(object) == 0 ? object->chunk_size : 0;
}

_public_ const char *vcache_object_name(const vcache_object *object)
{
	return vc_object_check(object) == 0 ? object->name : NULL;
}
