/* SPDX-License-Identifier: MIT */
/*
 * test-threads.c - pin/unpin/optimistic access/regeneration from several
 * threads while a purger thread keeps reclaiming the objects with
 * MADV_PAGEOUT. Every read is checked against the generator: stale or zero
 * data is never acceptable. Iteration counts are fixed, not timed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tutil.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

enum { WORKERS = 4, OBJECTS = 2 };

/* Steps per worker; VCACHE_TEST_ITERATIONS lowers it for slow guests. */
static unsigned long iterations(void)
{
	const char *env = getenv("VCACHE_TEST_ITERATIONS");
	unsigned long n = env ? strtoul(env, NULL, 10) : 0;

	return n ? n : 20000;
}

/*
 * Shared objects see pins with VCACHE_PIN_REGENERATE and optimistic reads
 * from every worker. A pin without it leaves a purged chunk undefined until
 * the caller refills it, so another thread reading it optimistically then
 * could legitimately see garbage: that case runs on a private object per
 * worker (still purged by the purger).
 */
#define ALL_OBJECTS (OBJECTS + WORKERS)

struct shared {
	vcache_object *obj[ALL_OBJECTS];
	struct tobj tobj[ALL_OBJECTS];
	atomic_int workers_left;
	atomic_ulong failures;
	atomic_ulong purge_rounds;
	bool soft; /* purge with the library: the kernel never does */
	char first_failure[256];
	atomic_flag failure_reported;
};

struct worker {
	struct shared *sh;
	unsigned int id;
};

static void record_failure(struct shared *sh, const char *what,
			   unsigned int obj, size_t chunk, long value)
{
	atomic_fetch_add(&sh->failures, 1);
	if (!atomic_flag_test_and_set(&sh->failure_reported))
		snprintf(sh->first_failure, sizeof(sh->first_failure),
			 "%s: object %u chunk %zu: %ld", what, obj, chunk,
			 value);
}

