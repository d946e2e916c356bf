/* SPDX-License-Identifier: MIT */
/*
 * render.h - a deterministic "page renderer" for the examples
 *
 * Every pixel of a rendered page is a pure function of (page number, x, y):
 * a header bar, a background gradient and lines of text-like glyph blocks.
 * Because nothing is stored, any byte range can be (re)generated alone and
 * any pixel read back can be checked exactly. The functions keep no state,
 * take no locks and never allocate, so they are safe to call from a
 * regeneration callback running inside the library's SIGBUS handler.
 */
#ifndef RENDER_H
#define RENDER_H

#include <stddef.h>
#include <stdint.h>

#define RENDER_WIDTH 1024u
#define RENDER_HEIGHT 768u
#define RENDER_BPP 4u /* bytes per pixel: 0x00RRGGBB */
#define RENDER_BYTES ((size_t)RENDER_WIDTH * RENDER_HEIGHT * RENDER_BPP)

/* The colour of pixel (x, y) of page number page. */
uint32_t render_pixel(unsigned int page, unsigned int x, unsigned int y);

/*
 * Write bytes [offset, offset + length) of the page into dst. offset and
 * length must be multiples of RENDER_BPP.
 */
void render_range(unsigned int page, void *dst, size_t offset, size_t length);

/*
 * Compare length bytes at src, holding bytes [offset, offset + length) of
 * the page, with what render_range() produces. Returns the number of
 * mismatching pixels.
 */
size_t render_verify(unsigned int page, const void *src, size_t offset,
		     size_t length);

#endif /* RENDER_H */
