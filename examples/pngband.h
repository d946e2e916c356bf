/* SPDX-License-Identifier: MIT */
/*
 * pngband.h - decode a PNG file band by band, also inside a SIGBUS handler
 *
 * An image is held as 8-bit RGBA (R, G, B, A bytes per pixel) in bands of
 * whole rows. Band b occupies bytes [b * band_bytes, b * band_bytes +
 * rows * width * 4) of the image's buffer; band_bytes is a multiple of the
 * page size, so a band is exactly one vcache chunk, and the tail of each
 * band up to band_bytes is zero. Every PNG colour type and bit depth is
 * converted (palette and tRNS expanded to RGBA, gray to RGB, 16 bits
 * scaled to 8 with rounding, opaque alpha added); no gamma correction.
 *
 * Decoding a band after open uses only memory allocated by pngband_open()
 * (libpng and zlib allocate from a per-file arena through libpng's
 * user-allocator hooks), reads the file with pread(2) on a descriptor kept
 * open, reports errors through setjmp/longjmp inside the call and never
 * prints: so pngband_decode() may run in a regeneration callback inside the
 * library's SIGBUS handler. Two threads decoding bands of the same file
 * take turns on a spin lock (sched_yield(); async-signal-safe).
 *
 * Errors (negative errno; a message for humans in the err buffer):
 *   -EBADMSG  not a PNG file, or libpng rejected it (bad header, CRC of a
 *             critical chunk, corrupt compressed data, too few rows)
 *   -ENODATA  the file ends before the image data does (truncated)
 *   -EFBIG    the decoded image would exceed max_bytes
 *   -ENOMEM   out of memory (open) or the arena is exhausted (decode)
 *   -EIO, ... the errno of open(2), fstat(2) or pread(2)
 */
#ifndef PNGBAND_H
#define PNGBAND_H

#include <stddef.h>
#include <stdint.h>

/*
 * How a band is found in the compressed stream (non-interlaced images;
 * an interlaced image spreads every row over all seven Adam7 passes, so
 * each of its bands needs a full pass over the data whatever the mode):
 *  - RESTART: inflate from the start, discarding the rows before the band.
 *  - RESUME: keep the decoder where the last band ended; go on from there
 *    when the next band lies further down, restart otherwise.
 *  - CHECKPOINT: while the first full decode runs, copy the decoder's
 *    whole state (the arena: libpng, zlib window, previous row; about
 *    60 KiB) at the start of bands; a band later restores the nearest
 *    copy at or before it into the same arena (same addresses, so the
 *    pointers inside stay valid) and decodes from there. Copies are
 *    spaced so that they cost at most 1/16 of the decoded image: at
 *    every band from bands of about 1 MiB, every 4th at 256 KiB.
 */
enum pngband_seek { PNGBAND_RESTART, PNGBAND_RESUME, PNGBAND_CHECKPOINT };

struct pngband_info {
	uint32_t width, height;
	int bit_depth, color_type, interlaced; /* as in the file */
	size_t row_bytes;   /* width * 4 */
	uint32_t band_rows; /* rows per band (the last may have fewer) */
	size_t band_bytes;  /* bytes per band, a multiple of the page size */
	uint32_t bands;
	size_t size;        /* bands * band_bytes */
	size_t arena_bytes; /* decoder state allocated for this file */
	size_t checkpoint_bytes; /* kept for CHECKPOINT, else 0 */
};

struct pngband_stats {
	uint64_t decodes;      /* bands decoded */
	uint64_t rows;         /* rows inflated, including skipped ones */
	uint64_t ns;           /* time in pngband_decode() */
	uint64_t restarts;     /* decodes that started from the file's start */
};

struct pngband;

/*
 * Open path, read its header and get ready to decode bands of about
 * band_target bytes (rounded to whole rows, at least one row, then up to
 * the page size). max_bytes bounds the decoded size (0: 1 GiB). Does not
 * decode pixels: the first full decode is pngband_decode() of every band
 * in order (vcache_object_create() does exactly that), and for
 * CHECKPOINT that pass records the checkpoints (and for an interlaced
 * image it decodes the file once into a temporary copy, freed at the end,
 * instead of once per band), so call pngband_begin_fill() before it and
 * pngband_end_fill() after.
 */
int pngband_open(const char *path, size_t band_target, size_t max_bytes,
		 enum pngband_seek seek, struct pngband **ret_pb,
		 char *err, size_t err_size);

/* Close the file and free everything. Accepts NULL. */
void pngband_free(struct pngband *pb);

const struct pngband_info *pngband_info(const struct pngband *pb);
/* Normal context (takes the decoder's lock). */
void pngband_stats(struct pngband *pb, struct pngband_stats *ret);

/*
 * The first full decode starts / ended: between the two calls bands must
 * be decoded in order 0, 1, ... from one thread in normal context (it may
 * allocate checkpoints). pngband_end_fill() returns -ENOMEM if a
 * checkpoint could not be kept (the file still works: such bands restart
 * from an earlier checkpoint).
 */
void pngband_begin_fill(struct pngband *pb);
int pngband_end_fill(struct pngband *pb);

/*
 * Decode band number band into dst (band_bytes bytes). Async-signal-safe
 * outside the fill (see above). 0 or a negative errno (see the table; the
 * last message is kept for pngband_error()).
 */
int pngband_decode(struct pngband *pb, uint32_t band, void *dst);

/* The message of the last failed decode of pb ("" if none). */
const char *pngband_error(const struct pngband *pb);

/*
 * Reference decode for checks: the whole image through libpng's
 * png_read_image() (its own interlace handling, no arena, no bands) into
 * a malloc'ed buffer of height * width * 4 bytes, rows packed.
 */
int pngband_decode_reference(const char *path, size_t max_bytes,
			     uint8_t **ret_pixels, uint32_t *ret_width,
			     uint32_t *ret_height, char *err, size_t err_size);

#endif /* PNGBAND_H */
