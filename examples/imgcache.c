// SPDX-License-Identifier: MIT
/*
 * imgcache - an image cache of real PNG files on volatile memory
 *
 * Every PNG file of a directory is decoded into a named vcache object (the
 * file's name), 8-bit RGBA in bands of rows, one band per chunk (image.h,
 * pngband.h). Then random views: a thumbnail reads one pixel in 8x8
 * without a pin (optimistic: a purged band raises SIGBUS and the library
 * decodes it again from the file, in the handler); a full view pins the
 * image with VCACHE_PIN_REGENERATE and reads every pixel. Every pixel read
 * is checked against a reference decode made at load time (per-band
 * hashes, thumbnail pixels), so a wrong regeneration is a mismatch, and a
 * mismatch makes the exit status 1.
 *
 * Memory pressure, so that something gets purged: a memory cgroup when the
 * process may make one (as tabcache), else MADV_PAGEOUT of a random other
 * image before each view (the kernel reclaims that range for real; no
 * privileges needed), or the tabcache hog on request.
 *
 * --bench-seek measures what one band costs to decode with each way of
 * finding it in the compressed stream (pngband.h) and exits.
 */
#define _GNU_SOURCE /* MADV_PAGEOUT */
#include "faultname.h"
#include "image.h"
#include "imgbench.h"
#include "pnggen.h"
#include "pressure.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define EXIT_SKIP 77

enum ipressure { IP_AUTO, IP_CGROUP, IP_HOG, IP_PAGEOUT, IP_NONE };
static const char *const ip_names[] = { "auto", "cgroup", "hog", "pageout",
					"none" };
static const char *const seek_names[] = { "restart", "resume",
					  "checkpoint" };

struct options {
	const char *dir;
	unsigned int generate;  /* large images when no dir is given */
	unsigned long views;
	unsigned int full_every; /* one full view in N */
	unsigned int seed;
	enum ipressure pressure;
	struct image_options img;
	int expect_purges;
	int bench_seek;
	int quiet;
};

struct run {
	struct image **img;
	size_t n;
	uint64_t views, full, thumbs, full_hits, thumb_hits;
	uint64_t pixels, mismatches, pageouts;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned int xorshift(unsigned int *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void usage(FILE *f)
{
	fputs("Usage: imgcache [OPTIONS] [DIR]\n"
	      "Decode the PNG files of DIR into volatile memory and serve random\n"
	      "views under memory pressure; every pixel read is checked. Without\n"
	      "DIR, the project's test images are generated into a temporary\n"
	      "directory first.\n\n"
	      "  --views N          number of views (default 400)\n"
	      "  --full-every N     one view in N is a full, pinned view; the\n"
	      "                     others are optimistic thumbnails (default 4)\n"
	      "  --seek MODE        restart, resume or checkpoint (default)\n"
	      "  --band-kib N       band (chunk) size target (default 256)\n"
	      "  --max-mib N        largest decoded image (default 256)\n"
	      "  --pressure MODE    auto (cgroup, else pageout), cgroup, hog,\n"
	      "                     pageout or none\n"
	      "  --generate N       without DIR: N large photos-alike too\n"
	      "                     (default 8)\n"
	      "  --seed N           random views (default 1)\n"
	      "  --no-verify        skip the reference decode and the checks\n"
	      "  --expect-purges    fail if nothing was purged (77: no pressure)\n"
	      "  --bench-seek       measure band decode time per seek mode\n"
	      "  --quiet            no progress lines\n", f);
}

static int pick(const char *s, const char *const *names, int n, int *ret)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { O_VIEWS = 256, O_FULL, O_SEEK, O_BAND, O_MAX, O_PRESSURE,
	       O_GENERATE, O_SEED, O_NOVERIFY, O_EXPECT, O_BENCH, O_QUIET,
	       O_HELP };
	static const struct option longopts[] = {
		{ "views", required_argument, NULL, O_VIEWS },
		{ "full-every", required_argument, NULL, O_FULL },
		{ "seek", required_argument, NULL, O_SEEK },
		{ "band-kib", required_argument, NULL, O_BAND },
		{ "max-mib", required_argument, NULL, O_MAX },
		{ "pressure", required_argument, NULL, O_PRESSURE },
		{ "generate", required_argument, NULL, O_GENERATE },
		{ "seed", required_argument, NULL, O_SEED },
		{ "no-verify", no_argument, NULL, O_NOVERIFY },
		{ "expect-purges", no_argument, NULL, O_EXPECT },
		{ "bench-seek", no_argument, NULL, O_BENCH },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 }
	};
	unsigned long v;
	char *end;
	int c, k;

