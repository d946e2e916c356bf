/* SPDX-License-Identifier: MIT */
/*
 * internal.h - structures shared by the library's files (never installed)
 *
 * Locking order, outermost first:
 *   vc_caches_lock -> vcache.lock -> vcache_object.lock -> slab / backend locks
 * The SIGBUS path takes no lock at all: it finds objects through the slab
 * (slab.c) and coordinates with other threads through the per-chunk atomic
 * state words below.
 */
#ifndef VCACHE_INTERNAL_H
#define VCACHE_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "prim.h"
#include "vcache.h"

#define _public_ __attribute__((visibility("default")))
/*
 * Thread-local state read by the SIGBUS handler. initial-exec: the
 * general-dynamic model may allocate on a thread's first access
 * (__tls_get_addr), which is not async-signal-safe.
 */
#define _tls_ __thread __attribute__((tls_model("initial-exec")))

/*
 * Per-chunk state, one 64-bit atomic word per chunk:
 *  bits  0..31  pin count (limited to CHUNK_PIN_MAX)
 *  bit   32     VOLATILE: the chunk was handed to the kernel as volatile and
 *               has not been made non-volatile since; only such a chunk can
 *               lose pages
 *  bit   33     BUSY: one thread is making the chunk's pages present again
 *               (fault-path regeneration or a pin); others wait for it
 *  bit   34     WAITERS: someone sleeps on the word (futex on its upper
 *               half) until BUSY is cleared
 *  bit   35     KNOWN: a pin's prefetch (pin.c) already made the VOLATILE
 *               chunk non-volatile in the kernel; its next claimer needs no
 *               system call
 *  bit   36     PURGED: that prefetch found a page of the chunk discarded
 *               (the kernel has forgotten it; the chunk state remembers)
 *  bit   37     REMARK: a fault regenerated pages of the VOLATILE, unpinned
 *               chunk; those pages are not lazy-free in the kernel until
 *               the idle thread hands the chunk back in a batch (idle.c)
 * Pin counts and VOLATILE change only under the object's lock; BUSY is
 * claimed with compare-and-swap, also from the SIGBUS handler. Pins of
 * the whole object may be counted once for all chunks instead
 * (vcache_object.whole_pins): vc_object_pinned() says whether any is.
 */
#define CHUNK_PINS_MASK 0xffffffffull
#define CHUNK_VOLATILE (1ull << 32)
#define CHUNK_BUSY (1ull << 33)
#define CHUNK_WAITERS (1ull << 34)
#define CHUNK_KNOWN (1ull << 35)
#define CHUNK_PURGED (1ull << 36)
#define CHUNK_REMARK (1ull << 37)
#define CHUNK_PIN_MAX ((1u << 20) - 1)

#define OBJ_MAGIC_LIVE 0x76636f62u /* "vcob" */
#define OBJ_MAGIC_DEAD 0x64656164u /* "dead" */

#define NAME_BUCKETS_MIN 256

/*
 * How many backends the registry (backend.c) may hold: the size of the
 * per-cache status array, indexed by registry position (a static
 * assertion there says when to raise it).
 */
#define VC_BACKEND_MAX 8

struct backend_ops;
struct vc_shared;

struct backend_status {
	int error;           /* 0 usable, else negative errno */
	const char *reason;  /* static string, NULL when usable */
};

/* Hot state written by different threads is kept this far apart. */
#define VC_CACHE_LINE 64

/* Aligned so that two objects' hot fields never share a cache line. */
struct __attribute__((aligned(VC_CACHE_LINE))) vcache_object {
	/* Read without locks by handle checks and the SIGBUS handler. */
	_Atomic uint32_t magic;
	_Atomic uintptr_t region_start; /* 0 while not published */
	_Atomic uintptr_t region_end;

	/* Constant while the object is live. */
	struct vcache *cache;
	uint8_t *data;
	size_t size;       /* as created */
	size_t map_size;   /* size rounded up to pages */
	size_t chunk_size;
	size_t nchunks;
	vcache_regen_fn regen;
	void *userdata;
	_Atomic uint64_t *chunks;
	const char *name; /* in the allocation of chunks (object.c) */

