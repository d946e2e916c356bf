// SPDX-License-Identifier: MIT
/*
 * pngref.c - the reference decode of pngband.h: plain libpng, whole image
 */
#include "pngband.h"
#include "pngio.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Everything the reference decode works on, so that nothing the
 * compiler keeps in registers lives across its setjmp(). */
struct ref {
	struct pngio io;
	png_structp png;
	png_infop info;
	size_t limit;
	uint8_t *pixels;
	png_bytep *rows;
	uint32_t w, h;
};

static int reference_run(struct ref *c)
{
	c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c->io,
					pngio_on_error, pngio_on_warning);
	c->info = c->png ? png_create_info_struct(c->png) : NULL;
	if (!c->info)
		return -ENOMEM;
	if (setjmp(png_jmpbuf(c->png)))
		return pngio_errno(&c->io);
	png_set_read_fn(c->png, &c->io, pngio_on_read);
	pngio_before_info(c->png);
	png_read_info(c->png, c->info);
	c->w = png_get_image_width(c->png, c->info);
	c->h = png_get_image_height(c->png, c->info);
	if ((uint64_t)c->w * c->h * 4 > c->limit) {
		c->io.code = -EFBIG;
		png_error(c->png, "image larger than the limit");
	}
	pngio_after_info(c->png, c->info);
	c->pixels = malloc((size_t)c->w * c->h * 4);
	c->rows = malloc(c->h * sizeof(*c->rows));
	if (!c->pixels || !c->rows) {
		c->io.code = -ENOMEM;
		png_error(c->png, "out of memory");
	}
	for (uint32_t y = 0; y < c->h; y++)
		c->rows[y] = c->pixels + (size_t)y * c->w * 4;
	png_read_image(c->png, c->rows);
	return 0;
}

int pngband_decode_reference(const char *path, size_t max_bytes,
			     uint8_t **ret_pixels, uint32_t *ret_width,
			     uint32_t *ret_height, char *err, size_t err_size)
{
	struct ref *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->limit = max_bytes ? max_bytes : (size_t)1 << 30;
	c->io.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->io.fd < 0) {
		r = -errno;
		pngio_copy_msg(c->io.err, strerror(errno), NULL);
	} else {
		r = reference_run(c);
	}
	if (r == 0) {
		*ret_pixels = c->pixels;
		*ret_width = c->w;
		*ret_height = c->h;
		c->pixels = NULL;
	} else if (err && err_size) {
		snprintf(err, err_size, "%s", c->io.err[0] ? c->io.err :
			 strerror(-r));
	}
	png_destroy_read_struct(&c->png, &c->info, NULL);
	free(c->rows);
	free(c->pixels);
	if (c->io.fd >= 0)
		close(c->io.fd);
	free(c);
	return r;
}
