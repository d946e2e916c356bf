/* SPDX-License-Identifier: MIT */
/*
 * bench-perf.h - shared state of bench-perf's parts (bench-perf.c: P1-P3
 * and threads, bench-perf-fault.c: P4) and its series/ratio printing.
 */
#ifndef VCACHE_BENCH_PERF_H
#define VCACHE_BENCH_PERF_H

#include <stdbool.h>
#include <stdint.h>

#include "bench-util.h"

#define PERF_MAX_REPS 64

struct perf_cfg {
	unsigned int reps, sample_ms, faults, thread_ms;
	enum vcache_backend backend;
};
extern struct perf_cfg perf;
extern int perf_sc_fd; /* bench_syscalls_open(), or < 0 */

/* One configuration's samples: ns per op, and syscalls counted. */
struct perf_series {
	double ns[PERF_MAX_REPS];
	uint64_t sc, sc_ops;
	bool sc_bad;
};

/*
 * Record sample r: ns per op, the syscall counter before and after a
 * window of ops operations (each read of the counter counts itself once).
 */
void perf_series_add(struct perf_series *s, unsigned int r, double ns,
		     uint64_t sc0, uint64_t sc1, uint64_t ops);
/* "  label   median [min..max]  sc N.NN" */
void perf_series_print(const char *label, const struct perf_series *s,
		       uint64_t ops_per_sample);
/* "  RATIO what xN.NN": ratio of the medians a / b. */
void perf_ratio(const char *what, const struct perf_series *a,
		const struct perf_series *b);

/* P4: one purged page faulted back, vs a signal round trip + fill. */
void perf_fault(void);

#endif /* VCACHE_BENCH_PERF_H */