/* One step of a worker: pick an object, a chunk range and an access kind. */
static void step(struct shared *sh, unsigned int id, unsigned int *rng,
		 unsigned long i)
{
	unsigned int k = i % 3 == 2 ? OBJECTS + id :
					 (unsigned int)rand_r(rng) % OBJECTS;
	vcache_object *o = sh->obj[k];
	uint64_t seed = sh->tobj[k].seed;
	size_t chunk = vcache_object_chunk_size(o);
	size_t nchunks = vcache_object_size(o) / chunk;
	size_t first = rand_r(rng) % nchunks;
	size_t count = 1 + rand_r(rng) % (nchunks - first < 4 ?
					  nchunks - first : 4);
	size_t off = first * chunk, len = count * chunk, bad;
	uint8_t *p = vcache_object_data(o);
	int r;

	switch (i % 3) {
	case 0: /* explicit, library refills */
		r = vcache_pin_range(o, off, len, VCACHE_PIN_REGENERATE);
		if (r < 0) {
			record_failure(sh, "pin regenerate", k, first, r);
			return;
		}
		bad = gen_check(p + off, seed, off, len);
		if (bad != SIZE_MAX)
			record_failure(sh, "content after pin", k, first, bad);
		r = vcache_unpin_range(o, off, len);
		if (r)
			record_failure(sh, "unpin", k, first, r);
		break;
	case 1: /* optimistic */
		bad = gen_check(p + off, seed, off, len);
		if (bad != SIZE_MAX)
			record_failure(sh, "optimistic content", k, first, bad);
		break;
	case 2: /* explicit, caller refills: INTACT must mean intact */
		r = vcache_pin_range(o, off, len, 0);
		if (r < 0) {
			record_failure(sh, "pin", k, first, r);
			return;
		}
		if (r == VCACHE_PURGED)
			gen_fill(p + off, seed, off, len);
		bad = gen_check(p + off, seed, off, len);
		if (bad != SIZE_MAX)
			record_failure(sh, r == VCACHE_INTACT ?
				       "INTACT but wrong" :
				       "content after refill", k, first, bad);
		r = vcache_unpin_range(o, off, len);
		if (r)
			record_failure(sh, "unpin", k, first, r);
		break;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int rng = 1234 + w->id;
	unsigned long i, n = iterations();

	for (i = 0; i < n; i++)
		step(w->sh, w->id, &rng, i + w->id);
	atomic_fetch_sub(&w->sh->workers_left, 1);
	return NULL;
}

/* Reclaim everything that is volatile, again and again, until done. */
static void *purger_main(void *arg)
{
	struct shared *sh = arg;
	unsigned int k;

	while (atomic_load(&sh->workers_left) > 0) {
		for (k = 0; k < ALL_OBJECTS; k++)
			if (sh->soft)
				(void)vcache_purge(sh->obj[k]);
			else
				madvise(vcache_object_data(sh->obj[k]),
					vcache_object_size(sh->obj[k]),
					MADV_PAGEOUT);
		atomic_fetch_add(&sh->purge_rounds, 1);
		sched_yield();
	}
	return NULL;
}

START_TEST(test_threads_stress)
{
	vcache *c = tcache_new();
	struct shared *sh = calloc(1, sizeof(*sh));
	struct worker w[WORKERS];
	pthread_t th[WORKERS], purger;
	struct vcache_stats st;
	unsigned int i;

	ck_assert_ptr_nonnull(sh);
	atomic_flag_clear(&sh->failure_reported);
	for (i = 0; i < ALL_OBJECTS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "stress-%u", i);
		tobj_init(&sh->tobj[i], 100 + i);
		/* Page chunks and multi-page chunks. */
		sh->obj[i] = tobj_create(c, name, 64 * pagesz,
					 (i % 2 + 1) * pagesz, &sh->tobj[i]);
	}
	atomic_store(&sh->workers_left, WORKERS);
	sh->soft = vcache_backend(c) == VCACHE_BACKEND_SOFT;
	ck_assert_int_eq(pthread_create(&purger, NULL, purger_main, sh), 0);
	for (i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ sh, i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main,
						&w[i]),
				 0);
	}
	for (i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	pthread_join(purger, NULL);

	ck_assert_msg(atomic_load(&sh->failures) == 0,
		      "%lu failures, first: %s", atomic_load(&sh->failures),
		      sh->first_failure);
	for (i = 0; i < ALL_OBJECTS; i++) {
		ck_assert_uint_eq(atomic_load(&sh->tobj[i].bad_args), 0);
		assert_content(sh->obj[i], sh->tobj[i].seed, 0, 64 * pagesz);
	}
	ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
	ck_assert_uint_eq(st.bytes_pinned, 0);
	printf("%s: backend %s, %lu purge rounds, purges %llu, faults %llu, "
	       "regenerations %llu\n", __func__,
	       vcache_backend_name(vcache_backend(c)),
	       atomic_load(&sh->purge_rounds), (unsigned long long)st.purges,
	       (unsigned long long)st.faults,
	       (unsigned long long)st.regenerations);
	/* Only then does the test show anything about concurrency. */
	if (tcache_purges(c))
		ck_assert_msg(st.purges > 0 && st.faults > 0,
			      "the purger never purged anything");
	for (i = 0; i < ALL_OBJECTS; i++)
		vcache_object_unref(sh->obj[i]);
	tcache_free(c);
	free(sh);
}
END_TEST

/*
 * Objects come and go while others look them up by name: every call is
 * allowed concurrently, and the only errors are the documented races
 * (ENOENT for a name just removed, EBUSY for an object another thread
 * has pinned).
 */
enum { NAMES = 8, LIFETIME_ITERATIONS = 2000 };

struct lifetime {
	vcache *cache;
	struct tobj tobj;
	unsigned int id;
	atomic_ulong *failures;
};

