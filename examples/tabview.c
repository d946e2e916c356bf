// SPDX-License-Identifier: MIT
/*
 * tabview.c - tabs as vcache objects, viewed pinned and optimistically
 */
#include "tabview.h"
#include "faultname.h"
#include "render.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define THUMB_STEP 8 /* a thumbnail samples one pixel in 8x8 */
#define STRIP_MAX 32 /* more tabs than this are shown as counts */

struct tabview {
	vcache *cache;
	unsigned int n;
	vcache_object **tabs;
	int visible;                /* pinned tab, or -1 */
	unsigned char *pages;       /* mincore() vector for one tab */
	size_t page_size;
	struct timespec start;
	double last_sample;         /* last tab_strip() */
	double last_print;
	uint64_t printed_switches;
	int tty;

	uint64_t switches;
	double last_pin;            /* seconds in the last switch's pin */
	uint64_t pins_purged;       /* pins that reported VCACHE_PURGED */
	uint64_t thumbnails;
	uint64_t thumbnails_faulted; /* thumbnails that raised SIGBUS */
	uint64_t verified_pinned;   /* pixels checked through a pin */
	uint64_t verified_optimistic;
	uint64_t mismatches;
	unsigned int peak_purged;   /* most tabs not fully resident at once */
};

static double now_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

double tabview_elapsed(const struct tabview *tv)
{
	return now_since(&tv->start);
}

int tabview_new(vcache *cache, unsigned int n, size_t chunk_size,
		vcache_regen_fn regen, struct tabview **ret_tv)
{
	struct tabview *tv = calloc(1, sizeof(*tv));
	char name[32];
	int r = -ENOMEM;

	if (!tv)
		return -ENOMEM;
	tv->cache = cache;
	tv->n = n;
	tv->visible = -1;
	tv->page_size = (size_t)sysconf(_SC_PAGESIZE);
	tv->tty = isatty(STDOUT_FILENO);
	tv->tabs = calloc(n, sizeof(*tv->tabs));
	tv->pages = malloc(RENDER_BYTES / tv->page_size + 1);
	if (!tv->tabs || !tv->pages)
		goto fail;
	for (unsigned int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "tab-%02u", i);
		r = vcache_object_create(cache, name, RENDER_BYTES, chunk_size,
					 regen, (void *)(uintptr_t)i, 0,
					 &tv->tabs[i]);
		if (r < 0)
			goto fail;
	}
	clock_gettime(CLOCK_MONOTONIC, &tv->start);
	*ret_tv = tv;
	return 0;

fail:
	tabview_free(tv);
	return r;
}

void tabview_free(struct tabview *tv)
{
	if (!tv)
		return;
	if (tv->visible >= 0)
		vcache_unpin(tv->tabs[tv->visible]);
	for (unsigned int i = 0; tv->tabs && i < tv->n; i++) {
		if (!tv->tabs[i])
			continue;
		vcache_object_remove(tv->tabs[i]);
		vcache_object_unref(tv->tabs[i]);
	}
	free(tv->tabs);
	free(tv->pages);
	free(tv);
}

int tabview_show(struct tabview *tv, unsigned int idx)
{
	vcache_object *tab = tv->tabs[idx];
	int prev, r;

	struct timespec t0;

	if ((int)idx == tv->visible)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = vcache_pin(tab, VCACHE_PIN_REGENERATE);
	tv->last_pin = now_since(&t0);
	if (r < 0)
		return r;
	if (r == VCACHE_PURGED)
		tv->pins_purged++;
	tv->mismatches += render_verify(idx, vcache_object_data(tab), 0,
					RENDER_BYTES);
	tv->verified_pinned += RENDER_BYTES / RENDER_BPP;
	prev = tv->visible;
	tv->visible = (int)idx;
	if (prev < 0)
		return 0; /* showing the first tab is no switch */
	tv->switches++;
	/* The tab just hidden becomes volatile: the kernel may take it. */
	r = vcache_unpin(tv->tabs[prev]);
	return r < 0 ? r : 0;
}

static uint64_t faults(vcache *cache)
{
	struct vcache_stats st;

	return vcache_stats_get(cache, &st, sizeof(st)) == 0 ? st.faults : 0;
}

void tabview_thumbnail(struct tabview *tv, unsigned int idx)
{
	vcache_object *tab = tv->tabs[idx];
	const uint32_t *px = vcache_object_data(tab);
	uint64_t before = faults(tv->cache);
	/* Which pixel of each 8x8 block is sampled changes from one drawing
	 * to the next, so over time every page is read: always the same
	 * pages would keep just those "recently used" and out of reclaim. */
	unsigned int phase = tv->thumbnails % THUMB_STEP;

	/* No pin: a purged page raises SIGBUS, the library re-renders the
	 * chunk and this load simply returns the right pixel. */
	for (unsigned int y = phase; y < RENDER_HEIGHT; y += THUMB_STEP) {
		for (unsigned int x = phase; x < RENDER_WIDTH;
		     x += THUMB_STEP) {
			if (px[(size_t)y * RENDER_WIDTH + x] !=
			    render_pixel(idx, x, y))
				tv->mismatches++;
			tv->verified_optimistic++;
		}
	}
	tv->thumbnails++;
	if (faults(tv->cache) != before)
		tv->thumbnails_faulted++;
}