	/*
	 * Purge order (purge.c): VCACHE_PRIORITY_*, last unpin (ns); making
	 * room ahead's: the last use (ns: an unpin, a vcache_object_data(),
	 * a fault; UINT64_MAX once purged empty).
	 */
	_Atomic int priority;
	_Atomic uint64_t unpinned_ns;
	_Atomic uint64_t used_ns;
	/* Its idle delay, learned from its reuse (idle.c): ns, 0 = the cache's. */
	_Atomic uint64_t delay_ns;

	/*
	 * Under lock: idle-delay deadlines (CLOCK_MONOTONIC ns, 0 = none),
	 * how many chunks have one, and a deadline no pending chunk goes
	 * before (the last whole-object unpin's, stored once instead of in
	 * every chunk's: idle.c; 0 once none is pending).
	 */
	pthread_mutex_t lock;
	uint64_t *deadline;
	size_t pending;
	uint64_t deadline_all;
	/*
	 * Under lock (pin.c): pins of every chunk at once, chunks with
	 * CHUNK_VOLATILE set, chunks whose own pin count is not 0. A pin
	 * of the whole object adds to whole_pins, not to 64 or 1024
	 * counts, when the other two are 0; so whole_pins != 0 implies
	 * they are. A chunk's pins are its own count plus whole_pins.
	 * whole_pins is atomic for readers without the lock (stats).
	 */
	_Atomic uint32_t whole_pins;
	size_t nvolatile;
	size_t pinned_chunks;
	_Atomic size_t remarks; /* chunks with CHUNK_REMARK set */

	/* Under cache->lock. */
	unsigned int refs;
	bool in_cache;
	struct vcache_object *hash_next;
	struct vcache_object *next, *prev; /* every live object of the cache */

	/* Under the slab lock while free. */
	struct vcache_object *free_next;

	/* Shared between processes (shared.h); NULL for a private object. */
	struct vc_shared *shared;
	/* data is a slot of an arena (arena.c), not a mapping of its own. */
	bool in_arena;
};

struct vcache {
	pthread_mutex_t lock;
	const struct backend_ops *backend;
	struct backend_status status[VC_BACKEND_MAX]; /* by registry position */
	unsigned int idle_delay_ms;
	bool strict; /* purge every chunk at its last unpin (purge.c) */
	vcache_regen_failure_fn on_regen_failure;
	void *on_regen_failure_userdata;

	/*
	 * Under lock. Name table: nbuckets heads (a power of two, or 0
	 * before the first object), doubled as objects are added so chains
	 * stay short (object.c).
	 */
	struct vcache_object **buckets;
	size_t nbuckets;
	struct vcache_object *objects; /* in the cache or removed but held */
	uint64_t nobjects;             /* in the cache (findable by name) */

	/* Idle thread (idle.c), under lock. */
	pthread_t idle_thread;
	/*
	 * When the thread wakes by itself (0 = never, or scanning now). Also
	 * read without the lock by vc_idle_kick(): see there.
	 */
	_Atomic uint64_t idle_next;
	bool idle_running;
	bool idle_stopping;
	/*
	 * Lock-free side of the idle thread, for the fault path (signal
	 * context): idle_alive mirrors idle_running; remark_due is when the
	 * thread hands REMARK chunks back (0: none waiting); idle_sem wakes
	 * it (sem_post() is async-signal-safe, a condition variable is not).
	 */
	_Atomic bool idle_alive;
	_Atomic uint64_t remark_due;
	sem_t idle_sem;
	/*
	 * Bytes of this cache held by idle delays and REMARK chunks (the
	 * process-wide sum is idle.c's cap), and how many of its objects are
	 * purge-first or shared (purge.c): a pressure pass skips a cache
	 * with neither instead of walking every object.
	 */
	_Atomic int64_t held_bytes;
	_Atomic size_t nurgent;
	/* Where making room ahead looks next (purge.c), under lock. */
	struct vcache_object *ahead_cursor;
	/*
	 * Bytes faults installed since the idle thread was last asked to
	 * make room ahead, and whether it is asked now (purge.c; the fault
	 * path sets them, the thread takes room_wanted under lock).
	 */
	_Atomic size_t room_debt;
	_Atomic bool room_wanted;
	/* A deadline earlier than idle_next was set (vc_idle_kick()). */
	_Atomic bool idle_kicked;

