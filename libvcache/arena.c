/* SPDX-License-Identifier: MIT */
/*
 * arena.c - small private objects carved from a few large mappings
 *
 * With one mapping per object, every object is a VMA: a process stops at
 * vm.max_map_count (65,530 by default, about 62,000 objects), and every
 * creation and removal pays mmap, munlock, madvise, UFFDIO_REGISTER and
 * munmap, each taking the mmap lock for writing. Instead, private objects
 * of up to VC_ARENA_OBJ_MAX bytes live in arenas: 1 GiB of address space
 * reserved once (PROT_NONE, MAP_NORESERVE: no memory, no commit charge),
 * made accessible and registered with the backend (attach: userfaultfd
 * under uffd) in growing steps as objects are carved from it. A process
 * has a few arenas and a few VMAs whatever its object count.
 *
 * Slots: one size class per arena, a power of two from the page size to
 * VC_ARENA_OBJ_MAX; an object takes the smallest class that holds its
 * mapping (the rest of the slot is address space only: never touched, and
 * a touch of it under uffd raises SIGBUS that is not ours). Freed slots go
 * to the tail of their class's queue and are reused oldest first, so an
 * address stays unused for as long as possible; a class with no free slot
 * takes the next one of its newest arena, then a new arena.
 *
 * Contents: object.c fills a new object through the backend's install()
 * (UFFDIO_COPY: a plain write into a missing page of a registered range
 * would raise SIGBUS), and drops a removed object's pages with
 * MADV_DONTNEED before its slot is freed: the memory goes back at once,
 * and the next object carved there starts from missing pages (install
 * keeps present pages, so a page left behind would show through).
 *
 * Address -> object (the fault handler): arenas are aligned to their size,
 * so addr >> 30 indexes a table of arena numbers, the arena's slot shift
 * gives the slot, and the slot's owner word the object: three dependent
 * loads, no lock (slab.c checks the object's region afterwards, as for
 * objects with their own mapping). Arena descriptors and owner tables are
 * never freed, so a handler racing a teardown reads stale but mapped memory.
 *
 * Lifetime: arenas belong to a backend (uffd or none: backend_ops.arena)
 * and are shared by every cache of it in the process. vcache_free() of the
 * last such cache unmaps them (no object can be left: vcache_free() refuses
 * while an object is held), which also means a userfaultfd reopened after
 * the last uffd cache went never inherits an arena registered with the old
 * one. fork(): the child's registrations are gone; fork.c re-attaches each
 * arena once (vc_arena_fork_child()). A lost cache (lost.c) makes its
 * objects PROT_NONE in place; their slots are never carved again, since
 * every creation fails until the last cache of the backend is freed, and
 * that unmaps the arenas.
 *
 * Locking: arena_lock is taken after cache and object locks (a removal
 * frees its slot under the cache lock) and before the slab lock; fork.c
 * holds it across fork().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "backend.h"
#include "internal.h"

#define ARENA_SHIFT 30
#define ARENA_SIZE ((size_t)1 << ARENA_SHIFT)
/* Arena numbers by address >> ARENA_SHIFT, for 47-bit user addresses. */
#define ARENA_INDEX_BITS 17
/* At most 4 TiB of arenas; past that, objects get their own mapping. */
#define ARENA_MAX 4096
/* First accessible part of an arena; it doubles from there. */
#define ARENA_COMMIT_MIN ((size_t)4 << 20)
/* Size classes: page size (>= 4 KiB) .. VC_ARENA_OBJ_MAX. */
#define CLASS_MAX 9

struct arena {
	_Atomic uintptr_t base;      /* 0: descriptor unused */
	_Atomic unsigned int shift;  /* log2 of the slot size */
	/* Slot -> object, ARENA_SIZE / page size entries, never freed. */
	struct vcache_object *_Atomic *owner;
	/* Under arena_lock. */
	const struct backend_ops *backend;
	size_t committed; /* bytes accessible and attached, from base */
	size_t used;      /* bytes carved, from base */
};

/* Free slots of one class of one backend: a queue, oldest first. */
struct klass {
	struct arena *cur; /* the newest arena of the class, or NULL */
	uintptr_t *ring;
	size_t head, count, cap;
};

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static struct arena arenas[ARENA_MAX];
static _Atomic uint16_t arena_at[(size_t)1 << ARENA_INDEX_BITS];
static struct klass classes[VC_BACKEND_MAX][CLASS_MAX];
static unsigned int users[VC_BACKEND_MAX];

static unsigned int page_shift(void)
{
	return (unsigned int)__builtin_ctzl(vc_page_size);
}

