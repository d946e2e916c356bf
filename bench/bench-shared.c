/* SPDX-License-Identifier: MIT */
/*
 * bench-shared - what sharing an object between processes costs: the same
 * object as a private object (vcache_object_create()) and as a shared one
 * (vcache_object_create_shared(), a memfd), side by side, interleaved
 * round by round in one run, in one cache:
 *  (a) pin + unpin of the whole intact object (idle delay 0), the cost of
 *      explicit use when nothing was purged;
 *  (b) vcache_purge() of the whole object (private: MADV_DONTNEED on the
 *      userfaultfd range; shared: fallocate(PUNCH_HOLE) on the memfd);
 *  (c) optimistic regeneration: read one word of every page of the purged
 *      object (each chunk faults once and is regenerated);
 *  (d) explicit regeneration: vcache_pin(VCACHE_PIN_REGENERATE) of the
 *      object purged again (untimed), then unpin.
 * Per round and configuration: wall time per MiB, system calls per MiB
 * (a perf tracepoint counter on raw_syscalls:sys_enter, where allowed),
 * and every page checked against the generator after (c) and (d).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-syscalls.h"
#include "bench-util.h"

#define MAX_ROUNDS 101
enum { OPS = 4 };
static const char *const op_name[OPS] = {
	"pin+unpin, intact", "vcache_purge", "optimistic regen", "pin(REGEN)+unpin",
};

struct cfg {
	const char *label;
	bool shared;
	vcache_object *o;
	uint64_t seed;
	double ns[OPS][MAX_ROUNDS];
	double sys[OPS][MAX_ROUNDS];
	unsigned long bad;
	int error;
};

static unsigned int rounds = 15;
static size_t obj_size = 16 * BENCH_MIB, chunk = 64 * BENCH_KIB;
static int sys_fd = -1;

static void note(struct cfg *c, int err)
{
	if (err < 0 && !c->error)
		c->error = err;
}

static void measure(struct cfg *c, unsigned int op, unsigned int round)
{
	void *d = vcache_object_data(c->o);
	uint64_t s0 = bench_syscalls_read(sys_fd), t0 = bench_now_ns(), s1;

	switch (op) {
	case 0:
		note(c, vcache_pin(c->o, 0));
		note(c, vcache_unpin(c->o));
		break;
	case 1:
		note(c, (int)vcache_purge(c->o));
		break;
	case 2:
		c->bad += bench_check_pages(d, 0, obj_size, c->seed);
		break;
	default:
		/* Purged again first, outside the timing. */
		c->ns[op][round] = 0;
		note(c, (int)vcache_purge(c->o));
		s0 = bench_syscalls_read(sys_fd);
		t0 = bench_now_ns();
		note(c, vcache_pin(c->o, VCACHE_PIN_REGENERATE));
		c->bad += bench_check_pages(d, 0, obj_size, c->seed);
		note(c, vcache_unpin(c->o));
	}
	c->ns[op][round] = (double)(bench_now_ns() - t0);
	s1 = bench_syscalls_read(sys_fd);
	c->sys[op][round] = s0 == UINT64_MAX || s1 == UINT64_MAX ?
				    -1 : (double)(s1 - s0);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "size-mib", required_argument, NULL, 's' },
		{ "chunk-kib", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfg cfg[2] = {
		{ .label = "private", .shared = false, .seed = 11 },
		{ .label = "shared (memfd)", .shared = true, .seed = 12 },
	};
	const char *why = NULL;
	double mib;
	vcache *cache;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'r':
			rounds = (unsigned int)atoi(optarg);
			break;
		case 's':
			obj_size = (size_t)atoi(optarg) * BENCH_MIB;
			break;
		case 'c':
			chunk = (size_t)atoi(optarg) * BENCH_KIB;
			break;
		default:
			fprintf(stderr, "usage: bench-shared [--rounds N] "
				"[--size-mib N] [--chunk-kib N]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || !obj_size || !chunk) {
		fprintf(stderr, "bench-shared: bad arguments\n");
		return 2;
	}
	bench_print_context("bench-shared: private vs shared objects", argc,
			    argv);
	sys_fd = bench_syscalls_open(&why);
	if (sys_fd < 0)
		printf("system calls: not counted (%s)\n", why);
	err = bench_cache_new(VCACHE_BACKEND_UFFD, 0, &cache);
	if (err < 0) {
		printf("SKIP: uffd backend refused: %s\n", strerror(-err));
		return 77;
	}
	for (int k = 0; k < 2; k++) {
		err = cfg[k].shared ?
			vcache_object_create_shared(cache, cfg[k].label,
				obj_size, chunk, bench_regen, &cfg[k].seed, 0,
				&cfg[k].o) :
			vcache_object_create(cache, cfg[k].label, obj_size,
				chunk, bench_regen, &cfg[k].seed, 0, &cfg[k].o);
		if (err < 0) {
			fprintf(stderr, "create %s: %s\n", cfg[k].label,
				strerror(-err));
			return 1;
		}
	}
	printf("object %zu MiB, chunk %zu KiB, backend uffd, %u rounds, "
	       "configurations interleaved per round\n\n",
	       obj_size / BENCH_MIB, chunk / BENCH_KIB, rounds);
	/* Both configurations, alternating which goes first. */
	for (unsigned int r = 0; r < rounds; r++)
		for (unsigned int op = 0; op < OPS; op++)
			for (int k = 0; k < 2; k++)
				measure(&cfg[(k + (int)r) % 2], op, r);

	mib = (double)obj_size / (double)BENCH_MIB;
	printf("  %-20s %-16s %12s %24s %12s %9s\n", "operation", "config",
	       "median/MiB", "[min..max]/MiB", "syscalls/MiB", "x private");
	for (unsigned int op = 0; op < OPS; op++) {
		double base = 0;

		for (int k = 0; k < 2; k++) {
			struct bench_summary s = bench_summarize(cfg[k].ns[op],
								 rounds);
			struct bench_summary y = bench_summarize(cfg[k].sys[op],
								 rounds);
			char m[32], a[32], b[32];

			if (k == 0)
				base = s.median;
			printf("  %-20s %-16s %12s [%10s..%10s] ", op_name[op],
			       cfg[k].label,
			       bench_fmt_ns(m, sizeof(m), s.median / mib),
			       bench_fmt_ns(a, sizeof(a), s.min / mib),
			       bench_fmt_ns(b, sizeof(b), s.max / mib));
			if (y.min < 0)
				printf("%12s", "-");
			else
				printf("%12.1f", y.median / mib);
			printf(" %9.2f\n", base > 0 ? s.median / base : 0);
		}
	}
	for (int k = 0; k < 2; k++) {
		printf("%s: wrong pages %lu, first error %s\n", cfg[k].label,
		       cfg[k].bad, cfg[k].error ? strerror(-cfg[k].error)
						: "none");
		(void)vcache_object_remove(cfg[k].o);
		vcache_object_unref(cfg[k].o);
	}
	(void)vcache_free(cache);
	return cfg[0].bad || cfg[1].bad || cfg[0].error || cfg[1].error;
}