	/* Counters, updated from any context. */
	_Atomic uint64_t purges;
	_Atomic uint64_t regenerations;
	_Atomic uint64_t regen_ns;
	_Atomic uint64_t faults;

	/*
	 * 0, or the negative errno every pin/read/write/create returns since
	 * the backend lost its descriptor (lost.c); then every object of the
	 * cache is inaccessible (PROT_NONE).
	 */
	_Atomic int lost;

	struct vcache *next; /* vc_caches list, under vc_caches_lock */
};

/* cache.c: every cache of the process, for fork handling. */
extern pthread_mutex_t vc_caches_lock;
extern struct vcache *vc_caches;

/* util (the OS primitives, vc_page_size and vc_now_ns() among them: prim.h) */
static inline size_t chunk_offset(const struct vcache_object *o, size_t i)
{
	return i * o->chunk_size;
}
/* Bytes of object contents in chunk i (the last one may be short). */
static inline size_t chunk_length(const struct vcache_object *o, size_t i)
{
	size_t off = chunk_offset(o, i);
	return o->size - off < o->chunk_size ? o->size - off : o->chunk_size;
}
/* Bytes of mapping covered by chunk i (whole pages). */
static inline size_t chunk_map_length(const struct vcache_object *o, size_t i)
{
	size_t off = chunk_offset(o, i);
	return o->map_size - off < o->chunk_size ? o->map_size - off
						 : o->chunk_size;
}
static inline uint32_t chunk_pins(uint64_t s)
{
	return (uint32_t)(s & CHUNK_PINS_MASK);
}

/* Whether a chunk of o in state s is pinned, by its own count or o's. */
static inline bool chunk_pinned(struct vcache_object *o, uint64_t s)
{
	return chunk_pins(s) || atomic_load(&o->whole_pins);
}

/* pagemap.c: page number -> pointer, lock-free reads (writers serialised). */
#define VC_PAGEMAP_SLOTS 512u
struct vc_pagemap {
	void *_Atomic slot[VC_PAGEMAP_SLOTS];
};
int vc_pagemap_set(struct vc_pagemap *m, uintptr_t start, size_t len,
		   void *value);
void *vc_pagemap_get(struct vc_pagemap *m, uintptr_t addr); /* AS-safe */

/*
 * arena.c: private objects of up to VC_ARENA_OBJ_MAX bytes (mapping size)
 * are slots of a few large mappings, for backends with backend_ops.arena.
 *  get/put: a cache of backend b starts / stops using them (vcache_new,
 *   vcache_free); the last put unmaps b's arenas. Normal context.
 *  alloc: a slot of at least len bytes, missing pages, accessible and
 *   attached; 0, -ENOMEM (no arena could be made) or -E2BIG (too large,
 *   or b has no arenas). free: give a slot back, its pages already
 *   dropped (MADV_DONTNEED) and its owner withdrawn. Normal context.
 *  lookup: is addr inside an arena, and *ret_object the owner of its slot
 *   (or NULL)? set_owner: the same for writers (slab lock held); false
 *   when addr is not in an arena. Async-signal-safe / normal context.
 *  fork_child: attach every arena of b again (fork.c, child). 0 or -errno.
 *  fork_lock: fork.c holds the arena lock across fork().
 */
#define VC_ARENA_OBJ_MAX ((size_t)1 << 20)
struct backend_ops;
int vc_arena_get(const struct backend_ops *b);
void vc_arena_put(const struct backend_ops *b);
int vc_arena_alloc(const struct backend_ops *b, size_t len, void **ret_addr);
void vc_arena_free(void *addr, size_t len);
bool vc_arena_lookup(uintptr_t addr, struct vcache_object **ret_object);
bool vc_arena_set_owner(uintptr_t addr, struct vcache_object *o);
int vc_arena_fork_child(const struct backend_ops *b);
void vc_arena_fork_lock(bool lock);

/*
 * slab.c: never-freed metadata (slab blocks, pagemap nodes) from large
 * pools, so it costs a few mappings, not one per block or node. Zeroed,
 * page aligned, len rounded up to pages. Slab lock held. NULL on failure.
 */
void *vc_meta_alloc(size_t len);

