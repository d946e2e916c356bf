/* SPDX-License-Identifier: MIT */
/*
 * imgbench.h - what one band costs to decode, per seek mode (pngband.h)
 */
#ifndef IMGBENCH_H
#define IMGBENCH_H

#include <stddef.h>

/*
 * For each file: open it once per seek mode, do the first full decode
 * (timed), then decode bands in a random order (the same band for every
 * mode in a round, modes interleaved), and print per mode the median and
 * min..max time per band, the rows inflated per band and the state kept.
 * Returns 0, or 2 if a file could not be decoded.
 */
int imgbench_seek(const char *const *paths, size_t n, size_t band_bytes,
		  size_t max_bytes, unsigned int seed);

#endif /* IMGBENCH_H */
