/* SPDX-License-Identifier: MIT */
/*
 * bench-perf-fault.c - P4 of bench-perf (one purged 4 KiB page faulted
 * back) and the sample/ratio printing shared by bench-perf's parts.
 *
 * Three configurations, interleaved, each faulting perf.faults pages per
 * sample; the purge or drop of the page is untimed and checked with
 * mincore(2) (a page that did not go away is counted and not timed):
 *  vcache     optimistic read of a purged page of a uffd object (chunk =
 *             page, default options): SIGBUS, lookup, regenerate,
 *             install, return;
 *  floor      the same read of a page of our own userfaultfd region
 *             (UFFD_FEATURE_SIGBUS) dropped with MADV_DONTNEED; our
 *             handler fills a staging page and installs it with one
 *             UFFDIO_COPY: the least a signal-based stock-kernel fault can
 *             do (signal + fill + one install + sigreturn);
 *  refault    plain memory dropped with MADV_DONTNEED, refilled by
 *             writing it (page fault, zeroing, fill; no signal).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench-perf.h"
#include "bench-syscalls.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

void perf_series_add(struct perf_series *s, unsigned int r, double ns,
		     uint64_t sc0, uint64_t sc1, uint64_t ops)
{
	s->ns[r] = ns;
	if (sc0 == UINT64_MAX || sc1 == UINT64_MAX || sc1 < sc0 + 1) {
		s->sc_bad = true;
		return;
	}
	s->sc += sc1 - sc0 - 1; /* the second read(2) counted itself */
	s->sc_ops += ops;
}

static double median_of(const struct perf_series *s)
{
	double v[PERF_MAX_REPS];

	memcpy(v, s->ns, sizeof(double) * perf.reps);
	return bench_summarize(v, perf.reps).median;
}

void perf_series_print(const char *label, const struct perf_series *s,
		       uint64_t ops_per_sample)
{
	double v[PERF_MAX_REPS];
	struct bench_summary m;
	char a[32], b[32], c[32];

	memcpy(v, s->ns, sizeof(double) * perf.reps);
	m = bench_summarize(v, perf.reps);
	printf("  %-30s %9s [%s..%s]", label,
	       bench_fmt_ns(a, sizeof(a), m.median),
	       bench_fmt_ns(b, sizeof(b), m.min),
	       bench_fmt_ns(c, sizeof(c), m.max));
	if (s->sc_bad || !s->sc_ops)
		printf("  sc n/a");
	else
		printf("  sc %.2f", (double)s->sc / (double)s->sc_ops);
	printf("  (%llu ops/sample)\n", (unsigned long long)ops_per_sample);
}

void perf_ratio(const char *what, const struct perf_series *a,
		const struct perf_series *b)
{
	double r = median_of(a) / median_of(b);

	/* Two significant digits below 0.1: x0.000 says nothing. */
	printf(r < 0.1 ? "  RATIO %-44s x%.2g\n" : "  RATIO %-44s x%.3f\n",
	       what, r);
}

/* ---- P4 ---- */

#define NPAGES 64

static size_t pg;
static char *floor_buf, *staging;
static int floor_uffd = -1;
static uint64_t floor_seed = 4242;
static struct sigaction prev_bus;
static volatile sig_atomic_t floor_fill_errors;
static vcache_object *fault_obj;

/* Ours if in floor_buf; anything else goes to the handler before us (the
 * library's), called as the kernel would have called it. */
static void floor_handler(int sig, siginfo_t *si, void *uc)
{
	char *a = si->si_addr;
	int saved = errno;

	if (a >= floor_buf && a < floor_buf + NPAGES * pg) {
		size_t off = (size_t)(a - floor_buf) & ~(pg - 1);
		struct uffdio_copy cp = {
			.dst = (uintptr_t)(floor_buf + off),
			.src = (uintptr_t)staging, .len = pg,
		};

		bench_fill(staging, off, pg, floor_seed);
		if (ioctl(floor_uffd, UFFDIO_COPY, &cp) < 0 && errno != EEXIST)
			floor_fill_errors++;
		errno = saved;
		return;
	}
	if (prev_bus.sa_flags & SA_SIGINFO)
		prev_bus.sa_sigaction(sig, si, uc);
	else if (prev_bus.sa_handler != SIG_IGN &&
		 prev_bus.sa_handler != SIG_DFL)
		prev_bus.sa_handler(sig);
	else
		sigaction(SIGBUS, &prev_bus, NULL); /* refault: default */
	errno = saved;
}

static const char *floor_setup(void)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_SIGBUS };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct sigaction sa;

	floor_uffd = (int)syscall(SYS_userfaultfd,
				  O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (floor_uffd < 0)
		return "userfaultfd refused";
	if (ioctl(floor_uffd, UFFDIO_API, &api) < 0)
		return "UFFDIO_API with UFFD_FEATURE_SIGBUS refused";
	floor_buf = mmap(NULL, NPAGES * pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	staging = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (floor_buf == MAP_FAILED || staging == MAP_FAILED)
		return "mmap failed";
	reg.range.start = (uintptr_t)floor_buf;
	reg.range.len = NPAGES * pg;
	if (ioctl(floor_uffd, UFFDIO_REGISTER, &reg) < 0)
		return "UFFDIO_REGISTER refused";
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = floor_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &prev_bus) < 0)
		return "sigaction failed";
	return NULL;
}

