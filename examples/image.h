/* SPDX-License-Identifier: MIT */
/*
 * image.h - one decoded PNG file in one vcache object (imgcache's store)
 *
 * The object holds the image as 8-bit RGBA in bands of rows; a chunk is a
 * band (see pngband.h), and regenerating a chunk decodes that band again
 * from the file, which stays open. Opening is two steps so that a caller
 * can size memory pressure before any pixel exists: image_probe() reads
 * the header, image_load() decodes every band into a new named object.
 * A file that fails anywhere leaves no object behind: the name stays free.
 *
 * Regeneration runs pngband_decode(), which is async-signal-safe, so the
 * object may be read optimistically (SIGBUS path) as well as pinned. If
 * the file changes on disk after loading so that a band no longer
 * decodes, an optimistic read ends in the library's failure policy (a
 * message naming the object, then abort) and a pinned read returns the
 * decoder's error.
 */
#ifndef IMAGE_H
#define IMAGE_H

#include "pngband.h"

#include <stdint.h>

#include <vcache.h>

struct image_options {
	size_t band_bytes;      /* target band size (default 256 KiB) */
	size_t max_bytes;       /* largest decoded image (default 256 MiB) */
	enum pngband_seek seek; /* default PNGBAND_CHECKPOINT */
	int verify;             /* keep per-band hashes and a thumbnail from
				 * a reference decode (default on) */
};

#define IMAGE_THUMB_STEP 8 /* a thumbnail samples one pixel in 8x8 */

struct image {
	struct pngband *pb;
	const struct pngband_info *info;
	vcache_object *obj;     /* NULL until image_load() */
	char *path;
	/* Reference, from pngband_decode_reference(), if verify: */
	uint64_t *band_hash;    /* one per band */
	uint32_t *thumb;        /* RGBA of pixels (8i, 8j), row-major */
	uint32_t thumb_w, thumb_h;
};

void image_options_init(struct image_options *o);

/* Read path's header. Errors as pngband_open(); err gets a message. */
int image_probe(const char *path, const struct image_options *o,
		struct image **ret_img, char *err, size_t err_size);

/*
 * Decode every band into a new object called name in cache (and, with
 * verify, decode the file once more through libpng's whole-image path to
 * keep the reference). Errors: those of pngband_decode() (the file is
 * corrupt or truncated past its header), of vcache_object_create(); on any
 * error no object is left in the cache.
 */
int image_load(struct image *img, vcache *cache, const char *name,
	       const struct image_options *o, char *err, size_t err_size);

/* Remove the object and free everything. Accepts NULL. */
void image_free(struct image *img);

/* Row y of the image inside the object (no pin taken). */
static inline const uint8_t *image_row(const struct image *img, uint32_t y)
{
	const struct pngband_info *in = img->info;

	return (const uint8_t *)vcache_object_data(img->obj) +
	       (size_t)(y / in->band_rows) * in->band_bytes +
	       (size_t)(y % in->band_rows) * in->row_bytes;
}

/* A 64-bit hash of the rows of band b as they are in the object. */
uint64_t image_band_hash(const struct image *img, uint32_t band);

/*
 * Compare the whole image in the object with a fresh reference decode
 * of the file; returns the number of differing pixels or a negative errno
 * from the reference decode. Reads the object as it is (no pin).
 */
long image_compare_fresh(const struct image *img);

#endif /* IMAGE_H */
