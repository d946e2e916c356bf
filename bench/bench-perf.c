/* SPDX-License-Identifier: MIT */
/*
 * bench-perf - the hot paths of issue 8, each against what a program would
 * do without the library, configurations interleaved in one run:
 *  P1  optimistic read of a resident object vs the same read of plain mmap
 *  P2  pin + check + unpin of a resident object (64 KiB, 1 MiB) at idle
 *      delay 0 and with the library's default options, vs
 *        dontneed  MADV_DONTNEED on release, refault + regenerate on use
 *        cookie    Chromium-style discardable memory: MADV_FREE on
 *                  unlock; on lock a compare-and-swap of each page's
 *                  first word (the cookie) both detects a purged page
 *                  (it reads zero) and dirties the page so it is kept
 *        droppable MAP_DROPPABLE (Linux 6.11+): no call at all, each
 *                  page's cookie checked on every use
 *  P3  the same with a 100 ms idle delay (hot cycle, syscalls)
 *  P4  fault -> regenerate one 4 KiB page, vs the floor on a stock
 *      kernel: a bare SIGBUS round trip whose handler fills the page and
 *      installs it with one UFFDIO_COPY (own userfaultfd region), and vs a
 *      plain refault + fill (no signal)
 *  P6t 2 threads vs 1 cycling pin+unpin on their own objects (and the
 *        madv_free+cookie scheme likewise: the floor of "at once")
 * Times are medians over interleaved samples with min..max; system calls
 * are counted (perf tracepoint raw_syscalls:sys_enter, all threads). Every
 * cycle checks the data it touched; mismatches are printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench-perf.h"
#include "bench-syscalls.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08 /* Linux 6.11 uapi */
#endif

struct perf_cfg perf = {
	.reps = 11, .sample_ms = 20, .backend = VCACHE_BACKEND_UFFD,
	.thread_ms = 100,
};
int perf_sc_fd = -1;
static size_t pagesz;

/* ---- the configurations of P1..P3: one "op" is one cycle ---- */

struct conf {
	const char *label;
	size_t size;
	int kind;
	unsigned int delay;        /* idle delay (vcache kinds) */
	bool defaults;             /* the library's default options */
	vcache *cache;
	vcache_object *obj;
	char *buf;                 /* plain / cookie / droppable memory */
	uint64_t seed, expect_sum;
	bool parked, skip;
	char why[128];
	uint64_t iters, bad, regen_pages, ops;
	struct perf_series s;
};

enum {
	K_PLAIN_READ, K_OPT_READ,           /* P1 */
	K_PIN, K_DONTNEED, K_COOKIE, K_DROPPABLE, /* P2, P3 */
};

/*
 * Not inlined: P1's two configurations must run the same machine code.
 * Inlined into each case of op() the two copies of this loop sat at
 * different code addresses, and one of them ran about half as fast
 * whatever memory it read (x1.9 or x1.0 from one build to the next, with
 * the library unchanged in what it does on this path).
 */
static __attribute__((noinline)) uint64_t sum_words(const void *p, size_t len)
{
	const uint64_t *w = p;
	uint64_t s = 0;

	for (size_t i = 0; i < len / 8; i++)
		s += w[i];
	return s;
}

/* Lock of the cookie schemes: the page's first word is its cookie. */
static void cookie_lock(struct conf *c, bool cas)
{
	for (size_t off = 0; off < c->size; off += pagesz) {
		uint64_t want = bench_word(c->seed, off), seen = want;
		_Atomic uint64_t *w = (_Atomic uint64_t *)(c->buf + off);
		bool ok;

		/* The CAS writes: a kept page is dirtied, so reclaim of a
		 * MADV_FREE page is cancelled; a purged one reads 0. */
		ok = cas ? atomic_compare_exchange_strong(w, &seen, want) :
			   atomic_load_explicit(w, memory_order_relaxed) == want;
		if (!ok) {
			bench_fill(c->buf + off, off, pagesz, c->seed);
			c->regen_pages++;
		}
	}
}

