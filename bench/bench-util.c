/* SPDX-License-Identifier: MIT */
/*
 * bench-util.c - timing, statistics, machine facts and test content shared
 * by the benchmarks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct bench_summary bench_summarize(double *v, size_t n)
{
	struct bench_summary s;

	qsort(v, n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

const char *bench_fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.1f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.2f us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", ns / 1e9);
	return buf;
}

/* The value of "key" in a "key: value" file such as /proc/meminfo. */
static void proc_field(const char *path, const char *key, char *out,
		       size_t len)
{
	size_t klen = strlen(key);
	char line[512];
	FILE *f;

	snprintf(out, len, "?");
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, key, klen) != 0)
			continue;
		v = line + klen;
		v += strspn(v, " \t:");
		v[strcspn(v, "\n")] = '\0';
		snprintf(out, len, "%s", v);
		break;
	}
	fclose(f);
}

void bench_print_context(const char *title, int argc, char **argv)
{
	char date[64], cpu[160], mem[64], swap[64], thp[96], load[96];
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	proc_field("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	proc_field("/proc/meminfo", "MemTotal", mem, sizeof(mem));
	proc_field("/proc/meminfo", "SwapTotal", swap, sizeof(swap));
	/* Huge pages change fault costs of plain-memory baselines. */
	proc_field("/sys/kernel/mm/transparent_hugepage/enabled", "", thp,
		   sizeof(thp));
	/* Other work on the machine widens the spread; say how much. */
	proc_field("/proc/loadavg", "", load, sizeof(load));

	printf("# %s\n", title);
	printf("# date:    %s\n", date);
	printf("# kernel:  %s %s %s\n", u.sysname, u.release, u.machine);
	printf("# cpu:     %s, %ld online\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
	printf("# memory:  %s, swap %s, page %zu B, THP %s\n", mem, swap,
	       bench_page_size(), thp);
	printf("# load:    %s (1/5/15 min, runnable/total, last pid)\n", load);
	{
		struct timespec res;

		/* A guest without TSC ticks in jiffies: samples quantise. */
		if (clock_getres(CLOCK_MONOTONIC, &res) == 0)
			printf("# clock:   CLOCK_MONOTONIC, resolution %ld ns\n",
			       res.tv_nsec + res.tv_sec * 1000000000l);
	}
	printf("# command:");
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);
}

int bench_parse_backend(const char *name, enum vcache_backend *ret_backend)
{
	enum vcache_backend b;

	/* A benchmark compares real backends: "auto" is not one. */
	if (vcache_backend_from_name(name, &b) < 0 || b == VCACHE_BACKEND_AUTO)
		return -EINVAL;
	*ret_backend = b;
	return 0;
}

int bench_backend_usable(enum vcache_backend backend, const char **ret_reason)
{
	const char *reason = NULL;
	vcache *c;
	int r;

	/* The real test: can a cache with that backend be created? */
	r = bench_cache_new(backend, 0, &c);
	if (r == 0) {
		vcache_free(c);
		*ret_reason = NULL;
		return 0;
	}
	/* Refused: ask a cache of the automatic choice for the reason. */
	if (bench_cache_new(VCACHE_BACKEND_AUTO, 0, &c) == 0) {
		vcache_backend_status(c, backend, &reason);
		vcache_free(c);
	}
	*ret_reason = reason ? reason : strerror(-r);
	return r;
}

int bench_cache_new(enum vcache_backend backend, unsigned int idle_delay_ms,
		    vcache **ret_cache)
{
	struct vcache_options o;

	vcache_options_init(&o);
	o.backend = backend;
	o.idle_delay_ms = idle_delay_ms;
	/* 0 here means at once, not the library's default delay. */
	if (!idle_delay_ms)
		o.flags |= VCACHE_OPT_NO_IDLE_DELAY;
	return vcache_new(&o, ret_cache);
}

static bool cheap_content;

void bench_set_cheap_content(bool cheap)
{
	cheap_content = cheap;
}

/*
 * splitmix64 by default: a few ns per word, standing in for real work, and
 * every word differs, so a stale page shows. The cheap variant runs at
 * memory speed, so that library overheads are not hidden behind it.
 */
static inline uint64_t word_mix(uint64_t seed, size_t offset)
{
	uint64_t z = seed + (offset / 8 + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t word_cheap(uint64_t seed, size_t offset)
{
	return (seed << 40) ^ offset;
}

uint64_t bench_word(uint64_t seed, size_t offset)
{
	return cheap_content ? word_cheap(seed, offset) :
			       word_mix(seed, offset);
}

void bench_fill(void *dst, size_t offset, size_t length, uint64_t seed)
{
	uint64_t *w = dst;

	if (cheap_content) {
		for (size_t i = 0; i < length / 8; i++)
			w[i] = word_cheap(seed, offset + i * 8);
	} else {
		for (size_t i = 0; i < length / 8; i++)
			w[i] = word_mix(seed, offset + i * 8);
	}
}

int bench_regen(vcache_object *object, void *dst, size_t offset,
		size_t length, void *userdata)
{
	(void)object;
	bench_fill(dst, offset, length, *(const uint64_t *)userdata);
	return 0;
}

size_t bench_check_pages(const void *data, size_t base, size_t length,
			 uint64_t seed)
{
	size_t ps = bench_page_size(), bad = 0;

	for (size_t o = 0; o < length; o += ps) {
		uint64_t w = *(const volatile uint64_t *)((const char *)data + o);

		bad += w != bench_word(seed, base + o);
	}
	return bad;
}

int bench_pageout(void *addr, size_t length)
{
	return madvise(addr, length, MADV_PAGEOUT) < 0 ? -errno : 0;
}

long bench_resident_pages(void *addr, size_t length)
{
	size_t ps = bench_page_size(), n = (length + ps - 1) / ps;
	unsigned char *vec = malloc(n);
	long res = 0;

	if (!vec)
		return -ENOMEM;
	if (mincore(addr, length, vec) < 0) {
		res = -errno;
	} else {
		for (size_t i = 0; i < n; i++)
			res += vec[i] & 1;
	}
	free(vec);
	return res;
}

size_t bench_page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}
