/* SPDX-License-Identifier: MIT */
/*
 * pressure.h - real memory pressure for the tabcache demo
 *
 * Volatile memory is only purged when the kernel reclaims memory, so the
 * demo has to create a shortage. Two ways, best first:
 *
 *  - cgroup: move this process into a fresh memory cgroup (v1
 *    memory.limit_in_bytes or v2 memory.max) whose limit is below the
 *    tabs' total, so the kernel's per-group reclaim purges hidden tabs
 *    while the rest of the machine is untouched. Needs write access to the
 *    cgroup tree (root, or a delegated v2 subtree).
 *  - hog: a child process that fills memory with touched anonymous pages,
 *    like a memory-hungry neighbour, until only a little is left. It keeps
 *    adjusting to MemAvailable (and its cgroup's limit) so it never takes
 *    the last of it, and offers itself to the OOM killer first.
 */
#ifndef PRESSURE_H
#define PRESSURE_H

#include "cgroup.h"

#include <stddef.h>
#include <sys/types.h>

enum pressure_mode {
	PRESSURE_AUTO, /* request only: cgroup, else hog */
	PRESSURE_NONE,
	PRESSURE_CGROUP,
	PRESSURE_HOG,
};

struct pressure {
	enum pressure_mode mode;    /* what is in effect */
	struct cgroup_group cg;     /* the group, in PRESSURE_CGROUP mode */
	size_t limit;               /* the cgroup limit, or what the hog
				     * leaves free */
	pid_t hog;                  /* the hog child, or 0 */
	char why[1024];             /* how the mode was chosen, for humans */
};

/*
 * Start pressure: want is the requested mode; total the bytes of volatile
 * data the demo will hold; keep the bytes it needs non-volatile at any time
 * (pinned data, program overhead). Never fails: on any error it falls back
 * to a weaker mode and says why in p->why.
 */
void pressure_start(struct pressure *p, enum pressure_mode want,
		    size_t total, size_t keep);

/* Undo pressure_start(): stop the hog, leave and remove the cgroup. */
void pressure_stop(struct pressure *p);

/* "cgroup", "hog", "none" or "auto". */
const char *pressure_mode_name(enum pressure_mode mode);

#endif /* PRESSURE_H */
