// SPDX-License-Identifier: MIT
/*
 * pngband.c - decode a PNG file band by band (see pngband.h)
 *
 * libpng reads a PNG as one zlib stream of filtered rows: row y can only
 * be produced after inflating everything before it, and zlib's state (a
 * 32 KiB window plus the inflater) has no public snapshot call that libpng
 * exposes. What makes seeking cheap here is where that state lives: libpng
 * and zlib allocate only through the allocator handed to
 * png_create_read_struct_2(), and ours is a bump arena owned by the file.
 * The decoder's complete state is therefore the arena's used prefix, and a
 * copy of it taken between two rows, put back at the same address, is a
 * decoder positioned at that row (plus the file offset, which our read
 * callback keeps outside libpng). That is the CHECKPOINT mode; the arena is
 * also what makes decoding allocation-free, hence usable in the SIGBUS
 * handler.
 */
#define _GNU_SOURCE
#include "pngband.h"
#include "pngio.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct checkpoint {
	unsigned char *state; /* copy of arena[0, used) */
	size_t used;
	off_t pos;
	png_structp png;
	png_infop info;
};

struct pngband {
	struct pngio io;
	struct pngband_info info;
	enum pngband_seek seek;
	atomic_flag lock;
	png_structp png;        /* inside the arena */
	png_infop pinfo;
	int passes;
	int live;               /* png/pinfo form a usable decoder */
	uint32_t next_row;      /* the row png_read_row() produces next */
	int filling;
	int fill_failed;
	unsigned char *fill_image; /* interlaced: the whole image, fill only */
	struct checkpoint *ckpt; /* one per band, CHECKPOINT only */
	uint32_t ckpt_every;    /* checkpoint bands k * ckpt_every */
	struct pngband_stats st;
	char last_err[PNGIO_ERR_MAX];
};

/* ---- the band decoder ---- */

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A fresh decoder at row 0 in the reset arena. Call under setjmp of
 * the returned png: errors longjmp there. Returns NULL if libpng could
 * not even create its struct (then io->code / io->err say why). */
static png_structp start_png(struct pngband *pb)
{
	pb->live = 0;
	pb->io.used = 0;
	pb->io.pos = 0;
	pb->png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &pb->io,
					   pngio_on_error, pngio_on_warning, &pb->io,
					   pngio_malloc, pngio_free);
	return pb->png;
}

/* The part of starting that may fail: after setjmp. */
static void read_header(struct pngband *pb)
{
	pb->pinfo = png_create_info_struct(pb->png);
	if (!pb->pinfo)
		png_error(pb->png, "out of memory");
	png_set_read_fn(pb->png, &pb->io, pngio_on_read);
	pngio_before_info(pb->png);
	png_read_info(pb->png, pb->pinfo);
	pb->passes = pngio_after_info(pb->png, pb->pinfo);
	pb->next_row = 0;
	pb->live = 1;
	pb->st.restarts++;
}

static void restore(struct pngband *pb, const struct checkpoint *c,
		    uint32_t row)
{
	memcpy(pb->io.arena, c->state, c->used);
	pb->io.used = c->used;
	pb->io.pos = c->pos;
	pb->png = c->png;
	pb->pinfo = c->info;
	pb->next_row = row;
	pb->live = 1;
}

/*
 * Normal context only (the fill): keep a copy of the decoder. A copy is
 * about 60 KiB (zlib's 32 KiB window, its inflate state, libpng's read
 * buffer and two or three rows), so copies are spaced to cost at most
 * 1/CKPT_SHARE of the image: every band when bands are large, every k-th
 * otherwise. Band 0 needs none: restarting is as cheap.
 */
#define CKPT_SHARE 16
static void save(struct pngband *pb, uint32_t band)
{
	struct checkpoint *c = &pb->ckpt[band];

	if (band == 0)
		return;
	if (!pb->ckpt_every) /* at band 1 the state has its full size */
		pb->ckpt_every = (uint32_t)((pb->io.used * CKPT_SHARE +
					     pb->info.band_bytes - 1) /
					    pb->info.band_bytes);
	if (band % pb->ckpt_every)
		return;
	c->state = malloc(pb->io.used);
	if (!c->state) {
		pb->fill_failed = 1;
		return;
	}
	memcpy(c->state, pb->io.arena, pb->io.used);
	c->used = pb->io.used;
	c->pos = pb->io.pos;
	c->png = pb->png;
	c->info = pb->pinfo;
	pb->info.checkpoint_bytes += c->used;
}

/* Position the decoder so that it produces row y0 next (not interlaced). */
static int seek_to(struct pngband *pb, uint32_t band, uint32_t y0)
{
	int keep = pb->live && pb->next_row <= y0 &&
		   (pb->filling || pb->seek == PNGBAND_RESUME ||
		    pb->seek == PNGBAND_CHECKPOINT);

	if (pb->seek == PNGBAND_CHECKPOINT && !pb->filling) {
		/* The nearest checkpoint at or before the band, unless the
		 * live decoder is already closer. */
		for (uint32_t k = band + 1; k-- > 0;) {
			uint32_t row = k * pb->info.band_rows;

			if (!pb->ckpt[k].state)
				continue;
			if (!keep || pb->next_row < row)
				restore(pb, &pb->ckpt[k], row);
			return 1;
		}
	}
	return keep;
}

