/* SPDX-License-Identifier: MIT */
/*
 * hog.h - a memory-hungry child process, for pressure without cgroups
 */
#ifndef HOG_H
#define HOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Fork a child that allocates and touches memory until only about leave
 * bytes are available (MemAvailable, or its memory cgroup's limit if that
 * is tighter), then holds it, giving memory back whenever availability
 * drops below leave / 2. The child sets its oom_score_adj to 1000, so if
 * memory runs out anyway the OOM killer takes it first, and it dies with
 * its parent. Waits up to timeout_ms for the child to fill up; *ret_taken
 * receives the bytes it holds then. Returns the child's pid or a negative
 * errno.
 */
pid_t hog_start(size_t leave, int timeout_ms, uint64_t *ret_taken);

/* Kill and reap the child. Returns 1 if it had died on its own before. */
int hog_stop(pid_t pid);

#endif /* HOG_H */
