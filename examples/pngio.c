// SPDX-License-Identifier: MIT
/*
 * pngio.c - libpng callbacks and RGBA conversion (see pngio.h)
 */
#include "pngio.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define ALIGN 16u

void pngio_copy_msg(char *dst, const char *a, const char *b)
{
	size_t n = 0;

	for (; a && *a && n < PNGIO_ERR_MAX - 1; a++)
		dst[n++] = *a;
	for (; b && *b && n < PNGIO_ERR_MAX - 1; b++)
		dst[n++] = *b;
	dst[n] = '\0';
}

void pngio_on_error(png_structp png, png_const_charp msg)
{
	struct pngio *io = png_get_error_ptr(png);

	if (io->err[0] == '\0')
		pngio_copy_msg(io->err, msg, NULL);
	png_longjmp(png, 1);
}

void pngio_on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg; /* ancillary trouble: the pixels are still right */
}

void pngio_on_read(png_structp png, png_bytep buf, size_t n)
{
	struct pngio *io = png_get_io_ptr(png);

	while (n > 0) {
		ssize_t k = pread(io->fd, buf, n, io->pos);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			io->code = -errno;
			png_error(png, "read error");
		}
		if (k == 0) {
			io->code = -ENODATA;
			png_error(png, "file truncated: it ends inside the "
				  "image");
		}
		buf += k;
		n -= (size_t)k;
		io->pos += k;
	}
}

/* A block is a 16-byte header holding its size, then the memory. Free
 * gives memory back only for the last block (stack order), which is how
 * libpng and zlib release at the end; anything else stays until the arena
 * is reset for the next decoder. */
png_voidp pngio_malloc(png_structp png, png_alloc_size_t n)
{
	struct pngio *io = png_get_mem_ptr(png);
	size_t need = ALIGN + ((n + ALIGN - 1) & ~(size_t)(ALIGN - 1));
	size_t *hdr;

	if (n > io->arena_size || need > io->arena_size - io->used) {
		io->code = -ENOMEM;
		return NULL; /* libpng turns this into png_error() */
	}
	hdr = (size_t *)(void *)(io->arena + io->used);
	*hdr = need;
	io->used += need;
	if (io->used > io->peak)
		io->peak = io->used;
	return (unsigned char *)hdr + ALIGN;
}

void pngio_free(png_structp png, png_voidp p)
{
	struct pngio *io = png_get_mem_ptr(png);
	unsigned char *blk = (unsigned char *)p - ALIGN;

	if (p && blk + *(size_t *)(void *)blk == io->arena + io->used)
		io->used -= *(size_t *)(void *)blk;
}

void pngio_before_info(png_structp png)
{
	/* Ancillary chunks (text, ICC profiles, ...) would only cost arena
	 * space: libpng skips them, still checking their CRC. */
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
}

/* Everything to 8-bit RGBA; returns the number of passes. */
int pngio_after_info(png_structp png, png_infop info)
{
	int ct = png_get_color_type(png, info);
	int passes;

	png_set_expand(png); /* palette, gray < 8 bits, tRNS */
	if (png_get_bit_depth(png, info) == 16)
		png_set_scale_16(png);
	if (!(ct & PNG_COLOR_MASK_COLOR))
		png_set_gray_to_rgb(png);
	if (!(ct & PNG_COLOR_MASK_ALPHA) &&
	    !png_get_valid(png, info, PNG_INFO_tRNS))
		png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
	passes = png_set_interlace_handling(png);
	png_read_update_info(png, info);
	if (png_get_rowbytes(png, info) !=
	    (size_t)png_get_image_width(png, info) * 4)
		png_error(png, "cannot convert to 8-bit RGBA");
	return passes;
}

int pngio_errno(const struct pngio *io)
{
	return io->code ? io->code : -EBADMSG;
}
