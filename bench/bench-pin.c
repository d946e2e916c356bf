/* SPDX-License-Identifier: MIT */
/*
 * bench-pin - what a pin/unpin cycle costs.
 *
 * For objects of 64 KiB, 1 MiB and 16 MiB, side by side in one run:
 *  - plain memory (the baseline: no pin at all, the data is just read),
 *  - each backend (none, uffd, vrange where available) with an idle delay
 *    of 0 ms (volatile again at every unpin) and 100 ms (a hot object
 *    pinned again within the delay should cost no system call).
 * Two workloads per configuration: a bare pin+unpin cycle, and
 * pin + read one word of every page + unpin, whose plain-memory
 * counterpart is just the read. System calls per cycle are counted with a
 * perf tracepoint where the kernel allows it, so "no system call" is shown
 * rather than inferred from timing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench-syscalls.h"
#include "bench-util.h"

#define MAX_SAMPLES 101

static unsigned int reps = 11;
static size_t chunk_size; /* 0: the page size */
static double target_ns = 20e6; /* per sample */
static int sc_fd = -1;

struct ctx {
	vcache_object *obj; /* NULL: plain memory */
	char *data;
	size_t size;
	uint64_t seed;
	unsigned long purged; /* pins that reported a purge */
	unsigned long bad;    /* pages whose content was wrong */
	int error;            /* first negative errno seen */
	bool parked;          /* held pinned between its samples */
};

typedef void (*cycle_fn)(struct ctx *c);

static void pin(struct ctx *c)
{
	int r = vcache_pin(c->obj, VCACHE_PIN_REGENERATE);

	if (r < 0 && !c->error)
		c->error = r;
	c->purged += r == VCACHE_PURGED;
}

static void unpin(struct ctx *c)
{
	int r = vcache_unpin(c->obj);

	if (r < 0 && !c->error)
		c->error = r;
}

static void cycle_pin_unpin(struct ctx *c)
{
	pin(c);
	unpin(c);
}

static void cycle_pin_read_unpin(struct ctx *c)
{
	pin(c);
	c->bad += bench_check_pages(c->data, 0, c->size, c->seed);
	unpin(c);
}

static void cycle_read(struct ctx *c)
{
	c->bad += bench_check_pages(c->data, 0, c->size, c->seed);
}

/*
 * A slot is one (configuration, workload) pair. All slots of an object
 * size are sampled interleaved, one sample each per round, so that load
 * from elsewhere on the machine falls on all of them alike.
 */
struct slot {
	struct ctx *c;
	cycle_fn fn;
	uint64_t iters;           /* cycles per sample */
	double ns[MAX_SAMPLES];   /* per cycle */
	uint64_t sc, sc_cycles;   /* syscalls counted, over cycles */
	bool sc_ok;
};

static void park(struct ctx *c, bool on);

/*
 * Warm up, then size a sample to last about target_ns: double the cycle
 * count until a run takes a tenth of that. One timed cycle is not enough,
 * the clock may tick in jiffies (a guest without TSC reads 4 ms steps).
 */
static void calibrate(struct slot *s)
{
	uint64_t n = 1, t0, t1;

	park(s->c, false);
	for (int i = 0; i < 3; i++)
		s->fn(s->c);
	for (;;) {
		t0 = bench_now_ns();
		for (uint64_t i = 0; i < n; i++)
			s->fn(s->c);
		t1 = bench_now_ns();
		if ((double)(t1 - t0) >= target_ns / 10 || n >= 1000000)
			break;
		n *= 2;
	}
	s->iters = (uint64_t)((double)n * target_ns / (double)(t1 - t0 + 1));
	s->iters = s->iters < 1 ? 1 : s->iters > 2000000 ? 2000000 : s->iters;
	s->sc_ok = sc_fd >= 0;
	park(s->c, true);
}

/*
 * Between its samples an object is left pinned ("parked"): no deadline is
 * pending, so its idle thread stays asleep and neither its CPU time nor
 * its system calls land in another configuration's sample.
 */
static void park(struct ctx *c, bool on)
{
	if (!c->obj || c->parked == on)
		return;
	if (on)
		pin(c);
	else
		unpin(c);
	c->parked = on;
}

