/* SPDX-License-Identifier: MIT */
/*
 * purge.c - purging by the library: vcache_purge*(), strict mode, the
 * response to memory pressure, and the order in which objects go
 *
 * Order: purge-first objects, then normal, then keep-if-possible ones;
 * within a class, least recently unpinned first (o->unpinned_ns, set at
 * creation and by every unpin that leaves a chunk unpinned). Making room
 * ahead (below) has its own order, of any use.
 *
 * A purge is real: the backend's purge() discards the pages now (soft:
 * PROT_NONE + MADV_DONTNEED; uffd: MADV_DONTNEED on the userfaultfd range,
 * so a touch raises SIGBUS; vrange: MADV_PAGEOUT, the kernel's own reclaim,
 * which remembers the purge for NONVOLATILE). Only unpinned chunks are
 * touched, and only once they are volatile: a chunk still inside its
 * idle delay counts as in use (strict mode marks it volatile first). Each
 * chunk is held BUSY while its pages go, so a
 * concurrent fault or pin waits and then sees the purge.
 *
 * Bytes purged are counted with mincore() before and after (pages of the
 * object that were resident and are not any more), so the result says
 * what was really freed, also when the kernel declined some pages.
 *
 * Pressure: every cache subscribes to the watcher (pressure.c) while its
 * backend can purge. On the soft backend the library is the only one
 * that purges, so it frees what the watcher asks for, in the order above.
 * On uffd and vrange the kernel reclaims volatile pages by itself in its
 * own LRU order; the library then purges only purge-first objects on a
 * pressure event, so that they go before anything the kernel would pick.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "backend.h"
#include "internal.h"
#include "pressure.h"
#include "shared.h"

static unsigned int rank(int priority)
{
	switch (priority) {
	case VCACHE_PRIORITY_PURGE_FIRST:
		return 0;
	case VCACHE_PRIORITY_KEEP:
		return 2;
	default:
		return 1;
	}
}

#define MINCORE_BATCH 512 /* pages per mincore() call: 2 MiB of 4 KiB */

static size_t resident(const uint8_t *addr, size_t len)
{
	unsigned char vec[MINCORE_BATCH];
	size_t n = 0;

	for (size_t off = 0; off < len; off += sizeof(vec) * vc_page_size) {
		size_t span = len - off;
		size_t pages;

		if (span > sizeof(vec) * vc_page_size)
			span = sizeof(vec) * vc_page_size;
		pages = span / vc_page_size;
		if (vc_mem_present((void *)(addr + off), span, vec) < 0)
			continue;
		for (size_t i = 0; i < pages; i++)
			n += vec[i] & 1;
	}
	return n;
}

/*
 * Chunk i may go: unpinned, volatile (a chunk still inside its idle delay
 * counts as in use), and claimed BUSY. A chunk another thread is
 * regenerating or probing is in use: skip it rather than wait with the
 * object lock held (no lock may be held while waiting for BUSY: see
 * README's locking).
 */
static bool claim_for_purge(struct vcache_object *o, size_t i)
{
	uint64_t st = atomic_load(&o->chunks[i]);

	if (chunk_pinned(o, st) || !(st & CHUNK_VOLATILE))
		return false;
	return vc_chunk_claim(o, i, false, false, &st) == 0;
}

/*
 * Purge the pages of [start, end) (page-aligned offsets into the mapping)
 * that lie in unpinned chunks. o->lock held. Returns bytes freed.
 * Neighbouring chunks that may go are claimed together and purged with
 * one backend call (and counted with mincore() before and after, 2 MiB
 * per call): a purge of a whole 4 MiB object of 64 KiB chunks costs five
 * system calls, not three per chunk.
 */
size_t vc_purge_locked(struct vcache_object *o, size_t start, size_t end)
{
	const struct backend_ops *b = o->cache->backend;
	size_t bytes = 0, i;

	if (o->shared) /* holes punched in the memfd (shared-pin.c) */
		return vc_shared_purge_locked(o, start, end);
	if (!b->purge || start >= end)
		return 0;
	for (i = start / o->chunk_size;
	     i < o->nchunks && chunk_offset(o, i) < end;) {
		size_t j = i, s, e, before;

		while (j < o->nchunks && chunk_offset(o, j) < end &&
		       claim_for_purge(o, j))
			j++;
		if (j == i) {
			i++;
			continue;
		}
		s = chunk_offset(o, i);
		e = chunk_offset(o, j - 1) + chunk_map_length(o, j - 1);
		s = start > s ? start : s;
		e = end < e ? end : e;
		before = resident(o->data + s, e - s);
		if (b->purge(o->data + s, e - s) == 0)
			bytes += (before - resident(o->data + s, e - s)) *
				 vc_page_size;
		for (size_t k = i; k < j; k++) {
			size_t cs = chunk_offset(o, k);
			bool whole = s <= cs && e >= cs + chunk_map_length(o, k);

			/* All of it gone: no page a fault installed is left
			 * to re-mark. */
			vc_chunk_release(o, k, whole ? CHUNK_REMARK : 0);
		}
		i = j;
	}
	return bytes;
}

