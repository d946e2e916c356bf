// SPDX-License-Identifier: MIT
/*
 * hog.c - a memory-hungry child process (see hog.h)
 *
 * Anonymous memory cannot be reclaimed without swap, so a child that holds
 * touched anonymous pages makes the kernel reclaim page cache and volatile
 * (lazily freed) pages instead: exactly the purges the demo wants to show.
 * The child is a balloon rather than a fixed allocation so that it adapts
 * when other programs on the machine need memory. How much it takes is not
 * a free choice: the kernel only reclaims when free memory runs short, so
 * the hog must take what is available minus what the demo should be left
 * with. What is bounded is the amount (a cap: if it is below that need,
 * purges will not come, and the caller says so) and the time (a fill
 * deadline). Filling runs at the speed the machine gives new pages: on
 * the development VM 0.3-0.6 GiB/s, so 22 GiB would take about a minute.
 */
#define _GNU_SOURCE /* pipe2() */
#include "hog.h"
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOG_STEP (64u << 20)
#define HOG_MAX_STEPS 16384 /* 1 TiB: more than any machine we run on */

struct report {
	uint64_t goal, taken;
	uint32_t done;
	double seconds;
};

uint64_t hog_mem_available(void)
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
	uint64_t avail = hog_mem_available(), room;

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

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void __attribute__((noreturn)) hog_main(size_t leave, uint64_t cap,
					       int fill_ms, int fd)
{
	static void *steps[HOG_MAX_STEPS];
	struct report rep = { 0 };
	struct timespec t0;
	char cg[PATH_MAX];
	int cg_version = 0;
	uint64_t peak = 0;
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
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rep.goal = headroom(cg, cg_version);
	rep.goal = rep.goal > leave ? rep.goal - leave : 0;
	if (cap && rep.goal > cap)
		rep.goal = cap;

	for (;;) {
		uint64_t room = headroom(cg, cg_version);
		uint64_t taken = (uint64_t)n * HOG_STEP;
		/* Fill phase: towards the goal until the deadline. Then
		 * hold, give back when others need memory, and grow again
		 * only up to what was reached. */
		int filling = !rep.done;
		uint64_t bound = filling ? rep.goal : peak;
		int grow = room > leave + HOG_STEP && n < HOG_MAX_STEPS &&
			   taken + HOG_STEP <= bound;

		if (filling && (!grow || since(&t0) * 1000 >= fill_ms)) {
			rep.done = 1;
			peak = taken;
			grow = 0;
		}
		if (grow) {
			/* Populated by the kernel in one call: about twice as
			 * fast as touching each page from here. */
			void *p = mmap(NULL, HOG_STEP, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS |
				       MAP_POPULATE, -1, 0);

			if (p != MAP_FAILED)
				steps[n++] = p;
		} else if (room < leave / 2 && n > 0) {
			munmap(steps[--n], HOG_STEP);
		}
		rep.taken = (uint64_t)n * HOG_STEP;
		rep.seconds = since(&t0);
		/* Non-blocking: a parent that does not read loses reports,
		 * never stalls the hog. */
		if (write(fd, &rep, sizeof(rep)) < 0 && errno == EPIPE)
			_exit(0);
		if (!grow)
			sleep_ms(20);
	}
}

int hog_start(struct hog *h, size_t leave, uint64_t max_bytes, int fill_ms)
{
	int fds[2], r;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	h->pid = fork();
	if (h->pid < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (h->pid == 0) {
		close(fds[0]);
		signal(SIGPIPE, SIG_IGN);
		hog_main(leave, max_bytes, fill_ms, fds[1]);
	}
	close(fds[1]);
	h->fd = fds[0];
	return 0;
}

int hog_poll(struct hog *h)
{
	struct report rep;
	int got = 0;

	while (h->fd >= 0 && read(h->fd, &rep, sizeof(rep)) ==
	       (ssize_t)sizeof(rep)) {
		h->goal = rep.goal;
		h->taken = rep.taken;
		h->done = (int)rep.done;
		h->seconds = rep.seconds;
		got = 1;
	}
	return got;
}

int hog_stop(struct hog *h)
{
	int status, died = 0;

	if (h->pid <= 0)
		return 0;
	if (waitpid(h->pid, &status, WNOHANG) == h->pid)
		died = 1;
	else
		kill(h->pid, SIGKILL);
	if (!died)
		waitpid(h->pid, &status, 0);
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->pid = 0;
	return died;
}
