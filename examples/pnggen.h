/* SPDX-License-Identifier: MIT */
/*
 * pnggen.h - the project's own test images, written with libpng
 *
 * Real PNG files of every colour type the decoder handles (gray 1/2/4/8/16
 * bits, gray+alpha, RGB, RGBA, palette with and without transparency,
 * 8 and 16 bits, Adam7-interlaced and not), of several sizes, with
 * content that compresses like a photograph (smooth gradients plus a
 * little noise); and broken files: a bad CRC, corrupt compressed data with
 * a valid CRC, a truncated file, dimensions too large to decode, a file
 * that is no PNG at all, an empty file. Deterministic: the same bytes on
 * every run.
 */
#ifndef PNGGEN_H
#define PNGGEN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Write one image: color_type and bit_depth as in libpng (PNG_COLOR_TYPE_*),
 * interlace 0 or 1 (Adam7). Returns 0 or a negative errno.
 */
int pnggen_write(const char *path, uint32_t width, uint32_t height,
		 int color_type, int bit_depth, int interlace);

/*
 * Write the good test set into dir (which must exist); large > 0 adds that
 * many 1600x1200 RGB photographs-alike (7.3 MiB each decoded) for runs
 * under memory pressure. Returns the number of files or a negative errno.
 */
int pnggen_good(const char *dir, unsigned int large);

/* The broken files, and what pngband_open() must say about each. */
struct pnggen_bad {
	const char *name;
	int expect; /* negative errno */
};
extern const struct pnggen_bad pnggen_bad_files[];
extern const size_t pnggen_bad_count;

/* Write the broken files into dir. Returns 0 or a negative errno. */
int pnggen_bad(const char *dir);

#endif /* PNGGEN_H */