static void op(struct conf *c)
{
	c->ops++;
	switch (c->kind) {
	case K_PLAIN_READ:
		if (sum_words(c->buf, c->size) != c->expect_sum)
			c->bad++;
		return;
	case K_OPT_READ:
		if (sum_words(vcache_object_data(c->obj), c->size) !=
		    c->expect_sum)
			c->bad++;
		return;
	case K_PIN:
		if (vcache_pin(c->obj, VCACHE_PIN_REGENERATE) < 0)
			c->bad++;
		c->bad += bench_check_pages(vcache_object_data(c->obj), 0,
					    c->size, c->seed);
		if (vcache_unpin(c->obj) < 0)
			c->bad++;
		return;
	case K_DONTNEED:
		bench_fill(c->buf, 0, c->size, c->seed); /* refault + regen */
		c->bad += bench_check_pages(c->buf, 0, c->size, c->seed);
		madvise(c->buf, c->size, MADV_DONTNEED);
		return;
	case K_COOKIE:
		cookie_lock(c, true);
		c->bad += bench_check_pages(c->buf, 0, c->size, c->seed);
		madvise(c->buf, c->size, MADV_FREE);
		return;
	case K_DROPPABLE:
		cookie_lock(c, false);
		c->bad += bench_check_pages(c->buf, 0, c->size, c->seed);
		return;
	}
}

/* Objects are left pinned between their samples ("parked"), so that no
 * idle deadline is pending and the library's thread stays asleep while
 * another configuration is measured. */
static void park(struct conf *c, bool on)
{
	if (c->kind != K_PIN || c->parked == on)
		return;
	if (on)
		vcache_pin(c->obj, VCACHE_PIN_REGENERATE);
	else
		vcache_unpin(c->obj);
	c->parked = on;
}

static char *map_anon(size_t size, int type)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       type | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void setup(struct conf *c)
{
	struct vcache_options o;
	int r;

	c->seed = 0x1234 + c->size + (uint64_t)c->kind * 7 + c->delay;
	if (c->kind == K_PLAIN_READ || c->kind == K_DONTNEED ||
	    c->kind == K_COOKIE || c->kind == K_DROPPABLE) {
		c->buf = map_anon(c->size, c->kind == K_DROPPABLE ?
				  MAP_DROPPABLE : MAP_PRIVATE);
		if (!c->buf) {
			c->skip = true;
			snprintf(c->why, sizeof(c->why), "mmap%s: %s",
				 c->kind == K_DROPPABLE ? "(MAP_DROPPABLE)" :
				 "", strerror(errno));
			return;
		}
		bench_fill(c->buf, 0, c->size, c->seed);
		c->expect_sum = sum_words(c->buf, c->size);
		if (c->kind == K_COOKIE)
			madvise(c->buf, c->size, MADV_FREE);
		return;
	}
	vcache_options_init(&o);
	o.backend = perf.backend;
	if (!c->defaults)
		o.idle_delay_ms = c->delay;
	/* Delay 0 is "at once"; an unset delay is the library's default. */
	if (!c->defaults && !c->delay)
		o.flags |= VCACHE_OPT_NO_IDLE_DELAY;
	r = vcache_new(&o, &c->cache);
	if (r == 0)
		r = vcache_object_create(c->cache, "perf", c->size, 0,
					 bench_regen, &c->seed, 0, &c->obj);
	if (r < 0) {
		c->skip = true;
		snprintf(c->why, sizeof(c->why), "%s", strerror(-r));
		return;
	}
	c->expect_sum = 0;
	vcache_pin(c->obj, VCACHE_PIN_REGENERATE);
	c->expect_sum = sum_words(vcache_object_data(c->obj), c->size);
	c->parked = true;
	if (c->kind == K_OPT_READ) { /* read optimistically: volatile */
		vcache_unpin(c->obj);
		c->parked = false;
	}
}

static void teardown(struct conf *c)
{
	if (c->obj) {
		if (c->parked)
			vcache_unpin(c->obj);
		vcache_object_remove(c->obj);
		vcache_object_unref(c->obj);
	}
	if (c->cache)
		vcache_free(c->cache);
	if (c->buf)
		munmap(c->buf, c->size);
}

