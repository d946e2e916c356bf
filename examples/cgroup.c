// SPDX-License-Identifier: MIT
/*
 * cgroup.c - find and use this process's memory cgroup (see cgroup.h)
 *
 * The cgroup a process is in is listed in /proc/self/cgroup relative to
 * the root of its hierarchy; where that hierarchy is mounted comes from
 * /proc/self/mountinfo. Hybrid systems mount both v1 controllers and a v2
 * tree: the memory controller is in exactly one of them.
 */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Does the comma-separated list contain word? */
static int list_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0' ||
						 p[n] == '\n'))
			return 1;
	}
	return 0;
}

/* The mount point of the v1 memory hierarchy (version 1) or of cgroup2. */
static int find_mount(int version, char *mnt, size_t size)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (r < 0 && fgets(line, sizeof(line), f)) {
		char point[PATH_MAX], type[64], opts[1024];
		char *dash = strstr(line, " - ");

		/* "id parent maj:min root point opts ... - type source opts" */
		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(dash, " - %63s %*s %1023s", type, opts) != 2)
			continue;
		if ((version == 1 && strcmp(type, "cgroup") == 0 &&
		     list_has(opts, "memory")) ||
		    (version == 2 && strcmp(type, "cgroup2") == 0)) {
			if ((size_t)snprintf(mnt, size, "%s", point) < size)
				r = 0;
		}
	}
	fclose(f);
	return r;
}

static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	return 0;
}

int cgroup_self(char *dir, size_t size, int *ret_version)
{
	char line[4096], v1[PATH_MAX] = "", v2[PATH_MAX] = "";
	char mnt[PATH_MAX];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int version = 0;

	if (!f)
		return -errno;
	/* "hierarchy-id:controllers:path"; v2 is "0::path". */
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c1 = *c2 = '\0';
		c2[strcspn(c2 + 1, "\n") + 1] = '\0';
		if (list_has(c1 + 1, "memory"))
			snprintf(v1, sizeof(v1), "%s", c2 + 1);
		else if (strcmp(line, "0") == 0 && c1[1] == '\0')
			snprintf(v2, sizeof(v2), "%s", c2 + 1);
	}
	fclose(f);

	if (v1[0] && find_mount(1, mnt, sizeof(mnt)) == 0) {
		version = 1;
	} else if (v2[0] && find_mount(2, mnt, sizeof(mnt)) == 0) {
		/* The v2 tree counts only if it has the memory controller. */
		if (cgroup_has(mnt, "cgroup.controllers", "memory"))
			version = 2;
	}
	if (!version)
		return -ENOENT;
	/* The root group is the mount point itself: no trailing "/". */
	if ((size_t)snprintf(dir, size, "%s%s", mnt,
			     strcmp(version == 1 ? v1 : v2, "/") == 0 ? "" :
			     version == 1 ? v1 : v2) >= size)
		return -ENAMETOOLONG;
	*ret_version = version;
	return 0;
}

int cgroup_read_u64(const char *dir, const char *file, uint64_t *ret)
{
	char path[PATH_MAX], buf[64];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	r = read_text(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	if (strncmp(buf, "max", 3) == 0) {
		*ret = CGROUP_UNLIMITED;
		return 0;
	}
	*ret = strtoull(buf, NULL, 10);
	return 0;
}

/* The sum of the named counters in dir/memory.stat. */
static uint64_t stat_sum(const char *dir, const char *const *names)
{
	char path[PATH_MAX], key[64];
	unsigned long long value;
	uint64_t sum = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fscanf(f, "%63s %llu", key, &value) == 2)
		for (const char *const *n = names; *n; n++)
			if (strcmp(key, *n) == 0)
				sum += value;
	fclose(f);
	return sum;
}

int cgroup_usage(const char *dir, int version, uint64_t *ret_bytes)
{
	return cgroup_read_u64(dir, version == 1 ? "memory.usage_in_bytes" :
			       "memory.current", ret_bytes);
}

int cgroup_headroom(const char *dir, int version, uint64_t *ret_bytes)
{
	/* v1 has hierarchical "total_" counters; v2's are hierarchical. */
	static const char *const v1_file[] = { "total_inactive_file",
					       "total_active_file", NULL };
	static const char *const v2_file[] = { "inactive_file", "active_file",
					       NULL };
	uint64_t limit, usage, reclaimable;
	int r;

	r = cgroup_read_u64(dir, version == 1 ? "memory.limit_in_bytes" :
			    "memory.max", &limit);
	if (r == 0)
		r = cgroup_usage(dir, version, &usage);
	if (r < 0)
		return r;
	/* v1 spells "unlimited" as a huge page-aligned number. */
	if (limit == CGROUP_UNLIMITED || limit >= (UINT64_C(1) << 62)) {
		*ret_bytes = CGROUP_UNLIMITED;
		return 0;
	}
	/* Page cache and lazily freed (volatile) pages sit on the file LRU:
	 * reclaim can take them back, so they count as room, just as
	 * MemAvailable counts them. */
	reclaimable = stat_sum(dir, version == 1 ? v1_file : v2_file);
	usage = reclaimable < usage ? usage - reclaimable : 0;
	*ret_bytes = usage < limit ? limit - usage : 0;
	return 0;
}