/* Pages of tab idx in memory, by mincore(): a purged page is not. */
static size_t resident_pages(struct tabview *tv, unsigned int idx)
{
	size_t n = RENDER_BYTES / tv->page_size, resident = 0;

	if (mincore(vcache_object_data(tv->tabs[idx]), RENDER_BYTES,
		    tv->pages) < 0)
		return n;
	for (size_t i = 0; i < n; i++)
		resident += tv->pages[i] & 1;
	return resident;
}

/*
 * Draw the tabs into line, one character each: '*' visible, '#' all in
 * memory, '+' partly purged, '.' purged; or counts when there are too
 * many tabs for one line. Also tracks the peak number of purged tabs.
 */
static void tab_strip(struct tabview *tv, char *line, size_t size)
{
	size_t all = RENDER_BYTES / tv->page_size;
	unsigned int whole = 0, partial = 0, gone = 0;

	for (unsigned int i = 0; i < tv->n; i++) {
		size_t r = resident_pages(tv, i);
		char c = r == all ? '#' : r == 0 ? '.' : '+';

		whole += c == '#';
		partial += c == '+';
		gone += c == '.';
		if (tv->n <= STRIP_MAX && i < size - 3)
			line[i + 1] = (int)i == tv->visible ? '*' : c;
	}
	if (partial + gone > tv->peak_purged)
		tv->peak_purged = partial + gone;
	if (tv->n <= STRIP_MAX && tv->n + 3 <= size) {
		line[0] = '[';
		line[tv->n + 1] = ']';
		line[tv->n + 2] = '\0';
	} else {
		snprintf(line, size, "tabs %u in, %u part, %u out", whole,
			 partial, gone);
	}
}

void tabview_status(struct tabview *tv, vcache *cache, int print, int final)
{
	double t = tabview_elapsed(tv);
	struct vcache_stats st;
	char strip[STRIP_MAX + 32];

	/* Sample ten times a second; a terminal gets every sample (the line
	 * is redrawn in place), a log file one line every two seconds. */
	if (!final && t - tv->last_sample < 0.1)
		return;
	tv->last_sample = t;
	tab_strip(tv, strip, sizeof(strip));
	if (!print || (!final && !tv->tty && t - tv->last_print < 2.0))
		return;
	/* A log file already has the last line if nothing happened since. */
	if (final && !tv->tty && tv->printed_switches == tv->switches &&
	    tv->last_print > 0)
		return;
	tv->last_print = t;
	tv->printed_switches = tv->switches;
	if (vcache_stats_get(cache, &st, sizeof(st)) < 0)
		return;
	/* Fits 80 columns, or "\r" could not redraw it. */
	printf("%s%s %5.1fs %5llusw %s regen %llu %s %llu vol %.0fM%s",
	       tv->tty ? "\r" : "", vcache_backend_name(vcache_backend(cache)),
	       t, (unsigned long long)tv->switches, strip,
	       (unsigned long long)st.regenerations, fault_label(cache),
	       (unsigned long long)st.faults, st.bytes_volatile / 1048576.0,
	       tv->tty && !final ? "\033[K" : "\n");
	fflush(stdout);
}

unsigned int tabview_count(const struct tabview *tv)
{
	return tv->n;
}

vcache_object *tabview_tab(const struct tabview *tv, unsigned int idx)
{
	return idx < tv->n ? tv->tabs[idx] : NULL;
}

int tabview_visible(const struct tabview *tv)
{
	return tv->visible;
}

uint64_t tabview_switches(const struct tabview *tv)
{
	return tv->switches;
}

double tabview_last_pin(const struct tabview *tv)
{
	return tv->last_pin;
}

uint64_t tabview_purges(const struct tabview *tv, vcache *cache)
{
	struct vcache_stats st;
	uint64_t n = tv->pins_purged + tv->thumbnails_faulted + tv->peak_purged;

	if (vcache_stats_get(cache, &st, sizeof(st)) == 0)
		n += st.purges;
	return n;
}

int tabview_summary(struct tabview *tv, vcache *cache, FILE *f)
{
	struct vcache_stats st;

	if (vcache_stats_get(cache, &st, sizeof(st)) < 0)
		memset(&st, 0, sizeof(st));
	fprintf(f, "tabcache: %llu switches in %.1f s, %u tabs of %.1f MiB\n",
		(unsigned long long)tv->switches, tabview_elapsed(tv), tv->n,
		RENDER_BYTES / 1048576.0);
	fprintf(f, "  purges seen:   %llu chunks (library count)\n"
		"                 %llu of %llu switches found the tab purged "
		"(pin)\n"
		"                 %llu of %llu thumbnails hit a purged page "
		"(%s)\n"
		"                 at most %u tabs not all in memory "
		"(mincore)\n",
		(unsigned long long)st.purges,
		(unsigned long long)tv->pins_purged,
		(unsigned long long)tv->switches,
		(unsigned long long)tv->thumbnails_faulted,
		(unsigned long long)tv->thumbnails, fault_name(cache),
		tv->peak_purged);
	fprintf(f, "  regenerated:   %llu chunks, %llu of them on %s, "
		"%.1f ms rendering\n", (unsigned long long)st.regenerations,
		(unsigned long long)st.faults, fault_name(cache),
		st.regen_ns / 1e6);
	fprintf(f, "  verified:      %llu pixels (%llu pinned, %llu "
		"optimistic)\n",
		(unsigned long long)(tv->verified_pinned +
				     tv->verified_optimistic),
		(unsigned long long)tv->verified_pinned,
		(unsigned long long)tv->verified_optimistic);
	fprintf(f, "  mismatches:    %llu\n",
		(unsigned long long)tv->mismatches);
	return tv->mismatches ? 1 : 0;
}