	*o = (struct options){ .generate = 8, .views = 400, .full_every = 4,
			       .seed = 1 };
	image_options_init(&o->img);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		end = NULL;
		errno = 0;
		v = optarg ? strtoul(optarg, &end, 10) : 0;
		if (optarg && (errno || end == optarg || *end) &&
		    c != O_SEEK && c != O_PRESSURE) {
			fprintf(stderr, "imgcache: bad value '%s'\n", optarg);
			return -EINVAL;
		}
		switch (c) {
		case O_VIEWS: o->views = v; break;
		case O_FULL: o->full_every = v ? (unsigned int)v : 1; break;
		case O_BAND:
			if (v == 0 || v > 65536)
				return -EINVAL;
			o->img.band_bytes = v << 10;
			break;
		case O_MAX:
			if (v == 0 || v > 65536)
				return -EINVAL;
			o->img.max_bytes = v << 20;
			break;
		case O_GENERATE: o->generate = (unsigned int)v; break;
		case O_SEED: o->seed = v ? (unsigned int)v : 1; break;
		case O_SEEK:
			if (pick(optarg, seek_names, 3, &k) < 0)
				return -EINVAL;
			o->img.seek = (enum pngband_seek)k;
			break;
		case O_PRESSURE:
			if (pick(optarg, ip_names, 5, &k) < 0)
				return -EINVAL;
			o->pressure = (enum ipressure)k;
			break;
		case O_NOVERIFY: o->img.verify = 0; break;
		case O_EXPECT: o->expect_purges = 1; break;
		case O_BENCH: o->bench_seek = 1; break;
		case O_QUIET: o->quiet = 1; break;
		case O_HELP: usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (optind + 1 < argc)
		return -EINVAL;
	o->dir = optind < argc ? argv[optind] : NULL;
	return 0;
}

static int is_png(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 4 && strcasecmp(d->d_name + n - 4, ".png") == 0;
}

/* Probe every PNG file of dir; report and skip the bad ones. */
static int probe_dir(const char *dir, const struct image_options *io,
		     struct run *run)
{
	struct dirent **list;
	int n = scandir(dir, &list, is_png, alphasort);
	char path[4096], err[256];

