/* SPDX-License-Identifier: MIT */
/*
 * shared-pin.c - pins, purges and faults of objects shared between
 * processes
 *
 * Purged = a hole in the memfd. The only thing that makes holes (on a
 * stock kernel, where reclaim never drops shmem pages without swap, and
 * with swap it swaps them out instead of dropping them) is the library's
 * purge: fallocate(FALLOC_FL_PUNCH_HOLE), which removes the pages from the
 * page cache and from every process's page tables at once. Whether a page
 * is there is read with mincore(2), which for a shared file mapping
 * reports the page cache, whichever process put the page there.
 *
 * Pinned or not is decided against punching with the classic two-flag
 * protocol, both sides sequentially consistent:
 *   pinner:  count the pin in its slot row;   then look at the chunk's BUSY
 *   purger:  set BUSY;                        then look at every slot row
 * Either the purger sees the pin and leaves the chunk alone, or the pinner
 * sees BUSY and waits until the punch is over, and then finds the holes
 * (reported purged). So a pin's report is exact, and nothing is punched
 * while any process pins, without a lock shared between processes.
 *
 * Regeneration (a pin, or a fault in any process) holds BUSY, so a chunk is
 * regenerated once however many processes fault on it; the others wait on
 * the shared futex and then find the pages. Regenerated pages are written
 * into the memfd with pwrite(2), only where a page is missing: a page
 * written that way enters the page cache locked and becomes visible to
 * mappings only complete, so no process reads half a page, and a present
 * page (perhaps just written by its user) is kept.
 *
 * A pin always regenerates a purged chunk (as with VCACHE_PIN_REGENERATE):
 * zeros left for the caller to refill would be visible to every other
 * process meanwhile, as data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "shared.h"

/* Pages of [addr, addr + len) that are present (page cache). */
static size_t present_pages(const uint8_t *addr, size_t len,
			    unsigned char *vec, size_t nvec)
{
	size_t n = 0;

	for (size_t off = 0; off < len; off += nvec * vc_page_size) {
		size_t span = len - off;

		if (span > nvec * vc_page_size)
			span = nvec * vc_page_size;
		if (vc_mem_present((void *)(addr + off), span, vec) < 0)
			continue;
		for (size_t i = 0; i < span / vc_page_size; i++)
			n += vec[i] & 1;
	}
	return n;
}

static size_t resident(const uint8_t *addr, size_t len)
{
	unsigned char vec[64];

	return present_pages(addr, len, vec, sizeof(vec));
}

static bool chunk_whole(struct vcache_object *o, size_t i)
{
	size_t len = chunk_map_length(o, i);

	return resident(o->data + chunk_offset(o, i), len) ==
	       len / vc_page_size;
}

/* pwrite(2) all of src[from, to) to the object's bytes at off + from. */
static int write_run(struct vc_shared *sh, size_t off, const uint8_t *src,
		     size_t from, size_t to)
{
	while (from < to) {
		ssize_t n = pwrite(sh->fd, src + from, to - from,
				   (off_t)(sh->hdr_size + off + from));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		from += (size_t)n;
	}
	return 0;
}

/*
 * Write src into the missing pages of chunk i (held BUSY), by runs: one
 * mincore() per 64 pages, one pwrite() per run of missing pages.
 * Async-signal-safe.
 */
static int install(struct vcache_object *o, size_t i, const void *buf)
{
	const uint8_t *src = buf;
	struct vc_shared *sh = o->shared;
	size_t off = chunk_offset(o, i), len = chunk_map_length(o, i);
	unsigned char vec[64];

	for (size_t base = 0; base < len; base += sizeof(vec) * vc_page_size) {
		size_t span = len - base, n;

		if (span > sizeof(vec) * vc_page_size)
			span = sizeof(vec) * vc_page_size;
		n = span / vc_page_size;
		/* Unknown: rewrite all (the same bytes), never skip a hole. */
		if (vc_mem_present(o->data + off + base, span, vec) < 0)
			memset(vec, 0, n);
		for (size_t p = 0; p < n;) {
			size_t run = p;
			int err;

			while (run < n && !(vec[run] & 1))
				run++;
			if (run == p) {
				p++;
				continue;
			}
			err = write_run(sh, off, src, base + p * vc_page_size,
					base + run * vc_page_size);
			if (err < 0)
				return err;
			p = run;
		}
	}
	return 0;
}

/* Regenerate chunk i (held BUSY) through this process's callback. */
static int regenerate(struct vcache_object *o, size_t i)
{
	return vc_chunk_regenerate_with(o, i, false, install);
}

