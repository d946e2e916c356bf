// SPDX-License-Identifier: MIT
/*
 * image.c - one decoded PNG file in one vcache object (see image.h)
 */
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void image_options_init(struct image_options *o)
{
	*o = (struct image_options){ .band_bytes = 256u << 10,
				     .max_bytes = (size_t)256 << 20,
				     .seek = PNGBAND_CHECKPOINT,
				     .verify = 1 };
}

/* The regeneration callback: chunk = band. May run in the SIGBUS handler;
 * pngband_decode() allocates nothing and takes no lock but its own. */
static int regen_band(vcache_object *object, void *dst, size_t offset,
		      size_t length, void *userdata)
{
	struct pngband *pb = userdata;
	const struct pngband_info *in = pngband_info(pb);

	(void)object;
	if (offset % in->band_bytes || length != in->band_bytes)
		return -EINVAL;
	return pngband_decode(pb, (uint32_t)(offset / in->band_bytes), dst);
}

int image_probe(const char *path, const struct image_options *o,
		struct image **ret_img, char *err, size_t err_size)
{
	struct image *img = calloc(1, sizeof(*img));
	int r;

	if (!img)
		return -ENOMEM;
	img->path = strdup(path);
	if (!img->path) {
		free(img);
		return -ENOMEM;
	}
	r = pngband_open(path, o->band_bytes, o->max_bytes, o->seek, &img->pb,
			 err, err_size);
	if (r < 0) {
		image_free(img);
		return r;
	}
	img->info = pngband_info(img->pb);
	*ret_img = img;
	return 0;
}

/* splitmix-style mixing of 8 bytes at a time: fast, and any changed
 * pixel changes the result. */
static uint64_t hash_bytes(const uint8_t *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t v;

		memcpy(&v, p + i, 8);
		h = (h ^ v) * 0x9e3779b97f4a7c15u;
		h ^= h >> 29;
	}
	for (size_t i = n & ~(size_t)7; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3u;
	return h;
}

static uint64_t rows_hash(const uint8_t *first, size_t stride, uint32_t rows,
			  size_t row_bytes)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (uint32_t r = 0; r < rows; r++)
		h = hash_bytes(first + r * stride, row_bytes, h);
	return h;
}

static uint32_t band_rows(const struct pngband_info *in, uint32_t band)
{
	uint32_t y0 = band * in->band_rows;

	return in->height - y0 < in->band_rows ? in->height - y0 :
	       in->band_rows;
}

uint64_t image_band_hash(const struct image *img, uint32_t band)
{
	const struct pngband_info *in = img->info;

	return rows_hash(image_row(img, band * in->band_rows), in->row_bytes,
			 band_rows(in, band), in->row_bytes);
}

/* Keep what the checks need from a reference decode: per-band hashes
 * and the thumbnail's pixels. */
static int keep_reference(struct image *img, char *err, size_t err_size)
{
	const struct pngband_info *in = img->info;
	uint8_t *px = NULL;
	uint32_t w, h;
	int r;

	r = pngband_decode_reference(img->path, 0, &px, &w, &h, err,
				     err_size);
	if (r < 0)
		return r;
	img->thumb_w = (w + IMAGE_THUMB_STEP - 1) / IMAGE_THUMB_STEP;
	img->thumb_h = (h + IMAGE_THUMB_STEP - 1) / IMAGE_THUMB_STEP;
	img->band_hash = malloc(in->bands * sizeof(uint64_t));
	img->thumb = malloc((size_t)img->thumb_w * img->thumb_h * 4);
	if (w != in->width || h != in->height || !img->band_hash ||
	    !img->thumb) {
		free(px);
		snprintf(err, err_size, "reference decode disagrees or no "
			 "memory");
		return -ENOMEM;
	}
	for (uint32_t b = 0; b < in->bands; b++)
		img->band_hash[b] = rows_hash(px + (size_t)b * in->band_rows *
					      in->row_bytes, in->row_bytes,
					      band_rows(in, b), in->row_bytes);
	for (uint32_t j = 0; j < img->thumb_h; j++)
		for (uint32_t i = 0; i < img->thumb_w; i++)
			memcpy(&img->thumb[(size_t)j * img->thumb_w + i],
			       px + ((size_t)j * IMAGE_THUMB_STEP * w +
				     (size_t)i * IMAGE_THUMB_STEP) * 4, 4);
	free(px);
	return 0;
}

int image_load(struct image *img, vcache *cache, const char *name,
	       const struct image_options *o, char *err, size_t err_size)
{
	int r, f;

	pngband_begin_fill(img->pb);
	r = vcache_object_create(cache, name, img->info->size,
				 img->info->band_bytes, regen_band, img->pb, 0,
				 &img->obj);
	f = pngband_end_fill(img->pb);
	if (r < 0) {
		/* The library dropped the half-made object; say why. */
		snprintf(err, err_size, "%s", *pngband_error(img->pb) ?
			 pngband_error(img->pb) : strerror(-r));
		img->obj = NULL;
		return r;
	}
	if (o->verify) {
		r = keep_reference(img, err, err_size);
		if (r < 0) {
			vcache_object_remove(img->obj);
			img->obj = vcache_object_unref(img->obj);
			return r;
		}
	}
	if (f < 0)
		snprintf(err, err_size, "some checkpoints could not be kept");
	return 0;
}

void image_free(struct image *img)
{
	if (!img)
		return;
	if (img->obj) {
		vcache_object_remove(img->obj);
		vcache_object_unref(img->obj);
	}
	pngband_free(img->pb);
	free(img->band_hash);
	free(img->thumb);
	free(img->path);
	free(img);
}

long image_compare_fresh(const struct image *img)
{
	const struct pngband_info *in = img->info;
	uint8_t *px = NULL;
	uint32_t w, h;
	long bad = 0;
	char err[200];
	int r;

	r = pngband_decode_reference(img->path, 0, &px, &w, &h, err,
				     sizeof(err));
	if (r < 0)
		return r;
	if (w != in->width || h != in->height) {
		free(px);
		return -EBADMSG;
	}
	for (uint32_t y = 0; y < h; y++) {
		const uint8_t *a = image_row(img, y), *b = px +
						(size_t)y * in->row_bytes;

		if (memcmp(a, b, in->row_bytes) == 0)
			continue;
		for (uint32_t x = 0; x < w; x++)
			bad += memcmp(a + x * 4, b + x * 4, 4) != 0;
	}
	free(px);
	return bad;
}