enum { F_VCACHE, F_FLOOR, F_REFAULT, F_MAX };
static const char *const f_label[F_MAX] = {
	"vcache optimistic fault", "floor: SIGBUS+fill+UFFDIO_COPY",
	"plain refault + fill",
};

struct fconf {
	char *buf;
	uint64_t seed;
	struct perf_series s;
	uint64_t not_purged, bad, timed;
	const char *skip;
};

/* One sample of perf.faults faults; returns mean ns per timed fault. */
static void fsample(int k, struct fconf *c, unsigned int r)
{
	uint64_t sc = 0, ns = 0, n = 0, scb = 0;

	for (unsigned int i = 0; i < perf.faults; i++) {
		size_t off = (size_t)((i * 7 + r) % NPAGES) * pg;
		char *p = c->buf + off;
		uint64_t t0, t1, sc0, sc1, got;

		if (k == F_VCACHE) {
			bench_pageout(p, pg);
			/* Regenerated moments ago, the page waits inside the
			 * default idle delay (not lazy-free yet): the
			 * library's own purge drops it. */
			if (bench_resident_pages(p, pg) != 0)
				(void)vcache_purge_range(fault_obj, off, pg);
		} else {
			madvise(p, pg, MADV_DONTNEED);
		}
		if (bench_resident_pages(p, pg) != 0) {
			c->not_purged++;
			continue;
		}
		sc0 = bench_syscalls_read(perf_sc_fd);
		t0 = bench_now_ns();
		if (k == F_REFAULT)
			bench_fill(p, off, pg, c->seed);
		got = *(volatile uint64_t *)p;
		t1 = bench_now_ns();
		sc1 = bench_syscalls_read(perf_sc_fd);
		if (got != bench_word(c->seed, off) ||
		    bench_check_pages(p, off, pg, c->seed))
			c->bad++;
		ns += t1 - t0;
		n++;
		if (sc0 != UINT64_MAX && sc1 != UINT64_MAX && sc1 > sc0)
			sc += sc1 - sc0 - 1;
		else
			scb = 1;
	}
	c->timed += n;
	/* Per fault: the window's syscalls over n faults (0 + 1 keeps
	 * perf_series_add's "counter read counted itself" rule). */
	perf_series_add(&c->s, r, n ? (double)ns / (double)n : 0,
			scb ? UINT64_MAX : 0, sc + 1, n);
}

void perf_fault(void)
{
	struct fconf c[F_MAX];
	vcache *cache = NULL;
	vcache_object *obj = NULL;
	struct vcache_options o;
	int r;

	pg = bench_page_size();
	memset(c, 0, sizeof(c));
	printf("\n## P4: fault -> regenerate one 4 KiB page (%u faults per "
	       "sample; purge untimed, checked by mincore)\n", perf.faults);
	/* The library's cache first, so its SIGBUS handler is below ours. */
	vcache_options_init(&o);
	o.backend = perf.backend;
	c[F_VCACHE].seed = 99;
	r = vcache_new(&o, &cache);
	if (r == 0)
		r = vcache_object_create(cache, "fault", NPAGES * pg, 0,
					 bench_regen, &c[F_VCACHE].seed, 0,
					 &obj);
	if (r < 0)
		c[F_VCACHE].skip = strerror(-r);
	else
		c[F_VCACHE].buf = vcache_object_data(obj);
	fault_obj = obj;
	c[F_FLOOR].skip = floor_setup();
	c[F_FLOOR].buf = floor_buf;
	c[F_FLOOR].seed = floor_seed;
	c[F_REFAULT].seed = 7;
	c[F_REFAULT].buf = mmap(NULL, NPAGES * pg, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c[F_REFAULT].buf == MAP_FAILED)
		c[F_REFAULT].skip = "mmap failed";
	for (unsigned int rep = 0; rep < perf.reps; rep++)
		for (int k = 0; k < F_MAX; k++)
			if (!c[k].skip)
				fsample(k, &c[k], rep);
	for (int k = 0; k < F_MAX; k++) {
		if (c[k].skip) {
			printf("  %-30s skipped: %s\n", f_label[k], c[k].skip);
			continue;
		}
		perf_series_print(f_label[k], &c[k].s, perf.faults);
		printf("      data: %llu bad of %llu timed faults; %llu pages "
		       "not purged (untimed)\n", (unsigned long long)c[k].bad,
		       (unsigned long long)c[k].timed,
		       (unsigned long long)c[k].not_purged);
	}
	if (floor_fill_errors)
		printf("  floor handler: %d UFFDIO_COPY errors\n",
		       (int)floor_fill_errors);
	if (!c[F_VCACHE].skip && !c[F_FLOOR].skip)
		perf_ratio("P4 vcache fault / floor (signal+fill+install)",
			   &c[F_VCACHE].s, &c[F_FLOOR].s);
	if (!c[F_VCACHE].skip && !c[F_REFAULT].skip)
		perf_ratio("P4 vcache fault / plain refault+fill",
			   &c[F_VCACHE].s, &c[F_REFAULT].s);
	if (obj) {
		vcache_object_remove(obj);
		vcache_object_unref(obj);
	}
	if (cache)
		vcache_free(cache);
	/* Our handler stays: the library may still chain to it. */
}
