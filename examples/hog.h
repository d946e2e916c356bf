/* SPDX-License-Identifier: MIT */
/*
 * hog.h - a memory-hungry child process, for pressure without cgroups
 */
#ifndef HOG_H
#define HOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hog {
	pid_t pid;
	int fd;             /* progress reports from the child */
	uint64_t goal;      /* bytes the child means to take */
	uint64_t taken;     /* bytes it holds, as last reported */
	int done;           /* the fill phase is over (goal or deadline) */
	double seconds;     /* since the start, as last reported */
};

/*
 * Fork a child that allocates and touches memory until only about leave
 * bytes are available (MemAvailable, or its memory cgroup's limit if that
 * is tighter), but never more than max_bytes (0: no cap beyond that), and
 * that stops filling after fill_ms even if it has not got there.
 * Afterwards it holds its memory, gives some back whenever availability
 * drops below leave / 2 and takes it again (never more than it had at the
 * end of the fill) when others free memory.
 *
 * The child sets its oom_score_adj to 1000 (the OOM killer's first
 * choice) and dies with its parent. Returns at once: follow the fill with
 * hog_poll(). 0 or a negative errno.
 */
int hog_start(struct hog *h, size_t leave, uint64_t max_bytes, int fill_ms);

/* Read the child's latest report without blocking: 1 if anything new. */
int hog_poll(struct hog *h);

/* Kill and reap the child. Returns 1 if it had died on its own before. */
int hog_stop(struct hog *h);

/* MemAvailable from /proc/meminfo, in bytes (0 if unknown). */
uint64_t hog_mem_available(void);

#endif /* HOG_H */
