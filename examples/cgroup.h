/* SPDX-License-Identifier: MIT */
/*
 * cgroup.h - find and use this process's memory cgroup (v1 or v2)
 *
 * Small helpers for pressure.c and hog.c. They return 0 or a negative
 * errno, like the library.
 */
#ifndef CGROUP_H
#define CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CGROUP_UNLIMITED UINT64_MAX

/*
 * The directory of the memory cgroup this process is in, and the cgroup
 * version (1: the v1 "memory" hierarchy, 2: the unified hierarchy with the
 * memory controller available). -ENOENT when there is none.
 */
int cgroup_self(char *dir, size_t size, int *ret_version);

/*
 * The memory the cgroup at dir could still give: its limit minus what it
 * uses that reclaim cannot free (everything but the file LRU, where page
 * cache and volatile pages sit), or CGROUP_UNLIMITED. Only the group
 * itself is checked, not its ancestors.
 */
int cgroup_headroom(const char *dir, int version, uint64_t *ret_bytes);

/* Does the space-separated list in dir/file contain word? */
int cgroup_has(const char *dir, const char *file, const char *word);

/* Write a string to dir/file. */
int cgroup_write(const char *dir, const char *file, const char *value);

#endif /* CGROUP_H */