int cgroup_has(const char *dir, const char *file, const char *word)
{
	char path[PATH_MAX], buf[1024];
	size_t n = strlen(word);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (read_text(path, buf, sizeof(buf)) < 0)
		return 0;
	for (char *p = buf; (p = strstr(p, word)); p += n)
		if ((p == buf || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

int cgroup_write(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX];
	size_t len = strlen(value);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, len);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

int cgroup_read_key(const char *dir, const char *file, const char *key,
		    uint64_t *ret)
{
	char path[PATH_MAX], k[64];
	unsigned long long value;
	int r = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (r < 0 && fscanf(f, "%63s %llu", k, &value) == 2)
		if (strcmp(k, key) == 0) {
			*ret = value;
			r = 0;
		}
	fclose(f);
	return r;
}

/* Say in why what went wrong. */
static void say(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!why || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}

/*
 * Remove groups <name>.<pid> left by earlier runs that died without
 * cleaning up (a crash, SIGKILL): a group whose process is gone is empty,
 * so rmdir works.
 */
static void sweep_stale_groups(const char *parent, const char *name)
{
	size_t n = strlen(name);
	char path[PATH_MAX], *end;
	struct dirent *de;
	DIR *dir = opendir(parent);
	long pid;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, name, n) != 0 || de->d_name[n] != '.')
			continue;
		pid = strtol(de->d_name + n + 1, &end, 10);
		if (*end || end == de->d_name + n + 1 || pid <= 0 ||
		    pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", parent,
				     de->d_name) < sizeof(path))
			rmdir(path);
	}
	closedir(dir);
}

int cgroup_create(struct cgroup_group *g, const char *name, size_t limit,
		  char *why, size_t why_size)
{
	char value[32];
	int r;

	memset(g, 0, sizeof(*g));
	r = cgroup_self(g->parent, sizeof(g->parent), &g->version);
	if (r < 0) {
		say(why, why_size, "no memory cgroup controller found");
		return r;
	}
	if ((size_t)snprintf(g->dir, sizeof(g->dir), "%s/%s.%d", g->parent,
			     name, (int)getpid()) >= sizeof(g->dir)) {
		say(why, why_size, "cgroup path too long");
		return -ENAMETOOLONG;
	}
	sweep_stale_groups(g->parent, name);
	/* In v2 a group only gets memory.max if its parent enables the
	 * memory controller for children. That is allowed only where the
	 * parent has no processes of its own or is the root (as in a test
	 * VM); elsewhere it fails and we say so. */
	if (g->version == 2 && !cgroup_has(g->parent, "cgroup.subtree_control",
					   "memory")) {
		r = cgroup_write(g->parent, "cgroup.subtree_control",
				 "+memory");
		if (r < 0) {
			say(why, why_size, "cgroup v2: %s does not enable the "
			    "memory controller for children and cannot: %s",
			    g->parent, strerror(-r));
			return r;
		}
		g->enabled_memory = 1;
	}
	if (mkdir(g->dir, 0755) < 0) {
		r = -errno;
		say(why, why_size, "cgroup v%d: cannot create %s: %s",
		    g->version, g->dir, strerror(-r));
		goto disable_memory;
	}
	snprintf(value, sizeof(value), "%zu", limit);
	r = cgroup_write(g->dir, g->version == 1 ? "memory.limit_in_bytes" :
			 "memory.max", value);
	if (r < 0) {
		say(why, why_size, "cgroup v%d: cannot set a limit in %s: %s%s",
		    g->version, g->dir, strerror(-r),
		    g->version == 2 && r == -ENOENT ?
		    " (the parent does not delegate the memory controller)" :
		    "");
		rmdir(g->dir);
		goto disable_memory;
	}
	return 0;

disable_memory:
	if (g->enabled_memory)
		cgroup_write(g->parent, "cgroup.subtree_control", "-memory");
	g->enabled_memory = 0;
	return r;
}

int cgroup_enter(const struct cgroup_group *g, pid_t pid)
{
	char value[32];

	snprintf(value, sizeof(value), "%d", pid ? (int)pid : (int)getpid());
	return cgroup_write(g->dir, "cgroup.procs", value);
}

int cgroup_leave(const struct cgroup_group *g)
{
	char value[32];

	snprintf(value, sizeof(value), "%d", (int)getpid());
	return cgroup_write(g->parent, "cgroup.procs", value);
}

int cgroup_remove(struct cgroup_group *g)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int r = 0;

	/* The kernel may take a moment to notice the group is empty (its
	 * last task just exited or moved out). */
	for (int i = 0; i < 100; i++) {
		r = rmdir(g->dir) < 0 ? -errno : 0;
		if (r != -EBUSY)
			break;
		nanosleep(&ts, NULL);
	}
	if (g->enabled_memory)
		cgroup_write(g->parent, "cgroup.subtree_control", "-memory");
	g->enabled_memory = 0;
	return r;
}
