/* SPDX-License-Identifier: MIT */
/*
 * pin.c - explicit pins: per-chunk counts, exact purge reports
 *
 * Pins are counted per chunk under the object's lock. The first pin of a
 * chunk that is volatile asks the backend to make it non-volatile, which
 * tells whether a page of that chunk was purged; a chunk that was never
 * handed to the kernel (still inside the idle delay, or pinned already)
 * is known intact without a system call. A backend that reports purges per
 * page does this for all volatile chunks of the range in one call first
 * (pin_prefetch()). The last unpin hands the chunk back at once, or
 * records a deadline for the idle thread (idle.c).
 *
 * A pin of the whole object none of whose chunks is volatile is the hot
 * case (an object used again inside its idle delay): it is counted once,
 * in o->whole_pins, instead of with an atomic add to each chunk's count
 * (64 for 4 MiB in 64 KiB chunks: 0.95 us a pin+unpin, bench-pin). It
 * is taken only while no chunk has pins of its own (o->pinned_chunks 0),
 * and a pin or unpin of part of the object first moves the whole pins
 * into every chunk's count (pins_spread()), so the two never mix: the
 * last whole unpin releases every chunk, and when every chunk already
 * waits for an idle deadline it moves them all with one store
 * (vc_idle_deadline_all()). While whole pins exist no chunk is volatile
 * (none was, and a pinned chunk is never marked), so the SIGBUS handler,
 * which only claims volatile chunks, never needs them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"
#include "shared.h"

/* Mark chunks first..last volatile where their pin count is 0 (lock held). */
void vc_object_mark_range_volatile(struct vcache_object *o, size_t first,
				size_t last)
{
	const struct backend_ops *b = o->cache->backend;
	size_t i = first;

	if (atomic_load(&o->whole_pins))
		return; /* every chunk is pinned */
	while (i <= last) {
		size_t run = i;

		/* Coalesce neighbours into one system call. */
		while (run <= last) {
			uint64_t s = atomic_load(&o->chunks[run]);

			if (chunk_pins(s) || (s & CHUNK_VOLATILE))
				break;
			vc_idle_deadline_clear(o, run);
			atomic_fetch_or(&o->chunks[run], CHUNK_VOLATILE);
			o->nvolatile++;
			run++;
		}
		if (run > i) {
			size_t start = chunk_offset(o, i);
			size_t end = chunk_offset(o, run - 1) +
				     chunk_map_length(o, run - 1);

			(void)b->mark_volatile(o->data + start, end - start);
		}
		i = run + 1;
	}
}

/*
 * First pin of a volatile chunk i, held BUSY (s: its state when claimed):
 * make it non-volatile, and refill it if it lost pages. pin_prefetch() may
 * have done the first half already (CHUNK_KNOWN, CHUNK_PURGED). Returns 0
 * intact, 1 purged, or a negative errno when the backend failed (then the
 * chunk is left as it was). A failing callback is reported in
 * *ret_cb_err; the chunk then holds writable zeros for the caller to
 * refill.
 */
static int pin_volatile_chunk(struct vcache_object *o, size_t i, uint64_t s,
			      unsigned int flags, int *ret_cb_err)
{
	const struct backend_ops *b = o->cache->backend;
	bool purged = false;
	int err;

	if (!(s & CHUNK_KNOWN)) {
		err = b->mark_nonvolatile(o->data + chunk_offset(o, i),
					  chunk_map_length(o, i), &purged);
		if (err < 0)
			return err;
	}
	/* A purge the prefetch took from the kernel is ours to report. */
	purged |= (s & CHUNK_PURGED) != 0;
	if (!purged)
		return 0;
	atomic_fetch_add(&o->cache->purges, 1);
	if (flags & VCACHE_PIN_REGENERATE) {
		err = vc_chunk_regenerate(o, i, true);
		if (err == 0)
			return 1;
		if (!*ret_cb_err)
			*ret_cb_err = err;
	}
	err = vc_chunk_fill_zero(o, i);
	return err < 0 ? err : 1;
}

/* Chunk i is volatile, not BUSY, and the kernel still holds its purges. */
static bool prefetchable(struct vcache_object *o, size_t i)
{
	uint64_t s = atomic_load(&o->chunks[i]);

	return (s & (CHUNK_VOLATILE | CHUNK_BUSY | CHUNK_KNOWN)) ==
	       CHUNK_VOLATILE;
}

