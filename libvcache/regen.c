/* SPDX-License-Identifier: MIT */
/*
 * regen.c - making a purged chunk whole again, from a fault or a pin
 *
 * The per-chunk state word (internal.h) serialises everyone who wants to
 * put pages back: the thread that sets BUSY regenerates; others wait until
 * it is cleared and then retry their access, so each chunk is regenerated
 * once however many threads fault on it, and nobody sees zeros. Waiters
 * sleep in futex(2) on the upper half of the state word (BUSY's half): a
 * plain system call, so it works inside the signal handler, and callbacks
 * can be slow (decoding an image) without waiters burning the CPU.
 *
 * A thread remembers which chunks it holds BUSY (tls_busy). A fault on one
 * of them means the regeneration callback touched the very chunk it is
 * producing: waiting would deadlock, so that is a callback failure
 * (-EDEADLK).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"
#include "shared.h"

#define BUSY_DEPTH 16

static _tls_ struct {
	struct vcache_object *object;
	size_t chunk;
} tls_busy[BUSY_DEPTH];
static _tls_ unsigned int tls_busy_depth;

static bool busy_is_mine(struct vcache_object *o, size_t i)
{
	for (unsigned int d = 0; d < tls_busy_depth && d < BUSY_DEPTH; d++)
		if (tls_busy[d].object == o && tls_busy[d].chunk == i)
			return true;
	return false;
}

/* The 32-bit half of a state word that holds the flag bits. */
static uint32_t *state_flags_word(_Atomic uint64_t *st)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint32_t *)st + 1;
#else
	return (uint32_t *)st;
#endif
}

/* Sleep until BUSY may have been cleared (spurious returns are fine). */
static void chunk_wait(_Atomic uint64_t *st, uint64_t s)
{
	if (!(s & CHUNK_WAITERS) &&
	    !atomic_compare_exchange_strong(st, &s, s | CHUNK_WAITERS))
		return; /* changed meanwhile: look again */
	s |= CHUNK_WAITERS;
	/* Fails with EAGAIN at once if the flags changed since s. */
	(void)vc_futex_wait(state_flags_word(st), (uint32_t)(s >> 32));
}

/*
 * Set BUSY on chunk i (and add a pin if asked), waiting while another
 * thread holds it if may_wait, else failing with -EAGAIN. *ret_old
 * receives the state before. -EDEADLK if this thread already holds it.
 * Async-signal-safe.
 */
int vc_chunk_claim(struct vcache_object *o, size_t i, bool add_pin,
		   bool may_wait, uint64_t *ret_old)
{
	_Atomic uint64_t *st = &o->chunks[i];
	uint64_t s = atomic_load(st);

	for (;;) {
		if (s & CHUNK_BUSY) {
			if (busy_is_mine(o, i))
				return -EDEADLK;
			if (!may_wait)
				return -EAGAIN;
			chunk_wait(st, s);
			s = atomic_load(st);
			continue;
		}
		if (atomic_compare_exchange_weak(st, &s,
						 (s | CHUNK_BUSY) + add_pin))
			break;
	}
	if (tls_busy_depth < BUSY_DEPTH) {
		tls_busy[tls_busy_depth].object = o;
		tls_busy[tls_busy_depth].chunk = i;
	}
	tls_busy_depth++;
	*ret_old = s;
	return 0;
}

/* Sleep until chunk i is not BUSY (or may not be); no lock may be held. */
void vc_chunk_wait_idle(struct vcache_object *o, size_t i)
{
	uint64_t s = atomic_load(&o->chunks[i]);

	if (s & CHUNK_BUSY)
		chunk_wait(&o->chunks[i], s);
}

/*
 * fork() child: the threads that held chunks BUSY in the parent do not
 * exist here; forget their claims (the chunks' missing pages fault and
 * regenerate again). Claims of this thread stay: it may have forked from
 * inside a regeneration callback and carry on after fork() returns.
 */
void vc_regen_fork_child(struct vcache_object *o)
{
	for (size_t i = 0; i < o->nchunks; i++)
		if (!busy_is_mine(o, i))
			atomic_fetch_and(&o->chunks[i],
					 ~(CHUNK_BUSY | CHUNK_WAITERS));
}

