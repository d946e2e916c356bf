// SPDX-License-Identifier: MIT
/*
 * tabshot.c - a PNG picture of tabcache's tab strip (see tabshot.h)
 */
#include "tabshot.h"
#include "render.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SCALE 8u
#define TW (RENDER_WIDTH / SCALE)   /* a tab in the picture */
#define TH (RENDER_HEIGHT / SCALE)
#define BAR 6u                      /* chunk-state bar left of a tab */
#define GAP 10u
#define COLS 6u

enum chunk_state { FRESH, REGENERATED, PURGED };

struct picture {
	unsigned int w, h;
	uint8_t *rgb;
};

static void put(struct picture *p, unsigned int x, unsigned int y,
		uint32_t c)
{
	uint8_t *q = p->rgb + ((size_t)y * p->w + x) * 3;

	q[0] = (uint8_t)(c >> 16);
	q[1] = (uint8_t)(c >> 8);
	q[2] = (uint8_t)c;
}

static void fill(struct picture *p, unsigned int x0, unsigned int y0,
		 unsigned int w, unsigned int h, uint32_t c)
{
	for (unsigned int y = y0; y < y0 + h && y < p->h; y++)
		for (unsigned int x = x0; x < x0 + w && x < p->w; x++)
			put(p, x, y, c);
}

/* Average of 16 pixels of the 8x8 block: text stays readable as grey. */
static uint32_t block(const uint32_t *page, unsigned int tab,
		      unsigned int bx, unsigned int by, int from_memory)
{
	unsigned int r = 0, g = 0, b = 0;

	for (unsigned int dy = 0; dy < SCALE; dy += 2) {
		for (unsigned int dx = 0; dx < SCALE; dx += 2) {
			unsigned int x = bx * SCALE + dx, y = by * SCALE + dy;
			uint32_t c = from_memory ?
				page[(size_t)y * RENDER_WIDTH + x] :
				render_pixel(tab, x, y);

			r += c >> 16 & 0xff;
			g += c >> 8 & 0xff;
			b += c & 0xff;
		}
	}
	return (r / 16) << 16 | (g / 16) << 8 | (b / 16);
}

static uint32_t tint(uint32_t c, enum chunk_state s)
{
	unsigned int r = c >> 16 & 0xff, g = c >> 8 & 0xff, b = c & 0xff;

	if (s == PURGED)
		return (r / 4 + 70) << 16 | (g / 6) << 8 | (b / 6);
	if (s == REGENERATED)
		return (r * 3 / 4) << 16 | (g * 3 / 4 + 60) << 8 | (b * 3 / 4);
	return c;
}

static const uint32_t bar_colour[] = { 0x707070, 0x20c040, 0xe02020 };

static void draw_tab(struct picture *p, struct tabview *tv, unsigned int i,
		     const atomic_uint *regen_count, size_t chunk_size,
		     unsigned char *vec)
{
	vcache_object *tab = tabview_tab(tv, i);
	const uint32_t *page = vcache_object_data(tab);
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t chunks = RENDER_BYTES / chunk_size;
	size_t pages_per_chunk = chunk_size / pg;
	unsigned int x0 = GAP + (i % COLS) * (TW + BAR + GAP);
	unsigned int y0 = GAP + (i / COLS) * (TH + GAP);
	int have_vec = mincore((void *)page, RENDER_BYTES, vec) == 0;

	if ((int)i == tabview_visible(tv))
		fill(p, x0 - 3, y0 - 3, TW + BAR + 6, TH + 6, 0xf0d000);
	for (size_t c = 0; c < chunks; c++) {
		enum chunk_state s = FRESH;
		unsigned int r0 = (unsigned int)(c * chunk_size /
						 (RENDER_WIDTH * 4) / SCALE);
		unsigned int r1 = (unsigned int)((c + 1) * chunk_size /
						 (RENDER_WIDTH * 4) / SCALE);

		for (size_t k = 0; have_vec && k < pages_per_chunk; k++)
			if (!(vec[c * pages_per_chunk + k] & 1))
				s = PURGED;
		if (s != PURGED && regen_count &&
		    atomic_load(&regen_count[i * chunks + c]))
			s = REGENERATED;
		fill(p, x0, y0 + r0, BAR - 1, r1 - r0, bar_colour[s]);
		for (unsigned int by = r0; by < r1 && by < TH; by++)
			for (unsigned int bx = 0; bx < TW; bx++)
				put(p, x0 + BAR + bx, y0 + by,
				    tint(block(page, i, bx, by, s != PURGED),
					 s));
	}
}

int tabshot_write(const char *path, struct tabview *tv,
		  const atomic_uint *regen_count, size_t chunk_size)
{
	unsigned int n = tabview_count(tv);
	unsigned int cols = n < COLS ? n : COLS, rows = (n + COLS - 1) / COLS;
	struct picture p = { .w = GAP + cols * (TW + BAR + GAP),
			     .h = GAP + rows * (TH + GAP) };
	png_image img;
	unsigned char *vec;
	char tmp[4096];
	int r = 0;

	if (chunk_size == 0 || RENDER_BYTES % chunk_size ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -EINVAL;
	p.rgb = malloc((size_t)p.w * p.h * 3);
	vec = malloc(RENDER_BYTES / (size_t)sysconf(_SC_PAGESIZE) + 1);
	if (!p.rgb || !vec) {
		free(p.rgb);
		free(vec);
		return -ENOMEM;
	}
	fill(&p, 0, 0, p.w, p.h, 0x202428);
	for (unsigned int i = 0; i < n; i++)
		draw_tab(&p, tv, i, regen_count, chunk_size, vec);
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = p.w;
	img.height = p.h;
	img.format = PNG_FORMAT_RGB;
	if (!png_image_write_to_file(&img, tmp, 0, p.rgb, 0, NULL))
		r = -EIO;
	else if (rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	png_image_free(&img);
	free(p.rgb);
	free(vec);
	return r;
}
