// SPDX-License-Identifier: MIT
/*
 * pnggen.c - the project's own test images (see pnggen.h)
 */
#include "pnggen.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A sample in [0, 65535]: gradients, a few soft rings and a little
 * noise, so that images compress like photographs rather than to
 * nothing. c is the channel. */
static unsigned int sample(uint32_t x, uint32_t y, uint32_t w, uint32_t h,
			   unsigned int c)
{
	uint32_t n = x * 2654435761u ^ y * 40503u ^ c * 97u;
	long dx = (long)x - w / 3, dy = (long)y - h / 2;
	unsigned int v;

	n ^= n >> 13;
	n *= 0x5bd1e995u;
	n ^= n >> 15;
	switch (c) {
	case 0:
		v = (unsigned int)((uint64_t)x * 65535 / (w ? w : 1));
		break;
	case 1:
		v = (unsigned int)((uint64_t)y * 65535 / (h ? h : 1));
		break;
	case 2:
		v = (unsigned int)((dx * dx + dy * dy) * 8) & 0xffff;
		break;
	default:
		v = 0x8000 + (unsigned int)((x + y) * 97 & 0x7fff);
		break;
	}
	return (v ^ (n & 0x3ff)) & 0xffff;
}

static void put_row(unsigned char *row, uint32_t y, uint32_t w, uint32_t h,
		    int ct, int depth)
{
	int channels = ct == PNG_COLOR_TYPE_GRAY ? 1 :
		       ct == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 :
		       ct == PNG_COLOR_TYPE_RGB ? 3 :
		       ct == PNG_COLOR_TYPE_RGBA ? 4 : 1;

	if (depth < 8) { /* packed gray or palette indices */
		memset(row, 0, ((size_t)w * depth + 7) / 8);
		for (uint32_t x = 0; x < w; x++) {
			unsigned int v = sample(x, y, w, h, 2) >>
					 (16 - depth);
			size_t bit = (size_t)x * depth;

			row[bit / 8] |= (unsigned char)(v << (8 - depth -
							     bit % 8));
		}
		return;
	}
	for (uint32_t x = 0; x < w; x++) {
		for (int c = 0; c < channels; c++) {
			unsigned int v = sample(x, y, w, h,
						ct == PNG_COLOR_TYPE_PALETTE ?
						2 : channels == 2 && c == 1 ?
						3 : (unsigned int)c);

			if (depth == 16) {
				*row++ = (unsigned char)(v >> 8);
				*row++ = (unsigned char)v;
			} else {
				*row++ = (unsigned char)(v >> 8);
			}
		}
	}
}

