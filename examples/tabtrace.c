// SPDX-License-Identifier: MIT
/*
 * tabtrace.c - tabcache's figures over time, as CSV (see tabtrace.h)
 */
#include "tabtrace.h"
#include "render.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

struct tabtrace {
	FILE *f;
	double interval, next;
	uint64_t switches;       /* at the start of the interval */
	uint64_t regens, faults; /* library counters then */
	unsigned int pins;
	double pin_sum, pin_max;
	unsigned char *vec;
};

int tabtrace_open(const char *path, double interval,
		  struct tabtrace **ret_tt)
{
	struct tabtrace *tt = calloc(1, sizeof(*tt));

	if (!tt)
		return -ENOMEM;
	tt->vec = malloc(RENDER_BYTES / (size_t)sysconf(_SC_PAGESIZE) + 1);
	tt->f = tt->vec ? fopen(path, "we") : NULL;
	if (!tt->f) {
		int r = tt->vec ? -errno : -ENOMEM;

		free(tt->vec);
		free(tt);
		return r;
	}
	tt->interval = interval > 0 ? interval : 0.5;
	tt->next = tt->interval;
	fputs("t_s,switches,resident_mib,purged_mib,volatile_mib,"
	      "regenerations,regen_sigbus,pin_mean_ms,pin_max_ms\n", tt->f);
	*ret_tt = tt;
	return 0;
}

static void line(struct tabtrace *tt, struct tabview *tv, vcache *cache,
		 double t)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), resident = 0, all = 0;
	struct vcache_stats st;

	for (unsigned int i = 0; i < tabview_count(tv); i++) {
		void *data = vcache_object_data(tabview_tab(tv, i));

		if (mincore(data, RENDER_BYTES, tt->vec) < 0)
			continue;
		for (size_t k = 0; k < RENDER_BYTES / pg; k++)
			resident += tt->vec[k] & 1;
		all += RENDER_BYTES / pg;
	}
	if (vcache_stats_get(cache, &st, sizeof(st)) < 0)
		return;
	fprintf(tt->f, "%.2f,%llu,%.1f,%.1f,%.1f,%llu,%llu,%.3f,%.3f\n", t,
		(unsigned long long)(tabview_switches(tv) - tt->switches),
		resident * pg / MIB, (all - resident) * pg / MIB,
		st.bytes_volatile / MIB,
		(unsigned long long)(st.regenerations - tt->regens),
		(unsigned long long)(st.faults - tt->faults),
		tt->pins ? tt->pin_sum / tt->pins * 1e3 : 0.0,
		tt->pin_max * 1e3);
	tt->switches = tabview_switches(tv);
	tt->regens = st.regenerations;
	tt->faults = st.faults;
	tt->pins = 0;
	tt->pin_sum = tt->pin_max = 0;
}

void tabtrace_switch(struct tabtrace *tt, struct tabview *tv, vcache *cache)
{
	double t = tabview_elapsed(tv), pin = tabview_last_pin(tv);

	if (!tt)
		return;
	tt->pins++;
	tt->pin_sum += pin;
	if (pin > tt->pin_max)
		tt->pin_max = pin;
	if (t < tt->next)
		return;
	line(tt, tv, cache, t);
	while (tt->next <= t)
		tt->next += tt->interval;
}

int tabtrace_close(struct tabtrace *tt, struct tabview *tv, vcache *cache)
{
	int r;

	if (!tt)
		return 0;
	if (tt->pins)
		line(tt, tv, cache, tabview_elapsed(tv));
	r = ferror(tt->f) ? -EIO : 0;
	if (fclose(tt->f) != 0 && r == 0)
		r = -errno;
	free(tt->vec);
	free(tt);
	return r;
}