static void sample(struct slot *s, unsigned int r)
{
	uint64_t t0, t1, sc0, sc1;

	park(s->c, false);
	/* One untimed cycle first: the steady state is what we time. */
	s->fn(s->c);
	sc0 = bench_syscalls_read(sc_fd);
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < s->iters; i++)
		s->fn(s->c);
	t1 = bench_now_ns();
	sc1 = bench_syscalls_read(sc_fd);
	park(s->c, true);
	s->ns[r] = (double)(t1 - t0) / (double)s->iters;
	if (sc0 == UINT64_MAX || sc1 == UINT64_MAX) {
		s->sc_ok = false;
	} else {
		/* -1: the read(2) of the counter counts itself once. */
		s->sc += sc1 - sc0 - 1;
		s->sc_cycles += s->iters;
	}
}

/*
 * Syscalls of pin and of unpin apart, over n cycles. The idle thread runs
 * asynchronously, so its calls land in whichever window they fall in.
 */
static void count_split(struct ctx *c, unsigned int n, double *ret_pin,
			double *ret_unpin)
{
	uint64_t p = 0, u = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t a = bench_syscalls_read(sc_fd);

		pin(c);
		uint64_t b = bench_syscalls_read(sc_fd);

		unpin(c);
		uint64_t e = bench_syscalls_read(sc_fd);

		/* Each read(2) of the counter counts itself once. */
		p += b - a - 1;
		u += e - b - 1;
	}
	*ret_pin = (double)p / n;
	*ret_unpin = (double)u / n;
}

/* --csv: one line per configuration and object size, for bench/plot.sh. */
static FILE *csv;

static void csv_row(size_t size, const char *config, unsigned int delay,
		    struct slot *bare, struct slot *used)
{
	struct bench_summary a = bench_summarize(bare->ns, reps);
	struct bench_summary b = bench_summarize(used->ns, reps);

	if (csv)
		fprintf(csv, "%zu,%s,%u,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n",
			size / BENCH_KIB, config, delay, a.median, a.min,
			a.max, b.median, b.min, b.max);
}

static double print_cell(struct slot *s)
{
	struct bench_summary sm = bench_summarize(s->ns, reps);
	char a[32], b[32], m[32];

	printf(" %10s [%s..%s]", bench_fmt_ns(m, sizeof(m), sm.median),
	       bench_fmt_ns(a, sizeof(a), sm.min),
	       bench_fmt_ns(b, sizeof(b), sm.max));
	if (s->sc_ok && s->sc_cycles)
		printf(" %7.2f sc", (double)s->sc / (double)s->sc_cycles);
	else
		printf("    n/a sc");
	return sm.median;
}

/* One backend at one idle delay: a cache with one object. */
struct config {
	enum vcache_backend be;
	unsigned int delay;
	vcache *cache;
	struct ctx c;
	struct slot bare, used;
};

static int config_setup(struct config *k, size_t size)
{
	vcache_object *obj = NULL;
	int r;

	k->c.seed = size ^ k->delay ^ ((uint64_t)k->be << 32);
	r = bench_cache_new(k->be, k->delay, &k->cache);
	if (r == 0)
		r = vcache_object_create(k->cache, "bench", size, chunk_size,
					 bench_regen, &k->c.seed, 0, &obj);
	if (r < 0) {
		printf("  %s, delay %u ms: setup failed: %s\n",
		       vcache_backend_name(k->be), k->delay, strerror(-r));
		vcache_free(k->cache);
		k->cache = NULL;
		return r;
	}
	k->c.obj = obj;
	k->c.data = vcache_object_data(obj);
	k->c.size = size;
	k->bare = (struct slot){ .c = &k->c, .fn = cycle_pin_unpin };
	k->used = (struct slot){ .c = &k->c, .fn = cycle_pin_read_unpin };
	return 0;
}

static void config_teardown(struct config *k)
{
	park(&k->c, false);
	vcache_object_remove(k->c.obj);
	vcache_object_unref(k->c.obj);
	vcache_free(k->cache);
}

#define MAX_CONFIGS 6

