// SPDX-License-Identifier: MIT
/*
 * pressure.c - choose and apply memory pressure (see pressure.h)
 *
 * The group is created *inside* the cgroup the process already is in, so
 * any limit set from outside (a container, a systemd slice, a CI runner)
 * still applies on top of ours, and we never leave it.
 */
#include "pressure.h"
#include "cgroup.h"
#include "hog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MIB (1024.0 * 1024.0)

/* Append to p->why, which explains the choice to the user. */
static void explain(struct pressure *p, const char *fmt, ...)
{
	size_t used = strlen(p->why);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why + used, sizeof(p->why) - used, fmt, ap);
	va_end(ap);
}

/* With few tabs, the room the demo needs anyway holds them all. */
static void explain_small(struct pressure *p, size_t total)
{
	if (p->limit >= total)
		explain(p, " (the whole cache fits in that: expect few "
			"purges; make it bigger)");
}

static int cgroup_start(struct pressure *p)
{
	char why[512];
	int r;

	r = cgroup_create(&p->cg, "vcache-tabcache", p->limit, why,
			  sizeof(why));
	if (r < 0) {
		explain(p, "%s; ", why);
		return r;
	}
	r = cgroup_enter(&p->cg, 0);
	if (r < 0) {
		explain(p, "cgroup v%d: cannot move into %s: %s; ",
			p->cg.version, p->cg.dir, strerror(-r));
		cgroup_remove(&p->cg);
	}
	return r;
}

void pressure_start(struct pressure *p, enum pressure_mode want,
		    size_t total, size_t keep, uint64_t hog_max)
{
	uint64_t avail = hog_mem_available(), need;
	int r;

	memset(p, 0, sizeof(*p));
	p->mode = PRESSURE_NONE;
	/* Room for the non-volatile part and half of the volatile data:
	 * the other half has to be purged, again and again. */
	p->limit = total / 2 + keep;

	if (want == PRESSURE_NONE) {
		explain(p, "no memory pressure (--no-pressure): purges happen "
			"only if the machine itself runs short");
		return;
	}
	need = avail > p->limit ? avail - p->limit : 0;
	if (want == PRESSURE_PAGEOUT) {
		p->mode = PRESSURE_PAGEOUT;
		explain(p, "the kernel is asked to reclaim a hidden part of "
			"the cache now and then (MADV_PAGEOUT: real reclaim of "
			"those pages; no privileges, no cost to others)");
		return;
	}
	if (want == PRESSURE_AUTO || want == PRESSURE_CGROUP) {
		if (cgroup_start(p) == 0) {
			p->mode = PRESSURE_CGROUP;
			explain(p, "memory cgroup v%d %s limited to %.0f MiB "
				"(cache total %.0f MiB): the kernel reclaims "
				"this process alone", p->cg.version,
				p->cg.dir, p->limit / MIB, total / MIB);
			explain_small(p, total);
			return;
		}
		if (want == PRESSURE_CGROUP) {
			explain(p, "no memory pressure");
			return;
		}
		if (hog_max && need > hog_max) {
			p->mode = PRESSURE_PAGEOUT;
			explain(p, "a memory hog would have to take %.1f GiB to "
				"make this machine short of memory, more than "
				"its cap of %.0f MiB (--hog-max-mib; filling runs "
				"at well under 1 GiB/s on some machines): "
				"instead the kernel is asked to reclaim a hidden "
				"part of the cache now and then (MADV_PAGEOUT: "
				"real reclaim of those pages, no privileges)",
				need / MIB / 1024, hog_max / MIB);
			return;
		}
	}

	r = hog_start(&p->hog, p->limit, hog_max, PRESSURE_HOG_FILL_MS);
	if (r < 0) {
		explain(p, "cannot start a memory hog: %s; no memory pressure",
			strerror(-r));
		return;
	}
	p->mode = PRESSURE_HOG;
	explain(p, "memory-hog child %d takes memory until about %.0f MiB "
		"are left available: %.1f GiB now (MemAvailable %.1f GiB), "
		"filling for at most %d s; the OOM killer "
		"takes it first, and it also squeezes other programs' page "
		"cache (volatile cache %.0f MiB)", (int)p->hog.pid, p->limit / MIB,
		need / MIB / 1024, avail / MIB / 1024,
		PRESSURE_HOG_FILL_MS / 1000, total / MIB);
	if (hog_max && hog_max < need)
		explain(p, "; capped at %.0f MiB (--hog-max-mib), so about "
			"%.0f MiB stay available: expect few purges",
			hog_max / MIB, (avail - hog_max) / MIB);
	explain_small(p, total);
}

int pressure_progress(struct pressure *p, char *buf, size_t size)
{
	double last = p->hog.seconds;

	if (p->mode != PRESSURE_HOG || p->hog_reported || !hog_poll(&p->hog))
		return 0;
	if (p->hog.done) {
		p->hog_reported = 1;
		snprintf(buf, size, "hog: holds %.1f of %.1f GiB after %.1f s%s",
			 p->hog.taken / MIB / 1024, p->hog.goal / MIB / 1024,
			 p->hog.seconds, p->hog.taken + (256u << 20) <
			 p->hog.goal ? " (stopped at its deadline: expect "
			 "few purges)" : "");
		return 1;
	}
	if ((int)(p->hog.seconds * 2) == (int)(last * 2))
		return 0;
	snprintf(buf, size, "hog: %.1f of %.1f GiB taken (%.1f s)",
		 p->hog.taken / MIB / 1024, p->hog.goal / MIB / 1024,
		 p->hog.seconds);
	return 1;
}

void pressure_stop(struct pressure *p)
{
	if (p->mode == PRESSURE_CGROUP) {
		cgroup_leave(&p->cg);
		cgroup_remove(&p->cg);
	}
	if (p->mode == PRESSURE_HOG && hog_stop(&p->hog))
		fprintf(stderr, "tabcache: the memory hog had died early "
			"(OOM-killed?)\n");
	p->mode = PRESSURE_NONE;
}

const char *pressure_mode_name(enum pressure_mode mode)
{
	switch (mode) {
	case PRESSURE_AUTO:
		return "auto";
	case PRESSURE_NONE:
		return "none";
	case PRESSURE_CGROUP:
		return "cgroup";
	case PRESSURE_HOG:
		return "hog";
	case PRESSURE_PAGEOUT:
		return "pageout";
	}
	return "?";
}