/* slab.c: object handles live in never-freed memory. */
struct vcache_object *vc_slab_alloc(void);
void vc_slab_free(struct vcache_object *o);
int vc_object_check(const struct vcache_object *o);
struct vcache_object *vc_slab_find(uintptr_t addr); /* async-signal-safe */
int vc_slab_publish(struct vcache_object *o, uintptr_t start, uintptr_t end);
void vc_slab_withdraw(struct vcache_object *o);
void vc_slab_lock(void);
void vc_slab_unlock(void);

/* object.c */
void vc_object_release(struct vcache_object *o); /* cache->lock held */
int vc_object_range(const struct vcache_object *o, size_t offset, size_t length,
		 size_t *ret_first, size_t *ret_last);

/* sigbus.c */
void vc_sigbus_handler(int sig, siginfo_t *si, void *uc);
bool vc_sigbus_probe_pages(void *addr, size_t len);
void vc_sigbus_open(void);  /* normal context; nests; SIGSEGV too */
void vc_sigbus_close(void);
/*
 * The signals a purged page raises: SIGBUS (uffd, vrange), SIGSEGV (soft).
 * Work that may touch purged memory unblocks both (a callback may read an
 * object of a cache with the other backend); vc_fault_unblock() returns
 * the ones that were blocked, for vc_fault_reblock(). Async-signal-safe.
 */
void vc_fault_unblock(sigset_t *ret_blocked);
void vc_fault_reblock(const sigset_t *blocked);

/*
 * chain.c: the library's fault handlers (sig is SIGBUS or SIGSEGV; the
 * handler is vc_sigbus_handler() or vc_sigsegv_handler()) and the action
 * each was installed over.
 *  install: a reference on sig's handler, putting it on top the first
 *   time (or again over a SIG_DFL / SIG_IGN set since). 0 or the negative
 *   errno of sigaction(2). Normal context, thread-safe.
 *  uninstall: drop it; the last one restores the previous action if ours
 *   is still the current one. Normal context, thread-safe.
 *  reinstall: put ours back on top now, the current action (unless ours)
 *   becoming the previous one. 0 or -errno. Async-signal-safe.
 *  check: vcache_sigbus_check() for one signal: 0 installed or not
 *   needed, 1 replaced (put back if reinstall), or -errno. Thread-safe.
 *  is_ours: is sa our handler for sig? Async-signal-safe.
 *  vc_chain: hand a signal that is not ours to the previous action, as the
 *   kernel would have. Signal context.
 */
int vc_chain_install(int sig);
void vc_chain_uninstall(int sig);
int vc_chain_reinstall(int sig);
int vc_chain_check(int sig, bool reinstall);
bool vc_chain_is_ours(int sig, const struct sigaction *sa);
void vc_chain(int sig, siginfo_t *si, void *uc);

/* lost.c: a backend that lost its descriptor. */
int vc_cache_lost(struct vcache *c); /* 0 or the cache's lost errno */
int vc_backend_open(struct vcache *c); /* a pin's first backend call */
void vc_backend_close(struct vcache *c);
void vc_lost_quarantine_all(void);  /* fork child: every lock held */

/* scratch.c */
int vc_scratch_reserve(size_t len);
void *vc_scratch_get(size_t len, int *ret_slot);  /* async-signal-safe */
void vc_scratch_put(void *buf, size_t len, int slot); /* async-signal-safe */
void vc_scratch_fork_child(void);

/* regen.c: per-chunk state machine and regeneration. */
int vc_chunk_claim(struct vcache_object *o, size_t i, bool add_pin,
		   bool may_wait, uint64_t *ret_old);
void vc_chunk_wait_idle(struct vcache_object *o, size_t i);
void vc_regen_fork_child(struct vcache_object *o);
void vc_chunk_release(struct vcache_object *o, size_t i, uint64_t clear);
typedef int (*vc_chunk_install_fn)(struct vcache_object *o, size_t i,
				   const void *buf);
int vc_chunk_regenerate_with(struct vcache_object *o, size_t i,
			     bool sigbus_open, vc_chunk_install_fn install);
int vc_chunk_regenerate(struct vcache_object *o, size_t i, bool sigbus_open);
int vc_chunk_fill_zero(struct vcache_object *o, size_t i);
void vc_regen_fault(struct vcache_object *o, uintptr_t addr);
_Noreturn void vc_regen_failed(struct vcache_object *o, size_t off, int err);

