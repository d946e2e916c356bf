/* SPDX-License-Identifier: MIT */
/*
 * pngio.h - what the band decoder and the reference decoder share: the
 * libpng callbacks (errors, warnings, reading with pread(2), an arena
 * allocator) and the conversion to 8-bit RGBA. Internal to the examples.
 *
 * The callbacks allocate nothing, take no locks and never print, so they
 * may run in a SIGBUS handler (see pngband.h).
 */
#ifndef PNGIO_H
#define PNGIO_H

#include <png.h>
#include <stddef.h>
#include <sys/types.h>

#define PNGIO_ERR_MAX 200

/* What the libpng callbacks need: the file, and where errors go. */
struct pngio {
	int fd;
	off_t pos;       /* next byte of the file libpng will get */
	int code;        /* the errno behind the next png_error(), or 0 */
	char err[PNGIO_ERR_MAX];
	/* the arena (band decoder only) */
	unsigned char *arena;
	size_t arena_size, used, peak;
};

/* Copy a then b into dst (PNGIO_ERR_MAX bytes), truncating. */
void pngio_copy_msg(char *dst, const char *a, const char *b);

/* libpng error/warning callbacks (error pointer: a struct pngio): the
 * first message is kept in io->err, then png_longjmp(). */
void pngio_on_error(png_structp png, png_const_charp msg);
void pngio_on_warning(png_structp png, png_const_charp msg);

/* libpng read callback (io pointer: a struct pngio): pread(2) at io->pos;
 * a short file is -ENODATA, a failed read its -errno, in io->code. */
void pngio_on_read(png_structp png, png_bytep buf, size_t n);

/* libpng allocator (mem pointer: a struct pngio): a bump arena at
 * io->arena; free gives back only the last block. */
png_voidp pngio_malloc(png_structp png, png_alloc_size_t n);
void pngio_free(png_structp png, png_voidp p);

/* Before png_read_info(): skip ancillary chunks. */
void pngio_before_info(png_structp png);
/* After it: set up the conversion to 8-bit RGBA; returns the passes. */
int pngio_after_info(png_structp png, png_infop info);

/* The errno behind the last png_error(): io->code, or -EBADMSG. */
int pngio_errno(const struct pngio *io);

#endif /* PNGIO_H */