/*
 * Make every volatile, idle chunk of first..last non-volatile with one
 * backend call per run of such chunks (vrange's per-page report), and
 * record the result in the chunk's state, not on our stack: the object
 * lock is dropped during the pin (waits, callbacks), and another pinner
 * that claims such a chunk first must learn the purge the kernel has now
 * forgotten. CHUNK_PURGED: a page of the chunk was discarded (sticky until
 * the chunk is regenerated or pinned). CHUNK_KNOWN: the kernel holds the
 * chunk non-volatile, so whoever claims it next needs no system call. A
 * fault handler that regenerates the chunk meanwhile marks it volatile
 * again and clears both; one that ran during the call itself may have
 * done so before we set them, so then KNOWN is taken back (the next
 * claimer asks the kernel again; PURGED at worst reports a purge that a
 * fault has already repaired). Lock held.
 */
static void pin_prefetch(struct vcache_object *o, size_t first, size_t last)
{
	const struct backend_ops *b = o->cache->backend;
	size_t nvol = 0;

	if (!b->mark_nonvolatile_pages)
		return;
	for (size_t i = first; i <= last; i++)
		nvol += prefetchable(o, i);
	if (nvol < 2) /* one chunk: the claim's own call is as cheap */
		return;
	for (size_t i = first; i <= last;) {
		size_t j = i, start, len;
		unsigned char *vec;
		uint64_t faults;

		while (j <= last && prefetchable(o, j))
			j++;
		if (j == i) {
			i++;
			continue;
		}
		start = chunk_offset(o, i);
		len = chunk_offset(o, j - 1) + chunk_map_length(o, j - 1) - start;
		vec = malloc(len / vc_page_size);
		if (!vec)
			return; /* every claimer asks the kernel itself */
		faults = atomic_load(&o->cache->faults);
		(void)b->mark_nonvolatile_pages(o->data + start, len, vec);
		for (size_t k = i; k < j; k++) {
			size_t p0 = (chunk_offset(o, k) - start) / vc_page_size;
			size_t np = chunk_map_length(o, k) / vc_page_size;
			bool purged = false, unknown = false;

			for (size_t q = p0; q < p0 + np; q++) {
				purged |= vec[q] == 1;
				unknown |= vec[q] == VC_PAGE_UNKNOWN;
			}
			atomic_fetch_or(&o->chunks[k],
					(purged ? CHUNK_PURGED : 0) |
						(unknown ? 0 : CHUNK_KNOWN));
		}
		if (atomic_load(&o->cache->faults) != faults)
			for (size_t k = i; k < j; k++)
				atomic_fetch_and(&o->chunks[k], ~CHUNK_KNOWN);
		free(vec);
		i = j;
	}
}

/*
 * A pin that failed part way leaves chunks the prefetch made non-volatile
 * in the kernel: hand them back (their purge, if any, stays recorded in
 * CHUNK_PURGED; their missing pages fault and regenerate). Lock held.
 */
static void pin_unprefetch(struct vcache_object *o, size_t from, size_t last)
{
	const struct backend_ops *b = o->cache->backend;

	for (size_t i = from; i <= last; i++) {
		uint64_t s = atomic_load(&o->chunks[i]);

		if ((s & (CHUNK_KNOWN | CHUNK_BUSY)) != CHUNK_KNOWN)
			continue;
		(void)b->mark_volatile(o->data + chunk_offset(o, i),
				       chunk_map_length(o, i));
		atomic_fetch_and(&o->chunks[i], ~CHUNK_KNOWN);
	}
}

bool vc_object_pinned(struct vcache_object *o)
{
	if (atomic_load(&o->whole_pins))
		return true;
	for (size_t i = 0; i < o->nchunks; i++)
		if (chunk_pins(atomic_load(&o->chunks[i])))
			return true;
	return false;
}

/* Count chunk i's own pin just added (old: its state before). Lock held. */
static void chunk_pin_added(struct vcache_object *o, uint64_t old)
{
	if (chunk_pins(old) == 0)
		o->pinned_chunks++;
}

/* Take one of chunk i's own pins; its state before. Lock held. */
static uint64_t chunk_pin_drop(struct vcache_object *o, size_t i)
{
	uint64_t old = atomic_fetch_sub(&o->chunks[i], 1);

	if (chunk_pins(old) == 1)
		o->pinned_chunks--;
	return old;
}

/*
 * Part of the object is pinned or unpinned: its whole pins become every
 * chunk's own (whose counts are 0 while whole pins exist). Lock held.
 */
static void pins_spread(struct vcache_object *o)
{
	uint32_t w = atomic_load(&o->whole_pins);

	if (!w)
		return;
	for (size_t i = 0; i < o->nchunks; i++)
		atomic_fetch_add(&o->chunks[i], w);
	o->pinned_chunks = o->nchunks;
	atomic_store(&o->whole_pins, 0);
}

/* Undo pins of chunks first..last-1 after a failure (lock held). */
static void pin_unwind(struct vcache_object *o, size_t first, size_t end)
{
	for (size_t i = first; i < end; i++)
		(void)chunk_pin_drop(o, i);
	if (end > first)
		vc_object_mark_range_volatile(o, first, end - 1);
}