/* Clear BUSY and the bits in clear, wake waiters. Async-signal-safe. */
void vc_chunk_release(struct vcache_object *o, size_t i, uint64_t clear)
{
	_Atomic uint64_t *st = &o->chunks[i];
	uint64_t old;

	tls_busy_depth--;
	old = atomic_fetch_and(st, ~(clear | CHUNK_BUSY | CHUNK_WAITERS));
	if (old & clear & CHUNK_REMARK) {
		/* Handed back or pinned: no longer held by the delay. */
		atomic_fetch_sub(&o->remarks, 1);
		vc_idle_held(o->cache, -(int64_t)chunk_map_length(o, i));
	}
	if (old & CHUNK_WAITERS)
		(void)vc_futex_wake_all(state_flags_word(st));
}

/*
 * Regenerate chunk i (held BUSY) into a scratch buffer and have install
 * put its missing pages in place (shared objects write them into their
 * memfd). Async-signal-safe apart from what the callback does.
 * sigbus_open: the caller (a pin, normal context) holds SIGBUS and SIGSEGV
 * unblocked already (vc_sigbus_open()).
 */
int vc_chunk_regenerate_with(struct vcache_object *o, size_t i,
			     bool sigbus_open, vc_chunk_install_fn install)
{
	struct vcache *c = o->cache;
	size_t off = chunk_offset(o, i), len = chunk_length(o, i);
	size_t map_len = chunk_map_length(o, i);
	uint64_t t0 = vc_now_ns();
	sigset_t blocked;
	void *buf;
	int slot, err;

	buf = vc_scratch_get(map_len, &slot);
	if (!buf)
		return -ENOMEM;
	/*
	 * The callback may touch other volatile objects and fault again,
	 * whatever this thread's mask: we may have been called by a handler
	 * without SA_NODEFER, under TSan (every signal blocked), or from
	 * code that blocks SIGBUS. Only SIGBUS and SIGSEGV (the soft
	 * backend's fault) change, and only for the call.
	 */
	sigemptyset(&blocked);
	if (!sigbus_open)
		vc_fault_unblock(&blocked);
	err = o->regen(o, buf, off, len, o->userdata);
	vc_fault_reblock(&blocked);
	if (err > 0 || err < -4095)
		err = -EIO; /* not a negative errno: refuse, do not install */
	if (err == 0) {
		/* The tail of the last page is not the callback's to write. */
		memset((uint8_t *)buf + len, 0, map_len - len);
		err = install(o, i, buf);
	}
	vc_scratch_put(buf, map_len, slot);
	atomic_fetch_add(&c->regenerations, 1);
	atomic_fetch_add(&c->regen_ns, vc_now_ns() - t0);
	return err;
}

/* Private objects: the backend installs the missing pages. */
static int backend_install(struct vcache_object *o, size_t i, const void *buf)
{
	return o->cache->backend->install(o->data + chunk_offset(o, i), buf,
					  chunk_map_length(o, i));
}

int vc_chunk_regenerate(struct vcache_object *o, size_t i, bool sigbus_open)
{
	return vc_chunk_regenerate_with(o, i, sigbus_open, backend_install);
}

/* Give the missing pages of chunk i (held BUSY) zeros, writable. */
int vc_chunk_fill_zero(struct vcache_object *o, size_t i)
{
	size_t map_len = chunk_map_length(o, i);
	void *buf;
	int slot, err;

	buf = vc_scratch_get(map_len, &slot);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0, map_len);
	err = o->cache->backend->install(o->data + chunk_offset(o, i), buf,
					 map_len);
	vc_scratch_put(buf, map_len, slot);
	return err;
}

/*
 * A regeneration on the fault path failed: apply the failure policy of
 * vcache.h (the cache's hook, then abort with a message). Async-signal-
 * safe; does not return. Shared objects (shared-pin.c) use it too.
 */
_Noreturn void vc_regen_failed(struct vcache_object *o, size_t off, int err)
{
	struct vcache *c = o->cache;

	if (c->on_regen_failure)
		c->on_regen_failure(o, off, err, c->on_regen_failure_userdata);
	if (err == -EDEADLK) {
		/* The documented impossible case (vcache.h, Signal safety). */
		vc_msg_str("vcache: object '");
		vc_msg_str(o->name);
		vc_msg_str("' at offset ");
		vc_msg_u64(off);
		vc_msg_str(": this thread touched a purged page of a chunk it is "
			   "regenerating or pinning itself (from the regeneration "
			   "callback, or from a signal handler that interrupted "
			   "the library); aborting\n");
		abort();
	}
	vc_msg_str("vcache: regenerating object '");
	vc_msg_str(o->name);
	vc_msg_str("' at offset ");
	vc_msg_u64(off);
	vc_msg_str(" failed with errno ");
	vc_msg_u64((uint64_t)-(int64_t)err);
	vc_msg_str("; aborting\n");
	abort();
}