static void calibrate(struct conf *c)
{
	uint64_t n = 1, t0, t1;

	park(c, false);
	for (int i = 0; i < 3; i++)
		op(c);
	for (;;) {
		t0 = bench_now_ns();
		for (uint64_t i = 0; i < n; i++)
			op(c);
		t1 = bench_now_ns();
		if ((double)(t1 - t0) >= perf.sample_ms * 1e5 || n >= 1000000)
			break;
		n *= 2;
	}
	c->iters = (uint64_t)((double)n * perf.sample_ms * 1e6 /
			      (double)(t1 - t0 + 1));
	c->iters = c->iters < 1 ? 1 : c->iters > 4000000 ? 4000000 : c->iters;
	park(c, true);
}

static void sample(struct conf *c, unsigned int r)
{
	uint64_t t0, t1, sc0, sc1;

	park(c, false);
	op(c); /* untimed: the steady state is what we time */
	sc0 = bench_syscalls_read(perf_sc_fd);
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < c->iters; i++)
		op(c);
	t1 = bench_now_ns();
	sc1 = bench_syscalls_read(perf_sc_fd);
	park(c, true);
	perf_series_add(&c->s, r, (double)(t1 - t0) / (double)c->iters,
			sc0, sc1, c->iters);
}

static void run_group(const char *title, struct conf *cs, size_t n)
{
	printf("\n## %s\n", title);
	for (size_t i = 0; i < n; i++) {
		setup(&cs[i]);
		if (!cs[i].skip)
			calibrate(&cs[i]);
	}
	for (unsigned int r = 0; r < perf.reps; r++)
		for (size_t i = 0; i < n; i++)
			if (!cs[i].skip)
				sample(&cs[i], r);
	for (size_t i = 0; i < n; i++) {
		if (cs[i].skip) {
			printf("  %-30s skipped: %s\n", cs[i].label, cs[i].why);
			continue;
		}
		perf_series_print(cs[i].label, &cs[i].s, cs[i].iters);
		printf("      data: %llu bad of %llu checked cycles",
		       (unsigned long long)cs[i].bad,
		       (unsigned long long)cs[i].ops);
		if (cs[i].kind == K_COOKIE || cs[i].kind == K_DROPPABLE)
			printf(", %llu pages found purged and regenerated",
			       (unsigned long long)cs[i].regen_pages);
		printf("\n");
	}
}

static void ratio(const char *what, struct conf *a, struct conf *b)
{
	if (a->skip || b->skip)
		printf("  RATIO %-44s n/a (%s skipped)\n", what,
		       a->skip ? a->label : b->label);
	else
		perf_ratio(what, &a->s, &b->s);
}

static void p1(void)
{
	struct conf c[] = {
		{ .label = "plain mmap read 1 MiB", .size = BENCH_MIB,
		  .kind = K_PLAIN_READ },
		{ .label = "optimistic read 1 MiB", .size = BENCH_MIB,
		  .kind = K_OPT_READ },
	};

	run_group("P1: optimistic read of a resident object (sum of every "
		  "word, checked) vs plain mmap", c, 2);
	ratio("P1 optimistic / plain", &c[1], &c[0]);
	for (size_t i = 0; i < 2; i++)
		teardown(&c[i]);
}