static void run_size(size_t size, const enum vcache_backend *bes, size_t nbe,
		     const unsigned int *delays, size_t ndelays)
{
	struct ctx pc = { .size = size, .seed = size };
	struct slot plain = { .c = &pc, .fn = cycle_read };
	struct slot *slots[1 + 2 * MAX_CONFIGS];
	struct config ks[MAX_CONFIGS];
	size_t nk = 0, ns = 0, cs;
	double plain_ns;

	cs = chunk_size ? chunk_size : bench_page_size();
	printf("\n## object %zu KiB (%zu pages, %zu chunks)\n",
	       size / BENCH_KIB, size / bench_page_size(),
	       (size + cs - 1) / cs);
	for (size_t b = 0; b < nbe; b++) {
		const char *reason;

		if (bench_backend_usable(bes[b], &reason) < 0) {
			printf("  %-22s skipped: %s\n",
			       vcache_backend_name(bes[b]), reason);
			continue;
		}
		for (size_t d = 0; d < ndelays && nk < MAX_CONFIGS; d++) {
			memset(&ks[nk], 0, sizeof(ks[nk]));
			ks[nk].be = bes[b];
			ks[nk].delay = delays[d];
			if (config_setup(&ks[nk], size) == 0)
				nk++;
		}
	}
	pc.data = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pc.data == MAP_FAILED) {
		perror("mmap");
		for (size_t k = 0; k < nk; k++)
			config_teardown(&ks[k]);
		return;
	}
	bench_fill(pc.data, 0, size, pc.seed);

	slots[ns++] = &plain;
	for (size_t k = 0; k < nk; k++) {
		slots[ns++] = &ks[k].bare;
		slots[ns++] = &ks[k].used;
	}
	for (size_t i = 0; i < ns; i++)
		calibrate(slots[i]);
	for (unsigned int r = 0; r < reps; r++)
		for (size_t i = 0; i < ns; i++)
			sample(slots[i], r);

	printf("  %-22s %-34s %-34s %s\n", "configuration",
	       "pin+unpin: median [min..max] sc/cycle",
	       "pin+read+unpin: median [min..max]", "vs plain read");
	printf("  %-22s %34s", "plain memory", "(nothing to do)      ");
	plain_ns = print_cell(&plain);
	printf("  x1.00\n");
	csv_row(size, "plain", 0, &plain, &plain);
	munmap(pc.data, size);
	if (pc.bad)
		printf("  !! plain memory: %lu bad pages\n", pc.bad);

	for (size_t k = 0; k < nk; k++) {
		struct config *kk = &ks[k];
		char label[32];
		double used;

		snprintf(label, sizeof(label), "%s, delay %u ms",
			 vcache_backend_name(kk->be), kk->delay);
		printf("  %-22s", label);
		print_cell(&kk->bare);
		used = print_cell(&kk->used);
		printf("  x%.2f\n", used / plain_ns);
		csv_row(size, vcache_backend_name(kk->be), kk->delay,
			&kk->bare, &kk->used);
		if (sc_fd >= 0) {
			/* As many cycles as one sample, 20..1000. */
			uint64_t n = kk->bare.iters;
			double sp, su;

			n = n < 20 ? 20 : n > 1000 ? 1000 : n;
			park(&kk->c, false);
			count_split(&kk->c, (unsigned int)n, &sp, &su);
			park(&kk->c, true);
			printf("  %-22s   syscalls per pin %.2f, per unpin %.2f "
			       "(%u cycles)\n", "", sp, su, (unsigned int)n);
		}
		if (kk->c.error || kk->c.purged || kk->c.bad)
			printf("  %-22s   !! errors: first %s, purged pins %lu, "
			       "bad pages %lu\n", "", kk->c.error ?
			       strerror(-kk->c.error) : "none", kk->c.purged,
			       kk->c.bad);
		/* Ratio of the bare cycle's medians at the two delays. */
		if (k > 0 && kk[-1].be == kk->be)
			printf("  %-22s pin+unpin delay %u / delay %u = x%.1f\n",
			       vcache_backend_name(kk->be), kk[-1].delay,
			       kk->delay,
			       bench_summarize(kk[-1].bare.ns, reps).median /
			       bench_summarize(kk->bare.ns, reps).median);
	}
	for (size_t k = 0; k < nk; k++)
		config_teardown(&ks[k]);
}