static size_t purge_whole(struct vcache_object *o)
{
	size_t n;

	pthread_mutex_lock(&o->lock);
	n = vc_purge_locked(o, 0, o->map_size);
	pthread_mutex_unlock(&o->lock);
	return n;
}

_public_ ssize_t vcache_purge_range(vcache_object *object, size_t offset,
				    size_t length)
{
	struct vcache_object *o = object;
	size_t first, last, start, end, n;
	int err;

	err = vc_object_check(o);
	if (err < 0)
		return err;
	err = vc_object_range(o, offset, length, &first, &last);
	if (err < 0)
		return err;
	start = offset & ~(vc_page_size - 1);
	end = (offset + length + vc_page_size - 1) & ~(vc_page_size - 1);
	pthread_mutex_lock(&o->lock);
	n = vc_purge_locked(o, start, end);
	pthread_mutex_unlock(&o->lock);
	return (ssize_t)n;
}

_public_ ssize_t vcache_purge(vcache_object *object)
{
	int err = vc_object_check(object);

	if (err < 0)
		return err;
	return (ssize_t)purge_whole(object);
}

/* The cache makes room ahead: a kernel backend (none cannot purge). */
static bool ahead_applies(const struct vcache *c)
{
	return c->backend->purge && c->backend->id != VCACHE_BACKEND_SOFT;
}

/*
 * Store o's time of use, at most once a millisecond, so that threads
 * reading one object optimistically do not write its cache line on every
 * access. Async-signal-safe.
 */
static void store_use_time(struct vcache_object *o)
{
	uint64_t last = atomic_load_explicit(&o->used_ns, memory_order_relaxed);
	uint64_t now = vc_now_ns();

	if (last == UINT64_MAX || (now > last && now - last > 1000000ull))
		atomic_store_explicit(&o->used_ns, now, memory_order_relaxed);
}

/*
 * o was used now (vcache_object_data()): its place in making room ahead's
 * order (below). Async-signal-safe.
 */
void vc_object_used(struct vcache_object *o)
{
	/* Nobody reads the order where the library makes no room ahead. */
	if (ahead_applies(o->cache) && vc_pressure_limit() != UINT64_MAX)
		store_use_time(o);
}

/*
 * Objects a pressure pass on a kernel backend purges itself (see the
 * top): purge-first and shared ones, counted per cache so that a pass
 * over a cache with none of them does not walk every object.
 */
static bool urgent(const struct vcache_object *o, int priority)
{
	return o->shared || rank(priority) == 0;
}

void vc_purge_order_add(struct vcache_object *o)
{
	if (urgent(o, atomic_load(&o->priority)))
		atomic_fetch_add(&o->cache->nurgent, 1);
}

void vc_purge_order_del(struct vcache_object *o)
{
	if (urgent(o, atomic_load(&o->priority)))
		atomic_fetch_sub(&o->cache->nurgent, 1);
}

_public_ int vcache_object_set_priority(vcache_object *object, int priority)
{
	int err = vc_object_check(object);
	int old;

	if (err < 0)
		return err;
	if (priority != VCACHE_PRIORITY_NORMAL &&
	    priority != VCACHE_PRIORITY_PURGE_FIRST &&
	    priority != VCACHE_PRIORITY_KEEP)
		return -EINVAL;
	old = atomic_exchange(&object->priority, priority);
	if (urgent(object, old) != urgent(object, priority))
		atomic_fetch_add(&object->cache->nurgent,
				 urgent(object, priority) ? 1 : (size_t)-1);
	return 0;
}

_public_ int vcache_object_priority(const vcache_object *object)
{
	int err = vc_object_check(object);

	if (err < 0)
		return err;
	return atomic_load(&((vcache_object *)object)->priority);
}