int pnggen_write(const char *path, uint32_t w, uint32_t h, int ct,
		 int depth, int interlace)
{
	png_structp png = NULL;
	png_infop info = NULL;
	unsigned char *volatile pixels = NULL;
	png_bytep *volatile rows = NULL;
	FILE *volatile f = fopen(path, "wbe");
	size_t stride;
	int r = -ENOMEM;

	if (!f)
		return -errno;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL,
				      NULL);
	info = png ? png_create_info_struct(png) : NULL;
	if (!info)
		goto out;
	if (setjmp(png_jmpbuf(png))) {
		r = -EINVAL;
		goto out;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, w, h, depth, ct, interlace ?
		     PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (ct == PNG_COLOR_TYPE_PALETTE) {
		png_color pal[256];
		png_byte alpha[256];
		int n = 1 << depth;

		for (int i = 0; i < n; i++) {
			pal[i].red = (png_byte)(i * 255 / (n - 1));
			pal[i].green = (png_byte)(255 - i * 255 / (n - 1));
			pal[i].blue = (png_byte)(i * 37);
			alpha[i] = (png_byte)(255 - i % 5 * 40);
		}
		png_set_PLTE(png, info, pal, n);
		/* Transparency for the 8-bit palette images only: both
		 * palette kinds get decoded. */
		if (depth == 8)
			png_set_tRNS(png, info, alpha, n, NULL);
	}
	png_write_info(png, info);
	stride = png_get_rowbytes(png, info);
	pixels = malloc(stride * h);
	rows = malloc(h * sizeof(*rows));
	if (!pixels || !rows)
		png_error(png, "out of memory");
	for (uint32_t y = 0; y < h; y++) {
		rows[y] = pixels + stride * y;
		put_row(rows[y], y, w, h, ct, depth);
	}
	png_write_image(png, rows); /* does the Adam7 passes itself */
	png_write_end(png, NULL);
	r = 0;
out:
	png_destroy_write_struct(&png, &info);
	free(rows);
	free(pixels);
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static int join(char *buf, size_t size, const char *dir, const char *name)
{
	return snprintf(buf, size, "%s/%s", dir, name) < (int)size ? 0 :
	       -ENAMETOOLONG;
}

int pnggen_good(const char *dir, unsigned int large)
{
	static const struct {
		const char *name;
		uint32_t w, h;
		int ct, depth, interlace;
	} set[] = {
		{ "rgb8-640x480.png", 640, 480, PNG_COLOR_TYPE_RGB, 8, 0 },
		{ "rgba8-1000x700.png", 1000, 700, PNG_COLOR_TYPE_RGBA, 8, 0 },
		{ "gray8-333x517.png", 333, 517, PNG_COLOR_TYPE_GRAY, 8, 0 },
		{ "gray1-129x77.png", 129, 77, PNG_COLOR_TYPE_GRAY, 1, 0 },
		{ "gray4-250x90.png", 250, 90, PNG_COLOR_TYPE_GRAY, 4, 0 },
		{ "gray16-301x203.png", 301, 203, PNG_COLOR_TYPE_GRAY, 16, 0 },
		{ "graya16-300x200.png", 300, 200,
		  PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0 },
		{ "graya8-200x300.png", 200, 300,
		  PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0 },
		{ "rgb16-512x384.png", 512, 384, PNG_COLOR_TYPE_RGB, 16, 0 },
		{ "rgba16-257x129.png", 257, 129, PNG_COLOR_TYPE_RGBA, 16, 0 },
		{ "pal8-trns-400x300.png", 400, 300, PNG_COLOR_TYPE_PALETTE,
		  8, 0 },
		{ "pal2-100x50.png", 100, 50, PNG_COLOR_TYPE_PALETTE, 2, 0 },
		{ "rgb8-adam7-800x600.png", 800, 600, PNG_COLOR_TYPE_RGB, 8,
		  1 },
		{ "pal8-adam7-123x45.png", 123, 45, PNG_COLOR_TYPE_PALETTE, 8,
		  1 },
		{ "gray16-adam7-97x203.png", 97, 203, PNG_COLOR_TYPE_GRAY, 16,
		  1 },
		{ "rgba8-adam7-7x5.png", 7, 5, PNG_COLOR_TYPE_RGBA, 8, 1 },
		{ "rgb8-1x1.png", 1, 1, PNG_COLOR_TYPE_RGB, 8, 0 },
		{ "rgba8-4000x3.png", 4000, 3, PNG_COLOR_TYPE_RGBA, 8, 0 },
	};
	char path[4096], name[64];
	int n = 0, r;

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++, n++) {
		r = join(path, sizeof(path), dir, set[i].name);
		if (r == 0)
			r = pnggen_write(path, set[i].w, set[i].h, set[i].ct,
					 set[i].depth, set[i].interlace);
		if (r < 0)
			return r;
	}
	for (unsigned int i = 0; i < large; i++, n++) {
		snprintf(name, sizeof(name), "photo-%02u-1600x1200.png", i);
		r = join(path, sizeof(path), dir, name);
		/* Each one different: a different height shifts the rings. */
		if (r == 0)
			r = pnggen_write(path, 1600, 1200 - i % 7,
					 PNG_COLOR_TYPE_RGB, 8, 0);
		if (r < 0)
			return r;
	}
	return n;
}

