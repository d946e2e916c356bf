/* SPDX-License-Identifier: MIT */
/*
 * tabview.h - the tabs of the tabcache demo and the ways it looks at them
 */
#ifndef TABVIEW_H
#define TABVIEW_H

#include <stdint.h>
#include <stdio.h>

#include <vcache.h>

struct tabview;

/*
 * Create n tabs "tab-00", "tab-01", ... in cache, each one rendered page;
 * regen receives the tab number as userdata.
 */
int tabview_new(vcache *cache, unsigned int n, size_t chunk_size,
		vcache_regen_fn regen, struct tabview **ret_tv);

/* Unpin the visible tab, remove and release all tabs. Accepts NULL. */
void tabview_free(struct tabview *tv);

/*
 * Make tab idx the visible one: pin it with VCACHE_PIN_REGENERATE, check
 * every pixel, then unpin the previously visible tab (it becomes volatile).
 */
int tabview_show(struct tabview *tv, unsigned int idx);

/*
 * Draw tab idx as a thumbnail: read one pixel in each 8x8 block (so every
 * 8th row: every chunk is touched) without pinning, and check each one.
 */
void tabview_thumbnail(struct tabview *tv, unsigned int idx);

/* Seconds since tabview_new(). */
double tabview_elapsed(const struct tabview *tv);

/*
 * Sample which tabs are in memory (mincore) and, if print, show the live
 * status line. Rate-limited unless final.
 */
void tabview_status(struct tabview *tv, vcache *cache, int print, int final);

/* What the status line shows, for a legend. */
#define TABVIEW_LEGEND \
	"status: backend, time, switches, tabs ('*' visible, '#' in memory, " \
	"'+' partly purged,\n        '.' purged), chunks regenerated " \
	"(on a fault: sigbus, sigsegv under soft), MiB volatile\n"

/* Print the final summary; returns 1 if any pixel mismatched, else 0. */
int tabview_summary(struct tabview *tv, vcache *cache, FILE *f);

/* For pictures and traces (tabshot.c, tabtrace.c). */
unsigned int tabview_count(const struct tabview *tv);
vcache_object *tabview_tab(const struct tabview *tv, unsigned int idx);
int tabview_visible(const struct tabview *tv); /* -1: none yet */
uint64_t tabview_switches(const struct tabview *tv);
/* Seconds the last tabview_show() spent in vcache_pin(). */
double tabview_last_pin(const struct tabview *tv);

/* Purges seen: by the library's count, by pins and by mincore(). */
uint64_t tabview_purges(const struct tabview *tv, vcache *cache);

#endif /* TABVIEW_H */
