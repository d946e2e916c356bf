/* SPDX-License-Identifier: MIT */
/*
 * bench-util.h - shared helpers of the vcache benchmarks
 *
 * Benchmarks measure, they never judge: no thresholds, no pass/fail on
 * timing. Every benchmark prints the machine it ran on and the exact
 * command that reproduces it, repeats each measurement and reports the
 * median with the min..max spread, and prints ratios of configurations
 * measured side by side in the same run.
 */
#ifndef VCACHE_BENCH_UTIL_H
#define VCACHE_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vcache.h"

#define BENCH_KIB ((size_t)1024)
#define BENCH_MIB (1024 * BENCH_KIB)

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Median and extremes of n samples; sorts v in place. n > 0. */
struct bench_summary {
	double median;
	double min;
	double max;
};
struct bench_summary bench_summarize(double *v, size_t n);

/* "12.3 us"-style rendering of a duration in ns into buf. */
const char *bench_fmt_ns(char *buf, size_t len, double ns);

/*
 * Print the run's context: date (UTC), kernel, CPU, cores, memory, swap,
 * page size, and the command line that reproduces the run.
 */
void bench_print_context(const char *title, int argc, char **argv);

/*
 * Parse a backend name (vcache_backend_from_name(), "auto" refused).
 * Returns 0 or -EINVAL.
 */
int bench_parse_backend(const char *name, enum vcache_backend *ret_backend);

/*
 * Whether backend is usable here: a cache forced to it can be created. On
 * refusal, *ret_reason is the library's reason (vcache_backend_status() of
 * an automatic cache), else strerror(). Returns 0 or the negative errno.
 */
int bench_backend_usable(enum vcache_backend backend, const char **ret_reason);

/* Create a cache with the given backend and idle delay; -errno on error. */
int bench_cache_new(enum vcache_backend backend, unsigned int idle_delay_ms,
		    vcache **ret_cache);

/*
 * Deterministic content: the 64-bit word at byte offset o of an object
 * with the given seed. bench_regen is a vcache_regen_fn whose userdata is
 * a pointer to the uint64_t seed; it writes exactly this content.
 */
uint64_t bench_word(uint64_t seed, size_t offset);
int bench_regen(vcache_object *object, void *dst, size_t offset,
		size_t length, void *userdata);
/*
 * Choose the content: false (default) is splitmix64, a few ns per word;
 * true is a trivial pattern written at memory speed. Set before filling.
 */
void bench_set_cheap_content(bool cheap);
/* Fill dst with the content of [offset, offset + length). */
void bench_fill(void *dst, size_t offset, size_t length, uint64_t seed);

/*
 * Read the first word of every page of [data, data + length) and compare
 * it with the expected content of an object starting at byte base.
 * Returns the number of mismatching pages (0 when the data is intact).
 */
size_t bench_check_pages(const void *data, size_t base, size_t length,
			 uint64_t seed);

/*
 * Ask the kernel to reclaim [addr, addr + length) now (MADV_PAGEOUT):
 * volatile pages are purged, pinned ones stay (there is no swap).
 * Returns 0 or -errno.
 */
int bench_pageout(void *addr, size_t length);

/* Resident pages of [addr, addr + length) by mincore(2), or -errno. */
long bench_resident_pages(void *addr, size_t length);

size_t bench_page_size(void);

#endif /* VCACHE_BENCH_UTIL_H */