static int by_order(const void *a, const void *b)
{
	struct vcache_object *x = *(struct vcache_object *const *)a;
	struct vcache_object *y = *(struct vcache_object *const *)b;
	unsigned int rx = rank(atomic_load(&x->priority));
	unsigned int ry = rank(atomic_load(&y->priority));
	uint64_t tx = atomic_load(&x->unpinned_ns);
	uint64_t ty = atomic_load(&y->unpinned_ns);

	if (rx != ry)
		return rx < ry ? -1 : 1;
	return tx < ty ? -1 : tx > ty;
}

/* Cache locks held. Add c's objects of rank <= max_rank to the list. */
static int collect(struct vcache *c, unsigned int max_rank,
		   struct vcache_object ***list, size_t *n, size_t *cap)
{
	for (struct vcache_object *o = c->objects; o; o = o->next) {
		/*
		 * Shared objects in every class: the stock kernel never
		 * reclaims shmem by itself, and with fvrange its reclaim
		 * alone was not enough (a memory-cgroup OOM kill in the
		 * guest, test_shared_pressure): both purge there.
		 */
		if (rank(atomic_load(&o->priority)) > max_rank && !o->shared)
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			struct vcache_object **l = realloc(*list,
							   nc * sizeof(*l));

			if (!l)
				return -ENOMEM;
			*list = l;
			*cap = nc;
		}
		(*list)[(*n)++] = o;
	}
	return 0;
}

/* Purge whole objects of the list, in order, until bytes are freed. */
static size_t purge_list(struct vcache_object **list, size_t n, size_t bytes)
{
	size_t done = 0;

	if (n == 0)
		return 0;
	qsort(list, n, sizeof(*list), by_order);
	for (size_t i = 0; i < n && done < bytes; i++)
		done += purge_whole(list[i]);
	return done;
}

_public_ ssize_t vcache_purge_cache(vcache *cache, size_t bytes)
{
	struct vcache_object **list = NULL;
	size_t n = 0, cap = 0, done = 0;
	int err;

	if (!cache)
		return -EINVAL;
	if (bytes == 0)
		return 0;
	pthread_mutex_lock(&cache->lock);
	err = collect(cache, 2, &list, &n, &cap);
	if (err == 0)
		done = purge_list(list, n, bytes);
	pthread_mutex_unlock(&cache->lock);
	free(list);
	return err < 0 ? err : (ssize_t)done;
}

/*
 * Making room ahead. On uffd and vrange the kernel reclaims volatile pages
 * when the memory cgroup reaches its limit, in the thread that allocates:
 * every page a regeneration installs then costs a reclaim (an rmap walk,
 * a TLB flush) in the faulting thread, and the kernel picks pages in its
 * own LRU order, the hot objects' as well. So before the library fills
 * memory (a pin that regenerates, an object's creation) it reads the
 * group's room (fstat(2) + pread(2)); when the fill would leave less than
 * the reserve (pressure.h), it purges least recently used objects from
 * their end, as much as it needs (whole chunks, one MADV_DONTNEED per run
 * of volatile unpinned chunks), until it would not: the kernel takes no
 * more than it needs either, and a whole object purged for a few pages
 * cost twice the regenerations of a cache that fits (bench/README.md).
 * The fault path cannot (a signal handler takes no lock): it counts the
 * bytes it installs, and after every reserve's worth asks the cache's
 * idle thread (sem_post(), async-signal-safe), which then makes room up
 * to four reserves (vc_purge_room_ahead()) on its own CPU while the
 * faulting thread goes on; the watcher does the same at each look
 * (on_pressure()). Optimistic readers then pay for a purge ahead (a
 * MADV_DONTNEED elsewhere) instead of a reclaim in their fault: in
 * bench-pressure at 25% of the data, memory-cgroup reclaim called from
 * UFFDIO_COPY was 31% of all CPU time of optimistic mode
 * (bench/README.md). Only in a memory cgroup with a limit, and only the
 * cache's own objects (a process with several caches leaves the others to
 * the kernel).
 *
 * Victims come from a window of AHEAD_WINDOW objects from a cursor that
 * moves on by a window per victim: exact LRU up to that many objects, an
 * approximation above, and a cost per victim that does not grow with the
 * cache. The order is the library's view of use: an unpin, a
 * vcache_object_data(), a fault. An object read through a pointer kept
 * from an earlier vcache_object_data() looks idle until it faults (the
 * kernel, which sees accessed bits, would have kept it): vcache.h asks
 * programs to call it when they use an object. Before, only unpinned
 * objects were taken and optimistic ones left to the kernel's reclaim,
 * which then ran in their faults. An object with nothing left resident
 * goes to the back of the order (used_ns = UINT64_MAX) until its next
 * use.
 */
