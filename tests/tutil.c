/* SPDX-License-Identifier: MIT */
/*
 * tutil.c - deterministic contents, the test regeneration callback, cache
 * helpers, child processes and the suite runner.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"

size_t pagesz;

/* splitmix64's finaliser: every output bit depends on every input bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t gen_word(uint64_t seed, size_t word)
{
	return mix64(seed * 0x9e3779b97f4a7c15ULL + word + 1);
}

uint8_t gen_byte(uint64_t seed, size_t offset)
{
	return gen_word(seed, offset / 8) >> (8 * (offset % 8));
}

void gen_fill(void *dst, uint64_t seed, size_t offset, size_t length)
{
	uint8_t *d = dst;
	size_t i = 0;

	/* Byte by byte up to a word boundary of the object offset. */
	for (; i < length && (offset + i) % 8; i++)
		d[i] = gen_byte(seed, offset + i);
	for (; i + 8 <= length; i += 8) {
		uint64_t w = gen_word(seed, (offset + i) / 8);

		memcpy(d + i, &w, 8);
	}
	for (; i < length; i++)
		d[i] = gen_byte(seed, offset + i);
}

size_t gen_check(const void *src, uint64_t seed, size_t offset,
		 size_t length)
{
	const uint8_t *s = src;
	size_t i = 0;

	for (; i < length && (offset + i) % 8; i++)
		if (s[i] != gen_byte(seed, offset + i))
			return i;
	for (; i + 8 <= length; i += 8) {
		uint64_t w = gen_word(seed, (offset + i) / 8), v;

		memcpy(&v, s + i, 8);
		if (v != w)
			break;
	}
	for (; i < length; i++)
		if (s[i] != gen_byte(seed, offset + i))
			return i;
	return SIZE_MAX;
}

void tobj_init(struct tobj *t, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->seed = seed;
}

/* Objects purge_range() can find by address (soft backend); lock-free. */
#define TREG_MAX 8192
static vcache_object *_Atomic treg[TREG_MAX];
static atomic_size_t treg_n;

void treg_add(vcache_object *object)
{
	size_t n = atomic_load(&treg_n), i;

	for (i = 0; i < n && i < TREG_MAX; i++)
		if (atomic_load(&treg[i]) == object)
			return;
	i = atomic_fetch_add(&treg_n, 1);
	if (i < TREG_MAX)
		atomic_store(&treg[i], object);
}

/* Call fn on each live registered object overlapping [addr, addr + len). */
void treg_each(const void *addr, size_t len,
	       void (*fn)(vcache_object *o, size_t off, size_t len, void *arg),
	       void *arg)
{
	uintptr_t a = (uintptr_t)addr, e = a + len;
	size_t n = atomic_load(&treg_n);

	for (size_t i = 0; i < n && i < TREG_MAX; i++) {
		vcache_object *o = atomic_load(&treg[i]);
		uintptr_t s = (uintptr_t)vcache_object_data(o);
		uintptr_t oe = s + vcache_object_size(o);

		if (!s || oe <= a || s >= e)
			continue;
		/* Duplicates (a slot reused by a new object) are harmless. */
		fn(o, (a > s ? a : s) - s, (e < oe ? e : oe) - (a > s ? a : s),
		   arg);
	}
}

/*
 * Runs in signal context for optimistic faults: only atomics, the
 * async-signal-safe accessors and nanosleep().
 */
int tobj_regen(vcache_object *object, void *dst, size_t offset,
	       size_t length, void *userdata)
{
	struct tobj *t = userdata;
	size_t chunk = vcache_object_chunk_size(object);
	size_t size = vcache_object_size(object);
	size_t expect;
	int fail;

	atomic_fetch_add(&t->calls, 1);
	if (offset == 0)
		treg_add(object);
	/* The contract: chunk-aligned, a chunk or the shorter last one. */
	expect = size - offset < chunk ? size - offset : chunk;
	if (!chunk || offset % chunk || offset >= size ||
	    (length != expect && length != chunk))
		atomic_fetch_add(&t->bad_args, 1);
	if (t->chunk_calls && chunk && offset / chunk < t->nchunks)
		atomic_fetch_add(&t->chunk_calls[offset / chunk], 1);
	fail = atomic_load(&t->fail);
	if (fail)
		return fail;
	if (t->sleep_ns) {
		struct timespec ts = { 0, t->sleep_ns };

		nanosleep(&ts, NULL);
	}
	gen_fill(dst, t->seed, offset, length);
	return 0;
}

