/* SPDX-License-Identifier: MIT */
/*
 * bench-cgroup.h - a throw-away cgroup v1 memory group for bench-pressure:
 * create it with a limit, move a process in, read its counters, remove it.
 */
#ifndef VCACHE_BENCH_CGROUP_H
#define VCACHE_BENCH_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_CGROUP_ROOT "/sys/fs/cgroup/memory"

struct bench_cgroup {
	char path[256];
};

/*
 * Create BENCH_CGROUP_ROOT/<name> with memory.limit_in_bytes = limit.
 * Returns 0 or -errno with *ret_reason naming the step that failed.
 */
int bench_cgroup_create(struct bench_cgroup *cg, const char *name,
			size_t limit, const char **ret_reason);

/* Move pid (0: the caller) into the group. 0 or -errno. */
int bench_cgroup_enter(const struct bench_cgroup *cg, pid_t pid);

/* A numeric file of the group (e.g. "memory.max_usage_in_bytes"), or -1. */
int64_t bench_cgroup_read(const struct bench_cgroup *cg, const char *file);

/* The "oom_kill N" count of memory.oom_control, or -1. */
int64_t bench_cgroup_oom_kills(const struct bench_cgroup *cg);

/* Remove the (empty) group. 0 or -errno. */
int bench_cgroup_remove(const struct bench_cgroup *cg);

#endif /* VCACHE_BENCH_CGROUP_H */
