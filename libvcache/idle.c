/* SPDX-License-Identifier: MIT */
/*
 * idle.c - the idle delay: hand chunks back to the kernel a while after
 * their last unpin, so objects pinned again soon cost no system calls
 *
 * vcache_unpin*() records a deadline per chunk; one thread per cache,
 * started on first need, sleeps until the earliest deadline and marks the
 * expired chunks volatile. A pin before the deadline does not touch it:
 * the next unpin moves it on, so a hot object's cycle writes no counter
 * another thread reads; a deadline that passes while its chunk is pinned
 * is simply dropped.
 *
 * The fault path uses the same thread: pages a fault installed are not
 * lazy-free, and marking them volatile again costs two system calls per
 * fault (MADV_FREE and the LRU drain). Instead the fault sets CHUNK_REMARK
 * and the thread hands every such chunk back in one pass when the cache's
 * delay has passed since the first of them. The handler cannot signal a
 * condition variable, so the thread sleeps on a semaphore (sem_post() is
 * async-signal-safe).
 *
 * Memory inside the delay is dirty anonymous memory the kernel cannot
 * reclaim without swap. So the delay is pressure-aware: the bytes held by
 * every cache of the process (deadlines and REMARK chunks) stay under a
 * cap the pressure watcher sets from what the kernel could still give
 * (pressure.c: the free and reclaimable memory beyond a margin, two
 * while the group is at its limit); an unpin or a fault that would pass it,
 * counting its chunks twice (vc_idle_may_hold()), hands them back at
 * once, and a look of the watcher that finds the delays holding more
 * than the new cap ends the delays of the least recently used objects
 * until they do not (purge.c on_pressure()), or every delay when the cap
 * is 0 or 16 objects per cache were not enough.
 *
 * Why not "nothing at all under pressure": a group near its limit whose
 * memory is mostly volatile is under pressure (LOW) while it still has
 * room, and its reclaim would have plenty to take; holding the hot
 * objects there saves a pin's probe and an unpin's MADV_FREE per visit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "backend.h"
#include "internal.h"
#include "pressure.h"

/* Bytes held non-volatile by idle delays, every cache of the process. */
static _Atomic int64_t held;

void vc_idle_held(struct vcache *c, int64_t bytes)
{
	atomic_fetch_add(&held, bytes);
	atomic_fetch_add(&c->held_bytes, bytes);
}

uint64_t vc_idle_held_bytes(void)
{
	int64_t h = atomic_load(&held);

	return h < 0 ? 0 : (uint64_t)h;
}

/*
 * Whether bytes more may be held: with room under the cap for as much
 * again. The cap leaves a margin free or reclaimable, but the memory
 * about to be held was itself filled out of that margin, and the next
 * regeneration of an object like it (a pin, faults) fills as much again
 * before the watcher's next look. Counting only the bytes, pin mode at
 * 25% of the data in bench-pressure held 36-40 of 48 MiB and looks found
 * 2.7 MiB free or lazy-free, less than half the 6 MiB margin
 * (bench/README.md, issue 8).
 */
bool vc_idle_may_hold(size_t bytes)
{
	int64_t h = atomic_load(&held);
	uint64_t cap = vc_pressure_delay_cap();

	if (bytes > cap / 2)
		return false;
	return (uint64_t)(h < 0 ? 0 : h) + 2 * bytes <= cap;
}

/* o->lock held. */
void vc_idle_deadline_set(struct vcache_object *o, size_t i, uint64_t when)
{
	if (!o->deadline[i]) {
		o->pending++;
		vc_idle_held(o->cache, (int64_t)chunk_map_length(o, i));
	}
	o->deadline[i] = when;
}

void vc_idle_deadline_clear(struct vcache_object *o, size_t i)
{
	if (!o->deadline[i])
		return;
	o->deadline[i] = 0;
	if (--o->pending == 0)
		o->deadline_all = 0;
	vc_idle_held(o->cache, -(int64_t)chunk_map_length(o, i));
}

/*
 * A whole-object unpin while every chunk waits already (the hot case):
 * every chunk's deadline moves on to when, in one store instead of one per
 * chunk (o->deadline_all; 64 plain stores for 4 MiB in 64 KiB chunks, cold
 * in cache after a visit has read the object). Deadlines only ever move
 * later this way; a chunk's own, if later still, stands. So does this one
 * over a chunk deadline set after it with a delay shortened meanwhile (a
 * purge resets a learned delay): that chunk is held up to the longer one
 * (at most DELAY_GROWTH times the cache's delay; held bytes count it, and
 * pressure ends it like any other). o->lock held.
 */