	if (n < 0)
		return -errno;
	run->img = calloc((size_t)n + 1, sizeof(*run->img));
	for (int i = 0; i < n; i++) {
		struct image *img;
		int r;

		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		r = run->img ? image_probe(path, io, &img, err, sizeof(err)) :
			-ENOMEM;
		if (r < 0)
			printf("  rejected %s: %s (%s)\n", list[i]->d_name,
			       err, strerror(-r));
		else
			run->img[run->n++] = img;
		free(list[i]);
	}
	free(list);
	return run->img ? 0 : -ENOMEM;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Decode every probed image into the cache; drop those that fail. */
static void load_all(struct run *run, vcache *cache,
		     const struct image_options *io)
{
	size_t kept = 0;
	char err[256];

	for (size_t i = 0; i < run->n; i++) {
		struct image *img = run->img[i];
		int r = image_load(img, cache, base(img->path), io, err,
				   sizeof(err));

		if (r < 0) {
			printf("  rejected %s: %s (%s)\n", base(img->path), err,
			       strerror(-r));
			image_free(img);
			continue;
		}
		run->img[kept++] = img;
	}
	run->n = kept;
}

static void full_view(struct run *run, struct image *img, int verify)
{
	const struct pngband_info *in = img->info;
	int r = vcache_pin(img->obj, VCACHE_PIN_REGENERATE);

	if (r < 0) {
		printf("  %s: pin: %s: %s\n", base(img->path), strerror(-r),
		       pngband_error(img->pb));
		run->mismatches++;
		return;
	}
	run->full_hits += r == VCACHE_INTACT;
	for (uint32_t b = 0; verify && b < in->bands; b++)
		if (image_band_hash(img, b) != img->band_hash[b]) {
			/* Count the band's pixels as wrong: a hash does not
			 * say how many. */
			run->mismatches += (uint64_t)in->band_rows * in->width;
		}
	run->pixels += (uint64_t)in->width * in->height;
	vcache_unpin(img->obj);
	run->full++;
}

static uint64_t faults(vcache *cache)
{
	struct vcache_stats st;

	return vcache_stats_get(cache, &st, sizeof(st)) == 0 ? st.faults : 0;
}

static void thumbnail(struct run *run, vcache *cache, struct image *img,
		      int verify)
{
	uint64_t before = faults(cache);

	/* No pin: a purged band raises SIGBUS, the library decodes it
	 * again in the handler and this load returns the right pixel. */
	for (uint32_t j = 0; j < img->thumb_h || (!verify && j == 0); j++) {
		const uint8_t *row = image_row(img, j * IMAGE_THUMB_STEP);

		for (uint32_t i = 0; i * IMAGE_THUMB_STEP < img->info->width;
		     i++) {
			uint32_t px;

			memcpy(&px, row + (size_t)i * IMAGE_THUMB_STEP * 4, 4);
			if (verify && px != img->thumb[(size_t)j *
						       img->thumb_w + i])
				run->mismatches++;
			run->pixels++;
		}
	}
	run->thumb_hits += faults(cache) == before;
	run->thumbs++;
}

static void report(const struct run *run, vcache *cache, double secs)
{
	struct pngband_stats ps, sum = { 0 };
	struct vcache_stats st;

	for (size_t i = 0; i < run->n; i++) {
		pngband_stats(run->img[i]->pb, &ps);
		sum.decodes += ps.decodes;
		sum.rows += ps.rows;
		sum.ns += ps.ns;
		sum.restarts += ps.restarts;
	}
	if (vcache_stats_get(cache, &st, sizeof(st)) < 0)
		memset(&st, 0, sizeof(st));
	printf("imgcache: %llu views in %.1f s of %zu images\n",
	       (unsigned long long)run->views, secs, run->n);
	printf("  full views:    %llu, %llu hits (nothing purged)\n"
	       "  thumbnails:    %llu, %llu hits (no %s)\n",
	       (unsigned long long)run->full,
	       (unsigned long long)run->full_hits,
	       (unsigned long long)run->thumbs,
	       (unsigned long long)run->thumb_hits, fault_name(cache));
	printf("  purges seen:   %llu bands (library count); %llu pageouts\n",
	       (unsigned long long)st.purges,
	       (unsigned long long)run->pageouts);
	printf("  regenerated:   %llu bands, %llu of them on %s, "
	       "%.1f ms in callbacks\n",
	       (unsigned long long)st.regenerations,
	       (unsigned long long)st.faults, fault_name(cache),
	       st.regen_ns / 1e6);
	printf("  decoding:      %llu band decodes (load included), %llu "
	       "from the file's start, %llu rows inflated, %.1f ms, "
	       "%.2f ms per band\n", (unsigned long long)sum.decodes,
	       (unsigned long long)sum.restarts,
	       (unsigned long long)sum.rows, sum.ns / 1e6,
	       sum.decodes ? sum.ns / 1e6 / sum.decodes : 0.0);
	printf("  verified:      %llu pixels\n  mismatches:    %llu\n",
	       (unsigned long long)run->pixels,
	       (unsigned long long)run->mismatches);
}

static int make_images(const struct options *o, char *dir, size_t size)
{
	int r;

	snprintf(dir, size, "%s/imgcache.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -errno;
	r = pnggen_good(dir, o->generate);
	if (r >= 0)
		printf("generated %d PNG files in %s\n", r, dir);
	return r < 0 ? r : 0;
}

static void remove_images(const char *dir)
{
	struct dirent **list;
	char path[4096];
	int n = scandir(dir, &list, is_png, alphasort);

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		unlink(path);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	rmdir(dir);
}

static enum ipressure apply_pressure(const struct options *o,
				     struct pressure *p, size_t total,
				     size_t keep, vcache *cache)
{
	enum ipressure m = o->pressure;

	memset(p, 0, sizeof(*p));
	p->mode = PRESSURE_NONE;
	if (vcache_backend(cache) == VCACHE_BACKEND_NONE)
		m = IP_NONE;
	if (m == IP_AUTO || m == IP_CGROUP) {
		pressure_start(p, PRESSURE_CGROUP, total, keep, 0);
		if (p->mode == PRESSURE_CGROUP) {
			printf("pressure: cgroup: %s\n", p->why);
			return IP_CGROUP;
		}
		printf("pressure: no cgroup (%s)\n", p->why);
		m = m == IP_AUTO ? IP_PAGEOUT : IP_NONE;
	}
	if (m == IP_HOG) {
		pressure_start(p, PRESSURE_HOG, total, keep, 0);
		printf("pressure: %s: %s\n", pressure_mode_name(p->mode),
		       p->why);
		return p->mode == PRESSURE_HOG ? IP_HOG : IP_NONE;
	}
	/* MADV_PAGEOUT purges what the kernel sees as volatile: the vrange
	 * and uffd backends' memory, nothing a backend keeps by itself. */
	if (m == IP_PAGEOUT && vcache_backend(cache) != VCACHE_BACKEND_UFFD &&
	    vcache_backend(cache) != VCACHE_BACKEND_VRANGE) {
		printf("pressure: none (backend %s is not purged by "
		       "MADV_PAGEOUT)\n",
		       vcache_backend_name(vcache_backend(cache)));
		return IP_NONE;
	}
	if (m == IP_PAGEOUT)
		printf("pressure: pageout: before each view the kernel "
		       "reclaims one other image (MADV_PAGEOUT)\n");
	else
		printf("pressure: none%s\n", vcache_backend(cache) ==
		       VCACHE_BACKEND_NONE ? " (backend none never purges)" :
		       "");
	return m;
}

static void serve(const struct options *o, struct run *run, vcache *cache,
		  enum ipressure mode, struct pressure *p)
{
	char line[256];
	unsigned int rng = o->seed;
	double t0 = now(), last = t0;

	for (unsigned long v = 0; v < o->views && run->n; v++) {
		struct image *img = run->img[xorshift(&rng) % run->n];

		if (mode == IP_PAGEOUT && run->n > 1) {
			struct image *other = run->img[xorshift(&rng) % run->n];

			if (other != img &&
			    madvise(vcache_object_data(other->obj),
				    other->info->size, MADV_PAGEOUT) == 0)
				run->pageouts++;
		}
		if (xorshift(&rng) % o->full_every == 0)
			full_view(run, img, o->img.verify);
		else
			thumbnail(run, cache, img, o->img.verify);
		run->views++;
		if (pressure_progress(p, line, sizeof(line)) && !o->quiet)
			printf("  %s\n", line);
		if (!o->quiet && now() - last >= 1.0) {
			struct vcache_stats st;

			last = now();
			if (vcache_stats_get(cache, &st, sizeof(st)) == 0)
				printf("  %5.1fs %6llu views, regen %llu "
				       "(%s %llu), vol %.0f MiB\n",
				       last - t0,
				       (unsigned long long)run->views,
				       (unsigned long long)st.regenerations,
				       fault_label(cache),
				       (unsigned long long)st.faults,
				       st.bytes_volatile / 1048576.0);
		}
	}
}

int main(int argc, char **argv)
{
	struct options o;
	struct run run = { 0 };
	struct pressure pressure = { .mode = PRESSURE_NONE };
	struct vcache_stats st;
	char tmpdir[4096] = "";
	vcache *cache = NULL;
	size_t total = 0, largest = 0;
	enum ipressure mode;
	double t0;
	int r, status;

	if (parse_options(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (!o.dir) {
		r = make_images(&o, tmpdir, sizeof(tmpdir));
		if (r < 0) {
			fprintf(stderr, "imgcache: generating images: %s\n",
				strerror(-r));
			return 2;
		}
		o.dir = tmpdir;
	}
	r = probe_dir(o.dir, &o.img, &run);
	if (r < 0) {
		fprintf(stderr, "imgcache: %s: %s\n", o.dir, strerror(-r));
		status = 2;
		goto out;
	}
	if (o.bench_seek) {
		const char **paths = calloc(run.n + 1, sizeof(*paths));

		for (size_t i = 0; paths && i < run.n; i++)
			paths[i] = run.img[i]->path;
		status = paths ? imgbench_seek(paths, run.n, o.img.band_bytes,
					       o.img.max_bytes, o.seed) : 2;
		free(paths);
		goto out;
	}
	for (size_t i = 0; i < run.n; i++) {
		total += run.img[i]->info->size;
		if (run.img[i]->info->size > largest)
			largest = run.img[i]->info->size;
	}
	unsetenv("VCACHE_IDLE_DELAY_MS"); /* views unpin into volatile now */
	r = vcache_new(NULL, &cache);
	if (r < 0) {
		fprintf(stderr, "imgcache: vcache_new: %s\n", strerror(-r));
		status = 2;
		goto out;
	}
	printf("imgcache: backend %s, %zu PNG files, %.1f MiB decoded, "
	       "seek %s, bands of about %zu KiB\n",
	       vcache_backend_name(vcache_backend(cache)), run.n,
	       total / 1048576.0, seek_names[o.img.seek],
	       o.img.band_bytes >> 10);
	/* keep: one pinned image and the program, beyond the half of the
	 * images a cgroup lets stay resident. */
	mode = apply_pressure(&o, &pressure, total, largest + (16u << 20),
			      cache);
	fflush(stdout);
	t0 = now();
	load_all(&run, cache, &o.img);
	printf("  loaded %zu images in %.2f s\n", run.n, now() - t0);
	t0 = now();
	serve(&o, &run, cache, mode, &pressure);
	report(&run, cache, now() - t0);
	status = run.mismatches ? 1 : 0;
	if (o.expect_purges && vcache_stats_get(cache, &st, sizeof(st)) == 0 &&
	    st.purges == 0) {
		if (mode == IP_NONE) {
			printf("SKIP: no memory pressure, nothing purged\n");
			status = status ? status : EXIT_SKIP;
		} else {
			printf("FAIL: pressure was applied but nothing was "
			       "purged\n");
			status = 1;
		}
	}
	if (status == 0)
		printf("OK\n");
out:
	for (size_t i = 0; i < run.n; i++)
		image_free(run.img[i]);
	free(run.img);
	pressure_stop(&pressure);
	if (cache && vcache_free(cache) < 0 && status == 0)
		status = 2;
	if (*tmpdir)
		remove_images(tmpdir);
	return status;
}