/* The arena holding addr, or NULL. Async-signal-safe. */
static struct arena *arena_of(uintptr_t addr)
{
	size_t i = addr >> ARENA_SHIFT;
	unsigned int n;

	if (i >= ((size_t)1 << ARENA_INDEX_BITS))
		return NULL;
	n = atomic_load_explicit(&arena_at[i], memory_order_acquire);
	if (!n)
		return NULL;
	return &arenas[n - 1];
}

bool vc_arena_lookup(uintptr_t addr, struct vcache_object **ret_object)
{
	struct arena *a = arena_of(addr);
	uintptr_t base;

	if (!a)
		return false;
	base = atomic_load_explicit(&a->base, memory_order_acquire);
	if (!base || addr - base >= ARENA_SIZE)
		return false;
	*ret_object = atomic_load_explicit(
		&a->owner[(addr - base) >> atomic_load(&a->shift)],
		memory_order_acquire);
	return true;
}

bool vc_arena_set_owner(uintptr_t addr, struct vcache_object *o)
{
	struct arena *a = arena_of(addr);
	uintptr_t base;

	if (!a)
		return false;
	base = atomic_load(&a->base);
	if (!base || addr - base >= ARENA_SIZE)
		return false;
	atomic_store_explicit(&a->owner[(addr - base) >> a->shift], o,
			      memory_order_release);
	return true;
}

int vc_arena_get(const struct backend_ops *b)
{
	int k = vc_backend_index(b->id);

	if (!b->arena)
		return 0;
	pthread_mutex_lock(&arena_lock);
	users[k]++;
	pthread_mutex_unlock(&arena_lock);
	return 0;
}

static void arena_unmap(struct arena *a)
{
	uintptr_t base = atomic_load(&a->base);

	atomic_store(&arena_at[base >> ARENA_SHIFT], 0);
	atomic_store(&a->base, 0);
	if (a->committed)
		a->backend->detach((void *)base, a->committed);
	vc_mem_unmap((void *)base, ARENA_SIZE);
	a->backend = NULL;
	a->committed = a->used = 0;
}

void vc_arena_put(const struct backend_ops *b)
{
	int k = vc_backend_index(b->id);

	if (!b->arena)
		return;
	pthread_mutex_lock(&arena_lock);
	if (--users[k] == 0) {
		for (size_t i = 0; i < ARENA_MAX; i++)
			if (atomic_load(&arenas[i].base) &&
			    arenas[i].backend == b)
				arena_unmap(&arenas[i]);
		for (size_t c = 0; c < CLASS_MAX; c++) {
			free(classes[k][c].ring);
			classes[k][c] = (struct klass){ 0 };
		}
	}
	pthread_mutex_unlock(&arena_lock);
}

/* Reserve a new arena of slot size 1 << shift. arena_lock held. */
static struct arena *arena_new(const struct backend_ops *b, unsigned int shift)
{
	struct arena *a = NULL;
	uintptr_t p, base;
	void *raw = NULL;
	size_t i;

	for (i = 0; i < ARENA_MAX && !a; i++)
		if (!atomic_load(&arenas[i].base))
			a = &arenas[i];
	if (!a)
		return NULL;
	if (!a->owner) {
		void *t = NULL;

		if (vc_mem_map((ARENA_SIZE >> page_shift()) * sizeof(*a->owner),
			       PROT_READ | PROT_WRITE, &t) < 0)
			return NULL;
		a->owner = t;
	}
	/* Twice the size, then trim to an aligned arena. */
	if (vc_mem_reserve(2 * ARENA_SIZE, &raw) < 0)
		return NULL;
	p = (uintptr_t)raw;
	base = (p + ARENA_SIZE - 1) & ~(uintptr_t)(ARENA_SIZE - 1);
	if (base > p)
		vc_mem_unmap(raw, base - p);
	vc_mem_unmap((void *)(base + ARENA_SIZE), p + ARENA_SIZE - base);
	if ((base >> ARENA_SHIFT) >= ((size_t)1 << ARENA_INDEX_BITS)) {
		vc_mem_unmap((void *)base, ARENA_SIZE);
		return NULL;
	}
	/*
	 * Once for the arena: locked by mlockall(MCL_FUTURE) it would be
	 * populated when made accessible, and huge pages would be split by
	 * every per-chunk madvise anyway.
	 */
	(void)vc_mem_unlock((void *)base, ARENA_SIZE);
	(void)vc_mem_advise((void *)base, ARENA_SIZE, MADV_NOHUGEPAGE);
	for (size_t s = 0; s < ARENA_SIZE >> shift; s++)
		if (atomic_load_explicit(&a->owner[s], memory_order_relaxed))
			atomic_store(&a->owner[s], NULL);
	a->backend = b;
	a->committed = a->used = 0;
	atomic_store(&a->shift, shift);
	atomic_store(&a->base, base);
	atomic_store_explicit(&arena_at[base >> ARENA_SHIFT],
			      (uint16_t)(a - arenas + 1), memory_order_release);
	return a;
}

