/* SPDX-License-Identifier: MIT */
/*
 * bench-regen - what regenerating purged data costs, per MiB.
 *
 * An object is purged for real (MADV_PAGEOUT on its volatile pages; the
 * purge is checked with mincore), then brought back three ways, side by
 * side in one run, for chunk sizes of 4 KiB, 64 KiB and 1 MiB:
 *  (a) optimistic: read one word of every page; each purged chunk faults
 *      (SIGBUS) once and the library's handler regenerates it;
 *  (b) explicit: vcache_pin(VCACHE_PIN_REGENERATE) on the whole object
 *      (and the unpin that makes it volatile again, shown separately);
 *  (c) the generator called directly into plain memory, chunk by chunk:
 *      "warm" into resident pages, "cold" into pages just dropped with
 *      MADV_DONTNEED (so page faults are included, as they are in a and b).
 * The generator is the same in all three: splitmix64 one word at a time,
 * or with --cheap a trivial pattern at memory speed (library overheads
 * then stand out instead of hiding behind the generator).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench-util.h"

#define MAX_SAMPLES 101

static unsigned int reps = 11;
static size_t obj_size = 16 * BENCH_MIB;

struct row {
	const char *label;
	double ns[MAX_SAMPLES];  /* per sample, whole object */
	double purged_pct;       /* pages not resident after pageout, last */
	double regen_per_rep;    /* library regenerations, average */
	unsigned long bad;       /* wrong pages seen */
	int error;
};

static void print_row(struct row *r, double base_cold, double base_warm)
{
	double mib = (double)obj_size / (double)BENCH_MIB;
	struct bench_summary s = bench_summarize(r->ns, reps);
	char m[32], a[32], b[32];

	printf("  %-28s %10s [%s..%s] %8.0f MiB/s", r->label,
	       bench_fmt_ns(m, sizeof(m), s.median / mib),
	       bench_fmt_ns(a, sizeof(a), s.min / mib),
	       bench_fmt_ns(b, sizeof(b), s.max / mib),
	       mib / (s.median / 1e9));
	if (base_cold > 0)
		printf("  x%5.2f  x%5.2f", s.median / base_cold,
		       s.median / base_warm);
	else
		printf("  %6s  %6s", "1", "1");
	if (r->purged_pct >= 0)
		printf("  purged %5.1f%%  regen/rep %6.0f", r->purged_pct,
		       r->regen_per_rep);
	printf("\n");
	if (r->error || r->bad)
		printf("  %-28s !! first error %s, wrong pages %lu\n", "",
		       r->error ? strerror(-r->error) : "none", r->bad);
}

/* Purge the whole object; returns the percentage of pages purged. */
static double purge(struct row *r, void *data)
{
	size_t pages = obj_size / bench_page_size();
	long res;
	int e = bench_pageout(data, obj_size);

	if (e < 0 && !r->error)
		r->error = e;
	res = bench_resident_pages(data, obj_size);
	if (res < 0) {
		if (!r->error)
			r->error = (int)res;
		return -1;
	}
	return 100.0 * (double)(pages - (size_t)res) / (double)pages;
}

static uint64_t regens(vcache *cache)
{
	struct vcache_stats st;

	if (vcache_stats_get(cache, &st, sizeof(st)) < 0)
		return 0;
	return st.regenerations;
}

/*
 * The methods run interleaved, one sample of each per round, so that load
 * from elsewhere on the machine falls on all of them alike.
 */
struct plain {
	char *mem;
	struct row warm, cold;
};

struct vc {
	enum vcache_backend be;
	vcache *cache;
	vcache_object *obj;
	char *data;
	uint64_t gopt, gpin;
	struct row opt, pin, unpin;
	char labels[3][48];
};

static int plain_setup(struct plain *p, uint64_t seed)
{
	p->mem = mmap(NULL, obj_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		return p->warm.error = p->cold.error = -errno;
	}
	bench_fill(p->mem, 0, obj_size, seed); /* fault everything in */
	return 0;
}