#define AHEAD_WINDOW 64

/* cache->lock held: the object is going, the cursor moves past it. */
void vc_purge_ahead_forget(struct vcache_object *o)
{
	if (o->cache->ahead_cursor == o)
		o->cache->ahead_cursor = o->next;
}

#define AHEAD_TRIED 16 /* objects one call looks at and leaves */

/* x goes before y: its class first, then the least recently used. */
static bool by_use(const struct vcache_object *x,
		   const struct vcache_object *y)
{
	unsigned int rx = rank(atomic_load(&x->priority));
	unsigned int ry = rank(atomic_load(&y->priority));

	if (rx != ry)
		return rx < ry;
	return atomic_load(&x->used_ns) < atomic_load(&y->used_ns);
}

/* c->lock held. The next victim, or NULL. */
static struct vcache_object *ahead_victim(struct vcache *c,
					  const struct vcache_object *skip,
					  struct vcache_object *const *tried,
					  size_t ntried)
{
	struct vcache_object *o = c->ahead_cursor ? c->ahead_cursor
						  : c->objects;
	struct vcache_object *best = NULL, *start = o;

	for (unsigned int k = 0; o && k < AHEAD_WINDOW; k++) {
		bool seen = o == skip;

		for (size_t t = 0; !seen && t < ntried; t++)
			seen = tried[t] == o;
		if (!seen && o->in_cache && !o->shared &&
		    atomic_load(&o->used_ns) != UINT64_MAX &&
		    (!best || by_use(o, best)))
			best = o;
		o = o->next ? o->next : c->objects;
		if (o == start)
			break;
	}
	c->ahead_cursor = o;
	return best;
}

/*
 * o->lock held. Purge about want bytes of o from its end: the chunks that
 * hold its last want bytes of resident pages (one mincore() pass from the
 * end, then one bulk purge). Sets *ret_empty when nothing of o was left
 * resident below them.
 */
static size_t purge_tail(struct vcache_object *o, size_t want, bool *ret_empty)
{
	unsigned char vec[MINCORE_BATCH];
	size_t need = (want + vc_page_size - 1) / vc_page_size, found = 0;
	size_t p = o->map_size / vc_page_size, first = p, freed;

	while (p > 0 && found < need) {
		size_t n = p < sizeof(vec) ? p : sizeof(vec);

		p -= n;
		if (vc_mem_present(o->data + p * vc_page_size,
				   n * vc_page_size, vec) < 0)
			return 0;
		for (size_t k = n; k-- > 0 && found < need;)
			if (vec[k] & 1) {
				found++;
				first = p + k;
			}
	}
	if (!found) {
		*ret_empty = true;
		return 0;
	}
	freed = vc_purge_locked(o, chunk_offset(o, first * vc_page_size /
						o->chunk_size), o->map_size);
	/*
	 * Empty only if none of it is left: chunks inside their idle delay
	 * or pinned keep their pages, and such an object must stay in the
	 * order (sent to the back, it was not taken again once its delay
	 * ended until its next use: in bench-pressure pin mode at 25% of the
	 * data 80/20, making room then ran out of victims and the group hit
	 * its limit 10,000-15,000 times a run in three runs of four).
	 */
	*ret_empty = found < need && freed >= found * vc_page_size;
	return freed;
}

/* c->lock held. Purge from victims until want bytes are freed. */
static size_t make_room_locked(struct vcache *c,
			       const struct vcache_object *skip, size_t want)
{
	struct vcache_object *o, *tried[AHEAD_TRIED];
	size_t done = 0, ntried = 0, rounds = 0;

	/* Each object once (an emptied one goes to the back), and at most
	 * AHEAD_TRIED that keep pinned or delayed chunks. */
	while (done < want && ntried < AHEAD_TRIED &&
	       rounds++ <= c->nobjects &&
	       (o = ahead_victim(c, skip, tried, ntried))) {
		uint64_t used = atomic_load(&o->used_ns);
		bool empty = false;

		pthread_mutex_lock(&o->lock);
		done += purge_tail(o, want - done, &empty);
		/*
		 * Nothing resident left: to the back until its next use
		 * (unless a fault has used it since: it keeps that time).
		 */
		if (empty)
			(void)atomic_compare_exchange_strong(&o->used_ns, &used,
							     UINT64_MAX);
		pthread_mutex_unlock(&o->lock);
		if (!empty)
			tried[ntried++] = o;
	}
	return done;
}