/*
 * Normal context only: the first full decode of an interlaced image would
 * otherwise inflate the whole file once per band. Decode it once into a
 * temporary copy (freed by pngband_end_fill()); the bands are cut from it.
 * If there is no memory for that, bands are decoded one by one instead.
 */
static int fill_interlaced(struct pngband *pb)
{
	const struct pngband_info *in = &pb->info;

	if (!start_png(pb))
		return pngio_errno(&pb->io);
	pb->fill_image = malloc((size_t)in->height * in->row_bytes);
	if (!pb->fill_image)
		return 0;
	if (setjmp(png_jmpbuf(pb->png))) {
		pb->live = 0;
		free(pb->fill_image);
		pb->fill_image = NULL;
		return pngio_errno(&pb->io);
	}
	read_header(pb);
	for (int pass = 0; pass < pb->passes; pass++)
		for (uint32_t y = 0; y < in->height; y++)
			png_read_row(pb->png, pb->fill_image +
				     (size_t)y * in->row_bytes, NULL);
	pb->st.rows += (uint64_t)in->height * (uint64_t)pb->passes;
	pb->live = 0;
	return 0;
}

static int decode_locked(struct pngband *pb, uint32_t band,
			 unsigned char *dst)
{
	const struct pngband_info *in = &pb->info;
	uint32_t y0 = band * in->band_rows;
	uint32_t y1 = y0 + in->band_rows < in->height ? y0 + in->band_rows :
			in->height;
	size_t rb = in->row_bytes;

	pb->io.code = 0;
	pb->io.err[0] = '\0';
	if (in->interlaced && pb->filling && band == 0) {
		int r = fill_interlaced(pb);

		if (r < 0)
			return r;
	}
	/* Not for a band cut from the fill's copy (below). */
	if (!(in->interlaced && pb->fill_image) &&
	    (in->interlaced || !seek_to(pb, band, y0))) {
		if (!start_png(pb))
			return pngio_errno(&pb->io);
		if (setjmp(png_jmpbuf(pb->png))) {
			pb->live = 0;
			return pngio_errno(&pb->io);
		}
		read_header(pb);
	}
	if (setjmp(png_jmpbuf(pb->png))) {
		pb->live = 0;
		return pngio_errno(&pb->io);
	}
	if (in->interlaced && pb->fill_image) {
		/* The fill of an interlaced image: one pass over the file
		 * for all bands (see fill_interlaced()). */
		memcpy(dst, pb->fill_image + (size_t)y0 * rb,
		       (size_t)(y1 - y0) * rb);
	} else if (in->interlaced) {
		/* Each pass writes its own pixels of a row ("sparkle"): the
		 * band's rows are complete after the last pass. */
		for (int pass = 0; pass < pb->passes; pass++)
			for (uint32_t y = 0; y < in->height; y++)
				png_read_row(pb->png, y >= y0 && y < y1 ?
					     dst + (y - y0) * rb : NULL, NULL);
		pb->st.rows += (uint64_t)in->height * (uint64_t)pb->passes;
		pb->live = 0;
	} else {
		for (; pb->next_row < y0; pb->next_row++, pb->st.rows++)
			png_read_row(pb->png, NULL, NULL);
		if (pb->filling && pb->seek == PNGBAND_CHECKPOINT)
			save(pb, band);
		for (; pb->next_row < y1; pb->next_row++, pb->st.rows++)
			png_read_row(pb->png, dst + (pb->next_row - y0) * rb,
				     NULL);
	}
	memset(dst + (size_t)(y1 - y0) * rb, 0,
	       in->band_bytes - (size_t)(y1 - y0) * rb);
	return 0;
}

int pngband_decode(struct pngband *pb, uint32_t band, void *dst)
{
	uint64_t t0 = now_ns();
	int r;

	if (!pb || !dst || band >= pb->info.bands)
		return -EINVAL;
	while (atomic_flag_test_and_set_explicit(&pb->lock,
						 memory_order_acquire))
		sched_yield();
	r = decode_locked(pb, band, dst);
	if (r < 0)
		pngio_copy_msg(pb->last_err, pb->io.err, NULL);
	pb->st.decodes++;
	pb->st.ns += now_ns() - t0;
	atomic_flag_clear_explicit(&pb->lock, memory_order_release);
	return r;
}

/* Width and height from the IHDR, to size things before libpng runs;
 * libpng validates the header itself afterwards. */
