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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"

/* Mark chunks first..last volatile where their pin count is 0 (lock held). */
void vc_object_mark_range_volatile(struct vcache_object *o, size_t first,
				size_t last)
{
	const struct backend_ops *b = o->cache->backend;
	size_t i = first;

	while (i <= last) {
		size_t run = i;

		/* Coalesce neighbours into one system call. */
		while (run <= last) {
			uint64_t s = atomic_load(&o->chunks[run]);

			if (chunk_pins(s) || (s & CHUNK_VOLATILE))
				break;
			if (o->deadline[run]) {
				o->deadline[run] = 0;
				o->pending--;
			}
			atomic_fetch_or(&o->chunks[run], CHUNK_VOLATILE);
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
 * First pin of a volatile chunk i, held BUSY: make it non-volatile, and
 * refill it if it lost pages. known is what pin_prefetch() learned (1
 * purged, 0 intact, -1 nothing); recheck says the backend must be asked
 * anyway, as a fault handler may have made the chunk volatile again since. Returns 0 intact, 1 purged, or a negative
 * errno when the backend failed (then the chunk is left as it was). A
 * failing callback is reported in *ret_cb_err; the chunk then holds
 * writable zeros for the caller to refill.
 */
static int pin_volatile_chunk(struct vcache_object *o, size_t i,
			      unsigned int flags, signed char known,
			      bool recheck, int *ret_cb_err)
{
	const struct backend_ops *b = o->cache->backend;
	bool purged = false;
	int err;

	if (known < 0 || recheck) {
		err = b->mark_nonvolatile(o->data + chunk_offset(o, i),
					  chunk_map_length(o, i), &purged);
		if (err < 0)
			return err;
	}
	purged |= known > 0;
	if (!purged)
		return 0;
	atomic_fetch_add(&o->cache->purges, 1);
	if (flags & VCACHE_PIN_REGENERATE) {
		err = vc_chunk_regenerate(o, i);
		if (err == 0)
			return 1;
		if (!*ret_cb_err)
			*ret_cb_err = err;
	}
	err = vc_chunk_fill_zero(o, i);
	return err < 0 ? err : 1;
}

/*
 * Make every volatile, idle chunk of first..last non-volatile with one
 * backend call per run of such chunks, and note per chunk what the kernel
 * reported: 1 purged, 0 intact, -1 not known (the chunk was not volatile,
 * or the call did not get to all of its pages: pin_volatile_chunk() asks
 * again, which is exact for pages the first call did not process). A
 * report is only used if the chunk is still volatile once claimed, and
 * checked again if a fault handler of the cache ran meanwhile (it may have
 * regenerated the chunk and made it volatile again: the handler counts
 * cache->faults before it releases the chunk, so a claim after it sees the
 * count). NULL when the backend cannot, or when there is at most one such
 * chunk. Lock held.
 *
 * If the pin then fails part way, chunks after the failure keep their
 * VOLATILE state but the kernel has forgotten their purges: their missing
 * pages fault (userfaultfd MISSING, registered by the vrange backend) and
 * are regenerated on access, or read as zeros where userfaultfd is not
 * available (the window backend-vrange.c already documents).
 */
static signed char *pin_prefetch(struct vcache_object *o, size_t first,
				 size_t last)
{
	const struct backend_ops *b = o->cache->backend;
	size_t n = last - first + 1, nvol = 0;
	signed char *known;

	if (!b->mark_nonvolatile_pages)
		return NULL;
	for (size_t i = first; i <= last; i++)
		nvol += (atomic_load(&o->chunks[i]) &
			 (CHUNK_VOLATILE | CHUNK_BUSY)) == CHUNK_VOLATILE;
	if (nvol < 2)
		return NULL;
	known = malloc(n);
	if (!known)
		return NULL;
	memset(known, -1, n);
	for (size_t i = first; i <= last;) {
		size_t j = i, start, len;
		unsigned char *vec;

		while (j <= last && (atomic_load(&o->chunks[j]) &
				     (CHUNK_VOLATILE | CHUNK_BUSY)) ==
					    CHUNK_VOLATILE)
			j++;
		if (j == i) {
			i++;
			continue;
		}
		start = chunk_offset(o, i);
		len = chunk_offset(o, j - 1) + chunk_map_length(o, j - 1) - start;
		vec = malloc(len / vc_page_size);
		if (!vec)
			break;
		(void)b->mark_nonvolatile_pages(o->data + start, len, vec);
		for (size_t k = i; k < j; k++) {
			size_t p0 = (chunk_offset(o, k) - start) / vc_page_size;
			size_t np = chunk_map_length(o, k) / vc_page_size;
			bool purged = false, unknown = false;

			for (size_t q = p0; q < p0 + np; q++) {
				purged |= vec[q] == 1;
				unknown |= vec[q] == VC_PAGE_UNKNOWN;
			}
			known[k - first] = purged ? 1 : unknown ? -1 : 0;
		}
		free(vec);
		i = j;
	}
	return known;
}

/* Undo pins of chunks first..last-1 after a failure (lock held). */
static void pin_unwind(struct vcache_object *o, size_t first, size_t end)
{
	for (size_t i = first; i < end; i++)
		atomic_fetch_sub(&o->chunks[i], 1);
	if (end > first)
		vc_object_mark_range_volatile(o, first, end - 1);
}

int vc_pin_range(struct vcache_object *object, size_t offset, size_t length,
	      unsigned int flags, bool *ret_pinned)
{
	struct vcache_object *o = object;
	size_t first, last;
	bool purged = false;
	int err, cb_err = 0;
	signed char *known;
	uint64_t faults;

	err = vc_object_check(o);
	if (err < 0)
		return err;
	if (flags & ~VCACHE_PIN_REGENERATE)
		return -EINVAL;
	err = vc_object_range(o, offset, length, &first, &last);
	if (err < 0)
		return err;

	pthread_mutex_lock(&o->lock);
	for (size_t i = first; i <= last; i++)
		if (chunk_pins(atomic_load(&o->chunks[i])) >= CHUNK_PIN_MAX) {
			pthread_mutex_unlock(&o->lock);
			return -EOVERFLOW;
		}
	faults = atomic_load(&o->cache->faults);
	known = pin_prefetch(o, first, last);
	for (size_t i = first; i <= last; i++) {
		_Atomic uint64_t *st = &o->chunks[i];
		uint64_t s = atomic_load(st);
		int r;

		/* Fast path: not volatile, so nothing can have been purged. */
		while (!(s & CHUNK_VOLATILE))
			if (atomic_compare_exchange_weak(st, &s, s + 1))
				break;
		if (!(s & CHUNK_VOLATILE)) {
			if (chunk_pins(s) == 0 && o->deadline[i]) {
				o->deadline[i] = 0;
				o->pending--;
			}
			continue;
		}
		err = vc_chunk_claim(o, i, true, &s);
		if (err < 0) {
			pin_unwind(o, first, i);
			pthread_mutex_unlock(&o->lock);
			free(known);
			return err;
		}
		r = pin_volatile_chunk(o, i, flags,
				       known && (s & CHUNK_VOLATILE) ?
					       known[i - first] : -1,
				       atomic_load(&o->cache->faults) != faults,
				       &cb_err);
		if (r < 0) {
			/* The backend failed: nothing stays pinned. */
			vc_chunk_release(o, i, 0);
			atomic_fetch_sub(st, 1);
			pin_unwind(o, first, i);
			pthread_mutex_unlock(&o->lock);
			free(known);
			return r;
		}
		vc_chunk_release(o, i, CHUNK_VOLATILE);
		purged |= r != 0;
	}
	pthread_mutex_unlock(&o->lock);
	free(known);
	*ret_pinned = true;
	if (cb_err)
		return cb_err;
	return purged ? VCACHE_PURGED : VCACHE_INTACT;
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
	size_t first, last;
	bool delayed = false;
	uint64_t deadline;
	int err;

	err = vc_object_check(o);
	if (err < 0)
		return err;
	err = vc_object_range(o, offset, length, &first, &last);
	if (err < 0)
		return err;

	pthread_mutex_lock(&o->lock);
	for (size_t i = first; i <= last; i++)
		if (chunk_pins(atomic_load(&o->chunks[i])) == 0) {
			pthread_mutex_unlock(&o->lock);
			return -EINVAL;
		}
	deadline = vc_now_ns() + (uint64_t)o->cache->idle_delay_ms * 1000000ull;
	for (size_t i = first; i <= last; i++) {
		uint64_t s = atomic_fetch_sub(&o->chunks[i], 1);

		if (chunk_pins(s) == 1 && o->cache->idle_delay_ms) {
			if (!o->deadline[i])
				o->pending++;
			o->deadline[i] = deadline;
			delayed = true;
		}
	}
	if (!o->cache->idle_delay_ms)
		vc_object_mark_range_volatile(o, first, last);
	pthread_mutex_unlock(&o->lock);
	if (delayed)
		vc_idle_kick(o->cache, deadline);
	return 0;
}

_public_ int vcache_unpin(vcache_object *object)
{
	int err = vc_object_check(object);

	if (err < 0)
		return err;
	return vcache_unpin_range(object, 0, object->size);
}
