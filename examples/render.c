// SPDX-License-Identifier: MIT
/*
 * render.c - the deterministic page renderer (see render.h)
 *
 * The picture is built from integer hashes only, so two calls for the same
 * pixel always agree, whatever order chunks are regenerated in.
 */
#include "render.h"

#define HEADER_ROWS 48u
#define LINE_ROWS 16u  /* a text line: 12 rows of glyphs, 4 of leading */
#define GLYPH_ROWS 12u
#define CELL_COLS 8u   /* one character cell */
#define MARGIN 32u

/* A 32-bit integer mixer: small input changes flip about half the bits. */
static uint32_t mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352dU;
	h ^= h >> 15;
	h *= 0x846ca68bU;
	h ^= h >> 16;
	return h;
}

static uint32_t hash3(uint32_t a, uint32_t b, uint32_t c)
{
	return mix(a * 0x9e3779b9U + mix(b * 0x85ebca6bU + c));
}

static uint32_t rgb(uint32_t r, uint32_t g, uint32_t b)
{
	return (r & 0xff) << 16 | (g & 0xff) << 8 | (b & 0xff);
}

static uint32_t background(uint32_t tint, unsigned int x, unsigned int y)
{
	return rgb(0xc0 + ((x * 64 / RENDER_WIDTH) ^ (tint & 0x3f)),
		   0xc0 + (y * 64 / RENDER_HEIGHT),
		   0xc0 + ((x + y + (tint >> 8)) & 0x3f));
}

/*
 * Pixels x0 .. x1 - 1 of row y. Working a row segment at a time lets the
 * per-line and per-character hashes be computed once, not per pixel.
 */
static void render_row(unsigned int page, unsigned int y, unsigned int x0,
		       unsigned int x1, uint32_t *out)
{
	uint32_t tint = mix(page + 1), ink = rgb(page * 3, 0x20, 0x30);
	unsigned int line = (y - HEADER_ROWS) / LINE_ROWS;
	unsigned int row = (y - HEADER_ROWS) % LINE_ROWS;
	unsigned int line_len = 0, cell = ~0u;
	uint32_t glyph = 0;

	if (y < HEADER_ROWS) {
		/* The tab's title bar: a colour of its own and a white
		 * stripe whose length encodes the page number. */
		for (unsigned int x = x0; x < x1; x++)
			out[x - x0] = (y > 16 && y < 32 && x > MARGIN &&
				       x < MARGIN + 8 * (page + 1)) ?
				rgb(0xff, 0xff, 0xff) :
				rgb(tint >> 16, tint >> 8, tint);
		return;
	}
	/* Glyphs fill 12 of a line's 16 rows; one line in seven is the
	 * blank between paragraphs; lines have ragged right ends. */
	if (row < GLYPH_ROWS && hash3(page, line, 0) % 7 != 0)
		line_len = 40 + hash3(page, line, 1) %
				((RENDER_WIDTH - 2 * MARGIN) / CELL_COLS - 40);
	for (unsigned int x = x0; x < x1; x++) {
		unsigned int col = (x - MARGIN) / CELL_COLS;

		if (x < MARGIN || col >= line_len) {
			out[x - x0] = background(tint, x, y);
			continue;
		}
		if (col != cell) {
			cell = col;
			/* About one cell in six is a space between words;
			 * a glyph row is one random byte, a bit per pixel. */
			glyph = hash3(page, line, col + 2) % 6 == 0 ? 0 :
				hash3(page ^ 0x5a5a, line * 131 + col, row);
		}
		out[x - x0] = (glyph >> ((x - MARGIN) % CELL_COLS)) & 1 ?
			      ink : background(tint, x, y);
	}
}

uint32_t render_pixel(unsigned int page, unsigned int x, unsigned int y)
{
	uint32_t px;

	render_row(page, y, x, x + 1, &px);
	return px;
}

/* The row segment that starts at pixel p and ends at end or the row's end. */
static unsigned int segment(size_t p, size_t end, unsigned int *y,
			    unsigned int *x0)
{
	size_t left = end - p;

	*y = p / RENDER_WIDTH;
	*x0 = p % RENDER_WIDTH;
	return left < RENDER_WIDTH - *x0 ? left : RENDER_WIDTH - *x0;
}

void render_range(unsigned int page, void *dst, size_t offset, size_t length)
{
	uint32_t *px = dst;
	size_t p = offset / RENDER_BPP, end = p + length / RENDER_BPP;
	unsigned int y, x0, n;

	for (; p < end; p += n, px += n) {
		n = segment(p, end, &y, &x0);
		render_row(page, y, x0, x0 + n, px);
	}
}

size_t render_verify(unsigned int page, const void *src, size_t offset,
		     size_t length)
{
	const uint32_t *px = src;
	size_t p = offset / RENDER_BPP, end = p + length / RENDER_BPP, bad = 0;
	uint32_t want[RENDER_WIDTH];
	unsigned int y, x0, n;

	for (; p < end; p += n, px += n) {
		n = segment(p, end, &y, &x0);
		render_row(page, y, x0, x0 + n, want);
		for (unsigned int i = 0; i < n; i++)
			bad += px[i] != want[i];
	}
	return bad;
}