void vc_idle_deadline_all(struct vcache_object *o, uint64_t when)
{
	o->deadline_all = when;
}

/* The object is going away: what it held no longer counts. */
void vc_idle_forget_object(struct vcache_object *o)
{
	if (!o->chunks || !o->deadline)
		return;
	for (size_t i = 0; i < o->nchunks; i++) {
		if (atomic_load(&o->chunks[i]) & CHUNK_REMARK)
			vc_idle_held(o->cache, -(int64_t)chunk_map_length(o, i));
		vc_idle_deadline_clear(o, i);
	}
}

/*
 * The delay learns each object's reuse. A pin that finds a chunk the delay
 * handed back still whole paid a volatile cycle for nothing: MADV_FREE at
 * the hand-back, then a write to every page to take it back (uffd; vrange:
 * the system calls). An object used again at intervals just past the delay
 * paid it at every visit, and on a machine whose hypervisor traps the
 * first write to a clean page (4 us a page) the cycle itself stretched the
 * intervals past any fixed delay: bench-pressure pin mode at 125% of the
 * data, uniform, where everything fits, made 249 visits/s with the 100 ms
 * default, 72,712 with 1000 ms and 78,377 with the delay learned as below
 * (bench/README.md, issue 8). So such a pin sets the object's delay to
 * twice the time since its last unpin, when that time was longer than the
 * object's delay (shorter: pressure ended the delay, not its deadline)
 * and shorter than DELAY_GROWTH times the cache's delay (longer: holding
 * that long would not pay); never more than that. A pin that finds a
 * purge puts the cache's delay back: the kernel wanted the memory. A
 * longer delay holds nothing the pressure-aware cap does not allow, and
 * pressure ends it like any other. Races between pins only blur a guess.
 */
#define DELAY_GROWTH 10

/* The delay of o's next unpin, ns. */
uint64_t vc_idle_delay_ns(struct vcache_object *o)
{
	uint64_t d = atomic_load_explicit(&o->delay_ns, memory_order_relaxed);

	return d ? d : o->cache->idle_delay_ms * 1000000ull;
}

/* A pin found chunks of o the delay had handed back; purged: a page was. */
void vc_idle_learn(struct vcache_object *o, bool purged, uint64_t now)
{
	uint64_t base = o->cache->idle_delay_ms * 1000000ull;
	uint64_t max = base * DELAY_GROWTH, last, gap;

	if (!base || o->cache->strict)
		return;
	if (purged) {
		if (atomic_load_explicit(&o->delay_ns, memory_order_relaxed))
			atomic_store(&o->delay_ns, 0);
		return;
	}
	last = atomic_load(&o->unpinned_ns);
	gap = now > last ? now - last : 0;
	if (gap <= vc_idle_delay_ns(o) || gap >= max)
		return;
	atomic_store(&o->delay_ns, 2 * gap < max ? 2 * gap : max);
}

/*
 * Fault path (signal context), chunk i held BUSY, VOLATILE and unpinned,
 * its missing pages just installed: leave the re-marking to the thread.
 * false: the caller marks the chunk volatile itself (no delay, the thread
 * is not running - a fork() child - or the cap is reached).
 */
bool vc_idle_defer_remark(struct vcache_object *o, size_t i)
{
	struct vcache *c = o->cache;
	size_t len = chunk_map_length(o, i);
	uint64_t zero = 0;

	if (!c->idle_delay_ms || c->strict || !atomic_load(&c->idle_alive))
		return false;
	/* soft: marking volatile is free (the library purges by itself). */
	if (c->backend->id == VCACHE_BACKEND_SOFT)
		return false;
	if (atomic_load(&o->chunks[i]) & CHUNK_REMARK)
		return true; /* counted already */
	if (!vc_idle_may_hold(len))
		return false;
	vc_idle_held(c, (int64_t)len);
	atomic_fetch_add(&o->remarks, 1);
	atomic_fetch_or(&o->chunks[i], CHUNK_REMARK);
	/* The first of a batch sets the time and wakes the thread. */
	if (atomic_compare_exchange_strong(&c->remark_due, &zero,
					   vc_now_ns() +
						   c->idle_delay_ms * 1000000ull))
		sem_post(&c->idle_sem);
	return true;
}

