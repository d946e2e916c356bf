// SPDX-License-Identifier: MIT
/*
 * imgbench.c - band decode time per seek mode (see imgbench.h)
 */
#include "imgbench.h"
#include "pngband.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#define MODES 3
#define ROUNDS_MIN 40

static const char *const mode_names[MODES] = { "restart", "resume",
					       "checkpoint" };

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void header(const char *const *paths, size_t n, size_t band_bytes)
{
	struct utsname u;
	time_t t = time(NULL);
	char date[64];

	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	uname(&u);
	printf("imgcache --bench-seek: %s, %s %s, %zu files, bands of about "
	       "%zu KiB\n", date, u.sysname, u.release, n, band_bytes >> 10);
	printf("(first: %s) Each file: open once per mode, first full decode "
	       "timed, then\nrandom bands, modes interleaved per round; "
	       "per band: median [min..max] ms.\n", n ? paths[0] : "-");
}

static int bench_file(const char *path, size_t band_bytes, size_t max_bytes,
		      unsigned int *rng)
{
	struct pngband *pb[MODES] = { 0 };
	struct pngband_stats st[MODES];
	double fill[MODES], *t[MODES] = { 0 };
	const struct pngband_info *in;
	unsigned char *buf = NULL;
	const char *name = strrchr(path, '/');
	char err[256];
	unsigned int rounds;
	int r = 0;

	for (int m = 0; m < MODES && r == 0; m++)
		r = pngband_open(path, band_bytes, max_bytes,
				 (enum pngband_seek)m, &pb[m], err,
				 sizeof(err));
	if (r < 0) {
		printf("%s: %s\n", path, err);
		goto out;
	}
	in = pngband_info(pb[0]);
	buf = malloc(in->band_bytes);
	rounds = in->bands * 3 > ROUNDS_MIN ? in->bands * 3 : ROUNDS_MIN;
	for (int m = 0; m < MODES; m++)
		t[m] = malloc(rounds * sizeof(double));
	if (!buf || !t[0] || !t[1] || !t[2]) {
		r = -1;
		goto out;
	}
	for (int m = 0; m < MODES && r == 0; m++) {
		double t0 = now();

		pngband_begin_fill(pb[m]);
		for (uint32_t b = 0; b < in->bands && r == 0; b++)
			r = pngband_decode(pb[m], b, buf);
		pngband_end_fill(pb[m]);
		fill[m] = now() - t0;
	}
	for (int m = 0; m < MODES; m++)
		pngband_stats(pb[m], &st[m]);
	for (unsigned int i = 0; i < rounds && r == 0; i++) {
		uint32_t band;

		*rng ^= *rng << 13;
		*rng ^= *rng >> 17;
		*rng ^= *rng << 5;
		band = *rng % in->bands;
		for (int m = 0; m < MODES && r == 0; m++) {
			double t0 = now();

			r = pngband_decode(pb[m], band, buf);
			t[m][i] = (now() - t0) * 1e3;
		}
	}
	if (r < 0) {
		printf("%s: decode failed\n", path);
		goto out;
	}
	printf("\n%s: %ux%u%s, %u bands of %u rows (%zu KiB), %u rounds\n",
	       name ? name + 1 : path, in->width, in->height,
	       in->interlaced ? " Adam7" : "", in->bands, in->band_rows,
	       in->band_bytes >> 10, rounds);
	for (int m = 0; m < MODES; m++) {
		struct pngband_stats now_st;

		pngband_stats(pb[m], &now_st);
		qsort(t[m], rounds, sizeof(double), cmp);
		printf("  %-10s first decode %7.1f ms; band %7.3f ms "
		       "[%.3f..%.3f], %6.0f rows inflated per band, state "
		       "%zu KiB\n", mode_names[m], fill[m] * 1e3,
		       t[m][rounds / 2], t[m][0], t[m][rounds - 1],
		       (double)(now_st.rows - st[m].rows) / rounds,
		       (pngband_info(pb[m])->arena_bytes +
			pngband_info(pb[m])->checkpoint_bytes) >> 10);
	}
out:
	for (int m = 0; m < MODES; m++) {
		pngband_free(pb[m]);
		free(t[m]);
	}
	free(buf);
	return r < 0 ? 2 : 0;
}

int imgbench_seek(const char *const *paths, size_t n, size_t band_bytes,
		  size_t max_bytes, unsigned int seed)
{
	unsigned int rng = seed ? seed : 1;
	int status = 0;

	header(paths, n, band_bytes);
	for (size_t i = 0; i < n; i++)
		if (bench_file(paths[i], band_bytes, max_bytes, &rng))
			status = 2;
	return status;
}
