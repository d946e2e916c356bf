// SPDX-License-Identifier: MIT
/*
 * tabcache - a browser-tab cache on volatile memory
 *
 * Each tab is a rendered page (a 1024x768 bitmap, 3 MiB) kept in a named
 * vcache object. The visible tab is pinned; hidden tabs are volatile, so
 * under memory pressure the kernel purges them instead of swapping or
 * OOM-killing. A switcher changes tabs while pressure is applied:
 *
 *  - switching to a tab pins it with VCACHE_PIN_REGENERATE (explicit use):
 *    purged chunks are re-rendered before the pin returns;
 *  - a thumbnail strip reads a few hidden tabs *without* pinning
 *    (optimistic use): touching a purged page raises SIGBUS and the
 *    library re-renders that chunk in place.
 *
 * Every pixel read is checked against the renderer, so a purge that went
 * unnoticed or a wrong regeneration is a mismatch, and a mismatch makes
 * the exit status non-zero.
 */
#define _GNU_SOURCE /* MADV_PAGEOUT */
#include "render.h"
#include "pressure.h"
#include "tabshot.h"
#include "tabtrace.h"
#include "tabview.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vcache.h>

#define CHUNK_SIZE (64u * 1024)
#define THUMBNAILS 4
#define EXIT_SKIP 77 /* meson: test skipped */

struct options {
	unsigned int tabs;
	unsigned long switches;   /* 0: run for seconds */
	double seconds;
	enum vcache_backend backend;
	enum pressure_mode pressure;
	int random_order;
	unsigned int seed;
	int quiet;
	int expect_purges;
	int bad_regen;
	const char *snapshot;     /* --snapshot FILE.png */
	double snapshot_every;    /* 0: only at the end */
	const char *trace;        /* --trace FILE.csv */
	double trace_interval;
	unsigned long hog_max_mib; /* 0: no cap */
};

static volatile sig_atomic_t interrupted;
static struct timespec started; /* for "first switch after" */
static volatile sig_atomic_t corrupt_regenerations; /* --bad-regen */
/* Regenerations per chunk, for --snapshot; set after the tabs exist so
 * that their creation does not count. Lock-free atomics: fine in the
 * SIGBUS handler. */
static atomic_uint *_Atomic regen_count;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Regeneration callback: may run in the SIGBUS handler, render_range()
 * is pure computation. userdata is the tab number. */
static int regen_tab(vcache_object *object, void *dst, size_t offset,
		     size_t length, void *userdata)
{
	atomic_uint *counts = atomic_load(&regen_count);

	(void)object;
	render_range((unsigned int)(uintptr_t)userdata, dst, offset, length);
	if (counts)
		atomic_fetch_add(&counts[(uintptr_t)userdata *
					 (RENDER_BYTES / CHUNK_SIZE) +
					 offset / CHUNK_SIZE], 1);
	if (corrupt_regenerations)
		*(uint32_t *)dst ^= 1;
	return 0;
}

static void usage(FILE *f)
{
	fputs("Usage: tabcache [OPTIONS]\n"
	      "Browser-tab cache demo: hidden tabs live in volatile memory that\n"
	      "the kernel purges under pressure; they are re-rendered on use.\n\n"
	      "  --tabs N          number of tabs (default 24, 3 MiB each)\n"
	      "  --switches N      stop after N tab switches\n"
	      "  --seconds S       stop after S seconds (default 10)\n"
	      "  --order rr|random switching order (default random)\n"
	      "  --seed N          seed for the random order (default 1)\n"
	      "  --backend NAME    auto, vrange, uffd, soft or none (default auto)\n"
	      "  --pressure MODE   auto, cgroup, hog, pageout or none (default\n"
	      "                    auto: cgroup, else hog if that needs at\n"
	      "                    most --hog-max-mib, else pageout)\n"
	      "  --no-pressure     same as --pressure none\n"
	      "  --hog-max-mib N   cap what the memory hog may take (default\n"
	      "                    2048; 0: no cap)\n"
	      "  --expect-purges   fail if nothing was purged (exit 77 if no\n"
	      "                    pressure could be applied)\n"
	      "  --quiet           no live status line\n"
	      "  --snapshot FILE   write a PNG picture of the tabs after the\n"
	      "                    run (purged chunks red, regenerated green)\n"
	      "  --snapshot-every S  also every S seconds during the run\n"
	      "  --trace FILE      write per-interval figures as CSV\n"
	      "  --trace-interval S  interval of --trace (default 0.5)\n"
	      "  --bad-regen       self-test: corrupt one pixel of every\n"
	      "                    regenerated chunk; exit 0 only if the\n"
	      "                    pixel checks catch it\n"
	      "  --help            this text\n", f);
}