/*
 * Make [base, base + need) accessible and attached, doubling what is.
 * Each step is munlock (a later mlockall(MCL_CURRENT) locked the reserved
 * part, and mprotect would populate it), mprotect and attach: the steps
 * merge into one VMA. arena_lock held.
 */
static int arena_commit(struct arena *a, size_t need)
{
	uintptr_t base = atomic_load(&a->base);
	size_t to = a->committed * 2;
	int err;

	if (to < ARENA_COMMIT_MIN)
		to = ARENA_COMMIT_MIN;
	if (to < need)
		to = need;
	if (to > ARENA_SIZE)
		to = ARENA_SIZE;
	(void)vc_mem_unlock((void *)(base + a->committed), to - a->committed);
	err = vc_mem_protect((void *)(base + a->committed), to - a->committed,
			     PROT_READ | PROT_WRITE);
	if (err == 0)
		err = a->backend->attach((void *)(base + a->committed),
					 to - a->committed);
	if (err < 0)
		return err;
	a->committed = to;
	return 0;
}

static struct klass *klass_of(const struct backend_ops *b, unsigned int shift)
{
	return &classes[vc_backend_index(b->id)][shift - page_shift()];
}

int vc_arena_alloc(const struct backend_ops *b, size_t len, void **ret_addr)
{
	unsigned int shift = page_shift();
	struct klass *k;
	struct arena *a;
	uintptr_t addr;
	int err = 0;

	if (!b->arena || len > VC_ARENA_OBJ_MAX || sizeof(void *) < 8)
		return -E2BIG;
	while (((size_t)1 << shift) < len)
		shift++;
	pthread_mutex_lock(&arena_lock);
	k = klass_of(b, shift);
	if (k->count) {
		addr = k->ring[k->head];
		k->head = (k->head + 1) % k->cap;
		k->count--;
		goto out;
	}
	a = k->cur;
	if (!a || a->used + ((size_t)1 << shift) > ARENA_SIZE) {
		a = arena_new(b, shift);
		if (!a) {
			err = -ENOMEM;
			goto out;
		}
		k->cur = a;
	}
	if (a->used + ((size_t)1 << shift) > a->committed) {
		err = arena_commit(a, a->used + ((size_t)1 << shift));
		if (err < 0)
			goto out;
	}
	addr = atomic_load(&a->base) + a->used;
	a->used += (size_t)1 << shift;
out:
	pthread_mutex_unlock(&arena_lock);
	if (err == 0)
		*ret_addr = (void *)addr;
	return err;
}

void vc_arena_free(void *addr, size_t len)
{
	struct arena *a = arena_of((uintptr_t)addr);
	struct klass *k;

	(void)len;
	if (!a) /* not a slot: nothing to give back */
		return;
	pthread_mutex_lock(&arena_lock);
	k = klass_of(a->backend, atomic_load(&a->shift));
	if (k->count == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 64;
		uintptr_t *r = malloc(cap * sizeof(*r));

		if (!r) {
			/* The slot is lost for reuse, nothing worse. */
			pthread_mutex_unlock(&arena_lock);
			return;
		}
		for (size_t i = 0; i < k->count; i++)
			r[i] = k->ring[(k->head + i) % k->cap];
		free(k->ring);
		k->ring = r;
		k->head = 0;
		k->cap = cap;
	}
	k->ring[(k->head + k->count) % k->cap] = (uintptr_t)addr;
	k->count++;
	pthread_mutex_unlock(&arena_lock);
}

int vc_arena_fork_child(const struct backend_ops *b)
{
	int err = 0;

	for (size_t i = 0; i < ARENA_MAX && err == 0; i++) {
		struct arena *a = &arenas[i];

		if (atomic_load(&a->base) && a->backend == b && a->committed)
			err = b->attach((void *)atomic_load(&a->base),
					a->committed);
	}
	return err;
}

void vc_arena_fork_lock(bool lock)
{
	if (lock)
		pthread_mutex_lock(&arena_lock);
	else
		pthread_mutex_unlock(&arena_lock);
}