/* Does a process attached to the object read holes as zeros? */
static bool unprotected_reader(struct vc_shared *sh)
{
	for (unsigned int s = 0; s < VC_SHARED_SLOTS; s++)
		if (atomic_load(&sh->owners[s]) &&
		    (atomic_load(&sh->slot_flags[s]) & SLOT_UNPROTECTED))
			return true;
	return false;
}

/*
 * The patched kernel (fvrange): chunk i, held BUSY, made non-volatile in
 * the kernel: 1 if the kernel had purged a page of it, 0 if not, -errno
 * if the call failed (the chunk may still be volatile then). Its purge
 * records are cleared: those pages are holes now, for install() to fill
 * (a write into a recorded page would fail with EIO). Async-signal-safe.
 */
static int kernel_nonvolatile(struct vcache_object *o, size_t i)
{
	struct vc_shared *sh = o->shared;
	bool purged = false;
	int err;

	if (!sh->fv)
		return 0;
	/* A failure leaves the chunk volatile: nobody may rely on it then. */
	err = vc_fvrange(sh->fd, sh->hdr_size + chunk_offset(o, i),
			 chunk_map_length(o, i), 0, &purged);
	return err < 0 ? err : purged;
}

/*
 * Chunk i, held BUSY and whole: hand it to the kernel as volatile if this
 * process marks chunks volatile (FVRANGE mode), no process pins it and no
 * process would read a purge as zeros. Holding BUSY orders this against
 * a pin's NONVOLATILE in another process. Async-signal-safe.
 */
static void kernel_volatile_if_free(struct vcache_object *o, size_t i)
{
	struct vc_shared *sh = o->shared;

	if (sh->mode != VC_SHARED_FVRANGE || vc_shared_chunk_pinned(sh, i) ||
	    unprotected_reader(sh))
		return;
	(void)vc_fvrange(sh->fd, sh->hdr_size + chunk_offset(o, i),
			 chunk_map_length(o, i), 1, NULL);
}

/* The creator, in FVRANGE mode: every chunk volatile from the start. */
void vc_shared_mark_all_volatile(struct vcache_object *o)
{
	for (size_t i = 0; i < o->nchunks; i++) {
		if (vc_shared_chunk_claim(o->shared, i, true) < 0)
			continue;
		kernel_volatile_if_free(o, i);
		vc_shared_chunk_release(o->shared, i);
	}
}

/*
 * After this process's pin count of chunk i went 0 -> 1 (seq_cst): wait
 * out a purge in progress, then find out whether pages are missing and
 * regenerate them. 1 purged (now whole), 0 intact, or -errno.
 */
static int pin_check(struct vcache_object *o, size_t i)
{
	struct vc_shared *sh = o->shared;
	bool purged;
	int err;

	if (sh->mode == VC_SHARED_NONE)
		return 0; /* never punched while we are attached */
	/* Without kernel records, a whole chunk needs no claim. */
	if (!sh->fv) {
		vc_shared_chunk_wait_idle(sh, i);
		if (chunk_whole(o, i))
			return 0;
	}
	/* Room first: the kernel's reclaim alone may not make it in time. */
	vc_purge_before_shared(o->cache, chunk_map_length(o, i));
	err = vc_shared_chunk_claim(sh, i, true);
	if (err < 0)
		return err;
	err = kernel_nonvolatile(o, i);
	if (err < 0) {
		vc_shared_chunk_release(sh, i);
		return err;
	}
	purged = err;
	if (!purged && chunk_whole(o, i)) {
		/* Another process regenerated it meanwhile: whole again. */
		vc_shared_chunk_release(sh, i);
		return 0;
	}
	atomic_fetch_add(&o->cache->purges, 1);
	err = regenerate(o, i);
	vc_shared_chunk_release(sh, i);
	return err < 0 ? err : 1;
}

/*
 * A process without fault protection (NONE mode) opens an object that
 * may have holes: fill them before it can read any. Its slot, marked
 * unprotected, is already visible, so no new hole appears meanwhile (the
 * same two-flag protocol as a pin). 0 or -errno (the callback's).
 */
int vc_shared_fill_holes(struct vcache_object *o)
{
	struct vc_shared *sh = o->shared;
	int err = 0;

	vc_sigbus_open();
	for (size_t i = 0; i < o->nchunks && err == 0; i++) {
		if (!sh->fv) {
			vc_shared_chunk_wait_idle(sh, i);
			if (chunk_whole(o, i))
				continue;
		}
		err = vc_shared_chunk_claim(sh, i, true);
		if (err < 0)
			break;
		/* Patched kernel: no page of it may be purged from now on. */
		err = kernel_nonvolatile(o, i);
		if (err > 0)
			err = 0; /* purged: holes now, filled below */
		if (err == 0 && !chunk_whole(o, i))
			err = regenerate(o, i);
		vc_shared_chunk_release(sh, i);
	}
	vc_sigbus_close();
	return err;
}