static void p2(size_t size)
{
	char title[160];
	struct conf c[] = {
		{ .label = "vcache pin+unpin delay 0", .kind = K_PIN },
		{ .label = "vcache pin+unpin defaults", .kind = K_PIN,
		  .defaults = true },
		{ .label = "vcache pin+unpin delay 100", .kind = K_PIN,
		  .delay = 100 },
		{ .label = "dontneed+refault+regen", .kind = K_DONTNEED },
		{ .label = "madv_free+cookie", .kind = K_COOKIE },
		{ .label = "map_droppable+cookie", .kind = K_DROPPABLE },
	};
	size_t n = sizeof(c) / sizeof(c[0]);
	char w[96];

	for (size_t i = 0; i < n; i++)
		c[i].size = size;
	snprintf(title, sizeof(title), "P2/P3: lock + check one word per page "
		 "+ unlock of a resident %zu KiB object (backend %s)",
		 size / BENCH_KIB, vcache_backend_name(perf.backend));
	run_group(title, c, n);
	for (size_t i = 0; i < n; i++) {
		if (i == 3)
			continue;
		snprintf(w, sizeof(w), "P2 %zuK %s / dontneed", size / BENCH_KIB,
			 c[i].label);
		ratio(w, &c[i], &c[3]);
	}
	for (size_t i = 0; i < n; i++)
		teardown(&c[i]);
}

/* ---- P6t: threads ---- */

struct thr {
	pthread_t t;
	vcache_object *obj;
	char *buf; /* the cookie scheme's memory instead of obj */
	uint64_t seed, cycles, bad;
	pthread_barrier_t *bar;
	atomic_bool *stop;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	/* Counted on the stack: two threads' counters in one cache line
	 * would measure the benchmark's false sharing, not the library. */
	uint64_t cycles = 0, bad = 0;

	pthread_barrier_wait(t->bar);
	while (!atomic_load_explicit(t->stop, memory_order_relaxed)) {
		if (t->buf) { /* P2's madv_free+cookie, per thread */
			struct conf k = { .size = 64 * BENCH_KIB,
					  .buf = t->buf, .seed = t->seed };

			cookie_lock(&k, true);
			bad += bench_check_pages(t->buf, 0, k.size, t->seed);
			madvise(t->buf, k.size, MADV_FREE);
			cycles++;
			continue;
		}
		if (vcache_pin(t->obj, VCACHE_PIN_REGENERATE) < 0)
			bad++;
		bad += bench_check_pages(vcache_object_data(t->obj), 0,
					 64 * BENCH_KIB, t->seed);
		vcache_unpin(t->obj);
		cycles++;
	}
	t->cycles = cycles;
	t->bad = bad;
	return NULL;
}

struct tconf {
	const char *label;
	unsigned int nthreads, delay;
	bool defaults, cookie;
	vcache *cache;
	vcache_object *obj[2];
	char *buf[2]; /* cookie */
	uint64_t seed[2], bad;
	double tput[PERF_MAX_REPS]; /* cycles per second, all threads */
	bool skip;
	char why[96];
};

static void tsample(struct tconf *c, unsigned int r)
{
	struct thr t[2];
	pthread_barrier_t bar;
	atomic_bool stop = false;
	uint64_t t0, t1, cycles = 0;

	pthread_barrier_init(&bar, NULL, c->nthreads + 1);
	for (unsigned int i = 0; i < c->nthreads; i++) {
		t[i] = (struct thr){ .obj = c->obj[i], .buf = c->buf[i],
				     .seed = c->seed[i], .bar = &bar,
				     .stop = &stop };
		if (c->obj[i])
			vcache_unpin(c->obj[i]); /* parked pinned between samples */
		pthread_create(&t[i].t, NULL, thr_main, &t[i]);
	}
	pthread_barrier_wait(&bar);
	t0 = bench_now_ns();
	usleep(perf.thread_ms * 1000);
	atomic_store(&stop, true);
	for (unsigned int i = 0; i < c->nthreads; i++) {
		pthread_join(t[i].t, NULL);
		cycles += t[i].cycles;
		c->bad += t[i].bad;
		if (c->obj[i])
			vcache_pin(c->obj[i], VCACHE_PIN_REGENERATE);
	}
	t1 = bench_now_ns();
	pthread_barrier_destroy(&bar);
	c->tput[r] = (double)cycles * 1e9 / (double)(t1 - t0);
}

