/* SPDX-License-Identifier: MIT */
/*
 * bench-cgroup.h - a throw-away memory cgroup for bench-pressure: create it
 * with a limit, move a process in, read its counters, remove it. Uses the
 * cgroup v1 memory controller at /sys/fs/cgroup/memory when mounted (the
 * host), else cgroup v2 at /sys/fs/cgroup with the memory controller
 * enabled (the QEMU guest).
 */
#ifndef VCACHE_BENCH_CGROUP_H
#define VCACHE_BENCH_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bench_cgroup {
	char path[256];
	bool v2;
};

/*
 * Create a group <name> with the given memory limit (and, on v2, no swap).
 * Returns 0 or -errno with *ret_reason naming the step that failed.
 */
int bench_cgroup_create(struct bench_cgroup *cg, const char *name,
			size_t limit, const char **ret_reason);

/* "cgroup v1" or "cgroup v2" and the group's path, for the report. */
const char *bench_cgroup_kind(const struct bench_cgroup *cg);

/* Move pid (0: the caller) into the group. 0 or -errno. */
int bench_cgroup_enter(const struct bench_cgroup *cg, pid_t pid);

/* Current and peak memory of the group in bytes, or -1. */
int64_t bench_cgroup_usage(const struct bench_cgroup *cg);
int64_t bench_cgroup_peak(const struct bench_cgroup *cg);

/* Times the limit was hit (v1 failcnt, v2 "max" events), or -1. */
int64_t bench_cgroup_limit_hits(const struct bench_cgroup *cg);

/* Processes the group's OOM killer killed, or -1. */
int64_t bench_cgroup_oom_kills(const struct bench_cgroup *cg);

/* Remove the (empty) group. 0 or -errno. */
int bench_cgroup_remove(const struct bench_cgroup *cg);

#endif /* VCACHE_BENCH_CGROUP_H */
