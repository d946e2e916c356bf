/* SPDX-License-Identifier: MIT */
/*
 * test-pin.c - explicit mode: pin reports purges exactly, per chunk, with
 * nesting, checkerboards of pinned/volatile chunks and the idle delay.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"

#define NO_PURGE "backend none never purges"

static uint8_t *data(vcache_object *o)
{
	return vcache_object_data(o);
}

/* Without swap a non-volatile page survives MADV_PAGEOUT: check that. */
static void assert_resident(vcache_object *o, size_t off, size_t len)
{
	if (have_swap())
		return;
	ck_assert_uint_eq(resident_pages(data(o) + off, len), len / pagesz);
}

START_TEST(test_pin_explicit_intact)
{
	vcache *c = tcache_new();
	struct tobj t;
	vcache_object *o;

	tobj_init(&t, 1);
	o = tobj_create(c, "intact", 8 * pagesz, 0, &t);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	assert_content(o, t.seed, 0, 8 * pagesz);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	/* Nothing was purged, so nothing was regenerated after create. */
	ck_assert_uint_eq(atomic_load(&t.calls), 8);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_pin_explicit_purged)
{
	vcache *c = tcache_new();
	size_t size = 8 * pagesz;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 2);
	o = tobj_create(c, "purged", size, 0, &t);
	/* A fresh object is volatile: every page can be dropped. */
	ck_assert_uint_eq(purge_range(data(o), size), 8);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_PURGED);
	/* Without REGENERATE the caller refills while pinned. */
	gen_fill(data(o), t.seed, 0, size);
	assert_content(o, t.seed, 0, size);
	ck_assert_uint_eq(atomic_load(&t.calls), 8);
	ck_assert_int_eq(vcache_unpin(o), 0);

	/* Volatile again after the unpin, and the report resets. */
	ck_assert_uint_eq(purge_range(data(o), size), 8);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_PURGED);
	gen_fill(data(o), t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_pin_explicit_regenerate)
{
	vcache *c = tcache_new();
	size_t size = 8 * pagesz;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 3);
	o = tobj_create(c, "regen", size, 2 * pagesz, &t);
	ck_assert_uint_eq(atomic_load(&t.calls), 4);
	ck_assert_uint_eq(purge_range(data(o), size), 8);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_PURGED);
	assert_content(o, t.seed, 0, size);
	ck_assert_uint_eq(atomic_load(&t.calls), 8);
	ck_assert_int_eq(vcache_unpin(o), 0);

	/* Purge one page of one chunk: the whole chunk comes back right. */
	ck_assert_uint_eq(purge_range(data(o) + 5 * pagesz, pagesz), 1);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_PURGED);
	assert_content(o, t.seed, 0, size);
	ck_assert_uint_eq(atomic_load(&t.calls), 9);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_uint_eq(atomic_load(&t.bad_args), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_pin_none_never_purges)
{
	vcache *c = tcache_new();
	size_t size = 8 * pagesz;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_NONE(c);
	tobj_init(&t, 4);
	o = tobj_create(c, "none", size, 0, &t);
	purge_range(data(o), size);
	assert_resident(o, 0, size);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_pin_subrange_exact)
{
	vcache *c = tcache_new();
	size_t size = 8 * pagesz, half = size / 2;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 5);
	o = tobj_create(c, "subrange", size, 0, &t);
	ck_assert_uint_eq(purge_range(data(o) + half, half), 4);
	/* The bottom half was not purged: no false report. */
	ck_assert_int_eq(vcache_pin_range(o, 0, half, 0), VCACHE_INTACT);
	assert_content(o, t.seed, 0, half);
	/* A single page of the top half is reported. */
	ck_assert_int_eq(vcache_pin_range(o, size - pagesz, pagesz,
					  VCACHE_PIN_REGENERATE),
			 VCACHE_PURGED);
	assert_content(o, t.seed, size - pagesz, pagesz);
	ck_assert_int_eq(vcache_unpin_range(o, 0, half), 0);
	ck_assert_int_eq(vcache_unpin_range(o, size - pagesz, pagesz),
			 0);
	/* Unaligned ranges pin the chunks they overlap. */
	ck_assert_int_eq(vcache_pin_range(o, half + 10, 20,
					  VCACHE_PIN_REGENERATE),
			 VCACHE_PURGED);
	assert_content(o, t.seed, half, pagesz);
	ck_assert_int_eq(vcache_unpin_range(o, half + 10, 20), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_pin_subrange_chunks)
{
	vcache *c = tcache_new();
	size_t chunk = 2 * pagesz, size = 4 * chunk;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 6);
	o = tobj_create(c, "subchunks", size, chunk, &t);
	/* Purge the second page of chunk 1 only. */
	ck_assert_uint_eq(purge_range(data(o) + 3 * pagesz, pagesz), 1);
	ck_assert_int_eq(vcache_pin_range(o, 0, chunk, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_pin_range(o, 2 * chunk, 2 * chunk, 0),
			 VCACHE_INTACT);
	assert_content(o, t.seed, 0, chunk);
	assert_content(o, t.seed, 2 * chunk, 2 * chunk);
	ck_assert_int_eq(vcache_pin_range(o, 3 * pagesz, pagesz,
					  VCACHE_PIN_REGENERATE),
			 VCACHE_PURGED);
	assert_content(o, t.seed, chunk, chunk);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/*
 * Every other chunk pinned, the rest volatile: one pin over the whole
 * object must report the purges of the volatile ones (seed 004's bug).
 */
static void checkerboard(unsigned int pinned_parity, unsigned int flags)
{
	vcache *c = tcache_new();
	size_t n = 16, size = n * pagesz, i;
	struct tobj t;
	vcache_object *o;

	tobj_init(&t, 7 + pinned_parity);
	o = tobj_create(c, "checkerboard", size, 0, &t);
	for (i = pinned_parity; i < n; i += 2)
		ck_assert_int_eq(vcache_pin_range(o, i * pagesz, pagesz,
						  0),
				 VCACHE_INTACT);
	ck_assert_uint_eq(purge_range(data(o), size), n / 2);
	for (i = pinned_parity; i < n; i += 2)
		assert_resident(o, i * pagesz, pagesz);
	ck_assert_int_eq(vcache_pin(o, flags), VCACHE_PURGED);
	if (!(flags & VCACHE_PIN_REGENERATE))
		for (i = !pinned_parity; i < n; i += 2)
			gen_fill(data(o) + i * pagesz, t.seed,
				 i * pagesz, pagesz);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	for (i = pinned_parity; i < n; i += 2)
		ck_assert_int_eq(vcache_unpin_range(o, i * pagesz,
						    pagesz),
				 0);
	/* All volatile again. */
	ck_assert_uint_eq(purge_range(data(o), size), n);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_PURGED);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}