static void p6_threads(void)
{
	struct tconf c[] = {
		{ .label = "1 thread, delay 0", .nthreads = 1 },
		{ .label = "2 threads, delay 0", .nthreads = 2 },
		{ .label = "1 thread, delay 100", .nthreads = 1, .delay = 100 },
		{ .label = "2 threads, delay 100", .nthreads = 2, .delay = 100 },
		{ .label = "1 thread, defaults", .nthreads = 1, .defaults = true },
		{ .label = "2 threads, defaults", .nthreads = 2, .defaults = true },
		/*
		 * The floor of "at once" on two CPUs: MADV_FREE of memory
		 * another thread of the process may have in its TLB costs
		 * a shootdown whoever issues it.
		 */
		{ .label = "1 thread, madv_free+cookie", .nthreads = 1,
		  .cookie = true },
		{ .label = "2 threads, madv_free+cookie", .nthreads = 2,
		  .cookie = true },
	};
	size_t n = sizeof(c) / sizeof(c[0]);

	printf("\n## P6t: pin + check + unpin of a 64 KiB object per thread, "
	       "throughput over %u ms samples (cycles/s, all threads; %ld "
	       "online CPUs)\n", perf.thread_ms, sysconf(_SC_NPROCESSORS_ONLN));
	for (size_t i = 0; i < n; i++) {
		struct vcache_options o;
		int r;

		vcache_options_init(&o);
		o.backend = perf.backend;
		if (!c[i].defaults)
			o.idle_delay_ms = c[i].delay;
		if (!c[i].defaults && !c[i].delay)
			o.flags |= VCACHE_OPT_NO_IDLE_DELAY;
		if (c[i].cookie) {
			for (unsigned int k = 0; k < c[i].nthreads; k++) {
				void *p = mmap(NULL, 64 * BENCH_KIB,
					       PROT_READ | PROT_WRITE,
					       MAP_PRIVATE | MAP_ANONYMOUS, -1,
					       0);

				c[i].seed[k] = 77 + i * 2 + k;
				c[i].buf[k] = p == MAP_FAILED ? NULL : p;
				if (!c[i].buf[k]) {
					c[i].skip = true;
					snprintf(c[i].why, sizeof(c[i].why),
						 "mmap: %s", strerror(errno));
				}
			}
			continue;
		}
		r = vcache_new(&o, &c[i].cache);
		for (unsigned int k = 0; r == 0 && k < c[i].nthreads; k++) {
			char name[16];

			c[i].seed[k] = 77 + i * 2 + k;
			snprintf(name, sizeof(name), "t%u", k);
			r = vcache_object_create(c[i].cache, name,
						 64 * BENCH_KIB, 0, bench_regen,
						 &c[i].seed[k], 0, &c[i].obj[k]);
			if (r == 0)
				vcache_pin(c[i].obj[k], VCACHE_PIN_REGENERATE);
		}
		if (r < 0) {
			c[i].skip = true;
			snprintf(c[i].why, sizeof(c[i].why), "%s", strerror(-r));
		}
	}
	for (unsigned int r = 0; r < perf.reps; r++)
		for (size_t i = 0; i < n; i++)
			if (!c[i].skip)
				tsample(&c[i], r);
	for (size_t i = 0; i < n; i++) {
		struct bench_summary s;

		if (c[i].skip) {
			printf("  %-30s skipped: %s\n", c[i].label, c[i].why);
			continue;
		}
		s = bench_summarize(c[i].tput, perf.reps);
		printf("  %-30s %10.0f cycles/s [%.0f..%.0f]; data: %llu bad\n",
		       c[i].label, s.median, s.min, s.max,
		       (unsigned long long)c[i].bad);
	}
	for (size_t i = 0; i + 1 < n; i += 2) {
		if (c[i].skip || c[i + 1].skip)
			continue;
		printf("  RATIO P6 2 threads / 1 thread throughput, %-12s x%.2f\n",
		       c[i].label + 10,
		       bench_summarize(c[i + 1].tput, perf.reps).median /
		       bench_summarize(c[i].tput, perf.reps).median);
	}
	for (size_t i = 0; i < n; i++) {
		for (unsigned int k = 0; k < 2; k++)
			if (c[i].buf[k])
				munmap(c[i].buf[k], 64 * BENCH_KIB);
		for (unsigned int k = 0; k < 2; k++)
			if (c[i].obj[k]) {
				vcache_unpin(c[i].obj[k]);
				vcache_object_remove(c[i].obj[k]);
				vcache_object_unref(c[i].obj[k]);
			}
		if (c[i].cache)
			vcache_free(c[i].cache);
	}
}