/*
 * The common end of both fault handlers (sigbus.c, sigsegv.c): a fault
 * that may be ours (the handler checked the si_code, and SIGSEGV's area
 * registry) at an address of a live object regenerates that object's
 * chunk; anything else goes to the previous action (chain.c). Signal
 * context; inline so the handlers cost no extra call.
 */
static inline void vc_fault_or_chain(int sig, siginfo_t *si, void *uc,
				     bool maybe_ours)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	struct vcache_object *o = maybe_ours ? vc_slab_find(addr) : NULL;

	if (o)
		vc_regen_fault(o, addr);
	else
		vc_chain(sig, si, uc);
}

/* pin.c */
int vc_pin_range(struct vcache_object *object, size_t offset, size_t length,
	      unsigned int flags, bool *ret_pinned);
/* Whether this process pins a chunk of o (pin.c). */
bool vc_object_pinned(struct vcache_object *o);
void vc_object_mark_range_volatile(struct vcache_object *o, size_t first,
				size_t last);

/* idle.c */
void vc_idle_kick(struct vcache *c, uint64_t deadline);
void vc_idle_stop(struct vcache *c);
uint64_t vc_idle_expire_object(struct vcache_object *o, uint64_t now,
			       bool remark, bool *ret_retry);
bool vc_idle_defer_remark(struct vcache_object *o, size_t i); /* AS-safe */
void vc_idle_flush(struct vcache *c); /* c->lock held */
void vc_idle_flush_object(struct vcache_object *o); /* cache lock held */
bool vc_idle_may_hold(size_t bytes); /* AS-safe */
void vc_idle_held(struct vcache *c, int64_t bytes); /* AS-safe */
uint64_t vc_idle_held_bytes(void);   /* AS-safe */
void vc_idle_deadline_set(struct vcache_object *o, size_t i, uint64_t when);
void vc_idle_deadline_clear(struct vcache_object *o, size_t i);
void vc_idle_deadline_all(struct vcache_object *o, uint64_t when);
void vc_idle_forget_object(struct vcache_object *o);
uint64_t vc_idle_delay_ns(struct vcache_object *o);
void vc_idle_learn(struct vcache_object *o, bool purged, uint64_t now);

/* fork.c */
int vc_fork_handlers_register(void);

/*
 * xstruct.c: the extensible-struct rule (see vcache.h). usize is the caller's
 * struct size, ksize the library's, ver0 the first published size.
 * check: 0, -EINVAL (usize < ver0) or -E2BIG (a byte past ksize is not
 * zero). copy_in: check, then copy min(usize, ksize) bytes over dst, which
 * holds the defaults.
 */
#define VC_STRUCT_SIZE_MAX 4096 /* documented in vcache.h */
int vc_struct_check_size(const void *user, size_t usize, size_t ksize,
		      size_t ver0);
int vc_struct_copy_in(void *dst, size_t ksize, const void *user,
		      size_t usize, size_t ver0);

/* sigsegv.c: the soft backend's SIGSEGV handler and area registry. */
int vc_sigsegv_atfork_register(void);
void vc_sigsegv_handler(int sig, siginfo_t *si, void *uc);
int vc_sigsegv_register(void *addr, size_t len, void *arg, void **ret_ticket);
void vc_sigsegv_unregister(void *ticket);
void *vc_sigsegv_lookup(uintptr_t addr); /* async-signal-safe */

/* purge.c */
size_t vc_purge_locked(struct vcache_object *o, size_t start, size_t end);
void vc_purge_order_add(struct vcache_object *o);  /* cache->lock held */
void vc_purge_order_del(struct vcache_object *o);  /* cache->lock held */
int vc_purge_attach(struct vcache *c);
void vc_purge_before_alloc(struct vcache *c, struct vcache_object *o,
			   size_t offset, size_t bytes);
void vc_purge_ahead_forget(struct vcache_object *o);
void vc_purge_after_fault(struct vcache_object *o, size_t bytes);
void vc_purge_room_ahead(struct vcache *c); /* cache->lock held */
void vc_object_used(struct vcache_object *o);
void vc_purge_detach(struct vcache *c);

#endif
