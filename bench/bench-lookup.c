/* SPDX-License-Identifier: MIT */
/*
 * bench-lookup.c - cost of one optimistic fault as the number of objects
 * in the process grows (the handler's address -> object lookup)
 *
 * Three caches live side by side in one process, holding FEW, MID and
 * MANY one-page objects (uffd backend). Each round, for each cache in
 * turn (interleaved, so machine noise hits every configuration alike), a
 * random object's page is purged with MADV_PAGEOUT and then read: the time
 * of that read is one SIGBUS, the lookup, a one-page regeneration and a
 * UFFDIO_COPY. Every read is checked against the object's contents.
 *
 * Usage: bench-lookup [rounds] [many]   (defaults 2000, 60000; one VMA per
 * object, so many must stay below vm.max_map_count, 65530 by default)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench-util.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static size_t pagesz;

static int regen(vcache_object *object, void *dst, size_t offset,
		 size_t length, void *userdata)
{
	(void)object;
	(void)offset;
	memset(dst, (int)(uintptr_t)userdata & 0xff, length);
	return 0;
}

struct config {
	const char *label;
	size_t n;
	vcache *cache;
	vcache_object **objs;
	double *ns;
};

static void setup(struct config *cfg)
{
	struct vcache_options o;
	char name[32];
	int r;

	vcache_options_init(&o);
	o.backend = VCACHE_BACKEND_UFFD;
	r = vcache_new(&o, &cfg->cache);
	if (r < 0) {
		fprintf(stderr, "vcache_new(uffd): %s\n", strerror(-r));
		exit(77);
	}
	cfg->objs = calloc(cfg->n, sizeof(*cfg->objs));
	for (size_t i = 0; i < cfg->n; i++) {
		snprintf(name, sizeof(name), "o%zu", i);
		r = vcache_object_create(cfg->cache, name, pagesz, 0, regen,
					 (void *)(uintptr_t)(i * 7 + 1), 0,
					 &cfg->objs[i]);
		if (r < 0) {
			fprintf(stderr, "%s: object %zu: %s\n", cfg->label, i,
				strerror(-r));
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	size_t rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	size_t many = argc > 2 ? strtoul(argv[2], NULL, 10) : 60000;
	struct config cfg[] = {
		{ "few (16 objects)", 16, NULL, NULL, NULL },
		{ "mid (1024 objects)", 1024, NULL, NULL, NULL },
		{ "many", many, NULL, NULL, NULL },
	};
	const size_t ncfg = sizeof(cfg) / sizeof(cfg[0]);
	unsigned long bad = 0, skipped = 0;
	uint64_t seed = 88172645463325252ull;
	char label[64], b1[32], b2[32], b3[32];

	pagesz = (size_t)sysconf(_SC_PAGESIZE);
	bench_print_context("bench-lookup: one optimistic fault vs objects "
			    "in the process", argc, argv);
	snprintf(label, sizeof(label), "many (%zu objects)", many);
	cfg[2].label = label;
	for (size_t c = 0; c < ncfg; c++) {
		setup(&cfg[c]);
		cfg[c].ns = calloc(rounds, sizeof(double));
	}
	for (size_t r = 0; r < rounds; r++)
		for (size_t c = 0; c < ncfg; c++) {
			size_t i;
			volatile uint8_t *p;
			uint64_t t0;
			uint8_t v;

			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			i = seed % cfg[c].n;
			p = vcache_object_data(cfg[c].objs[i]);
			madvise((void *)p, pagesz, MADV_PAGEOUT);
			if (mincore((void *)p, pagesz, (unsigned char *)&v) ==
				    0 && (v & 1)) {
				skipped++; /* not purged: no fault to time */
				cfg[c].ns[r] = -1;
				continue;
			}
			t0 = bench_now_ns();
			v = p[pagesz / 2];
			cfg[c].ns[r] = (double)(bench_now_ns() - t0);
			if (v != (uint8_t)((i * 7 + 1) & 0xff))
				bad++;
		}
	printf("\n%-24s %12s %24s %8s\n", "objects", "median",
	       "min..max", "ratio");
	{
		double base = 0;

		for (size_t c = 0; c < ncfg; c++) {
			size_t n = 0;
			struct bench_summary s;

			for (size_t r = 0; r < rounds; r++)
				if (cfg[c].ns[r] >= 0)
					cfg[c].ns[n++] = cfg[c].ns[r];
			if (!n)
				continue;
			s = bench_summarize(cfg[c].ns, n);
			if (c == 0)
				base = s.median;
			printf("%-24s %12s %11s..%-12s %7.2fx  (%zu faults)\n",
			       cfg[c].label,
			       bench_fmt_ns(b1, sizeof(b1), s.median),
			       bench_fmt_ns(b2, sizeof(b2), s.min),
			       bench_fmt_ns(b3, sizeof(b3), s.max),
			       s.median / base, n);
		}
	}
	printf("\ndata check: %lu wrong bytes read; %lu rounds skipped "
	       "(page not purged)\n", bad, skipped);
	return bad ? 1 : 0;
}