static void usage(const char *argv0)
{
	printf("usage: %s [--only P1,P2,P4,P6t] [--backend uffd|vrange|none]\n"
	       "  [--reps N] [--sample-ms N] [--faults N] [--thread-ms N] "
	       "[--quick] [--cheap]\n"
	       "defaults: all parts, uffd, 11 reps, 20 ms samples, 200 faults "
	       "per sample, 100 ms thread samples\n", argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "only", required_argument, NULL, 'o' },
		{ "backend", required_argument, NULL, 'b' },
		{ "reps", required_argument, NULL, 'r' },
		{ "sample-ms", required_argument, NULL, 's' },
		{ "faults", required_argument, NULL, 'f' },
		{ "thread-ms", required_argument, NULL, 't' },
		{ "quick", no_argument, NULL, 'q' },
		{ "cheap", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *only = "P1,P2,P4,P6t", *reason;
	int o;

	perf.faults = 200;
	while ((o = getopt_long(argc, argv, "o:b:r:s:f:t:qCh", opts,
				NULL)) != -1) {
		unsigned long v = optarg ? strtoul(optarg, NULL, 0) : 0;

		switch (o) {
		case 'o': only = optarg; break;
		case 'b':
			if (bench_parse_backend(optarg, &perf.backend) < 0) {
				usage(argv[0]);
				return 2;
			}
			break;
		case 'r': perf.reps = (unsigned int)v; break;
		case 's': perf.sample_ms = (unsigned int)v; break;
		case 'f': perf.faults = (unsigned int)v; break;
		case 't': perf.thread_ms = (unsigned int)v; break;
		case 'q':
			perf.reps = 5, perf.sample_ms = 5, perf.faults = 50;
			perf.thread_ms = 50;
			break;
		case 'C': bench_set_cheap_content(true); break;
		default:
			usage(argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	if (perf.reps < 1 || perf.reps > PERF_MAX_REPS || !perf.sample_ms ||
	    !perf.faults || !perf.thread_ms) {
		printf("reps 1..%d; sample, faults, thread-ms > 0\n",
		       PERF_MAX_REPS);
		return 2;
	}
	pagesz = bench_page_size();
	bench_print_context("bench-perf: issue 8 hot paths (P1 P2 P3 P4 P6t)",
			    argc, argv);
	perf_sc_fd = bench_syscalls_open(&reason);
	if (perf_sc_fd < 0)
		printf("# syscalls: n/a (%s)\n", reason);
	else
		printf("# syscalls counted with perf tracepoint "
		       "raw_syscalls:sys_enter, all threads; 'sc' = per op\n");
	printf("# %u interleaved samples of ~%u ms per configuration; median "
	       "[min..max]; RATIO lines are ratios of medians\n",
	       perf.reps, perf.sample_ms);
	printf("# \"defaults\": vcache_options_init() + backend only "
	       "(VCACHE_IDLE_DELAY_MS %s%s)\n",
	       getenv("VCACHE_IDLE_DELAY_MS") ? "=" : "unset",
	       getenv("VCACHE_IDLE_DELAY_MS") ? getenv("VCACHE_IDLE_DELAY_MS") :
	       "");
	if (bench_backend_usable(perf.backend, &reason) < 0) {
		printf("# backend %s skipped: %s\n",
		       vcache_backend_name(perf.backend), reason);
		return 0;
	}
	if (strstr(only, "P1"))
		p1();
	if (strstr(only, "P2")) {
		p2(64 * BENCH_KIB);
		p2(BENCH_MIB);
	}
	if (strstr(only, "P4"))
		perf_fault();
	if (strstr(only, "P6t"))
		p6_threads();
	return 0;
}