/*
 * Room for bytes about to be filled; for a pin of o, for the missing pages
 * of the chunks holding [offset, offset + bytes), which it regenerates
 * whole.
 */
static void make_room(struct vcache *c, struct vcache_object *o,
		      size_t offset, size_t bytes)
{
	uint64_t room, limit, reserve;

	if (vc_pressure_room(&room, &limit) < 0)
		return;
	reserve = vc_pressure_reserve(limit);
	if (o) {
		size_t first = offset / o->chunk_size;
		size_t last = (offset + bytes - 1) / o->chunk_size;
		size_t start = chunk_offset(o, first);
		size_t end = chunk_offset(o, last) + chunk_map_length(o, last);

		bytes = end - start;
		if (room >= bytes + reserve)
			return;
		bytes -= resident(o->data + start, end - start) * vc_page_size;
	}
	if (room >= bytes + reserve)
		return;
	pthread_mutex_lock(&c->lock);
	(void)make_room_locked(c, o, bytes + reserve - room);
	pthread_mutex_unlock(&c->lock);
}

/*
 * Room up to four reserves, for what c's faults will install next: from
 * the idle thread (asked by vc_purge_after_fault()) and the watcher.
 * c->lock held.
 */
void vc_purge_room_ahead(struct vcache *c)
{
	uint64_t room, limit, target;

	if (ahead_applies(c) && vc_pressure_room(&room, &limit) == 0 &&
	    room < (target = 4 * vc_pressure_reserve(limit)))
		(void)make_room_locked(c, NULL, target - room);
}

/*
 * Fault path (signal context): a fault just installed bytes of o. A fault
 * is a use; and after a reserve's worth of installs the idle thread makes
 * room ahead (see above). Async-signal-safe.
 */
void vc_purge_after_fault(struct vcache_object *o, size_t bytes)
{
	struct vcache *c = o->cache;
	uint64_t limit = vc_pressure_limit(), reserve;
	size_t debt;
	bool due;

	if (limit == UINT64_MAX || !ahead_applies(c))
		return;
	store_use_time(o); /* a fault is a use: vc_object_used() */
	if (!atomic_load(&c->idle_alive))
		return;
	reserve = vc_pressure_reserve(limit);
	debt = atomic_load(&c->room_debt);
	do
		due = debt + bytes >= reserve;
	while (!atomic_compare_exchange_weak(&c->room_debt, &debt,
					     due ? 0 : debt + bytes));
	if (due && !atomic_exchange(&c->room_wanted, true))
		sem_post(&c->idle_sem);
}

/*
 * The delays hold more than cap: end those of the least recently used
 * objects until they do not, trying the AHEAD_TRIED least recently used
 * objects of each cache (making room ahead's order); true if that was
 * enough. Every cache's lock held.
 *
 * Only what exceeds the cap: a cache that fills its group holds about
 * the cap (bench-pressure pin mode at 25% of the data 80/20: 36-40 MiB
 * held, cap 38-41), and ending every delay each time it passed the cap
 * by a chunk made the hot objects volatile too; the kernel then
 * reclaimed some of them (15.2 chunks regenerated and 55 system calls
 * per visit, 12.6 and 45 with this).
 *
 * The objects tried mostly hold nothing (the held ones were used last),
 * and then every delay ends. Picking the least recently used objects
 * that hold delays instead (one pass per cache) ended only the excess,
 * as meant, but its perf.sh run had an OOM kill in 90 (pin mode, 100% of
 * the data 80/20, no lazy-free page left in the group) where this had
 * none in 90: not kept (bench/README.md, issue 8).
 */
static bool end_delays_by_use(uint64_t cap)
{
	/*
	 * Not over the cap, or 0: every delay ends. A fill's sample
	 * (vc_pressure_sample()) always asks for that; when the delays are
	 * over its cap, which counts the fill, they end down to it.
	 */
	if (!cap || vc_idle_held_bytes() <= cap)
		return false;
	for (struct vcache *c = vc_caches;
	     c && vc_idle_held_bytes() > cap; c = c->next) {
		struct vcache_object *o, *tried[AHEAD_TRIED];
		size_t ntried = 0;

		while (vc_idle_held_bytes() > cap && ntried < AHEAD_TRIED &&
		       (o = ahead_victim(c, NULL, tried, ntried))) {
			tried[ntried++] = o;
			vc_idle_flush_object(o);
		}
	}
	return vc_idle_held_bytes() <= cap;
}