static int parse_pressure(const char *s, enum pressure_mode *ret)
{
	for (int m = PRESSURE_AUTO; m <= PRESSURE_PAGEOUT; m++) {
		if (strcmp(s, pressure_mode_name(m)) == 0) {
			*ret = m;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { O_TABS = 256, O_SWITCHES, O_SECONDS, O_ORDER, O_SEED,
	       O_BACKEND, O_PRESSURE, O_NO_PRESSURE, O_EXPECT, O_QUIET,
	       O_BAD_REGEN, O_SNAPSHOT, O_SNAPSHOT_EVERY, O_TRACE,
	       O_TRACE_INTERVAL, O_HOG_MAX, O_HELP };
	static const struct option longopts[] = {
		{ "tabs", required_argument, NULL, O_TABS },
		{ "switches", required_argument, NULL, O_SWITCHES },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "order", required_argument, NULL, O_ORDER },
		{ "seed", required_argument, NULL, O_SEED },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "pressure", required_argument, NULL, O_PRESSURE },
		{ "no-pressure", no_argument, NULL, O_NO_PRESSURE },
		{ "expect-purges", no_argument, NULL, O_EXPECT },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "bad-regen", no_argument, NULL, O_BAD_REGEN },
		{ "snapshot", required_argument, NULL, O_SNAPSHOT },
		{ "snapshot-every", required_argument, NULL,
		  O_SNAPSHOT_EVERY },
		{ "trace", required_argument, NULL, O_TRACE },
		{ "trace-interval", required_argument, NULL,
		  O_TRACE_INTERVAL },
		{ "hog-max-mib", required_argument, NULL, O_HOG_MAX },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 }
	};
	char *end;
	int c;

	*o = (struct options){ .tabs = 24, .seconds = 10, .random_order = 1,
			       .seed = 1, .pressure = PRESSURE_AUTO,
			       .trace_interval = 0.5, .hog_max_mib = 2048 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (c) {
		case O_TABS:
			o->tabs = strtoul(optarg, &end, 10);
			if (o->tabs < 2 || o->tabs > 4096)
				end = NULL;
			break;
		case O_SWITCHES:
			o->switches = strtoul(optarg, &end, 10);
			break;
		case O_SECONDS:
			o->seconds = strtod(optarg, &end);
			o->switches = 0;
			break;
		case O_ORDER:
			if (strcmp(optarg, "rr") && strcmp(optarg, "random"))
				break;
			o->random_order = strcmp(optarg, "random") == 0;
			end = optarg + strlen(optarg);
			break;
		case O_SEED:
			o->seed = strtoul(optarg, &end, 10);
			break;
		case O_BACKEND:
			if (vcache_backend_from_name(optarg, &o->backend) == 0)
				end = optarg + strlen(optarg);
			break;
		case O_PRESSURE:
			if (parse_pressure(optarg, &o->pressure) == 0)
				end = optarg + strlen(optarg);
			break;
		case O_NO_PRESSURE:
			o->pressure = PRESSURE_NONE;
			continue;
		case O_EXPECT:
			o->expect_purges = 1;
			continue;
		case O_QUIET:
			o->quiet = 1;
			continue;
		case O_BAD_REGEN:
			o->bad_regen = 1;
			continue;
		case O_SNAPSHOT:
			o->snapshot = optarg;
			continue;
		case O_TRACE:
			o->trace = optarg;
			continue;
		case O_SNAPSHOT_EVERY:
			o->snapshot_every = strtod(optarg, &end);
			if (o->snapshot_every <= 0)
				end = NULL;
			break;
		case O_HOG_MAX:
			o->hog_max_mib = strtoul(optarg, &end, 10);
			break;
		case O_TRACE_INTERVAL:
			o->trace_interval = strtod(optarg, &end);
			if (o->trace_interval <= 0)
				end = NULL;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
		if (errno || !end || end == optarg || *end) {
			fprintf(stderr, "tabcache: bad value '%s'\n", optarg);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* Print the backend in use and why each other one was refused. */
static void print_backends(vcache *cache, const char *label)
{
	const char *sep = " (";

	printf("%s%s", label, vcache_backend_name(vcache_backend(cache)));
	for (int b = VCACHE_BACKEND_VRANGE; vcache_backend_name(b); b++) {
		const char *reason = NULL;
		int r = vcache_backend_status(cache, b, &reason);

		if (b == (int)vcache_backend(cache))
			continue;
		printf("%s%s: %s", sep, vcache_backend_name(b),
		       r == 0 ? "usable" : reason ? reason : strerror(-r));
		sep = "; ";
	}
	puts(*sep == ';' ? ")" : "");
}

static unsigned int next_tab(const struct options *o, unsigned int cur,
			     unsigned int *rng)
{
	if (!o->random_order)
		return (cur + 1) % o->tabs;
	/* xorshift32: reproducible for a given --seed. */
	*rng ^= *rng << 13;
	*rng ^= *rng >> 17;
	*rng ^= *rng << 5;
	return (cur + 1 + *rng % (o->tabs - 1)) % o->tabs;
}

/* Pressure "pageout": the kernel reclaims one random hidden tab (not the
 * one about to be shown), which purges its volatile pages. */
static void page_out_one(const struct options *o, struct tabview *tv,
			 unsigned int next, unsigned int *rng)
{
	unsigned int k = next_tab(o, next, rng);

	if ((int)k != tabview_visible(tv))
		madvise(vcache_object_data(tabview_tab(tv, k)), RENDER_BYTES,
			MADV_PAGEOUT);
}

static void snapshot(const struct options *o, struct tabview *tv)
{
	int r = tabshot_write(o->snapshot, tv, atomic_load(&regen_count),
			      CHUNK_SIZE);

	if (r < 0)
		fprintf(stderr, "tabcache: --snapshot %s: %s\n", o->snapshot,
			strerror(-r));
}

static int run(const struct options *o, vcache *cache, struct tabview *tv,
	       struct tabtrace *tt, struct pressure *p)
{
	char line[256];

	unsigned int rng = o->seed ? o->seed : 1, cur = 0;
	double next_shot = o->snapshot_every;
	int r;

	r = tabview_show(tv, cur);
	for (unsigned long n = 1; r >= 0 && !interrupted; n++) {
		if (o->switches ? n > o->switches :
		    tabview_elapsed(tv) >= o->seconds)
			break;
		cur = next_tab(o, cur, &rng);
		if (p->mode == PRESSURE_PAGEOUT)
			page_out_one(o, tv, cur, &rng);
		r = tabview_show(tv, cur);
		if (n == 1 && !o->quiet) {
			struct timespec t;

			clock_gettime(CLOCK_MONOTONIC, &t);
			printf("%sfirst tab switch %.1f s after the start\n",
			       isatty(STDOUT_FILENO) ? "\r" : "",
			       (t.tv_sec - started.tv_sec) +
			       (t.tv_nsec - started.tv_nsec) / 1e9);
			fflush(stdout);
		}
		/* The strip: a few hidden neighbours, read without a pin. */
		for (unsigned int k = 1; r >= 0 && k <= THUMBNAILS; k++)
			tabview_thumbnail(tv, (cur + k) % o->tabs);
		/* A filling hog says how far it got, on a line of its own. */
		if (pressure_progress(p, line, sizeof(line)) && !o->quiet)
			printf(isatty(STDOUT_FILENO) ? "\r%s\033[K\n" :
			       "%s\n", line);
		tabview_status(tv, cache, !o->quiet, 0);
		tabtrace_switch(tt, tv, cache);
		if (o->snapshot && o->snapshot_every &&
		    tabview_elapsed(tv) >= next_shot) {
			snapshot(o, tv);
			next_shot += o->snapshot_every;
		}
	}
	return r;
}

/* The exit status: 0, 1 (failed), 77 (skipped: nothing to test). */
static int verdict(const struct options *o, uint64_t purges,
		   enum pressure_mode pressure, int mismatched)
{
	if (o->expect_purges && !purges) {
		if (pressure == PRESSURE_NONE) {
			printf("SKIP: no memory pressure could be applied, so "
			       "nothing was purged\n");
			return EXIT_SKIP;
		}
		printf("FAIL: pressure was applied but nothing was purged\n");
		return 1;
	}
	if (!o->bad_regen)
		return mismatched ? 1 : 0;
	if (!purges) {
		printf("SKIP: nothing was purged, so nothing regenerated\n");
		return EXIT_SKIP;
	}
	if (!mismatched) {
		printf("FAIL: corrupted regenerations went unnoticed\n");
		return 1;
	}
	printf("OK: the pixel checks caught the corrupted regenerations\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct vcache_options vo;
	struct options o;
	struct pressure pressure;
	struct tabview *tv = NULL;
	struct tabtrace *tt = NULL;
	atomic_uint *counts = NULL;
	vcache *cache = NULL;
	const char *why_none = NULL;
	size_t total;
	int r, status, mismatched;

	clock_gettime(CLOCK_MONOTONIC, &started);
	if (parse_options(argc, argv, &o) < 0)
		return 2;
	/* Stop cleanly (and leave no cgroup behind) on ^C, kill, or a
	 * closed pipe such as "tabcache | head". */
	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);
	signal(SIGPIPE, SIG_IGN);

	vcache_options_init(&vo);
	vo.backend = o.backend;
	r = vcache_new(&vo, &cache);
	if (r < 0) {
		fprintf(stderr, "tabcache: backend %s refused: %s\n",
			vcache_backend_name(o.backend), strerror(-r));
		return 2;
	}
	print_backends(cache, "backend: ");

	/* Pressure before the tabs exist, so that they are charged to the
	 * cgroup (or find the hog already there). */
	total = (size_t)o.tabs * RENDER_BYTES;
	if (vcache_backend(cache) == VCACHE_BACKEND_NONE &&
	    o.pressure != PRESSURE_NONE) {
		o.pressure = PRESSURE_NONE;
		why_none = "backend 'none' never purges, so a memory limit "
			   "would only get the demo OOM-killed";
	}
	/* keep: the visible tab and the program itself, beyond the share of
	 * the volatile tabs that pressure_start() lets stay resident. */
	pressure_start(&pressure, o.pressure, total, RENDER_BYTES + (8u << 20),
		       (uint64_t)o.hog_max_mib << 20);
	/* MADV_PAGEOUT purges what the kernel sees as volatile: the vrange
	 * and uffd backends' memory, nothing a backend keeps by itself. */
	if (pressure.mode == PRESSURE_PAGEOUT &&
	    vcache_backend(cache) != VCACHE_BACKEND_UFFD &&
	    vcache_backend(cache) != VCACHE_BACKEND_VRANGE) {
		pressure_stop(&pressure);
		why_none = "this backend's memory is not purged by the "
			   "kernel's reclaim (MADV_PAGEOUT)";
	}
	printf("pressure: %s: %s\n", pressure_mode_name(pressure.mode),
	       why_none ? why_none : pressure.why);
	fflush(stdout);

	r = tabview_new(cache, o.tabs, CHUNK_SIZE, regen_tab, &tv);
	if (r < 0) {
		fprintf(stderr, "tabcache: creating %u tabs: %s\n", o.tabs,
			strerror(-r));
		status = 2;
		goto out;
	}
	corrupt_regenerations = o.bad_regen; /* creation stays correct */
	if (o.snapshot) {
		counts = calloc((size_t)o.tabs * (RENDER_BYTES / CHUNK_SIZE),
				sizeof(*counts));
		atomic_store(&regen_count, counts);
	}
	if (o.trace) {
		r = tabtrace_open(o.trace, o.trace_interval, &tt);
		if (r < 0)
			fprintf(stderr, "tabcache: --trace %s: %s\n", o.trace,
				strerror(-r));
	}
	printf("%u tabs x %.1f MiB, chunk %u KiB; %s order, %s\n", o.tabs,
	       RENDER_BYTES / 1048576.0, CHUNK_SIZE / 1024,
	       o.random_order ? "random" : "round-robin",
	       o.switches ? "counting switches" : "timed");
	if (!o.quiet)
		fputs(TABVIEW_LEGEND, stdout);
	fflush(stdout);

	r = run(&o, cache, tv, tt, &pressure);
	tabview_status(tv, cache, !o.quiet, 1);
	if (tabtrace_close(tt, tv, cache) < 0)
		fprintf(stderr, "tabcache: --trace %s: write failed\n",
			o.trace);
	if (o.snapshot) {
		snapshot(&o, tv);
		printf("snapshot: %s\n", o.snapshot);
	}
	if (interrupted)
		printf("interrupted\n");
	if (r < 0)
		fprintf(stderr, "tabcache: %s\n", strerror(-r));
	mismatched = tabview_summary(tv, cache, stdout);
	print_backends(cache, "  backend:       ");
	printf("  pressure:      %s\n", pressure_mode_name(pressure.mode));
	status = r < 0 ? 2 : verdict(&o, tabview_purges(tv, cache),
				     pressure.mode, mismatched);
out:
	tabview_free(tv);
	atomic_store(&regen_count, NULL); /* no regeneration can run now */
	free(counts);
	pressure_stop(&pressure);
	r = vcache_free(cache);
	if (r < 0) {
		fprintf(stderr, "tabcache: vcache_free: %s\n", strerror(-r));
		status = status ? status : 2;
	}
	return status;
}