static void plain_step(struct plain *p, unsigned int i, size_t chunk,
		       uint64_t seed)
{
	uint64_t t0, t1;

	t0 = bench_now_ns();
	for (size_t o = 0; o < obj_size; o += chunk)
		bench_regen(NULL, p->mem + o, o, chunk, &seed);
	t1 = bench_now_ns();
	p->warm.ns[i] = (double)(t1 - t0);

	if (madvise(p->mem, obj_size, MADV_DONTNEED) < 0)
		p->cold.error = -errno;
	t0 = bench_now_ns();
	for (size_t o = 0; o < obj_size; o += chunk)
		bench_regen(NULL, p->mem + o, o, chunk, &seed);
	t1 = bench_now_ns();
	p->cold.ns[i] = (double)(t1 - t0);
	p->cold.bad += bench_check_pages(p->mem, 0, obj_size, seed);
}

static int vc_setup(struct vc *v, size_t chunk, uint64_t *seed)
{
	const char *be = vcache_backend_name(v->be);
	int r;

	v->opt = (struct row){ .label = v->labels[0] };
	v->pin = (struct row){ .label = v->labels[1] };
	v->unpin = (struct row){ .label = v->labels[2], .purged_pct = -1 };
	snprintf(v->labels[0], sizeof(v->labels[0]), "%s (a) optimistic SIGBUS",
		 be);
	snprintf(v->labels[1], sizeof(v->labels[1]), "%s (b) pin REGENERATE",
		 be);
	snprintf(v->labels[2], sizeof(v->labels[2]), "%s     then unpin", be);
	r = bench_cache_new(v->be, 0, &v->cache);
	if (r == 0)
		r = vcache_object_create(v->cache, "bench", obj_size, chunk,
					 bench_regen, seed, 0, &v->obj);
	if (r < 0) {
		printf("  %-28s setup failed: %s\n", be, strerror(-r));
		vcache_free(v->cache);
		v->cache = NULL;
		return r;
	}
	v->data = vcache_object_data(v->obj);
	return 0;
}

static void vc_step(struct vc *v, unsigned int i, uint64_t seed)
{
	uint64_t t0, t1, t2, g0;
	int r;

	/* (a) optimistic: the first touch of each purged chunk faults */
	v->opt.purged_pct = purge(&v->opt, v->data);
	g0 = regens(v->cache);
	t0 = bench_now_ns();
	v->opt.bad += bench_check_pages(v->data, 0, obj_size, seed);
	t1 = bench_now_ns();
	v->gopt += regens(v->cache) - g0;
	v->opt.ns[i] = (double)(t1 - t0);

	/* (b) pin with regeneration (timed), check (not), unpin (timed) */
	v->pin.purged_pct = purge(&v->pin, v->data);
	g0 = regens(v->cache);
	t0 = bench_now_ns();
	r = vcache_pin(v->obj, VCACHE_PIN_REGENERATE);
	t1 = bench_now_ns();
	v->gpin += regens(v->cache) - g0;
	v->pin.ns[i] = (double)(t1 - t0);
	if (r < 0) {
		if (!v->pin.error)
			v->pin.error = r;
		return;
	}
	v->pin.bad += bench_check_pages(v->data, 0, obj_size, seed);
	t2 = bench_now_ns();
	r = vcache_unpin(v->obj);
	v->unpin.ns[i] = (double)(bench_now_ns() - t2);
	if (r < 0 && !v->unpin.error)
		v->unpin.error = r;
}

static void vc_teardown(struct vc *v)
{
	if (!v->cache)
		return;
	v->opt.regen_per_rep = (double)v->gopt / reps;
	v->pin.regen_per_rep = (double)v->gpin / reps;
	vcache_object_remove(v->obj);
	vcache_object_unref(v->obj);
	vcache_free(v->cache);
}