static void *lifetime_main(void *arg)
{
	struct lifetime *l = arg;
	unsigned int rng = 99 + l->id;
	unsigned long i;

	for (i = 0; i < LIFETIME_ITERATIONS; i++) {
		vcache_object *o = NULL;
		char name[32];
		int r;

		snprintf(name, sizeof(name), "life-%u",
			 (unsigned int)rand_r(&rng) % NAMES);
		r = vcache_object_create(l->cache, name, 2 * pagesz, 0,
					 tobj_regen, &l->tobj, 0, &o);
		if (r == -EEXIST)
			r = vcache_object_lookup(l->cache, name, &o);
		if (r == -ENOENT)
			continue; /* removed between the two calls */
		if (r) {
			atomic_fetch_add(l->failures, 1);
			continue;
		}
		r = vcache_pin(o, VCACHE_PIN_REGENERATE);
		if (r < 0 || gen_check(vcache_object_data(o), l->tobj.seed, 0,
				       2 * pagesz) != SIZE_MAX)
			atomic_fetch_add(l->failures, 1);
		if (r >= 0 && vcache_unpin(o))
			atomic_fetch_add(l->failures, 1);
		if (i % 2) {
			r = vcache_object_remove(o);
			if (r && r != -ENOENT && r != -EBUSY)
				atomic_fetch_add(l->failures, 1);
		}
		vcache_object_unref(o);
	}
	return NULL;
}

