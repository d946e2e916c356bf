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
		explain(p, " (all tabs fit in that: expect few purges, use "
			"more tabs)");
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
		    size_t total, size_t keep)
{
	uint64_t taken;
	pid_t pid;

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
	if (want == PRESSURE_AUTO || want == PRESSURE_CGROUP) {
		if (cgroup_start(p) == 0) {
			p->mode = PRESSURE_CGROUP;
			explain(p, "memory cgroup v%d %s limited to %.0f MiB "
				"(tabs total %.0f MiB): the kernel reclaims "
				"this process alone", p->cg.version,
				p->cg.dir, p->limit / MIB, total / MIB);
			explain_small(p, total);
			return;
		}
		if (want == PRESSURE_CGROUP) {
			explain(p, "no memory pressure");
			return;
		}
	}

	pid = hog_start(p->limit, 60 * 1000, &taken);
	if (pid < 0) {
		explain(p, "cannot start a memory hog: %s; no memory pressure",
			strerror((int)-pid));
		return;
	}
	p->mode = PRESSURE_HOG;
	p->hog = pid;
	explain(p, "memory-hog child %d holds %.0f MiB, leaving about %.0f MiB "
		"available (tabs total %.0f MiB); it also squeezes other "
		"programs' page cache", (int)pid, taken / MIB,
		p->limit / MIB, total / MIB);
	explain_small(p, total);
}

void pressure_stop(struct pressure *p)
{
	if (p->mode == PRESSURE_CGROUP) {
		cgroup_leave(&p->cg);
		cgroup_remove(&p->cg);
	}
	if (p->mode == PRESSURE_HOG && hog_stop(p->hog))
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
	}
	return "?";
}