static _Atomic uint32_t *my_row(struct vc_shared *sh, int slot)
{
	return sh->pins + (size_t)slot * sh->hdr->nchunks;
}

/* Undo this process's pins of chunks first..end-1 (sh->lock held). */
static void unpin_chunks(struct vcache_object *o, _Atomic uint32_t *r,
			 size_t first, size_t end)
{
	for (size_t i = first; i < end; i++) {
		atomic_fetch_sub(&r[i], 1);
		atomic_fetch_sub(&o->chunks[i], 1); /* local mirror */
	}
}

int vc_shared_pin(struct vcache_object *o, size_t offset, size_t length,
		  unsigned int flags, bool *ret_pinned)
{
	struct vc_shared *sh = o->shared;
	bool purged = false;
	_Atomic uint32_t *r;
	size_t first, last, i;
	int err, slot;

	if (flags & ~VCACHE_PIN_REGENERATE)
		return -EINVAL;
	err = vc_object_range(o, offset, length, &first, &last);
	if (err < 0)
		return err;
	err = vc_cache_lost(o->cache);
	if (err < 0)
		return err;
	pthread_mutex_lock(&sh->lock);
	slot = atomic_load(&sh->slot);
	if (slot < 0) {
		pthread_mutex_unlock(&sh->lock);
		return -EUSERS; /* a fork() child found no free slot */
	}
	r = my_row(sh, slot);
	for (i = first; i <= last; i++)
		if (atomic_load(&r[i]) >= CHUNK_PIN_MAX) {
			pthread_mutex_unlock(&sh->lock);
			return -EOVERFLOW;
		}
	vc_sigbus_open();
	for (i = first; i <= last; i++) {
		/* Count first, then look (see the top of this file). */
		uint32_t old = atomic_fetch_add(&r[i], 1);

		atomic_fetch_add(&o->chunks[i], 1);
		if (old)
			continue; /* pinned by this process already: intact */
		err = pin_check(o, i);
		if (err < 0) {
			unpin_chunks(o, r, first, i + 1);
			break;
		}
		purged |= err == 1;
	}
	vc_sigbus_close();
	pthread_mutex_unlock(&sh->lock);
	if (err < 0)
		return err;
	*ret_pinned = true;
	return purged ? VCACHE_PURGED : VCACHE_INTACT;
}

int vc_shared_unpin(struct vcache_object *o, size_t offset, size_t length)
{
	struct vc_shared *sh = o->shared;
	_Atomic uint32_t *r;
	size_t first, last;
	int err, slot;

	err = vc_object_range(o, offset, length, &first, &last);
	if (err < 0)
		return err;
	pthread_mutex_lock(&sh->lock);
	slot = atomic_load(&sh->slot);
	if (slot < 0) {
		pthread_mutex_unlock(&sh->lock);
		return -EINVAL; /* nothing can be pinned */
	}
	r = my_row(sh, slot);
	for (size_t i = first; i <= last; i++)
		if (atomic_load(&r[i]) == 0) {
			pthread_mutex_unlock(&sh->lock);
			return -EINVAL;
		}
	unpin_chunks(o, r, first, last + 1);
	atomic_store(&o->unpinned_ns, vc_now_ns());
	/* Patched kernel: chunks nobody pins any more become volatile. */
	for (size_t i = first; sh->mode == VC_SHARED_FVRANGE && i <= last; i++) {
		if (atomic_load(&r[i]) ||
		    vc_shared_chunk_claim(sh, i, true) < 0)
			continue;
		kernel_volatile_if_free(o, i);
		vc_shared_chunk_release(sh, i);
	}
	pthread_mutex_unlock(&sh->lock);
	/* Strict mode: gone at the last unpin (if no other process pins). */
	if (o->cache->strict) {
		pthread_mutex_lock(&o->lock);
		(void)vc_shared_purge_locked(o, chunk_offset(o, first),
					     chunk_offset(o, last) +
						     chunk_map_length(o, last));
		pthread_mutex_unlock(&o->lock);
	}
	return 0;
}

/*
 * Punch chunks first..first+n-1, claimed for it, clipped to [start, end)
 * (offsets in the object), in one call, then release them, newest claim
 * first. Bytes freed (pages in the page cache before and not after).
 */