/*
 * Called from the SIGBUS handler for a BUS_ADRERR at addr inside o, or from
 * the SIGSEGV one (soft backend) for a SEGV_ACCERR. Returns when the
 * access can be retried.
 *
 * SIGBUS and SIGSEGV are unblocked for all of it, whatever mask we were
 * entered with (chained to from a handler without SA_NODEFER, TSan): the
 * callback may fault on another object, and so may an unrelated signal handler that
 * lands on this thread while we wait or regenerate (it runs with the mask
 * of the moment). The entry mask is back before we return or fail.
 */
void vc_regen_fault(struct vcache_object *o, uintptr_t addr)
{
	size_t i = (addr - (uintptr_t)o->data) / o->chunk_size;
	size_t off = chunk_offset(o, i);
	const struct backend_ops *b = o->cache->backend;
	bool waited = false;
	sigset_t blocked;
	uint64_t s;
	int err;

	if (o->shared) { /* a hole in a memfd (shared-pin.c) */
		vc_shared_fault(o, addr);
		return;
	}
	vc_fault_unblock(&blocked);
	err = vc_chunk_claim(o, i, false, false, &s);
	if (err == -EAGAIN) {
		waited = true;
		err = vc_chunk_claim(o, i, false, true, &s);
	}
	if (err < 0)
		goto out;
	/*
	 * Someone may have regenerated the chunk between our fault and our
	 * claim; then there is nothing to do but retry the access. That
	 * needs a look at the page (mincore) only where it can have happened
	 * unseen: we waited for another thread's claim, a fault already
	 * regenerated part of the chunk since it was last handed back
	 * (REMARK), the cache re-marks at once (then the state word keeps
	 * no trace of an earlier regeneration), or the chunk is pinned or not
	 * volatile (a pin with REGENERATE may have filled it and released it
	 * between our fault and our claim). Otherwise nobody has held the
	 * chunk since it became volatile, and UFFDIO_COPY's EEXIST keeps any
	 * page that is present after all; a backend that installs by copying
	 * (vrange without userfaultfd) would overwrite it, so it always looks.
	 * soft keeps its own record of purged pages (page_missing).
	 */
	if ((waited || (s & CHUNK_REMARK) || !o->cache->idle_delay_ms ||
	     o->cache->strict || chunk_pins(s) || !(s & CHUNK_VOLATILE) ||
	     b->install != vc_uffd_copy) &&
	    (b->page_missing ? !b->page_missing((void *)addr) :
			       vc_page_present(addr))) {
		vc_chunk_release(o, i, 0);
		goto out;
	}
	atomic_fetch_add(&o->cache->faults, 1);
	atomic_fetch_add(&o->cache->purges, 1);
	err = b->fault_prepare ? b->fault_prepare(o->data + off,
						  chunk_map_length(o, i)) : 0;
	if (err == 0)
		err = vc_chunk_regenerate(o, i, true);
	/*
	 * Installed pages are no longer volatile. Pins and VOLATILE cannot
	 * change while we hold BUSY, so s still tells whether they should be:
	 * then the idle thread hands the chunk back with others later
	 * (idle.c), or, without a delay, we do now.
	 */
	if (err == 0 && (s & CHUNK_VOLATILE) && chunk_pins(s) == 0 &&
	    !vc_idle_defer_remark(o, i))
		(void)b->mark_volatile(o->data + off, chunk_map_length(o, i));
	/* Whole again and volatile again: a pin's prefetch report is void. */
	vc_chunk_release(o, i, err == 0 ? CHUNK_KNOWN | CHUNK_PURGED : 0);
	/* Room ahead for the next faults (purge.c). */
	if (err == 0)
		vc_purge_after_fault(o, chunk_map_length(o, i));
out:
	vc_fault_reblock(&blocked);
	if (err < 0)
		vc_regen_failed(o, off, err);
}
