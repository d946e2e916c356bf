/* SPDX-License-Identifier: MIT */
/*
 * bench-cgroup.c - cgroup v1 memory group helpers (see bench-cgroup.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench-cgroup.h"

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

int bench_cgroup_create(struct bench_cgroup *cg, const char *name,
			size_t limit, const char **ret_reason)
{
	char buf[32];
	int r;

	if (access(BENCH_CGROUP_ROOT "/memory.limit_in_bytes", F_OK) < 0) {
		*ret_reason = "no cgroup v1 memory controller at "
			      BENCH_CGROUP_ROOT;
		return -errno;
	}
	snprintf(cg->path, sizeof(cg->path), "%s/%s", BENCH_CGROUP_ROOT, name);
	if (mkdir(cg->path, 0755) < 0) {
		*ret_reason = "cannot create a group under " BENCH_CGROUP_ROOT;
		return -errno;
	}
	snprintf(buf, sizeof(buf), "%zu", limit);
	r = write_file(cg->path, "memory.limit_in_bytes", buf);
	if (r < 0) {
		*ret_reason = "cannot set memory.limit_in_bytes";
		rmdir(cg->path);
		return r;
	}
	*ret_reason = NULL;
	return 0;
}

int bench_cgroup_enter(const struct bench_cgroup *cg, pid_t pid)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", pid ? (int)pid : (int)getpid());
	return write_file(cg->path, "cgroup.procs", buf);
}

int64_t bench_cgroup_read(const struct bench_cgroup *cg, const char *file)
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

int64_t bench_cgroup_oom_kills(const struct bench_cgroup *cg)
{
	char path[320], key[64];
	long long v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.oom_control", cg->path);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &v) == 2) {
		if (strcmp(key, "oom_kill") == 0) {
			fclose(f);
			return v;
		}
	}
	fclose(f);
	return -1;
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
