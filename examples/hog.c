// SPDX-License-Identifier: MIT
/*
 * hog.c - a memory-hungry child process (see hog.h)
 *
 * Anonymous memory cannot be reclaimed without swap, so a child that holds
 * touched anonymous pages makes the kernel reclaim page cache and volatile
 * (lazily freed) pages instead: exactly the purges the demo wants to show.
 * The child is a balloon rather than a fixed allocation so that it adapts
 * when other programs on the machine need memory.
 */
#define _GNU_SOURCE /* pipe2() */
#include "hog.h"
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOG_STEP (16u << 20)
#define HOG_MAX_STEPS 65536 /* 1 TiB: more than any machine we run on */

static uint64_t mem_available(void)
{
	char line[256];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib << 10;
}

/* What the machine, and our own cgroup, still allow us to take. */
static uint64_t headroom(const char *cg, int cg_version)
{
	uint64_t avail = mem_available(), room;

	if (cg_version && cgroup_headroom(cg, cg_version, &room) == 0 &&
	    room < avail)
		avail = room;
	return avail;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void __attribute__((noreturn)) hog_main(size_t leave, int report_fd)
{
	static void *steps[HOG_MAX_STEPS];
	char cg[PATH_MAX];
	int cg_version = 0, reported = 0;
	size_t n = 0;
	FILE *adj;

	/* Die with the parent; be the OOM killer's first choice. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	adj = fopen("/proc/self/oom_score_adj", "we");
	if (adj) {
		fputs("1000", adj);
		fclose(adj);
	}
	if (cgroup_self(cg, sizeof(cg), &cg_version) < 0)
		cg_version = 0;

	for (;;) {
		uint64_t room = headroom(cg, cg_version);

		if (room > leave + HOG_STEP && n < HOG_MAX_STEPS) {
			void *p = mmap(NULL, HOG_STEP, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED) {
				sleep_ms(20);
				continue;
			}
			/* Touch every page: untouched memory costs nothing. */
			memset(p, 0xa5, HOG_STEP);
			steps[n++] = p;
			continue;
		}
		if (room < leave / 2 && n > 0)
			munmap(steps[--n], HOG_STEP);
		if (!reported) {
			uint64_t taken = (uint64_t)n * HOG_STEP;

			if (write(report_fd, &taken, sizeof(taken)) < 0)
				_exit(1);
			close(report_fd);
			reported = 1;
		}
		sleep_ms(20);
	}
}

pid_t hog_start(size_t leave, int timeout_ms, uint64_t *ret_taken)
{
	struct pollfd pfd;
	uint64_t taken;
	int fds[2], r;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid == 0) {
		close(fds[0]);
		hog_main(leave, fds[1]);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	r = poll(&pfd, 1, timeout_ms);
	if (r == 1 && read(fds[0], &taken, sizeof(taken)) ==
	    (ssize_t)sizeof(taken))
		*ret_taken = taken;
	else
		*ret_taken = 0; /* still filling, or gone: the caller checks */
	close(fds[0]);
	return pid;
}

int hog_stop(pid_t pid)
{
	int status, died = 0;

	if (pid <= 0)
		return 0;
	if (waitpid(pid, &status, WNOHANG) == pid)
		died = 1;
	else
		kill(pid, SIGKILL);
	if (!died)
		waitpid(pid, &status, 0);
	return died;
}
