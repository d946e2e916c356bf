/* SPDX-License-Identifier: MIT */
/*
 * bench-many - pin every object of a large cache, then unpin them all.
 *
 * 10,000 objects of 16 chunks (one page each by default) per backend, idle
 * delay 0 (every unpin hands the chunks back to the kernel at once), all
 * backends alive at the same time and measured round by round, interleaved:
 * a round pins all objects of one backend (VCACHE_PIN_REGENERATE, one word
 * per chunk checked), then unpins them all. It prints the median time per
 * object with min..max over the rounds, the system calls per object
 * (counted with a perf tracepoint where allowed), and the number of
 * mappings of the process (lines of /proc/self/maps) before the caches
 * exist, after the objects were created, and after every round: a backend
 * that split mappings per pinned chunk would show it there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-syscalls.h"
#include "bench-util.h"

#define MAX_ROUNDS 51

struct config {
	enum vcache_backend be;
	vcache *cache;
	vcache_object **objs;
	uint64_t seed;
	double pin_ns[MAX_ROUNDS], unpin_ns[MAX_ROUNDS];
	double pin_sc, unpin_sc;  /* per object, last round; -1 unknown */
	unsigned long purged;     /* pins that reported a purge */
	unsigned long bad;        /* chunks whose first word was wrong */
	long maps_pinned, maps_unpinned; /* most seen after pin-all / unpin-all */
	int error;
};

static size_t nobjects = 10000, nchunks = 16, chunk_size;
static unsigned int rounds = 5;
static int sc_fd = -1;