/* Hand back claimed chunks run..run+n-1 (REMARK, VOLATILE, unpinned). */
static void remark_run(struct vcache_object *o, size_t run, size_t n)
{
	size_t start = chunk_offset(o, run);
	size_t end = chunk_offset(o, run + n - 1) +
		     chunk_map_length(o, run + n - 1);

	(void)o->cache->backend->mark_volatile(o->data + start, end - start);
	for (size_t k = run; k < run + n; k++)
		vc_chunk_release(o, k, CHUNK_REMARK);
}

/*
 * Every REMARK chunk of o back to the kernel, neighbours in one call.
 * A chunk someone holds BUSY is left for the next pass (*ret_retry).
 * o->lock held, so pin counts do not change.
 */
static void remark_sweep(struct vcache_object *o, bool *ret_retry)
{
	size_t run = 0, n = 0;

	for (size_t i = 0; i <= o->nchunks; i++) {
		bool take = false;
		uint64_t s;

		if (i < o->nchunks && atomic_load(&o->remarks) &&
		    (atomic_load(&o->chunks[i]) & CHUNK_REMARK)) {
			if (vc_chunk_claim(o, i, false, false, &s) < 0)
				*ret_retry = true;
			else if (!chunk_pins(s) && (s & CHUNK_VOLATILE))
				take = true;
			else /* pinned since: the pin made it whole */
				vc_chunk_release(o, i, CHUNK_REMARK);
		}
		if (take) {
			if (!n)
				run = i;
			n++;
			continue;
		}
		if (n)
			remark_run(o, run, n);
		n = 0;
	}
}

/*
 * Mark o's chunks whose deadline has passed volatile (and, with remark,
 * hand back its REMARK chunks); return the earliest deadline still
 * pending (0 if none). Takes o->lock.
 */
uint64_t vc_idle_expire_object(struct vcache_object *o, uint64_t now,
			       bool remark, bool *ret_retry)
{
	uint64_t next = 0;
	size_t run = 0, n = 0;

	pthread_mutex_lock(&o->lock);
	if (remark)
		remark_sweep(o, ret_retry);
	for (size_t i = 0; o->pending && i <= o->nchunks; i++) {
		uint64_t d = i < o->nchunks ? o->deadline[i] : 0;

		if (d && d < o->deadline_all) /* vc_idle_deadline_all() */
			d = o->deadline_all;
		if (d && d <= now) {
			if (!n)
				run = i;
			n++;
			continue;
		}
		if (d && (!next || d < next))
			next = d;
		if (!n)
			continue;
		/* Clears the deadlines too; one system call for the run. */
		vc_object_mark_range_volatile(o, run, run + n - 1);
		for (size_t k = run; k < run + n; k++)
			vc_idle_deadline_clear(o, k); /* pinned: not eligible */
		n = 0;
	}
	pthread_mutex_unlock(&o->lock);
	return next;
}

/* Chunks were busy while their delays ended: the thread retries them. */
static void retry_soon(struct vcache *c)
{
	uint64_t zero = 0;

	if (atomic_compare_exchange_strong(&c->remark_due, &zero, vc_now_ns()))
		sem_post(&c->idle_sem);
}

/* Memory is short (purge.c): every delay ends now. c->lock held. */
void vc_idle_flush(struct vcache *c)
{
	bool retry = false;

	/*
	 * Nothing held (no deadline, no REMARK chunk): nothing to walk. A
	 * process with a million idle objects must not lock each of them on
	 * every pressure event while its creations wait for the cache lock.
	 */
	if (atomic_load(&c->held_bytes) <= 0)
		return;
	for (struct vcache_object *o = c->objects; o; o = o->next)
		(void)vc_idle_expire_object(o, UINT64_MAX, true, &retry);
	if (retry)
		retry_soon(c);
}

/* The same for o alone (purge.c). o's cache's lock held. */
void vc_idle_flush_object(struct vcache_object *o)
{
	bool retry = false;

	(void)vc_idle_expire_object(o, UINT64_MAX, true, &retry);
	if (retry)
		retry_soon(o->cache);
}

static void idle_sleep(struct vcache *c, uint64_t until)
{
	struct timespec ts = {
		.tv_sec = (time_t)(until / 1000000000ull),
		.tv_nsec = (long)(until % 1000000000ull),
	};

	if (!until)
		(void)sem_wait(&c->idle_sem);
	else
		(void)sem_clockwait(&c->idle_sem, CLOCK_MONOTONIC, &ts);
}

