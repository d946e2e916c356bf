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
 *    the last of it, and offers itself to the OOM killer first. It has to
 *    take nearly all the machine's available memory, which on a big
 *    machine is slow (about a minute for 22 GiB on the development VM), so
 *    "auto" uses it only when that is at most the hog's cap.
 *  - pageout: otherwise, the program itself asks the kernel to reclaim a
 *    hidden part of its cache now and then (MADV_PAGEOUT). Not a shortage,
 *    but the kernel's own reclaim of exactly those pages, with no
 *    privileges and no cost to other programs.
 */
#ifndef PRESSURE_H
#define PRESSURE_H

#include "cgroup.h"
#include "hog.h"

#include <stddef.h>
#include <sys/types.h>

enum pressure_mode {
	PRESSURE_AUTO, /* request only: cgroup, else hog */
	PRESSURE_NONE,
	PRESSURE_CGROUP,
	PRESSURE_HOG,
	PRESSURE_PAGEOUT, /* the program asks the kernel to reclaim
			   * (MADV_PAGEOUT) a hidden part of its cache */
};

struct pressure {
	enum pressure_mode mode;    /* what is in effect */
	struct cgroup_group cg;     /* the group, in PRESSURE_CGROUP mode */
	size_t limit;               /* the cgroup limit, or what the hog
				     * leaves free */
	struct hog hog;             /* the hog child (pid 0: none) */
	int hog_reported;           /* "done" line printed */
	char why[1024];             /* how the mode was chosen, for humans */
};

/*
 * Start pressure: want is the requested mode; total the bytes of volatile
 * data the demo will hold; keep the bytes it needs non-volatile at any time
 * (pinned data, program overhead); hog_max caps what a hog may take (0:
 * what the machine has available minus the limit). Never fails: on any
 * error it falls back to a weaker mode and says why in p->why. A hog is
 * started and left filling (for at most PRESSURE_HOG_FILL_MS): follow it
 * with pressure_progress().
 */
#define PRESSURE_HOG_FILL_MS 10000
void pressure_start(struct pressure *p, enum pressure_mode want,
		    size_t total, size_t keep, uint64_t hog_max);

/*
 * While a hog fills: a line for humans about its progress, at most about
 * every half second, and once when it is done. Returns 1 if buf holds a
 * line to print, else 0.
 */
int pressure_progress(struct pressure *p, char *buf, size_t size);

/* Undo pressure_start(): stop the hog, leave and remove the cgroup. */
void pressure_stop(struct pressure *p);

/* "cgroup", "hog", "pageout", "none" or "auto". */
const char *pressure_mode_name(enum pressure_mode mode);

#endif /* PRESSURE_H */