const struct pnggen_bad pnggen_bad_files[] = {
	{ "bad-crc.png", -EBADMSG },      /* IDAT byte flipped, CRC kept */
	{ "bad-zlib.png", -EBADMSG },     /* zlib header broken, CRC fixed */
	{ "bad-ihdr.png", -EBADMSG },     /* bit depth 3, CRC fixed */
	{ "truncated.png", -ENODATA },    /* cut at 60% */
	{ "huge.png", -EFBIG },           /* 100000 x 100000 */
	{ "too-wide.png", -EBADMSG },     /* 2000000 x 1: libpng's limit */
	{ "no-ihdr.png", -EBADMSG },      /* IDAT where IHDR belongs */
	{ "not-a-png.png", -EBADMSG },
	{ "empty.png", -EBADMSG },
};
const size_t pnggen_bad_count = sizeof(pnggen_bad_files) /
				sizeof(pnggen_bad_files[0]);

/* The file as bytes, to break it. */
static unsigned char *slurp(const char *path, size_t *ret_size)
{
	FILE *f = fopen(path, "rbe");
	unsigned char *buf = NULL;
	long n;

	if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n)
		*ret_size = (size_t)n;
	else if (buf) {
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	return buf;
}

static int spill(const char *dir, const char *name, const void *buf,
		 size_t n)
{
	char path[4096];
	FILE *f;
	int r = join(path, sizeof(path), dir, name);

	if (r < 0)
		return r;
	f = fopen(path, "wbe");
	if (!f)
		return -errno;
	if (n && fwrite(buf, 1, n, f) != n)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* The first chunk of that type: offset of its length field, or 0. */
static size_t find_chunk(const unsigned char *b, size_t n, const char *type)
{
	for (size_t off = 8; off + 12 <= n; off += 12 + be32(b + off))
		if (memcmp(b + off + 4, type, 4) == 0)
			return off;
	return 0;
}

static void fix_crc(unsigned char *b, size_t chunk)
{
	uint32_t len = be32(b + chunk);

	put_be32(b + chunk + 8 + len,
		 (uint32_t)crc32(0, b + chunk + 4, len + 4));
}

int pnggen_bad(const char *dir)
{
	char path[4096];
	unsigned char *b, *copy;
	size_t n = 0, ihdr, idat;
	int r = join(path, sizeof(path), dir, "source.tmp");

	if (r == 0)
		r = pnggen_write(path, 640, 480, PNG_COLOR_TYPE_RGB, 8, 0);
	if (r < 0)
		return r;
	b = slurp(path, &n);
	remove(path);
	copy = b ? malloc(n) : NULL;
	ihdr = b ? find_chunk(b, n, "IHDR") : 0;
	idat = b ? find_chunk(b, n, "IDAT") : 0;
	if (!copy || !ihdr || !idat || be32(b + idat) < 64) {
		free(b);
		free(copy);
		return -EIO;
	}
#define VARIANT(name, edit) \
	do { \
		memcpy(copy, b, n); \
		edit; \
		if (r == 0) \
			r = spill(dir, name, copy, n); \
	} while (0)
	VARIANT("bad-crc.png", copy[idat + 8 + 40] ^= 0x55);
	VARIANT("bad-zlib.png", (copy[idat + 8] = 0xff, copy[idat + 9] = 0xff,
				 fix_crc(copy, idat)));
	VARIANT("bad-ihdr.png", (copy[ihdr + 8 + 8] = 3,
				 fix_crc(copy, ihdr)));
	VARIANT("huge.png", (put_be32(copy + ihdr + 8, 100000),
			     put_be32(copy + ihdr + 12, 100000),
			     fix_crc(copy, ihdr)));
	VARIANT("too-wide.png", (put_be32(copy + ihdr + 8, 2000000),
				 put_be32(copy + ihdr + 12, 1),
				 fix_crc(copy, ihdr)));
	VARIANT("no-ihdr.png", (memcpy(copy + ihdr + 4, "IDAT", 4),
				fix_crc(copy, ihdr)));
#undef VARIANT
	if (r == 0)
		r = spill(dir, "truncated.png", b, n * 6 / 10);
	if (r == 0)
		r = spill(dir, "not-a-png.png", "GIF89a, or so it says\n", 22);
	if (r == 0)
		r = spill(dir, "empty.png", "", 0);
	free(b);
	free(copy);
	return r;
}