static void *idle_main(void *arg)
{
	struct vcache *c = arg;
	bool scanned = false;

	pthread_mutex_lock(&c->lock);
	while (!c->idle_stopping) {
		uint64_t now = vc_now_ns(), next = 0;
		uint64_t due = atomic_load(&c->remark_due);
		bool remark = due && due <= now, retry = false;
		bool kicked = atomic_exchange(&c->idle_kicked, false);

		/* Faults asked for room ahead (purge.c). */
		if (atomic_exchange(&c->room_wanted, false))
			vc_purge_room_ahead(c);
		/*
		 * Woken only for that (no hand-back due, no earlier
		 * deadline set, the last scan's wake-up not reached): no
		 * scan of every object, which faults would otherwise cause
		 * after every reserve they install.
		 */
		next = atomic_load(&c->idle_next);
		if (scanned && !remark && !kicked && (!next || now < next)) {
			if (due && (!next || due < next))
				next = due;
			pthread_mutex_unlock(&c->lock);
			idle_sleep(c, next);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		next = 0;
		scanned = true;
		/* Kicks during the scan take the lock (vc_idle_kick()). */
		atomic_store(&c->idle_next, 0);
		/* Faults from now on start a new batch. */
		if (remark)
			atomic_store(&c->remark_due, 0);
		for (struct vcache_object *o = c->objects; o; o = o->next) {
			uint64_t d = vc_idle_expire_object(o, now, remark,
							   &retry);

			if (d && (!next || d < next))
				next = d;
		}
		if (retry) {
			uint64_t zero = 0;

			(void)atomic_compare_exchange_strong(
				&c->remark_due, &zero,
				now + c->idle_delay_ms * 1000000ull);
		}
		if (c->idle_stopping)
			break;
		due = atomic_load(&c->remark_due);
		if (due && (!next || due < next))
			next = due;
		atomic_store(&c->idle_next, next);
		pthread_mutex_unlock(&c->lock);
		idle_sleep(c, next);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* c->lock held. */
static void idle_start(struct vcache *c)
{
	sigset_t all, saved;

	if (c->idle_running || c->idle_stopping)
		return;
	/* The thread takes no signals meant for the program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	if (pthread_create(&c->idle_thread, NULL, idle_main, c) == 0) {
		c->idle_running = true;
		atomic_store(&c->idle_alive, true);
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

/*
 * A deadline was set (or, deadline 0, an object was created and faults
 * may want the thread): make sure the thread runs and looks again. If it
 * cannot be started the chunks stay non-volatile until the next attempt
 * (safe: only memory is kept longer), and faults re-mark at once.
 */
void vc_idle_kick(struct vcache *c, uint64_t deadline)
{
	uint64_t next;

	/*
	 * The hot path of a delayed unpin, without the cache lock (two
	 * threads pinning their own objects would meet on it): the running
	 * thread will wake by idle_next, no later than our deadline, and scan
	 * again. That scan starts after our deadline was set: the thread
	 * stores idle_next only at the end of a scan and 0 at its start, and
	 * we set the deadline before we loaded the value (seq_cst), so the
	 * scan that produced it either saw our deadline or is followed by
	 * the one at idle_next, which will.
	 */
	next = deadline ? atomic_load(&c->idle_next) : 0;
	if (next && next <= deadline && atomic_load(&c->idle_alive))
		return;
	pthread_mutex_lock(&c->lock);
	if (!deadline) {
		if (c->idle_delay_ms && !c->strict)
			idle_start(c);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	/*
	 * Already due to wake up no later than this deadline: it will find
	 * it then. Saves the wake-up system call on every delayed unpin.
	 */
	next = atomic_load(&c->idle_next);
	if (c->idle_running && next && next <= deadline) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	idle_start(c);
	atomic_store(&c->idle_kicked, true);
	pthread_mutex_unlock(&c->lock);
	sem_post(&c->idle_sem);
}

void vc_idle_stop(struct vcache *c)
{
	bool running;

	pthread_mutex_lock(&c->lock);
	c->idle_stopping = true;
	running = c->idle_running;
	atomic_store(&c->idle_alive, false);
	pthread_mutex_unlock(&c->lock);
	sem_post(&c->idle_sem);
	if (running)
		pthread_join(c->idle_thread, NULL);
	pthread_mutex_lock(&c->lock);
	c->idle_running = false;
	pthread_mutex_unlock(&c->lock);
}
