/* SPDX-License-Identifier: MIT */
/*
 * bench-cgroup.c - memory cgroup helpers (see bench-cgroup.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench-cgroup.h"

#define V1_ROOT "/sys/fs/cgroup/memory"
#define V2_ROOT "/sys/fs/cgroup"

static int write_file(const char *dir, const char *file, const char *text)
{
	char path[320];
	size_t len = strlen(text);
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		err = -errno;
	close(fd);
	return err;
}

/* Whether a whitespace-separated list file contains word. */
static bool file_has_word(const char *path, const char *word)
{
	char w[64];
	bool found = false;
	FILE *f = fopen(path, "re");

	if (!f)
		return false;
	while (!found && fscanf(f, "%63s", w) == 1)
		found = strcmp(w, word) == 0;
	fclose(f);
	return found;
}

/* Pick the hierarchy and make sure its memory controller can be used. */
static int pick_root(struct bench_cgroup *cg, const char **ret_root,
		     const char **ret_reason)
{
	int r;

	if (access(V1_ROOT "/memory.limit_in_bytes", F_OK) == 0) {
		cg->v2 = false;
		*ret_root = V1_ROOT;
		return 0;
	}
	if (!file_has_word(V2_ROOT "/cgroup.controllers", "memory")) {
		*ret_reason = "no cgroup v1 memory controller at " V1_ROOT
			      " and no memory controller in cgroup v2 at "
			      V2_ROOT;
		return -ENOENT;
	}
	if (!file_has_word(V2_ROOT "/cgroup.subtree_control", "memory")) {
		r = write_file(V2_ROOT, "cgroup.subtree_control", "+memory");
		if (r < 0) {
			*ret_reason = "cannot enable the cgroup v2 memory "
				      "controller for child groups";
			return r;
		}
	}
	cg->v2 = true;
	*ret_root = V2_ROOT;
	return 0;
}

int bench_cgroup_create(struct bench_cgroup *cg, const char *name,
			size_t limit, const char **ret_reason)
{
	const char *root;
	char buf[32];
	int r;

	r = pick_root(cg, &root, ret_reason);
	if (r < 0)
		return r;
	snprintf(cg->path, sizeof(cg->path), "%s/%s", root, name);
	if (mkdir(cg->path, 0755) < 0) {
		*ret_reason = "cannot create a memory cgroup (not root?)";
		return -errno;
	}
	snprintf(buf, sizeof(buf), "%zu", limit);
	r = write_file(cg->path, cg->v2 ? "memory.max" :
			"memory.limit_in_bytes", buf);
	/*
	 * The comparison is against no swap: keep it so if swap is on (the
	 * file is absent without swap accounting; nothing to do then).
	 */
	if (r == 0 && cg->v2)
		(void)write_file(cg->path, "memory.swap.max", "0");
	if (r < 0) {
		*ret_reason = "cannot set the group's memory limit";
		rmdir(cg->path);
		return r;
	}
	*ret_reason = NULL;
	return 0;
}

const char *bench_cgroup_kind(const struct bench_cgroup *cg)
{
	return cg->v2 ? "cgroup v2" : "cgroup v1";
}

int bench_cgroup_enter(const struct bench_cgroup *cg, pid_t pid)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", pid ? (int)pid : (int)getpid());
	return write_file(cg->path, "cgroup.procs", buf);
}

static int64_t read_number(const struct bench_cgroup *cg, const char *file)
{
	char path[320];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cg->path, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* The value of "key N" in a flat keyed file, or -1. */
static int64_t read_key(const struct bench_cgroup *cg, const char *file,
			const char *key)
{
	char path[320], k[64];
	long long v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cg->path, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", k, &v) == 2) {
		if (strcmp(k, key) == 0) {
			fclose(f);
			return v;
		}
	}
	fclose(f);
	return -1;
}

int64_t bench_cgroup_usage(const struct bench_cgroup *cg)
{
	return read_number(cg, cg->v2 ? "memory.current" :
			   "memory.usage_in_bytes");
}

int64_t bench_cgroup_peak(const struct bench_cgroup *cg)
{
	return read_number(cg, cg->v2 ? "memory.peak" :
			   "memory.max_usage_in_bytes");
}

int64_t bench_cgroup_limit_hits(const struct bench_cgroup *cg)
{
	return cg->v2 ? read_key(cg, "memory.events", "max") :
			read_number(cg, "memory.failcnt");
}

int64_t bench_cgroup_oom_kills(const struct bench_cgroup *cg)
{
	return cg->v2 ? read_key(cg, "memory.events", "oom_kill") :
			read_key(cg, "memory.oom_control", "oom_kill");
}

int bench_cgroup_remove(const struct bench_cgroup *cg)
{
	/* The group empties asynchronously after its last task exits. */
	for (int i = 0; i < 100; i++) {
		if (rmdir(cg->path) == 0)
			return 0;
		if (errno != EBUSY)
			return -errno;
		usleep(10000);
	}
	return -EBUSY;
}
