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

struct result {
	struct bench_summary ns; /* per cycle */
	double syscalls;         /* per cycle; < 0: not counted */
};

/*
 * Time fn: a few warm-up cycles, then calibrate so that one sample lasts
 * about target_ns, then reps samples of per-cycle time.
 */
static struct result measure(cycle_fn fn, struct ctx *c)
{
	double samples[MAX_SAMPLES];
	uint64_t t0, t1, iters, sc0, sc1;
	struct result res;

	for (int i = 0; i < 3; i++)
		fn(c);
	t0 = bench_now_ns();
	fn(c);
	t1 = bench_now_ns();
	iters = (uint64_t)(target_ns / (double)(t1 - t0 + 1));
	iters = iters < 1 ? 1 : iters > 2000000 ? 2000000 : iters;

	sc0 = bench_syscalls_read(sc_fd);
	for (unsigned int r = 0; r < reps; r++) {
		t0 = bench_now_ns();
		for (uint64_t i = 0; i < iters; i++)
			fn(c);
		t1 = bench_now_ns();
		samples[r] = (double)(t1 - t0) / (double)iters;
	}
	sc1 = bench_syscalls_read(sc_fd);
	res.ns = bench_summarize(samples, reps);
	/* -1: the read(2) of the counter itself is counted once. */
	res.syscalls = sc0 == UINT64_MAX || sc1 == UINT64_MAX ? -1 :
		       (double)(sc1 - sc0 - 1) / (double)(iters * reps);
	return res;
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

static void print_cell(const struct result *r)
{
	char a[32], b[32], m[32];

	printf(" %10s [%s..%s]", bench_fmt_ns(m, sizeof(m), r->ns.median),
	       bench_fmt_ns(a, sizeof(a), r->ns.min),
	       bench_fmt_ns(b, sizeof(b), r->ns.max));
	if (r->syscalls >= 0)
		printf(" %7.2f sc", r->syscalls);
	else
		printf("    n/a sc");
}

static int run_backend(enum vcache_backend be, unsigned int delay,
		       size_t size, double plain_read_ns,
		       struct result *ret_bare)
{
	vcache *cache = NULL;
	vcache_object *obj = NULL;
	uint64_t seed = size ^ delay;
	struct result bare, used;
	struct ctx c = { 0 };
	char label[32];
	int r;

	r = bench_cache_new(be, delay, &cache);
	if (r < 0) {
		printf("  %s: vcache_new: %s\n", vcache_backend_name(be),
		       strerror(-r));
		return r;
	}
	r = vcache_object_create(cache, "bench", size, chunk_size, bench_regen,
				 &seed, 0, &obj);
	if (r < 0) {
		printf("  %s: vcache_object_create: %s\n",
		       vcache_backend_name(be), strerror(-r));
		vcache_free(cache);
		return r;
	}
	c.obj = obj;
	c.data = vcache_object_data(obj);
	c.size = size;
	c.seed = seed;
	bare = measure(cycle_pin_unpin, &c);
	used = measure(cycle_pin_read_unpin, &c);

	snprintf(label, sizeof(label), "%s, delay %u ms",
		 vcache_backend_name(be), delay);
	printf("  %-22s", label);
	print_cell(&bare);
	print_cell(&used);
	printf("  x%.2f\n", used.ns.median / plain_read_ns);
	if (sc_fd >= 0) {
		double sp, su;

		count_split(&c, 1000, &sp, &su);
		printf("  %-22s   syscalls per pin %.2f, per unpin %.2f "
		       "(1000 cycles)\n", "", sp, su);
	}
	if (c.error || c.purged || c.bad)
		printf("  %-22s   !! errors: first %s, purged pins %lu, "
		       "bad pages %lu\n", "", c.error ? strerror(-c.error) :
		       "none", c.purged, c.bad);
	*ret_bare = bare;

	vcache_object_remove(obj);
	vcache_object_unref(obj);
	vcache_free(cache);
	return 0;
}

static void run_size(size_t size, const enum vcache_backend *bes, size_t nbe,
		     const unsigned int *delays, size_t ndelays)
{
	struct ctx c = { .size = size, .seed = size };
	struct result plain, bare[2];
	char *mem;

	printf("\n## object %zu KiB (%zu pages, %zu chunks)\n",
	       size / BENCH_KIB, size / bench_page_size(),
	       (size + (chunk_size ? chunk_size : bench_page_size()) - 1) /
		       (chunk_size ? chunk_size : bench_page_size()));
	printf("  %-22s %-34s %-34s %s\n", "configuration",
	       "pin+unpin: median [min..max] sc/cycle",
	       "pin+read+unpin: median [min..max]", "vs plain read");

	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return;
	}
	bench_fill(mem, 0, size, c.seed);
	c.data = mem;
	plain = measure(cycle_read, &c);
	printf("  %-22s %34s", "plain memory", "(nothing to do)      ");
	print_cell(&plain);
	printf("  x1.00\n");
	munmap(mem, size);

	for (size_t b = 0; b < nbe; b++) {
		const char *reason;
		bool have[2] = { false, false };

		if (bench_backend_usable(bes[b], &reason) < 0) {
			printf("  %-22s skipped: %s\n",
			       vcache_backend_name(bes[b]), reason);
			continue;
		}
		for (size_t d = 0; d < ndelays && d < 2; d++)
			have[d] = run_backend(bes[b], delays[d], size,
					      plain.ns.median, &bare[d]) == 0;
		if (have[0] && have[1])
			printf("  %-22s pin+unpin delay %u / delay %u = x%.1f\n",
			       vcache_backend_name(bes[b]), delays[0],
			       delays[1],
			       bare[0].ns.median / bare[1].ns.median);
	}
}

static void usage(const char *argv0)
{
	printf("usage: %s [--backend uffd|none|vrange]... [--size KiB]...\n"
	       "          [--delay MS]... (at most 2) [--chunk KiB] [--reps N]"
	       " [--quick]\n"
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
		{ "quick", no_argument, NULL, 'q' },
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

	while ((o = getopt_long(argc, argv, "b:s:d:r:c:qh", opts, NULL)) != -1) {
		switch (o) {
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
	return 0;
}