/*
 * The object's lock is never held across anything that can wait for
 * another thread or run program code: waiting for a BUSY chunk, the page
 * probe (it may fault) and the regeneration callback (it may fork(), whose
 * pre-fork handler takes every object lock, or fault on another object).
 * A chunk held BUSY with our pin added cannot change under us meanwhile:
 * nobody marks a pinned chunk volatile, and other pinners wait for BUSY.
 */
int vc_pin_range(struct vcache_object *object, size_t offset, size_t length,
	      unsigned int flags, bool *ret_pinned)
{
	struct vcache_object *o = object;
	size_t first, last, i;
	bool purged = false, opened = false, handed_back = false;
	int err, cb_err = 0;

	err = vc_object_check(o);
	if (err < 0)
		return err;
	if (o->shared) /* pins counted across processes (shared-pin.c) */
		return vc_shared_pin(o, offset, length, flags, ret_pinned);
	if (flags & ~VCACHE_PIN_REGENERATE)
		return -EINVAL;
	err = vc_object_range(o, offset, length, &first, &last);
	if (err < 0)
		return err;
	err = vc_cache_lost(o->cache);
	if (err < 0)
		return err;
	/* Regenerating may need room the watcher has not made yet. */
	if ((flags & VCACHE_PIN_REGENERATE) &&
	    (atomic_load(&o->chunks[first]) & CHUNK_VOLATILE))
		vc_purge_before_alloc(o->cache, o, offset, length);

	pthread_mutex_lock(&o->lock);
	if (first == 0 && last == o->nchunks - 1 && !o->nvolatile &&
	    !o->pinned_chunks) {
		/* The whole object, nothing volatile: one count (see top). */
		uint32_t w = atomic_load(&o->whole_pins);

		if (w >= CHUNK_PIN_MAX) {
			pthread_mutex_unlock(&o->lock);
			return -EOVERFLOW;
		}
		atomic_store(&o->whole_pins, w + 1);
		pthread_mutex_unlock(&o->lock);
		*ret_pinned = true;
		return VCACHE_INTACT;
	}
	pins_spread(o);
	for (size_t i = first; i <= last; i++)
		if (chunk_pins(atomic_load(&o->chunks[i])) >= CHUNK_PIN_MAX) {
			pthread_mutex_unlock(&o->lock);
			return -EOVERFLOW;
		}
	pin_prefetch(o, first, last);
	for (i = first; i <= last;) {
		_Atomic uint64_t *st = &o->chunks[i];
		uint64_t s = atomic_load(st);
		int r;

		/* Fast path: not volatile, so nothing can have been purged. */
		while (!(s & CHUNK_VOLATILE))
			if (atomic_compare_exchange_weak(st, &s, s + 1))
				break;
		if (!(s & CHUNK_VOLATILE)) {
			chunk_pin_added(o, s);
			/*
			 * A pending deadline stays: the next unpin moves it
			 * (no write to shared counters on the hot path), and
			 * if it passes first the idle thread finds the chunk
			 * pinned and drops it (idle.c).
			 */
			i++;
			continue;
		}
		err = vc_chunk_claim(o, i, true, false, &s);
		if (err == -EAGAIN) {
			/* Someone is regenerating it: wait unlocked, look again. */
			pthread_mutex_unlock(&o->lock);
			vc_chunk_wait_idle(o, i);
			pthread_mutex_lock(&o->lock);
			continue;
		}
		if (err < 0)
			goto fail_unwind;
		chunk_pin_added(o, s);
		if (!(s & CHUNK_VOLATILE)) {
			/* Made non-volatile while we waited: just pinned. */
			vc_chunk_release(o, i, 0);
			i++;
			continue;
		}
		pthread_mutex_unlock(&o->lock);
		/* Once per call: SIGBUS unblocked, descriptor checked. */
		r = opened ? 0 : vc_backend_open(o->cache);
		opened = opened || r == 0;
		if (r == 0)
			r = pin_volatile_chunk(o, i, s, flags, &cb_err);
		pthread_mutex_lock(&o->lock);
		if (r < 0) {
			/* The backend failed: nothing stays pinned. */
			vc_chunk_release(o, i, 0);
			(void)chunk_pin_drop(o, i);
			err = r;
			goto fail_unwind;
		}
		/* Non-volatile and whole: a fault's pending re-mark is void. */
		vc_chunk_release(o, i,
				 CHUNK_VOLATILE | CHUNK_KNOWN | CHUNK_PURGED |
					 CHUNK_REMARK);
		o->nvolatile--;
		purged |= r != 0;
		handed_back = true;
		i++;
	}
	pthread_mutex_unlock(&o->lock);
	if (opened)
		vc_backend_close(o->cache);
	if (handed_back)
		vc_idle_learn(o, purged, vc_now_ns());
	*ret_pinned = true;
	if (cb_err)
		return cb_err;
	return purged ? VCACHE_PURGED : VCACHE_INTACT;

fail_unwind:
	/* o->lock held; chunks first..i-1 carry our pins. */
	pin_unwind(o, first, i);
	pin_unprefetch(o, i, last);
	pthread_mutex_unlock(&o->lock);
	if (opened)
		vc_backend_close(o->cache);
	/* A lost descriptor: quarantine now (lost.c). */
	(void)vc_cache_lost(o->cache);
	return err;
}