vcache_object *tobj_create(vcache *cache, const char *name, size_t size,
			   size_t chunk_size, struct tobj *t)
{
	vcache_object *o = NULL;
	int r;

	r = vcache_object_create(cache, name, size, chunk_size, tobj_regen, t,
				 0, &o);
	ck_assert_msg(r == 0, "vcache_object_create(%s): %d (%s)", name, r,
		      strerror(-r));
	ck_assert_ptr_nonnull(o);
	return o;
}

void assert_content(vcache_object *object, uint64_t seed, size_t offset,
		    size_t length)
{
	const uint8_t *p = vcache_object_data(object);
	size_t bad;

	ck_assert_ptr_nonnull(p);
	bad = gen_check(p + offset, seed, offset, length);
	ck_assert_msg(bad == SIZE_MAX,
		      "%s: wrong byte at offset %zu: 0x%02x, expected 0x%02x",
		      vcache_object_name(object), offset + bad,
		      p[offset + bad], gen_byte(seed, offset + bad));
}

static vcache *tcache_new_opts(const struct vcache_options *opts)
{
	vcache *c = NULL;
	int r = vcache_new(opts, &c);

	ck_assert_msg(r == 0, "vcache_new: %d (%s)", r, strerror(-r));
	ck_assert_ptr_nonnull(c);
	return c;
}

vcache *tcache_new(void)
{
	return tcache_new_opts(NULL);
}

vcache *tcache_new_delay(unsigned int idle_delay_ms)
{
	struct vcache_options o;

	vcache_options_init(&o);
	o.idle_delay_ms = idle_delay_ms;
	return tcache_new_opts(&o);
}

bool tcache_purges(const vcache *cache)
{
	return vcache_backend(cache) != VCACHE_BACKEND_NONE;
}

void tcache_free(vcache *cache)
{
	int r = vcache_free(cache);

	ck_assert_msg(r == 0, "vcache_free: %d (%s)", r, strerror(-r));
}

int run_in_child(int (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(arg));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

TCase *ttcase(const char *name)
{
	TCase *tc = tcase_create(name);

	/* Slow under TCG and sanitizers; no test relies on being fast. */
	tcase_set_timeout(tc, 300);
	return tc;
}

/*
 * A suite run for a forced backend that this system refuses would fail
 * every test for a reason that is not a bug: report it as skipped.
 */
static bool forced_backend_refused(void)
{
	const char *env = getenv("VCACHE_BACKEND");
	vcache *c = NULL;
	int r;

	if (!env || !*env)
		return false;
	r = vcache_new(NULL, &c);
	if (r == 0) {
		printf("backend: %s (VCACHE_BACKEND=%s)\n",
		       vcache_backend_name(vcache_backend(c)), env);
		vcache_free(c);
		return false;
	}
	printf("SKIP: VCACHE_BACKEND=%s refused on this system: %s\n", env,
	       strerror(-r));
	return true;
}

static void bind_to_one_cpu(void)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set); cpu++)
		;
	if (cpu == CPU_SETSIZE)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0)
		printf("bound to CPU %d (see run_suite() in tutil.h)\n", cpu);
}

static int run(Suite *suite, bool smp)
{
	SRunner *sr;
	int failed;

	pagesz = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/*
	 * Tests purge right after an unpin or a fault and expect the chunks
	 * volatile at once: the library's default idle delay would keep them
	 * (vcache.h). The tests of the default itself unset this.
	 */
	setenv("VCACHE_IDLE_DELAY_MS", "0", 0);
	if (!smp)
		bind_to_one_cpu();
	sr = srunner_create(suite);
	if (forced_backend_refused()) {
		srunner_free(sr);
		return EXIT_SKIP;
	}
	(void)backend_is_soft(); /* before any test restricts its process */
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int run_suite(Suite *suite)
{
	return run(suite, false);
}

int run_suite_smp(Suite *suite)
{
	return run(suite, true);
}

/*
 * Nothing depends on how soon. The polling must not itself purge:
 * MADV_FREE silently skips a page that reclaim has isolated at that
 * moment, so purging while the idle thread marks the pages would make a
 * test race with itself.
 */
bool wait_bytes_volatile(vcache *cache, size_t size, unsigned int poll_us,
			 unsigned int polls)
{
	struct timespec ts = { 0, (long)poll_us * 1000 };
	struct vcache_stats st;

	for (unsigned int i = 0; i < polls; i++) {
		ck_assert_int_eq(vcache_stats_get(cache, &st, sizeof(st)), 0);
		if (st.bytes_volatile >= size)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}