static size_t punch_run(struct vcache_object *o, size_t start, size_t end,
			size_t first, size_t n)
{
	struct vc_shared *sh = o->shared;
	size_t last = first + n - 1;
	size_t s = chunk_offset(o, first);
	size_t e = chunk_offset(o, last) + chunk_map_length(o, last);
	size_t before, bytes = 0;

	s = start > s ? start : s;
	e = end < e ? end : e;
	before = resident(o->data + s, e - s);
	if (fallocate(sh->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(sh->hdr_size + s), (off_t)(e - s)) == 0)
		bytes = (before - resident(o->data + s, e - s)) * vc_page_size;
	for (size_t i = last + 1; i-- > first;)
		vc_shared_chunk_release(sh, i);
	return bytes;
}

/*
 * Punch the pages of [start, end) (page-aligned offsets) of chunks no
 * process pins. Returns bytes freed (pages in the page cache before and
 * not after). Called with o->lock held (purge.c) or from strict unpin.
 *
 * Neighbouring chunks go in one fallocate(2), up to PUNCH_RUN of them
 * (each stays claimed until then, and a thread's claims are tracked 16
 * deep: shared-slot.c). One call per chunk made a pressure pass take
 * 42-85 ms per 4 MiB object of 64 chunks on a loaded machine, while
 * optimistic reads in another object filled the group to its limit
 * (test_shared_pressure, OOM-killed natively under CPU load).
 */
#define PUNCH_RUN 16

size_t vc_shared_purge_locked(struct vcache_object *o, size_t start,
			      size_t end)
{
	struct vc_shared *sh = o->shared;
	size_t bytes = 0, first = 0, n = 0;

	if (sh->mode == VC_SHARED_NONE || start >= end)
		return 0;
	vc_shared_reap(sh); /* a dead process's pins do not count */
	for (size_t i = start / o->chunk_size;
	     i < o->nchunks && chunk_offset(o, i) < end; i++) {
		bool take;

		if (n == PUNCH_RUN) { /* before the next claim: see above */
			bytes += punch_run(o, start, end, first, n);
			n = 0;
		}
		take = vc_shared_chunk_claim(sh, i, false) == 0;
		/* Set BUSY, then look at the pins (see the top). */
		if (take && (vc_shared_chunk_pinned(sh, i) ||
			     unprotected_reader(sh))) {
			vc_shared_chunk_release(sh, i);
			take = false;
		}
		if (!take) { /* in use: pinned, regenerated or purged */
			if (n)
				bytes += punch_run(o, start, end, first, n);
			n = 0;
			continue;
		}
		if (!n)
			first = i;
		n++;
	}
	if (n)
		bytes += punch_run(o, start, end, first, n);
	return bytes;
}

/*
 * SIGBUS (BUS_ADRERR) at addr in a shared object: a hole. Regenerate its
 * chunk, or wait for the process that is doing it. Async-signal-safe.
 */
void vc_shared_fault(struct vcache_object *o, uintptr_t addr)
{
	struct vc_shared *sh = o->shared;
	size_t i = (addr - (uintptr_t)o->data) / o->chunk_size;
	sigset_t blocked;
	bool purged;
	int err;

	vc_fault_unblock(&blocked);
	err = vc_shared_chunk_claim(sh, i, true);
	if (err < 0)
		goto out;
	/* A kernel purge record (patched kernel) becomes a hole here. */
	err = kernel_nonvolatile(o, i);
	if (err < 0) {
		vc_shared_chunk_release(sh, i);
		goto out;
	}
	purged = err;
	if (!purged && vc_page_present(addr)) {
		kernel_volatile_if_free(o, i);
		vc_shared_chunk_release(sh, i); /* someone filled it */
		goto out;
	}
	atomic_fetch_add(&o->cache->faults, 1);
	atomic_fetch_add(&o->cache->purges, 1);
	err = regenerate(o, i);
	if (err == 0)
		kernel_volatile_if_free(o, i);
	vc_shared_chunk_release(sh, i);
out:
	vc_fault_reblock(&blocked);
	if (err < 0)
		vc_regen_failed(o, chunk_offset(o, i), err);
}

bool vc_shared_pinned_here(struct vcache_object *o)
{
	struct vc_shared *sh = o->shared;
	int slot = atomic_load(&sh->slot);

	if (slot < 0)
		return false;
	for (size_t i = 0; i < o->nchunks; i++)
		if (atomic_load(&my_row(sh, slot)[i]))
			return true;
	return false;
}

/* Bytes pinned by any process, and bytes no process pins (purgeable). */
void vc_shared_stats(struct vcache_object *o, uint64_t *pinned,
		     uint64_t *vol)
{
	struct vc_shared *sh = o->shared;

	vc_shared_reap(sh);
	for (size_t i = 0; i < o->nchunks; i++) {
		if (vc_shared_chunk_pinned(sh, i))
			*pinned += chunk_length(o, i);
		else if (sh->mode != VC_SHARED_NONE)
			*vol += chunk_length(o, i);
	}
}