/*
 * The watcher says memory is short: free ev->want bytes across every
 * cache of the process. Runs on the watcher thread. vc_caches_lock is
 * held throughout, so a cache being freed waits for the pass to end
 * instead of failing with -EBUSY on references the pass would hold.
 */
static void on_pressure(const struct vc_pressure_event *ev, void *userdata)
{
	struct vcache_object **list = NULL;
	size_t n = 0, cap = 0;
	struct vcache *c;

	(void)userdata;
	pthread_mutex_lock(&vc_caches_lock);
	for (c = vc_caches; c; c = c->next)
		pthread_mutex_lock(&c->lock);
	/*
	 * Memory inside idle delays is the first to give back when the
	 * delays hold more than the watcher's new cap (idle.c); under the
	 * cap it is what the kernel cannot take anyway, and the rest of
	 * memory is reclaimable.
	 */
	if (ev->flush && !end_delays_by_use(ev->cap))
		for (c = vc_caches; c; c = c->next)
			vc_idle_flush(c);
	for (c = vc_caches; c; c = c->next) {
		/* Kernel backends reclaim by themselves: see above. */
		unsigned int max = c->backend->id == VCACHE_BACKEND_SOFT ? 2 : 0;

		/* ... unless the library gets there first (make room ahead). */
		vc_purge_room_ahead(c);

		if (max == 0 && !atomic_load(&c->nurgent))
			continue;
		if (c->backend->purge && collect(c, max, &list, &n, &cap) < 0)
			break;
	}
	(void)purge_list(list, n, ev->want);
	for (c = vc_caches; c; c = c->next)
		pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&vc_caches_lock);
	free(list);
}

/*
 * Before the library fills bytes of memory: an object's creation
 * (object.c, o NULL) or a pin of [offset, offset + bytes) of o that
 * regenerates (pin.c). No lock held. Kernel backends make room ahead
 * (above). On soft: make room first if the watcher's sources say it would
 * not fit with a margin, as the kernel's direct reclaim does for its own
 * allocations. The watcher alone could be too late when a burst of
 * creations follows a move into a small cgroup.
 */
void vc_purge_before_alloc(struct vcache *c, struct vcache_object *o,
			   size_t offset, size_t bytes)
{
	struct vc_pressure_event ev;

	if (ahead_applies(c))
		make_room(c, o, offset, bytes);
	if (c->backend->id != VCACHE_BACKEND_SOFT)
		return;
	vc_pressure_sample(bytes, &ev);
	if (ev.level != VCACHE_PRESSURE_NONE && ev.want)
		on_pressure(&ev, NULL);
}

/*
 * The same before a shared object's bytes are filled or regenerated by a
 * pin (shared.c, shared-pin.c), on any backend that purges: without swap
 * the kernel never reclaims shared memory, so like soft the library must
 * make room itself. No lock held.
 */
void vc_purge_before_shared(struct vcache *c, size_t bytes)
{
	struct vc_pressure_event ev;

	if (!c->backend->purge)
		return;
	vc_pressure_sample(bytes, &ev);
	if (ev.level != VCACHE_PRESSURE_NONE && ev.want)
		on_pressure(&ev, NULL);
}

/* One subscription for all caches: on_pressure walks every cache. */
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int attached;

int vc_purge_attach(struct vcache *c)
{
	int err = 0;

	if (!c->backend->purge)
		return 0;
	pthread_mutex_lock(&attach_lock);
	if (attached == 0)
		err = vc_pressure_subscribe(on_pressure, NULL);
	else
		vc_pressure_resume(); /* after fork(), see pressure.c */
	if (err == 0)
		attached++;
	pthread_mutex_unlock(&attach_lock);
	return err;
}

void vc_purge_detach(struct vcache *c)
{
	if (!c->backend->purge)
		return;
	pthread_mutex_lock(&attach_lock);
	if (--attached == 0)
		vc_pressure_unsubscribe(on_pressure, NULL);
	pthread_mutex_unlock(&attach_lock);
}
