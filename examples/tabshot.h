/* SPDX-License-Identifier: MIT */
/*
 * tabshot.h - a PNG picture of tabcache's tab strip
 *
 * Each tab drawn 1/8 size in a grid, with its state per chunk (64 KiB =
 * 16 rows of the page = 2 rows of the picture):
 *  - in memory, never regenerated: the page as it is in memory;
 *  - in memory, regenerated at least once during the run: the page with
 *    a green tint, and a green mark in the bar left of the tab;
 *  - purged now (some page not resident, by mincore()): what the page
 *    would show, dark and red-tinted, with a red mark in the bar;
 *  - the visible (pinned) tab has a yellow frame.
 * Resident chunks are read from memory, purged ones are never touched (so
 * taking a picture regenerates nothing, unless a page is purged between
 * mincore() and the read: then the library regenerates it as usual).
 */
#ifndef TABSHOT_H
#define TABSHOT_H

#include "tabview.h"

#include <stdatomic.h>

/*
 * Write the picture to path (through a temporary file and rename(2), so a
 * viewer never sees half a file). regen_count[tab * chunks + chunk] counts
 * the regenerations of each chunk (may be NULL). 0 or a negative errno.
 */
int tabshot_write(const char *path, struct tabview *tv,
		  const atomic_uint *regen_count, size_t chunk_size);

#endif /* TABSHOT_H */