_public_ int vcache_pin_range(vcache_object *object, size_t offset,
			      size_t length, unsigned int flags)
{
	bool pinned = false;

	return vc_pin_range(object, offset, length, flags, &pinned);
}

_public_ int vcache_pin(vcache_object *object, unsigned int flags)
{
	int err = vc_object_check(object);

	if (err < 0)
		return err;
	return vcache_pin_range(object, 0, object->size, flags);
}

_public_ int vcache_unpin_range(vcache_object *object, size_t offset,
				size_t length)
{
	struct vcache_object *o = object;
	size_t first, last, bytes = 0;
	bool delayed = false, released = false, whole = false, strict, delay;
	bool hot;
	uint64_t deadline, now;
	int err;

	err = vc_object_check(o);
	if (err < 0)
		return err;
	if (o->shared)
		return vc_shared_unpin(o, offset, length);
	err = vc_object_range(o, offset, length, &first, &last);
	if (err < 0)
		return err;

	pthread_mutex_lock(&o->lock);
	if (first == 0 && last == o->nchunks - 1 &&
	    atomic_load(&o->whole_pins)) {
		/* Chunks' own counts are 0: released when this was the last. */
		uint32_t w = atomic_load(&o->whole_pins) - 1;

		atomic_store(&o->whole_pins, w);
		released = whole = w == 0;
	} else {
		pins_spread(o);
		for (size_t i = first; i <= last; i++)
			if (chunk_pins(atomic_load(&o->chunks[i])) == 0) {
				pthread_mutex_unlock(&o->lock);
				return -EINVAL;
			}
		for (size_t i = first; i <= last; i++)
			released |= chunk_pins(chunk_pin_drop(o, i)) == 1;
	}
	/* Strict mode: no idle delay, and the chunks are purged below. */
	strict = o->cache->strict;
	now = vc_now_ns();
	deadline = now + vc_idle_delay_ns(o); /* learned from reuse: idle.c */
	/*
	 * The chunks released (no pin left) go back to the kernel after the
	 * delay, which keeps memory the kernel cannot take: only while the
	 * process holds less than the pressure-aware cap (idle.c), and for
	 * the whole call or not at all (one system call either way).
	 */
	delay = released && o->cache->idle_delay_ms && !strict;
	/* The hot case: the whole object, every chunk waiting already. */
	hot = delay && whole && o->pending == o->nchunks;
	for (size_t i = first; delay && !hot && i <= last; i++)
		if (!o->deadline[i] && /* counted already: see the pin */
		    (whole || !chunk_pins(atomic_load(&o->chunks[i]))))
			bytes += chunk_map_length(o, i);
	delay = delay && vc_idle_may_hold(bytes);
	if (delay && hot) {
		vc_idle_deadline_all(o, deadline); /* one store for them all */
		delayed = true;
	}
	for (size_t i = first; delay && !hot && i <= last; i++) {
		if (!whole && chunk_pins(atomic_load(&o->chunks[i])))
			continue;
		if (o->deadline[i]) /* waiting already: moved on */
			o->deadline[i] = deadline;
		else
			vc_idle_deadline_set(o, i, deadline);
		delayed = true;
	}
	if (released && !delay)
		vc_object_mark_range_volatile(o, first, last);
	if (released && strict)
		(void)vc_purge_locked(o, chunk_offset(o, first),
				      chunk_offset(o, last) +
					      chunk_map_length(o, last));
	if (released) {
		atomic_store(&o->unpinned_ns, now); /* purge order: LRU */
		atomic_store(&o->used_ns, now); /* making room ahead's */
	}
	pthread_mutex_unlock(&o->lock);
	if (delayed)
		vc_idle_kick(o->cache, deadline);
	/* mark_volatile may just have found the descriptor gone (lost.c). */
	(void)vc_cache_lost(o->cache);
	return 0;
}

_public_ int vcache_unpin(vcache_object *object)
{
	int err = vc_object_check(object);

	if (err < 0)
		return err;
	return vcache_unpin_range(object, 0, object->size);
}
