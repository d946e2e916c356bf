/* SPDX-License-Identifier: MIT */
/*
 * cgroup.h - find and use this process's memory cgroup (v1 or v2)
 *
 * Small helpers for pressure.c and hog.c, also used by the pressure test
 * (tests/test-pressure.c) and bench-pressure. They return 0 or a negative
 * errno, like the library.
 */
#ifndef CGROUP_H
#define CGROUP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_UNLIMITED UINT64_MAX

/*
 * The directory of the memory cgroup this process is in, and the cgroup
 * version (1: the v1 "memory" hierarchy, 2: the unified hierarchy with the
 * memory controller available). -ENOENT when there is none.
 */
int cgroup_self(char *dir, size_t size, int *ret_version);

/* The memory charged to the cgroup at dir (v1 memory.usage_in_bytes, v2
 * memory.current), in bytes. */
int cgroup_usage(const char *dir, int version, uint64_t *ret_bytes);

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

/* A number in dir/file ("max" reads as CGROUP_UNLIMITED). */
int cgroup_read_u64(const char *dir, const char *file, uint64_t *ret);

/* The value of "key N" in the flat keyed file dir/file; -ENOENT if absent. */
int cgroup_read_key(const char *dir, const char *file, const char *key,
		    uint64_t *ret);

/* A memory-limited group made by cgroup_create(). */
struct cgroup_group {
	int version;                /* 1 or 2 */
	char dir[PATH_MAX];         /* the group: <parent>/<name>.<pid> */
	char parent[PATH_MAX];      /* the cgroup this process was in */
	int enabled_memory;         /* we enabled v2 memory in parent's
				     * cgroup.subtree_control */
};

/*
 * Create the group <name>.<pid> with a memory limit inside this process's
 * own memory cgroup, so limits set from outside still apply on top. Groups
 * of the same name left by dead processes are removed first. On failure,
 * why (if not NULL) says in words what went wrong.
 */
int cgroup_create(struct cgroup_group *g, const char *name, size_t limit,
		  char *why, size_t why_size);

/* Move pid (0: the caller) into the group. */
int cgroup_enter(const struct cgroup_group *g, pid_t pid);

/* Move the caller back to the parent group (a no-op if it is there). */
int cgroup_leave(const struct cgroup_group *g);

/* Remove the group, which must be empty, and undo cgroup_create(). */
int cgroup_remove(struct cgroup_group *g);

#endif /* CGROUP_H */