static int peek_size(struct pngband *pb, uint32_t *w, uint32_t *h)
{
	unsigned char b[24];

	if (pread(pb->io.fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
	    png_sig_cmp(b, 0, 8) != 0) {
		pngio_copy_msg(pb->io.err, "not a PNG file", NULL);
		return -EBADMSG;
	}
	/* No IHDR first: libpng will say what is wrong. */
	if (memcmp(b + 12, "IHDR", 4) != 0) {
		*w = *h = 1;
		return 0;
	}
	*w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 |
	     (uint32_t)b[18] << 8 | b[19];
	*h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 |
	     (uint32_t)b[22] << 8 | b[23];
	return 0;
}

static int open_locked(struct pngband *pb, const char *path,
		       size_t band_target, size_t max_bytes)
{
	struct pngband_info *in = &pb->info;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint32_t w, h;
	int r;

	pb->io.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pb->io.fd < 0) {
		r = -errno;
		pngio_copy_msg(pb->io.err, strerror(errno), NULL);
		return r;
	}
	r = peek_size(pb, &w, &h);
	if (r < 0)
		return r;
	if ((uint64_t)w * h * 4 > max_bytes) {
		char msg[PNGIO_ERR_MAX];

		snprintf(msg, sizeof(msg), "%ux%u pixels: %.0f MiB decoded, "
			 "more than the limit of %.0f MiB", w, h,
			 (double)w * h * 4 / 1048576.0,
			 max_bytes / 1048576.0);
		pngio_copy_msg(pb->io.err, msg, NULL);
		return -EFBIG;
	}
	/* libpng + zlib (32 KiB window, 8 KiB read buffer) need about
	 * 60 KiB; the row buffers up to three rows of 16-bit RGBA. */
	/* Wider than libpng's own limit: it refuses the file below. */
	if (w > PNG_USER_WIDTH_MAX)
		w = 1;
	pb->io.arena_size = (128u << 10) + 3 * ((size_t)w * 8 + 64);
	pb->io.arena = malloc(pb->io.arena_size);
	if (!pb->io.arena)
		return -ENOMEM;
	if (!start_png(pb))
		return pngio_errno(&pb->io);
	if (setjmp(png_jmpbuf(pb->png)))
		return pngio_errno(&pb->io);
	read_header(pb);
	pb->st.restarts = 0;
	in->width = png_get_image_width(pb->png, pb->pinfo);
	in->height = png_get_image_height(pb->png, pb->pinfo);
	in->bit_depth = png_get_bit_depth(pb->png, pb->pinfo);
	in->color_type = png_get_color_type(pb->png, pb->pinfo);
	in->interlaced = png_get_interlace_type(pb->png, pb->pinfo) !=
			 PNG_INTERLACE_NONE;
	in->row_bytes = (size_t)in->width * 4;
	in->band_rows = band_target / in->row_bytes ?
			(uint32_t)(band_target / in->row_bytes) : 1;
	if (in->band_rows > in->height)
		in->band_rows = in->height;
	in->band_bytes = ((size_t)in->band_rows * in->row_bytes + page - 1) /
			 page * page;
	in->bands = (in->height + in->band_rows - 1) / in->band_rows;
	in->size = (size_t)in->bands * in->band_bytes;
	in->arena_bytes = pb->io.arena_size;
	if (pb->seek == PNGBAND_CHECKPOINT && !in->interlaced) {
		pb->ckpt = calloc(in->bands, sizeof(*pb->ckpt));
		if (!pb->ckpt)
			return -ENOMEM;
	}
	return 0;
}

int pngband_open(const char *path, size_t band_target, size_t max_bytes,
		 enum pngband_seek seek, struct pngband **ret_pb,
		 char *err, size_t err_size)
{
	struct pngband *pb;
	int r;

	if (!path || !ret_pb || band_target == 0 ||
	    seek > PNGBAND_CHECKPOINT)
		return -EINVAL;
	pb = calloc(1, sizeof(*pb));
	if (!pb)
		return -ENOMEM;
	pb->io.fd = -1;
	pb->seek = seek;
	atomic_flag_clear(&pb->lock);
	r = open_locked(pb, path, band_target, max_bytes ? max_bytes :
			(size_t)1 << 30);
	if (r < 0) {
		if (err && err_size)
			snprintf(err, err_size, "%s", pb->io.err[0] ?
				 pb->io.err : strerror(-r));
		pngband_free(pb);
		return r;
	}
	*ret_pb = pb;
	return 0;
}

void pngband_free(struct pngband *pb)
{
	if (!pb)
		return;
	for (uint32_t b = 0; pb->ckpt && b < pb->info.bands; b++)
		free(pb->ckpt[b].state);
	free(pb->ckpt);
	free(pb->fill_image);
	free(pb->io.arena);
	if (pb->io.fd >= 0)
		close(pb->io.fd);
	free(pb);
}

const struct pngband_info *pngband_info(const struct pngband *pb)
{
	return &pb->info;
}

void pngband_stats(struct pngband *pb, struct pngband_stats *ret)
{
	while (atomic_flag_test_and_set_explicit(&pb->lock,
						 memory_order_acquire))
		sched_yield();
	*ret = pb->st;
	atomic_flag_clear_explicit(&pb->lock, memory_order_release);
}

const char *pngband_error(const struct pngband *pb)
{
	return pb->last_err;
}

void pngband_begin_fill(struct pngband *pb)
{
	pb->filling = 1;
}

int pngband_end_fill(struct pngband *pb)
{
	free(pb->fill_image);
	pb->fill_image = NULL;
	pb->filling = 0;
	return pb->fill_failed ? -ENOMEM : 0;
}