START_TEST(test_pin_checkerboard_regenerate)
{
	vcache *c = tcache_new();
	bool purges = tcache_purges(c);

	tcache_free(c);
	SKIP_IF(!purges, NO_PURGE);
	SKIP_IF(have_swap(), "swap is on: pinned pages would be swapped out");
	checkerboard(0, VCACHE_PIN_REGENERATE);
	checkerboard(1, VCACHE_PIN_REGENERATE);
}
END_TEST

START_TEST(test_pin_checkerboard_refill)
{
	vcache *c = tcache_new();
	bool purges = tcache_purges(c);

	tcache_free(c);
	SKIP_IF(!purges, NO_PURGE);
	SKIP_IF(have_swap(), "swap is on: pinned pages would be swapped out");
	checkerboard(0, 0);
	checkerboard(1, 0);
}
END_TEST

/*
 * One pin over a whole object of 8 chunks, 2 of them purged: exactly those
 * two are regenerated, once each, and the rest keep their pages. (On
 * vrange this is one VRANGE_NONVOLATILE with a per-page vector.)
 */
START_TEST(test_pin_whole_regenerates_purged_only)
{
	vcache *c = tcache_new();
	size_t n = 8, chunk = 2 * pagesz, size = n * chunk;
	atomic_uint counts[8] = { 0 };
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 40);
	o = tobj_create(c, "purged-only", size, chunk, &t);
	t.chunk_calls = counts;
	t.nchunks = n;
	ck_assert_uint_eq(purge_range(data(o) + 2 * chunk + pagesz, pagesz), 1);
	ck_assert_uint_eq(purge_range(data(o) + 5 * chunk, chunk), 2);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_PURGED);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(atomic_load(&counts[i]), i == 2 || i == 5);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_pin_nested_whole)
{
	vcache *c = tcache_new();
	size_t size = 4 * pagesz;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	SKIP_IF_SWAP(c);
	tobj_init(&t, 9);
	o = tobj_create(c, "nested", size, 0, &t);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	/* Still pinned once: reclaim must not take it. */
	ck_assert_uint_eq(purge_range(data(o), size), 0);
	assert_resident(o, 0, size);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_int_eq(vcache_unpin(o), 0);
	/* Count reached zero: volatile. */
	ck_assert_uint_eq(purge_range(data(o), size), 4);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_PURGED);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_errno(vcache_unpin(o), EINVAL);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_pin_nested_ranges)
{
	vcache *c = tcache_new();
	size_t p = pagesz, size = 8 * p;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	SKIP_IF_SWAP(c);
	tobj_init(&t, 10);
	o = tobj_create(c, "nested-ranges", size, 0, &t);
	ck_assert_int_eq(vcache_pin_range(o, 0, 4 * p, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_pin_range(o, 2 * p, 4 * p, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin_range(o, 0, 4 * p), 0);
	/* Pinned now: chunks 2..5. Volatile: 0, 1, 6, 7. */
	ck_assert_uint_eq(purge_range(data(o), size), 4);
	assert_resident(o, 2 * p, 4 * p);
	ck_assert_uint_eq(resident_pages(data(o), 2 * p), 0);
	ck_assert_uint_eq(resident_pages(data(o) + 6 * p, 2 * p), 0);
	ck_assert_int_eq(vcache_pin_range(o, 2 * p, 4 * p, 0), VCACHE_INTACT);
	assert_content(o, t.seed, 2 * p, 4 * p);
	ck_assert_int_eq(vcache_unpin_range(o, 2 * p, 4 * p), 0);
	ck_assert_int_eq(vcache_unpin_range(o, 2 * p, 4 * p), 0);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_PURGED);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static void sleep_until_ms(uint64_t t)
{
	uint64_t now = now_ms();
	struct timespec ts;

	if (now >= t)
		return;
	ts.tv_sec = (time_t)((t - now) / 1000);
	ts.tv_nsec = (long)((t - now) % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

/*
 * o, unpinned and volatile: purged whole, then regenerated by a pin.
 * The double unpin (EINVAL) takes the object's lock and changes nothing,
 * which orders us after the idle thread's system call.
 */
static void purge_then_regenerate(vcache_object *o, uint64_t seed,
				  size_t size)
{
	ck_assert_errno(vcache_unpin(o), EINVAL);
	ck_assert_uint_eq(purge_range(data(o), size), size / pagesz);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_PURGED);
	assert_content(o, seed, 0, size);
}

static uint64_t bytes_pinned(vcache *c)
{
	struct vcache_stats st;

	ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
	return st.bytes_pinned;
}

/*
 * Pins of a whole object that is held inside its idle delay (nothing
 * volatile) are counted once for every chunk (pin.c); pins and unpins of
 * part of it must still see every chunk pinned as often as before.
 */
START_TEST(test_pin_whole_mixes_with_ranges)
{
	vcache *c = tcache_new_delay(60000);
	size_t p = pagesz, size = 8 * p;
	struct tobj t;
	vcache_object *o;

	tobj_init(&t, 12);
	o = tobj_create(c, "whole-mix", size, 0, &t);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0); /* held: nothing volatile */
	ck_assert_uint_eq(bytes_pinned(c), 0);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_uint_eq(bytes_pinned(c), size);
	ck_assert_errno(vcache_object_remove(o), EBUSY);
	ck_assert_errno(vcache_free(c), EBUSY);
	/* Chunks 2-3 pinned three times, the others twice. */
	ck_assert_int_eq(vcache_pin_range(o, 2 * p, 2 * p, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_uint_eq(bytes_pinned(c), 2 * p);
	ck_assert_errno(vcache_unpin(o), EINVAL);
	ck_assert_int_eq(vcache_unpin_range(o, 2 * p, 2 * p), 0);
	ck_assert_uint_eq(bytes_pinned(c), 0);
	ck_assert_errno(vcache_unpin_range(o, 2 * p, p), EINVAL);
	/* A whole pin taken back in two parts. */
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin_range(o, 0, p), 0);
	ck_assert_uint_eq(bytes_pinned(c), size - p);
	ck_assert_errno(vcache_unpin(o), EINVAL);
	ck_assert_int_eq(vcache_unpin_range(o, p, size - p), 0);
	ck_assert_uint_eq(bytes_pinned(c), 0);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/*
 * A deadline that passes while the object is pinned whole must not make
 * it volatile: reclaim would take pinned pages.
 */
START_TEST(test_pin_whole_outlives_deadline)
{
	vcache *c = tcache_new_delay(200);
	size_t size = 8 * pagesz;
	struct vcache_stats st;
	struct tobj t;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	SKIP_IF_SWAP(c);
	tobj_init(&t, 13);
	o = tobj_create(c, "whole-deadline", size, 0, &t);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	usleep(600 * 1000); /* the idle thread passes the deadline */
	ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
	ck_assert_uint_eq(st.bytes_volatile, 0);
	ck_assert_uint_eq(purge_range(data(o), size), 0);
	assert_resident(o, 0, size);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_msg(wait_bytes_volatile(c, size, 20000, 3000),
		      "object never became volatile after its last unpin");
	purge_then_regenerate(o, t.seed, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/*
 * Each whole-object unpin moves the object's deadline on, also the ones
 * after the first (which store one deadline for every chunk: idle.c): an
 * object pinned and unpinned every 0.6 s for 3 s, with a 2 s delay, never
 * becomes volatile, and does after its last unpin. Without the move, the
 * first unpin's deadline passes 0.4 s before the fourth check. A check
 * read later than a delay after the unpin before it (a stalled machine),
 * or with memory short at either end (vcache.h: pressure ends delays), is
 * skipped and says so.
 */
START_TEST(test_pin_whole_unpin_moves_deadline)
{
	const uint64_t delay_ms = 2000;
	vcache *c = tcache_new_delay(delay_ms);
	size_t size = 16 * pagesz;
	struct vcache_stats st;
	uint64_t unpinned = 0, t;
	bool calm = false;
	struct tobj t_obj;
	vcache_object *o;

	SKIP_UNLESS_PURGING(c);
	SKIP_IF_SWAP(c);
	tobj_init(&t_obj, 17);
	o = tobj_create(c, "whole-moves", size, 0, &t_obj);
	for (int round = 0; round < 6; round++) {
		ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
		t = now_ms();
		calm = calm && vcache_pressure() == VCACHE_PRESSURE_NONE;
		if (round > 0 && calm && t - unpinned < delay_ms)
			ck_assert_msg(st.bytes_volatile == 0,
				      "round %d: %llu bytes volatile %llu ms "
				      "after the last unpin", round,
				      (unsigned long long)st.bytes_volatile,
				      (unsigned long long)(t - unpinned));
		else if (round > 0)
			printf("%s: round %d read %llu ms after the unpin, "
			       "pressure %d: not checked\n", __func__, round,
			       (unsigned long long)(t - unpinned),
			       vcache_pressure());
		ck_assert_int_ge(vcache_pin(o, 0), 0);
		assert_content(o, t_obj.seed, 0, size);
		calm = vcache_pressure() == VCACHE_PRESSURE_NONE;
		unpinned = now_ms();
		ck_assert_int_eq(vcache_unpin(o), 0);
		sleep_until_ms(unpinned + delay_ms * 3 / 10);
	}
	ck_assert_msg(wait_bytes_volatile(c, size, 20000, 3000),
		      "object never became volatile after its last unpin");
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/*
 * delay_ms is long compared with the few system calls between the unpin
 * and the purge attempt, so "still non-volatile" does not race.
 */
static void idle_delay(vcache *c, const char *name)
{
	size_t size = 4 * pagesz, n;
	bool calm;
	struct tobj t;
	vcache_object *o;

	tobj_init(&t, 11);
	o = tobj_create(c, name, size, 0, &t);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	calm = vcache_pressure() == VCACHE_PRESSURE_NONE;
	ck_assert_int_eq(vcache_unpin(o), 0);
	/*
	 * Inside the delay: the purge attempt does nothing - unless memory
	 * is short, when the delay gives way (vcache.h).
	 */
	n = purge_range(data(o), size);
	if (calm && vcache_pressure() == VCACHE_PRESSURE_NONE) {
		ck_assert_uint_eq(n, 0);
		assert_resident(o, 0, size);
	}
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	/* After it: volatile without any further call into the library. */
	ck_assert_msg(wait_bytes_volatile(c, size, 20000, 3000),
		      "object never became volatile after the idle delay");
	purge_then_regenerate(o, t.seed, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
}

START_TEST(test_pin_idle_delay_option)
{
	vcache *c = tcache_new_delay(5000);

	SKIP_UNLESS_PURGING(c);
	SKIP_IF_SWAP(c);
	idle_delay(c, "idle-option");
	tcache_free(c);
}
END_TEST

START_TEST(test_pin_idle_delay_env)
{
	vcache *c;

	ck_assert_int_eq(setenv("VCACHE_IDLE_DELAY_MS", "5000", 1), 0);
	c = tcache_new();
	SKIP_UNLESS_PURGING(c);
	SKIP_IF_SWAP(c);
	idle_delay(c, "idle-env");
	tcache_free(c);
}
END_TEST

/*
 * A pin of a purged chunk under uffd asks mincore() which pages are gone
 * and probes only the others, plus one missing page to confirm the purge:
 * one SIGBUS for the chunk, not one per purged page. Counted by a handler
 * installed on top of the library's that passes everything on to it.
 */
static struct sigaction count_prev;
static volatile sig_atomic_t count_bus;

static void count_handler(int sig, siginfo_t *si, void *uc)
{
	count_bus++;
	count_prev.sa_sigaction(sig, si, uc);
}

START_TEST(test_pin_purged_chunk_one_signal)
{
	size_t n = 16, size = n * pagesz;
	struct sigaction sa;
	struct tobj t;
	vcache_object *o;
	vcache *c = tcache_new();
	int r;

	SKIP_IF(vcache_backend(c) != VCACHE_BACKEND_UFFD,
		"the page probe is the uffd backend's");
	SKIP_IF_SWAP(c);
	tobj_init(&t, 14);
	o = tobj_create(c, "one-signal", size, size, &t);
	ck_assert_uint_eq(purge_range(data(o), size), n);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = count_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGBUS, &sa, &count_prev), 0);
	ck_assert(count_prev.sa_flags & SA_SIGINFO);
	count_bus = 0;
	r = vcache_pin(o, VCACHE_PIN_REGENERATE);
	ck_assert_int_eq(sigaction(SIGBUS, &count_prev, NULL), 0);
	ck_assert_int_eq(r, VCACHE_PURGED);
	ck_assert_int_eq(count_bus, 1);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/*
 * The default, with neither option nor environment: a pressure-aware idle
 * delay of VCACHE_IDLE_DELAY_DEFAULT_MS, then volatile by itself. "Still
 * non-volatile" is asserted only when the purge attempt came before the
 * delay could have passed (a loaded machine may take longer: then that
 * attempt proves nothing either way).
 */
START_TEST(test_pin_default_delay)
{
	size_t size = 4 * pagesz, purged;
	uint64_t t0, t1;
	bool calm;
	vcache *c;
	struct tobj t;
	vcache_object *o;

	ck_assert_int_eq(unsetenv("VCACHE_IDLE_DELAY_MS"), 0);
	c = tcache_new();
	SKIP_UNLESS_PURGING(c);
	SKIP_IF_SWAP(c);
	tobj_init(&t, 12);
	o = tobj_create(c, "default-delay", size, 0, &t);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	calm = vcache_pressure() == VCACHE_PRESSURE_NONE;
	t0 = now_ms();
	ck_assert_int_eq(vcache_unpin(o), 0);
	purged = purge_range(data(o), size);
	t1 = now_ms();
	calm = calm && vcache_pressure() == VCACHE_PRESSURE_NONE;
	if (t1 - t0 < VCACHE_IDLE_DELAY_DEFAULT_MS && calm)
		ck_assert_uint_eq(purged, 0);
	else
		printf("%s: purge attempt %llu ms after the unpin, pressure "
		       "%d: not checked\n", __func__,
		       (unsigned long long)(t1 - t0), vcache_pressure());
	ck_assert_msg(wait_bytes_volatile(c, size, 20000, 3000),
		      "object never became volatile after the default delay");
	purge_then_regenerate(o, t.seed, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

static uint64_t bytes_volatile(vcache *c)
{
	struct vcache_stats st;

	ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
	return st.bytes_volatile;
}

/*
 * The delay learns the object's reuse (vcache.h, "The idle delay"): a pin
 * that finds the object handed back by its delay but whole sets the delay
 * to twice the time since the last unpin (at most ten times the cache's),
 * and a pin that finds a purge puts the cache's back. Cache delay 100 ms;
 * the object is pinned again 400 ms after its unpin, so its delay becomes
 * 800 ms: 300 ms after the next unpin it must still be held (checked only
 * if the look came within the 800 ms and memory was calm). After a purge,
 * it must be volatile again within 600 ms of the unpin, before 800 ms.
 */
START_TEST(test_pin_delay_learns_reuse)
{
	size_t size = 4 * pagesz;
	uint64_t t0, t1;
	struct tobj t;
	vcache_object *o;
	vcache *c = tcache_new_delay(100);
	bool calm;
	int r;

	SKIP_UNLESS_PURGING(c);
	SKIP_IF_SWAP(c);
	tobj_init(&t, 15);
	o = tobj_create(c, "learns", size, 0, &t);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	t0 = now_ms();
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_msg(wait_bytes_volatile(c, size, 20000, 3000),
		      "object never became volatile after the idle delay");
	sleep_until_ms(t0 + 400);
	r = vcache_pin(o, VCACHE_PIN_REGENERATE);
	if (r == VCACHE_PURGED) { /* reclaimed meanwhile: nothing learned */
		printf("%s: purged while idle: not checked\n", __func__);
		goto out;
	}
	ck_assert_int_eq(r, VCACHE_INTACT);
	/*
	 * The library learns only from a gap shorter than 10x the delay
	 * (1 s); on a slow guest the wait above can pass that by itself.
	 */
	t1 = now_ms();
	calm = vcache_pressure() == VCACHE_PRESSURE_NONE && t1 - t0 < 1000;
	if (t1 - t0 >= 1000)
		printf("%s: pinned %llu ms after the unpin, past the learning "
		       "window: not checked\n", __func__,
		       (unsigned long long)(t1 - t0));
	t0 = now_ms();
	ck_assert_int_eq(vcache_unpin(o), 0);
	sleep_until_ms(t0 + 300);
	t1 = now_ms();
	calm = calm && vcache_pressure() == VCACHE_PRESSURE_NONE;
	if (t1 - t0 < 700 && calm)
		ck_assert_uint_eq(bytes_volatile(c), 0);
	else
		printf("%s: look %llu ms after the unpin, pressure %d: not "
		       "checked\n", __func__, (unsigned long long)(t1 - t0),
		       vcache_pressure());
	ck_assert_msg(wait_bytes_volatile(c, size, 20000, 3000),
		      "object never became volatile after its learned delay");
	/* A purge found by a pin: back to the cache's 100 ms. */
	purge_then_regenerate(o, t.seed, size);
	t0 = now_ms();
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_msg(wait_bytes_volatile(c, size, 10000, 60) ||
			      now_ms() - t0 >= 700,
		      "still held 600 ms after the unpin: the purge did not "
		      "reset the learned delay");
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
out:
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/* VCACHE_OPT_NO_IDLE_DELAY: volatile at the last unpin, whatever the env. */
START_TEST(test_pin_no_idle_delay_flag)
{
	size_t size = 4 * pagesz;
	struct vcache_options opts;
	struct tobj t;
	vcache_object *o;
	vcache *c = NULL;

	ck_assert_int_eq(setenv("VCACHE_IDLE_DELAY_MS", "60000", 1), 0);
	vcache_options_init(&opts);
	opts.flags = VCACHE_OPT_NO_IDLE_DELAY;
	ck_assert_int_eq(vcache_new(&opts, &c), 0);
	SKIP_UNLESS_PURGING(c);
	SKIP_IF_SWAP(c);
	tobj_init(&t, 13);
	o = tobj_create(c, "no-delay", size, 0, &t);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_uint_eq(purge_range(data(o), size), size / pagesz);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE), VCACHE_PURGED);
	assert_content(o, t.seed, 0, size);
	ck_assert_int_eq(vcache_unpin(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pin");
	TCase *tc;

	tc = ttcase("explicit");
	tcase_add_test(tc, test_pin_explicit_intact);
	tcase_add_test(tc, test_pin_explicit_purged);
	tcase_add_test(tc, test_pin_explicit_regenerate);
	tcase_add_test(tc, test_pin_none_never_purges);
	suite_add_tcase(s, tc);

	tc = ttcase("subrange");
	tcase_add_test(tc, test_pin_subrange_exact);
	tcase_add_test(tc, test_pin_subrange_chunks);
	suite_add_tcase(s, tc);

	tc = ttcase("checkerboard");
	tcase_add_test(tc, test_pin_checkerboard_regenerate);
	tcase_add_test(tc, test_pin_checkerboard_refill);
	tcase_add_test(tc, test_pin_whole_regenerates_purged_only);
	suite_add_tcase(s, tc);

	tc = ttcase("nested");
	tcase_add_test(tc, test_pin_nested_whole);
	tcase_add_test(tc, test_pin_nested_ranges);
	tcase_add_test(tc, test_pin_whole_mixes_with_ranges);
	tcase_add_test(tc, test_pin_whole_outlives_deadline);
	tcase_add_test(tc, test_pin_whole_unpin_moves_deadline);
	suite_add_tcase(s, tc);

	tc = ttcase("probe");
	tcase_add_test(tc, test_pin_purged_chunk_one_signal);
	suite_add_tcase(s, tc);

	tc = ttcase("idle-delay");
	tcase_add_test(tc, test_pin_idle_delay_option);
	tcase_add_test(tc, test_pin_idle_delay_env);
	tcase_add_test(tc, test_pin_default_delay);
	tcase_add_test(tc, test_pin_no_idle_delay_flag);
	tcase_add_test(tc, test_pin_delay_learns_reuse);
	suite_add_tcase(s, tc);

	return run_suite(s);
}
