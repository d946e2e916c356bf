// SPDX-License-Identifier: MIT
/*
 * pressure.c - choose and apply memory pressure (see pressure.h)
 *
 * The group is created *inside* the cgroup the process already is in, so
 * any limit set from outside (a container, a systemd slice, a CI runner)
 * still applies on top of ours, and we never leave it.
 */
#include "pressure.h"
#include "cgroup.h"
#include "hog.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

/* Append to p->why, which explains the choice to the user. */
static void explain(struct pressure *p, const char *fmt, ...)
{
	size_t used = strlen(p->why);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why + used, sizeof(p->why) - used, fmt, ap);
	va_end(ap);
}

/* With few tabs, the room the demo needs anyway holds them all. */
static void explain_small(struct pressure *p, size_t total)
{
	if (p->limit >= total)
		explain(p, " (all tabs fit in that: expect few purges, use "
			"more tabs)");
}

/*
 * Remove groups left by earlier runs that died without cleaning up (a
 * crash, SIGKILL): a group whose process is gone is empty, so rmdir works.
 */
static void sweep_stale_groups(const char *parent)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir = opendir(parent);
	int pid;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (sscanf(de->d_name, "vcache-tabcache.%d", &pid) != 1 ||
		    pid == (int)getpid() || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", parent,
				     de->d_name) < sizeof(path))
			rmdir(path);
	}
	closedir(dir);
}

static int cgroup_enter(struct pressure *p)
{
	char parent[PATH_MAX], value[32];
	int version, r;

	r = cgroup_self(parent, sizeof(parent), &version);
	if (r < 0) {
		explain(p, "no memory cgroup controller found; ");
		return r;
	}
	if ((size_t)snprintf(p->group, sizeof(p->group),
			     "%s/vcache-tabcache.%d", parent, (int)getpid()) >=
	    sizeof(p->group))
		return -ENAMETOOLONG;
	snprintf(p->home, sizeof(p->home), "%s", parent);
	sweep_stale_groups(parent);
	/* In v2 a group only gets memory.max if its parent enables the
	 * memory controller for children. That is allowed only where the
	 * parent has no processes of its own or is the root (as in a test
	 * VM); elsewhere it fails and we say so. */
	if (version == 2 && !cgroup_has(parent, "cgroup.subtree_control",
					"memory")) {
		r = cgroup_write(parent, "cgroup.subtree_control", "+memory");
		if (r < 0) {
			explain(p, "cgroup v2: %s does not enable the memory "
				"controller for children and cannot: %s; ",
				parent, strerror(-r));
			return r;
		}
		p->enabled_memory = 1;
	}
	if (mkdir(p->group, 0755) < 0) {
		r = -errno;
		explain(p, "cgroup v%d: cannot create %s: %s; ", version,
			p->group, strerror(-r));
		goto disable_memory;
	}
	snprintf(value, sizeof(value), "%zu", p->limit);
	r = cgroup_write(p->group, version == 1 ? "memory.limit_in_bytes" :
			 "memory.max", value);
	if (r < 0) {
		explain(p, "cgroup v%d: cannot set a limit in %s: %s%s; ",
			version, p->group, strerror(-r),
			version == 2 && r == -ENOENT ?
			" (the parent does not delegate the memory controller)" :
			"");
		goto remove_group;
	}
	snprintf(value, sizeof(value), "%d", (int)getpid());
	r = cgroup_write(p->group, "cgroup.procs", value);
	if (r < 0) {
		explain(p, "cgroup v%d: cannot move into %s: %s; ", version,
			p->group, strerror(-r));
		goto remove_group;
	}
	p->cgroup_version = version;
	return 0;

remove_group:
	rmdir(p->group);
disable_memory:
	if (p->enabled_memory)
		cgroup_write(p->home, "cgroup.subtree_control", "-memory");
	p->enabled_memory = 0;
	return r;
}

static void cgroup_leave(struct pressure *p)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	cgroup_write(p->home, "cgroup.procs", pid);
	/* The kernel may take a moment to notice the group is empty. */
	for (int i = 0; i < 50 && rmdir(p->group) < 0 && errno == EBUSY; i++)
		nanosleep(&ts, NULL);
	if (p->enabled_memory)
		cgroup_write(p->home, "cgroup.subtree_control", "-memory");
}

void pressure_start(struct pressure *p, enum pressure_mode want,
		    size_t total, size_t keep)
{
	uint64_t taken;
	pid_t pid;

	memset(p, 0, sizeof(*p));
	p->mode = PRESSURE_NONE;
	/* Room for the non-volatile part and half of the volatile data:
	 * the other half has to be purged, again and again. */
	p->limit = total / 2 + keep;

	if (want == PRESSURE_NONE) {
		explain(p, "no memory pressure (--no-pressure): purges happen "
			"only if the machine itself runs short");
		return;
	}
	if (want == PRESSURE_AUTO || want == PRESSURE_CGROUP) {
		if (cgroup_enter(p) == 0) {
			p->mode = PRESSURE_CGROUP;
			explain(p, "memory cgroup v%d %s limited to %.0f MiB "
				"(tabs total %.0f MiB): the kernel reclaims "
				"this process alone", p->cgroup_version,
				p->group, p->limit / MIB, total / MIB);
			explain_small(p, total);
			return;
		}
		if (want == PRESSURE_CGROUP) {
			explain(p, "no memory pressure");
			return;
		}
	}

	pid = hog_start(p->limit, 60 * 1000, &taken);
	if (pid < 0) {
		explain(p, "cannot start a memory hog: %s; no memory pressure",
			strerror((int)-pid));
		return;
	}
	p->mode = PRESSURE_HOG;
	p->hog = pid;
	explain(p, "memory-hog child %d holds %.0f MiB, leaving about %.0f MiB "
		"available (tabs total %.0f MiB); it also squeezes other "
		"programs' page cache", (int)pid, taken / MIB,
		p->limit / MIB, total / MIB);
	explain_small(p, total);
}

void pressure_stop(struct pressure *p)
{
	if (p->mode == PRESSURE_CGROUP)
		cgroup_leave(p);
	if (p->mode == PRESSURE_HOG && hog_stop(p->hog))
		fprintf(stderr, "tabcache: the memory hog had died early "
			"(OOM-killed?)\n");
	p->mode = PRESSURE_NONE;
}

const char *pressure_mode_name(enum pressure_mode mode)
{
	switch (mode) {
	case PRESSURE_AUTO:
		return "auto";
	case PRESSURE_NONE:
		return "none";
	case PRESSURE_CGROUP:
		return "cgroup";
	case PRESSURE_HOG:
		return "hog";
	}
	return "?";
}