static void usage(const char *argv0)
{
	printf("usage: %s [--backend uffd|none|vrange]... [--size KiB]...\n"
	       "          [--delay MS]... (at most 2) [--chunk KiB] [--reps N]"
	       " [--quick]\n"
	       "          [--sample-ms MS] (default 20; raise it on a coarse "
	       "clock)\n"
	       "--csv FILE: also write the medians as CSV (bench/plot.sh)\n"
	       "default: every backend, sizes 64 1024 16384 KiB, "
	       "delays 0 and 100 ms, chunk = page, 11 reps\n", argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 's' },
		{ "delay", required_argument, NULL, 'd' },
		{ "reps", required_argument, NULL, 'r' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "sample-ms", required_argument, NULL, 'S' },
		{ "quick", no_argument, NULL, 'q' },
		{ "csv", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum vcache_backend bes[3] = { VCACHE_BACKEND_NONE, VCACHE_BACKEND_UFFD,
				       VCACHE_BACKEND_VRANGE };
	size_t sizes[8] = { 64 * BENCH_KIB, BENCH_MIB, 16 * BENCH_MIB };
	unsigned int delays[2] = { 0, 100 };
	size_t nbe = 0, nsizes = 0, ndelays = 0;
	const char *reason;
	int o;

	while ((o = getopt_long(argc, argv, "b:s:d:r:c:S:qC:h", opts, NULL)) != -1) {
		switch (o) {
		case 'C':
			csv = fopen(optarg, "we");
			if (!csv) {
				perror(optarg);
				return 2;
			}
			fputs("size_kib,config,delay_ms,pin_unpin_ns,min_ns,"
			      "max_ns,pin_read_unpin_ns,min_ns,max_ns\n", csv);
			break;
		case 'b':
			if (nbe == 3 || bench_parse_backend(optarg, &bes[nbe])) {
				usage(argv[0]);
				return 2;
			}
			nbe++;
			break;
		case 's':
			if (nsizes == 8) {
				usage(argv[0]);
				return 2;
			}
			sizes[nsizes++] = strtoul(optarg, NULL, 0) * BENCH_KIB;
			break;
		case 'd':
			if (ndelays == 2) {
				usage(argv[0]);
				return 2;
			}
			delays[ndelays++] = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			reps = (unsigned int)strtoul(optarg, NULL, 0);
			if (reps < 1 || reps > MAX_SAMPLES) {
				usage(argv[0]);
				return 2;
			}
			break;
		case 'c':
			chunk_size = strtoul(optarg, NULL, 0) * BENCH_KIB;
			break;
		case 'S':
			target_ns = (double)strtoul(optarg, NULL, 0) * 1e6;
			if (target_ns < 1e6) {
				usage(argv[0]);
				return 2;
			}
			break;
		case 'q':
			target_ns = 3e6;
			reps = 5;
			break;
		default:
			usage(argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	nbe = nbe ? nbe : 3;
	nsizes = nsizes ? nsizes : 3;
	ndelays = ndelays ? ndelays : 2;

	bench_print_context("bench-pin: cost of pin+unpin cycles", argc, argv);
	/* Before any cache exists, so library threads are counted too. */
	sc_fd = bench_syscalls_open(&reason);
	if (sc_fd < 0)
		printf("# syscall counting unavailable: %s (%s)\n", reason,
		       strerror(-sc_fd));
	else
		printf("# syscalls counted per cycle (\"sc\") with perf "
		       "tracepoint raw_syscalls:sys_enter, all threads\n");
	printf("# times are per cycle; %u samples of ~%.0f ms each; "
	       "median [min..max]\n", reps, target_ns / 1e6);
	printf("# every pin uses VCACHE_PIN_REGENERATE; the read checks one "
	       "word per page\n");

	for (size_t i = 0; i < nsizes; i++) {
		if (!sizes[i]) {
			usage(argv[0]);
			return 2;
		}
		run_size(sizes[i], bes, nbe, delays, ndelays);
	}
	if (csv && fclose(csv) != 0) {
		perror("--csv");
		return 1;
	}
	return 0;
}