static long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int ch;

	if (!f)
		return -errno;
	while ((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static int config_setup(struct config *k)
{
	int r = bench_cache_new(k->be, 0, &k->cache);

	k->seed = 0x5eed0000 + k->be;
	k->objs = calloc(nobjects, sizeof(*k->objs));
	if (r == 0 && !k->objs)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < nobjects; i++) {
		char name[32];

		snprintf(name, sizeof(name), "o%zu", i);
		r = vcache_object_create(k->cache, name, nchunks * chunk_size,
					 chunk_size, bench_regen, &k->seed, 0,
					 &k->objs[i]);
	}
	if (r < 0) {
		printf("  %s: setup failed: %s\n", vcache_backend_name(k->be),
		       strerror(-r));
		return r;
	}
	return 0;
}

static void config_teardown(struct config *k)
{
	for (size_t i = 0; k->objs && i < nobjects && k->objs[i]; i++) {
		vcache_object_remove(k->objs[i]);
		vcache_object_unref(k->objs[i]);
	}
	free(k->objs);
	if (k->cache)
		vcache_free(k->cache);
}

static void note(struct config *k, int r)
{
	if (r < 0 && !k->error)
		k->error = r;
}

static void round_run(struct config *k, unsigned int r)
{
	uint64_t t0, t1, t2, s0, s1, s2;
	long maps;

	s0 = bench_syscalls_read(sc_fd);
	t0 = bench_now_ns();
	for (size_t i = 0; i < nobjects; i++) {
		const char *data = vcache_object_data(k->objs[i]);
		int ret = vcache_pin(k->objs[i], VCACHE_PIN_REGENERATE);

		note(k, ret);
		k->purged += ret == VCACHE_PURGED;
		/* One word per chunk: the chunk is really there. */
		for (size_t c = 0; c < nchunks; c++)
			k->bad += bench_check_pages(data + c * chunk_size,
						    c * chunk_size,
						    bench_page_size(), k->seed);
	}
	t1 = bench_now_ns();
	s1 = bench_syscalls_read(sc_fd);
	k->pin_ns[r] = (double)(t1 - t0) / (double)nobjects;
	k->pin_sc = s0 == UINT64_MAX || s1 == UINT64_MAX ? -1 :
		    (double)(s1 - s0) / (double)nobjects;
	/* Not timed, not counted: the mappings with everything pinned. */
	maps = count_maps();
	if (maps > k->maps_pinned)
		k->maps_pinned = maps;
	s1 = bench_syscalls_read(sc_fd);
	t1 = bench_now_ns();
	for (size_t i = 0; i < nobjects; i++)
		note(k, vcache_unpin(k->objs[i]));
	t2 = bench_now_ns();
	s2 = bench_syscalls_read(sc_fd);
	k->unpin_ns[r] = (double)(t2 - t1) / (double)nobjects;
	k->unpin_sc = s1 == UINT64_MAX || s2 == UINT64_MAX ? -1 :
		      (double)(s2 - s1) / (double)nobjects;
	maps = count_maps();
	if (maps > k->maps_unpinned)
		k->maps_unpinned = maps;
}

static void print_config(struct config *k, double base_pin)
{
	char a[32], b[32], c[32], d[32], e[32], f[32];
	struct bench_summary p = bench_summarize(k->pin_ns, rounds);
	struct bench_summary u = bench_summarize(k->unpin_ns, rounds);

	printf("  %-6s pin %s [%s..%s]  unpin %s [%s..%s] per object",
	       vcache_backend_name(k->be), bench_fmt_ns(a, sizeof(a), p.median),
	       bench_fmt_ns(b, sizeof(b), p.min), bench_fmt_ns(c, sizeof(c), p.max),
	       bench_fmt_ns(d, sizeof(d), u.median),
	       bench_fmt_ns(e, sizeof(e), u.min), bench_fmt_ns(f, sizeof(f), u.max));
	if (k->pin_sc >= 0)
		printf("  sc/object pin %.2f unpin %.2f", k->pin_sc, k->unpin_sc);
	else
		printf("  sc n/a");
	if (base_pin > 0)
		printf("  pin+unpin x%.2f of first backend",
		       (p.median + u.median) / base_pin);
	printf("\n         mappings after its rounds: at most %ld all pinned, "
	       "%ld all unpinned; %lu pins reported purges; %lu bad chunks%s%s\n",
	       k->maps_pinned, k->maps_unpinned, k->purged, k->bad,
	       k->error ? "; error: " : "", k->error ? strerror(-k->error) : "");
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--backend uffd|none|vrange]... [--objects N] "
		"[--chunks N] [--chunk-kib K] [--rounds R]\n", argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "objects", required_argument, NULL, 'o' },
		{ "chunks", required_argument, NULL, 'n' },
		{ "chunk-kib", required_argument, NULL, 'c' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct config ks[3] = { { .be = VCACHE_BACKEND_NONE },
				{ .be = VCACHE_BACKEND_UFFD },
				{ .be = VCACHE_BACKEND_VRANGE } };
	struct config *use[3];
	size_t nbe = 0, nuse = 0;
	enum vcache_backend be;
	const char *reason;
	long maps0;
	double base = 0;
	int o;

	chunk_size = bench_page_size();
	while ((o = getopt_long(argc, argv, "b:o:n:c:r:h", opts, NULL)) != -1) {
		switch (o) {
		case 'b':
			if (nbe == 3 || bench_parse_backend(optarg, &be)) {
				usage(argv[0]);
				return 2;
			}
			for (size_t i = 0; i < 3; i++)
				if (ks[i].be == be)
					use[nbe++] = &ks[i];
			break;
		case 'o':
			nobjects = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			nchunks = strtoul(optarg, NULL, 0);
			break;
		case 'c':
			chunk_size = strtoul(optarg, NULL, 0) * BENCH_KIB;
			break;
		case 'r':
			rounds = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		default:
			usage(argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	if (!nobjects || !nchunks || !chunk_size ||
	    chunk_size % bench_page_size() || rounds < 1 || rounds > MAX_ROUNDS) {
		usage(argv[0]);
		return 2;
	}
	if (!nbe)
		for (nbe = 0; nbe < 3; nbe++)
			use[nbe] = &ks[nbe];

	bench_print_context("bench-many: pin-all / unpin-all of many objects",
			    argc, argv);
	sc_fd = bench_syscalls_open(&reason);
	if (sc_fd < 0)
		printf("# syscall counting unavailable: %s (%s)\n", reason,
		       strerror(-sc_fd));
	printf("# %zu objects x %zu chunks of %zu KiB per backend, idle delay 0, "
	       "%u rounds interleaved; times per object, median [min..max]\n",
	       nobjects, nchunks, chunk_size / BENCH_KIB, rounds);
	maps0 = count_maps();
	printf("# mappings of the process before any cache: %ld\n", maps0);

	for (size_t i = 0; i < nbe; i++) {
		if (bench_backend_usable(use[i]->be, &reason) < 0) {
			printf("  %s skipped: %s\n", vcache_backend_name(use[i]->be),
			       reason);
			continue;
		}
		if (config_setup(use[i]) == 0)
			use[nuse++] = use[i];
		else
			config_teardown(use[i]);
	}
	printf("# mappings with every object of every backend created: %ld\n",
	       count_maps());
	for (unsigned int r = 0; r < rounds; r++)
		for (size_t i = 0; i < nuse; i++)
			round_run(use[i], r);
	for (size_t i = 0; i < nuse; i++) {
		print_config(use[i], base);
		if (i == 0)
			base = bench_summarize(use[0]->pin_ns, rounds).median +
			       bench_summarize(use[0]->unpin_ns, rounds).median;
	}
	for (size_t i = 0; i < nuse; i++)
		config_teardown(use[i]);
	printf("# mappings after the caches were freed: %ld\n", count_maps());
	return 0;
}