START_TEST(test_threads_lifetime)
{
	vcache *c = tcache_new();
	atomic_ulong failures = 0;
	struct lifetime l[WORKERS];
	pthread_t th[WORKERS];
	unsigned int i;

	for (i = 0; i < WORKERS; i++) {
		l[i].cache = c;
		/* One seed for all: any thread may find any thread's object. */
		tobj_init(&l[i].tobj, 200);
		l[i].id = i;
		l[i].failures = &failures;
		ck_assert_int_eq(pthread_create(&th[i], NULL, lifetime_main,
						&l[i]),
				 0);
	}
	for (i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	ck_assert_uint_eq(atomic_load(&failures), 0);
	for (i = 0; i < WORKERS; i++)
		ck_assert_uint_eq(atomic_load(&l[i].tobj.bad_args), 0);
	tcache_free(c);
}
END_TEST

/*
 * Threads pin and unpin their own objects under an idle delay while the
 * idle thread wakes, scans and sleeps in between (the pauses): a delayed
 * unpin wakes the thread without the cache lock when the thread is due
 * to wake by the deadline anyway (idle.c), and no deadline may be lost
 * that way. Once all threads are done, every object must become volatile
 * with no further call into the library.
 */
enum { IDLE_THREADS = 4, IDLE_PAGES = 16 };

struct idle_worker {
	vcache_object *obj;
	struct tobj tobj;
	unsigned int id;
	atomic_ulong *failures;
};

static void *idle_worker_main(void *arg)
{
	struct idle_worker *w = arg;
	unsigned int rng = 7 + w->id;

	for (unsigned long i = 0; i < iterations() / 5; i++) {
		int r = vcache_pin(w->obj, VCACHE_PIN_REGENERATE);

		if (r < 0 || gen_check(vcache_object_data(w->obj),
				       w->tobj.seed, 0,
				       IDLE_PAGES * pagesz) != SIZE_MAX)
			atomic_fetch_add(w->failures, 1);
		if (r >= 0 && vcache_unpin(w->obj))
			atomic_fetch_add(w->failures, 1);
		if (rand_r(&rng) % 64 == 0) {
			/* 0-24 ms: around the 10 ms delay. */
			struct timespec ts = {
				0, (long)(rand_r(&rng) % 25) * 1000000L
			};

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

START_TEST(test_threads_idle_delay)
{
	vcache *c = tcache_new_delay(10);
	struct idle_worker w[IDLE_THREADS];
	pthread_t th[IDLE_THREADS];
	atomic_ulong failures = 0;
	size_t size = IDLE_PAGES * pagesz;

	SKIP_UNLESS_PURGING(c);
	for (unsigned int i = 0; i < IDLE_THREADS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "idle-%u", i);
		w[i] = (struct idle_worker){ .id = i, .failures = &failures };
		tobj_init(&w[i].tobj, 300 + i);
		w[i].obj = tobj_create(c, name, size, 0, &w[i].tobj);
	}
	for (unsigned int i = 0; i < IDLE_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL,
						idle_worker_main, &w[i]),
				 0);
	for (unsigned int i = 0; i < IDLE_THREADS; i++)
		pthread_join(th[i], NULL);
	ck_assert_uint_eq(atomic_load(&failures), 0);
	ck_assert_msg(wait_bytes_volatile(c, IDLE_THREADS * size,
					  20000, 3000),
		      "an unpinned object never became volatile: a delayed "
		      "unpin's deadline was lost");
	for (unsigned int i = 0; i < IDLE_THREADS; i++) {
		assert_content(w[i].obj, w[i].tobj.seed, 0, size);
		vcache_object_unref(w[i].obj);
	}
	tcache_free(c);
}
END_TEST

/*
 * The race the lock-free kick must get right, made likely: the idle
 * thread scans many objects when our deadline passes, ours first (it is
 * first in the list: created last); we pin and unpin again around that
 * moment, often while it is still scanning the others. A kick that
 * trusted the wake-up time of the pass in progress would be lost, and
 * the object would stay non-volatile for ever. Each round waits for the
 * object to become volatile again.
 */
/* 2857 objects and 200 rounds natively, a tenth in the guest. */
#define SCAN_PADDING (iterations() / 7)
#define SCAN_ROUNDS (iterations() / 100)

START_TEST(test_threads_idle_kick_during_scan)
{
	vcache *c = tcache_new_delay(2);
	size_t size = 4 * pagesz, all;
	vcache_object **pad, *o;
	struct tobj t;

	SKIP_UNLESS_PURGING(c);
	pad = calloc(SCAN_PADDING, sizeof(*pad));
	ck_assert_ptr_nonnull(pad);
	tobj_init(&t, 41);
	for (unsigned long i = 0; i < SCAN_PADDING; i++) {
		char name[32];

		snprintf(name, sizeof(name), "pad-%lu", i);
		pad[i] = tobj_create(c, name, pagesz, 0, &t);
	}
	o = tobj_create(c, "scanned-first", size, 0, &t);
	all = SCAN_PADDING * pagesz + size;
	for (unsigned long r = 0; r < SCAN_ROUNDS; r++) {
		/* 1.9 to 2.3 ms: around the deadline and the scan. */
		struct timespec ts = { 0, 1900000L + (long)(r % 20) * 20000L };

		ck_assert_int_ge(vcache_pin(o, VCACHE_PIN_REGENERATE), 0);
		ck_assert_int_eq(vcache_unpin(o), 0);
		nanosleep(&ts, NULL);
		ck_assert_int_ge(vcache_pin(o, VCACHE_PIN_REGENERATE), 0);
		assert_content(o, t.seed, 0, size);
		ck_assert_int_eq(vcache_unpin(o), 0);
		/* 200 us apart, 10 s and more: only a bound. */
		ck_assert_msg(wait_bytes_volatile(c, all, 200, 50000),
			      "round %lu: the object never became volatile "
			      "again: a kick during the idle scan was lost", r);
	}
	vcache_object_unref(o);
	for (unsigned long i = 0; i < SCAN_PADDING; i++)
		vcache_object_unref(pad[i]);
	free(pad);
	tcache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("threads");
	TCase *tc;

	tc = ttcase("stress");
	tcase_add_test(tc, test_threads_stress);
	suite_add_tcase(s, tc);

	tc = ttcase("lifetime");
	tcase_add_test(tc, test_threads_lifetime);
	suite_add_tcase(s, tc);

	tc = ttcase("idle");
	tcase_add_test(tc, test_threads_idle_delay);
	tcase_add_test(tc, test_threads_idle_kick_during_scan);
	suite_add_tcase(s, tc);
	return run_suite_smp(s);
}