static void run_chunk(size_t chunk, const enum vcache_backend *bes,
		      size_t nbe)
{
	struct plain p = {
		.warm = { .label = "(c) generator, warm plain",
			  .purged_pct = -1 },
		.cold = { .label = "(c) generator, cold plain",
			  .purged_pct = -1 },
	};
	struct vc vcs[3];
	size_t nvc = 0;
	uint64_t seed = chunk;
	double bc, bw;

	printf("\n## chunk %zu KiB, object %zu MiB (%zu chunks)\n",
	       chunk / BENCH_KIB, obj_size / BENCH_MIB, obj_size / chunk);
	for (size_t b = 0; b < nbe; b++) {
		const char *be = vcache_backend_name(bes[b]), *reason;

		if (bes[b] == VCACHE_BACKEND_NONE) {
			printf("  %-28s skipped: backend none never purges, "
			       "nothing to regenerate\n", be);
			continue;
		}
		if (bench_backend_usable(bes[b], &reason) < 0) {
			printf("  %-28s skipped: %s\n", be, reason);
			continue;
		}
		memset(&vcs[nvc], 0, sizeof(vcs[nvc]));
		vcs[nvc].be = bes[b];
		if (vc_setup(&vcs[nvc], chunk, &seed) == 0)
			nvc++;
	}
	if (plain_setup(&p, seed) < 0) {
		printf("  plain memory: mmap failed: %s\n",
		       strerror(-p.warm.error));
		for (size_t k = 0; k < nvc; k++)
			vc_teardown(&vcs[k]);
		return;
	}

	for (unsigned int i = 0; i < reps; i++) {
		plain_step(&p, i, chunk, seed);
		for (size_t k = 0; k < nvc; k++)
			vc_step(&vcs[k], i, seed);
	}
	munmap(p.mem, obj_size);

	printf("  %-28s %-34s %11s  %6s  %6s\n", "method",
	       "per MiB: median [min..max]", "throughput", "/cold", "/warm");
	bc = bench_summarize(p.cold.ns, reps).median;
	bw = bench_summarize(p.warm.ns, reps).median;
	print_row(&p.cold, 0, 0);
	print_row(&p.warm, 0, 0);
	for (size_t k = 0; k < nvc; k++) {
		vc_teardown(&vcs[k]);
		print_row(&vcs[k].opt, bc, bw);
		print_row(&vcs[k].pin, bc, bw);
		print_row(&vcs[k].unpin, bc, bw);
	}
}

static void usage(const char *argv0)
{
	printf("usage: %s [--backend uffd|vrange|none]... [--chunk KiB]...\n"
	       "          [--mib N] [--reps N] [--cheap]\n"
	       "default: backends uffd and vrange, chunks 4 64 1024 KiB, "
	       "16 MiB object, 11 reps\n", argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "mib", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "cheap", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum vcache_backend bes[3] = { VCACHE_BACKEND_UFFD,
				       VCACHE_BACKEND_VRANGE };
	size_t chunks[8] = { 4 * BENCH_KIB, 64 * BENCH_KIB, BENCH_MIB };
	size_t nbe = 0, nchunks = 0;
	bool cheap = false;
	int o;

	while ((o = getopt_long(argc, argv, "b:c:m:r:Ch", opts, NULL)) != -1) {
		switch (o) {
		case 'b':
			if (nbe == 3 || bench_parse_backend(optarg, &bes[nbe])) {
				usage(argv[0]);
				return 2;
			}
			nbe++;
			break;
		case 'c':
			if (nchunks == 8) {
				usage(argv[0]);
				return 2;
			}
			chunks[nchunks++] = strtoul(optarg, NULL, 0) * BENCH_KIB;
			break;
		case 'm':
			obj_size = strtoul(optarg, NULL, 0) * BENCH_MIB;
			break;
		case 'r':
			reps = (unsigned int)strtoul(optarg, NULL, 0);
			if (reps < 1 || reps > MAX_SAMPLES) {
				usage(argv[0]);
				return 2;
			}
			break;
		case 'C':
			cheap = true;
			break;
		default:
			usage(argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	bench_set_cheap_content(cheap);
	nbe = nbe ? nbe : 2;
	nchunks = nchunks ? nchunks : 3;
	if (!obj_size) {
		usage(argv[0]);
		return 2;
	}
	for (size_t i = 0; i < nchunks; i++) {
		if (!chunks[i] || chunks[i] % bench_page_size() ||
		    obj_size % chunks[i]) {
			printf("chunk %zu KiB must be a multiple of the page "
			       "size dividing the object\n",
			       chunks[i] / BENCH_KIB);
			return 2;
		}
	}

	bench_print_context("bench-regen: regenerating purged data",
			    argc, argv);
	printf("# time per MiB regenerated, %u samples, median [min..max]; "
	       "/cold, /warm: ratio to (c)\n", reps);
	printf("# generator: %s\n", cheap ?
	       "cheap (a trivial pattern at memory speed)" :
	       "splitmix64, one 64-bit word at a time");
	printf("# purged = pages not resident after MADV_PAGEOUT (checked "
	       "with mincore); regen/rep = library regenerations per sample\n");
	for (size_t i = 0; i < nchunks; i++)
		run_chunk(chunks[i], bes, nbe);
	return 0;
}
