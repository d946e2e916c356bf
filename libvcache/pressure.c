/* SPDX-License-Identifier: MIT */
/*
 * pressure.c - the memory-pressure watcher (see pressure.h)
 *
 * Why several sources: none is available everywhere. PSI triggers need
 * CONFIG_PSI (and unprivileged ones a window that is a multiple of 2 s);
 * cgroup v1 notifications need write access to cgroup.event_control; v2's
 * memory.events only changes once a limit is hit. Events are early
 * warnings; the usage-vs-limit poll is what makes the watcher work when
 * no event source opens, and it also tells how much to free.
 *
 * Why a usage threshold under cgroup v1: memory.pressure_level fires only
 * once the group is already reclaiming, and without swap the only thing
 * the soft backend can offer is its own purge; a threshold below the
 * limit (limit - 2 * margin) wakes the watcher before reclaim starts.
 *
 * The cgroup is looked up in /proc/self/cgroup at the standard mount
 * points (/sys/fs/cgroup for v2, /sys/fs/cgroup/memory for v1) and looked
 * up again when the process moves to another group.
 *
 * Descriptors closed behind our back (close_range() in a daemon, as in
 * lost.c): every descriptor's identity (st_dev, st_ino) is recorded when
 * opened, and one that reports POLLNVAL, or an event while its number
 * names another file, is dropped without being read, written or closed -
 * the number may be the program's now. The watcher then keeps polling
 * usage on its timeout, and is stopped by a generation counter it checks
 * on every wake (at most a second), not only by its eventfd. Limitation:
 * all eventfds share one inode, so an eventfd of the program reusing the
 * number of one of ours cannot be told apart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "pressure.h"

#define MiB (1024ull * 1024)
#define MAX_SUBSCRIBERS 8
#define MAX_FDS 8

enum source_kind { SRC_STOP, SRC_EVENTFD, SRC_PSI, SRC_KERNFS };

/* Written to the stop eventfd: wake the thread for a look (and to re-read
 * its cgroup), or stop it. */
#define KICK 1ull
#define STOP (1ull << 32)

/* The source that wakes the watcher before the limit (warns_early()). */
#define WHY_THRESHOLD "cgroup v1 usage threshold"

/* Which file a descriptor was when we opened it. */
struct fdid {
	dev_t dev;
	ino_t ino;
};

static struct fdid fd_id(int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return (struct fdid){ 0, 0 };
	return (struct fdid){ st.st_dev, st.st_ino };
}

static bool fd_is(int fd, struct fdid id)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == id.dev &&
	       st.st_ino == id.ino;
}

static void close_if(int fd, struct fdid id)
{
	if (fd_is(fd, id))
		close(fd);
}

struct source {
	int fd;
	int aux; /* a file the eventfd is tied to, kept open */
	enum source_kind kind;
	const char *why;
	struct fdid fid, aid;
};

struct scope {
	char cg[PATH_MAX]; /* the memory cgroup directory, or "" */
	int version;
	char self[512];    /* /proc/self/cgroup when it was read */
	uint64_t limit;    /* UINT64_MAX: none */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	vc_pressure_fn fn;
	void *userdata;
} subs[MAX_SUBSCRIBERS];
static unsigned int nsubs;
static pthread_t thread;
static bool running;
static int stop_fd = -1;
static struct fdid stop_id;
static _Atomic unsigned int generation; /* a thread runs while it has its own */
static sem_t started;
static _Atomic int cur_level;
static char last_self[512]; /* /proc/self/cgroup as last sampled, lock */

static int start(void);
static void restart_if_needed(void);

_public_ int vcache_pressure(void)
{
	return atomic_load(&cur_level);
}

int vc_pressure_level(void)
{
	return atomic_load(&cur_level);
}

static _Atomic uint64_t delay_cap = UINT64_MAX;
uint64_t vc_pressure_delay_cap(void)
{
	return atomic_load(&delay_cap);
}

/*
 * The group's room, for making room ahead (purge.c) before a creation or
 * a regenerating pin: one pread(2) of the group's usage file, which the
 * watcher keeps open while it runs. The descriptor is published with its
 * identity, and a reader checks it first (fstat), so a descriptor the
 * watcher has closed, or the program closed behind the library's back,
 * reads as "unknown" rather than as another file (a number reused in the
 * window between the check and the read gives at worst a wrong figure,
 * and so one purge too many or too few: purging is always safe).
 */
static _Atomic int room_fd = -1;
static _Atomic uint64_t room_dev, room_ino, room_limit = UINT64_MAX;

/* The group's limit while its usage file is open, else UINT64_MAX. */
uint64_t vc_pressure_limit(void)
{
	return atomic_load(&room_limit);
}

uint64_t vc_pressure_reserve(uint64_t limit)
{
	uint64_t r = limit / 256;

	return r < MiB ? MiB : r;
}

int vc_pressure_room(uint64_t *ret_room, uint64_t *ret_limit)
{
	int fd = atomic_load(&room_fd);
	uint64_t limit = atomic_load(&room_limit), usage;
	char buf[32], *end;
	ssize_t n;

	if (limit == UINT64_MAX ||
	    !fd_is(fd, (struct fdid){ (dev_t)atomic_load(&room_dev),
				     (ino_t)atomic_load(&room_ino) }))
		return -ENOENT;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	usage = strtoull(buf, &end, 10);
	if (end == buf || *end != '\n')
		return -EIO;
	*ret_room = usage < limit ? limit - usage : 0;
	*ret_limit = limit;
	return 0;
}

/* Watcher thread: open (or drop) the usage file of the scope s. */
static void room_open(const struct scope *s)
{
	char path[PATH_MAX + 64];
	struct fdid id = { 0, 0 };
	int fd = -1, old;

	if (s->version && s->limit != UINT64_MAX) {
		snprintf(path, sizeof(path), "%s/%s", s->cg, s->version == 1 ?
			 "memory.usage_in_bytes" : "memory.current");
		fd = open(path, O_RDONLY | O_CLOEXEC);
		id = fd_id(fd);
	}
	old = atomic_exchange(&room_fd, -1);
	if (old >= 0)
		close_if(old, (struct fdid){ (dev_t)atomic_load(&room_dev),
					     (ino_t)atomic_load(&room_ino) });
	atomic_store(&room_dev, (uint64_t)id.dev);
	atomic_store(&room_ino, (uint64_t)id.ino);
	atomic_store(&room_limit, fd >= 0 ? s->limit : UINT64_MAX);
	atomic_store(&room_fd, fd);
}

static int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* A number, "max" as UINT64_MAX. */
static int read_u64(const char *dir, const char *file, uint64_t *ret)
{
	char path[PATH_MAX + 64], buf[64];
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	err = read_file(path, buf, sizeof(buf));
	if (err < 0)
		return err;
	if (strncmp(buf, "max", 3) == 0) {
		*ret = UINT64_MAX;
		return 0;
	}
	*ret = strtoull(buf, NULL, 10);
	return 0;
}

static bool dir_has(const char *dir, const char *file)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, R_OK) == 0;
}

/* Find the memory cgroup of this process; "" when there is none. */
static void scope_find(struct scope *s)
{
	char *line, *save = NULL;

	s->cg[0] = '\0';
	s->version = 0;
	s->limit = UINT64_MAX;
	if (read_file("/proc/self/cgroup", s->self, sizeof(s->self)) < 0)
		return;
	char copy[sizeof(s->self)];
	memcpy(copy, s->self, sizeof(copy));
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *ctrl = strchr(line, ':'), *path;

		if (!ctrl || !(path = strchr(ctrl + 1, ':')))
			continue;
		*path++ = '\0';
		ctrl++;
		if (strcmp(ctrl, "memory") == 0 || strstr(ctrl, "memory,") ||
		    strstr(ctrl, ",memory")) {
			snprintf(s->cg, sizeof(s->cg), "/sys/fs/cgroup/memory%s",
				 path);
			if (dir_has(s->cg, "memory.usage_in_bytes")) {
				s->version = 1;
				break;
			}
		} else if (*ctrl == '\0') {
			snprintf(s->cg, sizeof(s->cg), "/sys/fs/cgroup%s",
				 path);
			if (dir_has(s->cg, "memory.current")) {
				s->version = 2;
				break;
			}
		}
		s->cg[0] = '\0';
	}
	if (!s->version) {
		s->cg[0] = '\0';
		return;
	}
	if (read_u64(s->cg, s->version == 1 ? "memory.limit_in_bytes" :
		     "memory.max", &s->limit) < 0)
		s->limit = UINT64_MAX;
	/* v1 reports "no limit" as a huge page-aligned number. */
	if (s->limit >= (1ull << 60))
		s->limit = UINT64_MAX;
}

/*
 * 1/8 of the limit, 4 MiB to 512 MiB: room for the watcher to wake up and
 * purge before the limit is reached, even on a busy machine.
 */
static uint64_t margin_for(uint64_t total)
{
	uint64_t m = total / 8;

	return m < 4 * MiB ? 4 * MiB : m > 512 * MiB ? 512 * MiB : m;
}

static void add_source(struct source *src, int *n, int fd, int aux,
		       enum source_kind kind, const char *why)
{
	if (*n >= MAX_FDS) {
		close(fd);
		if (aux >= 0)
			close(aux);
		return;
	}
	src[*n] = (struct source){ fd, aux, kind, why, fd_id(fd), fd_id(aux) };
	(*n)++;
}

/* cgroup v1: "<eventfd> <fd of file> <args>" into cgroup.event_control. */
static void v1_notify(struct source *src, int *n, const char *dir,
		      const char *file, const char *args, const char *why)
{
	char path[PATH_MAX + 64], line[128];
	int efd, ffd, cfd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	ffd = open(path, O_RDONLY | O_CLOEXEC);
	if (ffd < 0)
		return;
	snprintf(path, sizeof(path), "%s/cgroup.event_control", dir);
	cfd = open(path, O_WRONLY | O_CLOEXEC);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cfd >= 0 && efd >= 0) {
		int len = snprintf(line, sizeof(line), "%d %d %s", efd, ffd,
				   args);

		if (write(cfd, line, (size_t)len) == len) {
			close(cfd);
			add_source(src, n, efd, ffd, SRC_EVENTFD, why);
			return;
		}
	}
	if (cfd >= 0)
		close(cfd);
	if (efd >= 0)
		close(efd);
	close(ffd);
}

/* A PSI trigger: 100 ms of stall within a 2 s window (allowed unprivileged). */
static void psi_trigger(struct source *src, int *n, const char *path,
			const char *why)
{
	static const char trig[] = "some 100000 2000000";
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, trig, sizeof(trig)) < 0) {
		close(fd);
		return;
	}
	add_source(src, n, fd, -1, SRC_PSI, why);
}

static int sources_open(struct source *src, const struct scope *s)
{
	char path[PATH_MAX + 64];
	int n = 1; /* src[0] is the stop eventfd */

	if (s->version == 1) {
		v1_notify(src, &n, s->cg, "memory.pressure_level", "low",
			  "cgroup v1 memory.pressure_level");
		if (s->limit != UINT64_MAX) {
			char args[32];
			uint64_t m = margin_for(s->limit);

			snprintf(args, sizeof(args), "%llu",
				 (unsigned long long)(s->limit > 2 * m ?
						      s->limit - 2 * m : 0));
			v1_notify(src, &n, s->cg, "memory.usage_in_bytes",
				  args, WHY_THRESHOLD);
		}
	} else if (s->version == 2) {
		snprintf(path, sizeof(path), "%s/memory.pressure", s->cg);
		psi_trigger(src, &n, path, "cgroup memory.pressure (PSI)");
		snprintf(path, sizeof(path), "%s/memory.events", s->cg);
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0)
			add_source(src, &n, fd, -1, SRC_KERNFS,
				   "cgroup memory.events");
	}
	psi_trigger(src, &n, "/proc/pressure/memory",
		    "/proc/pressure/memory (PSI)");
	return n;
}

static void sources_close(struct source *src, int n)
{
	for (int i = 1; i < n; i++) {
		close_if(src[i].fd, src[i].fid);
		close_if(src[i].aux, src[i].aid);
	}
}

/* Drop sources whose descriptors were closed (or reused) behind our back. */
static void drop_lost(struct source *src, struct pollfd *pfd, int n)
{
	for (int i = 0; i < n; i++) {
		if (!pfd[i].revents || src[i].fd < 0)
			continue;
		if ((pfd[i].revents & POLLNVAL) ||
		    !fd_is(src[i].fd, src[i].fid)) {
			src[i].fd = -1; /* poll() skips it from now on */
			src[i].aux = -1;
			pfd[i].revents = 0;
		}
	}
}

struct watch_arg {
	int fd;
	struct fdid id;
	unsigned int gen;
};

static uint64_t meminfo(const char *key)
{
	char buf[4096], *p;

	if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0 ||
	    !(p = strstr(buf, key)))
		return UINT64_MAX;
	return strtoull(p + strlen(key), NULL, 10) * 1024;
}

/* Level and bytes wanted for one scope, from its headroom and margin. */
static void judge(uint64_t headroom, uint64_t margin, bool event,
		  struct vc_pressure_event *ev)
{
	int level = VCACHE_PRESSURE_NONE;
	uint64_t want = 0;

	if (headroom < margin / 2)
		level = VCACHE_PRESSURE_CRITICAL;
	else if (headroom < margin)
		level = VCACHE_PRESSURE_MEDIUM;
	else if (headroom < 2 * margin || event)
		level = VCACHE_PRESSURE_LOW;
	/*
	 * Only the headroom says how much to free: an event (PSI, v1
	 * pressure level) may come from elsewhere on the machine; it makes
	 * the watcher look now, and raises the level it reports.
	 */
	if (headroom < 4 * margin && level != VCACHE_PRESSURE_NONE)
		want = 4 * margin - headroom;
	if (level > ev->level)
		ev->level = level;
	if (want > ev->want)
		ev->want = want;
	if (headroom < ev->headroom)
		ev->headroom = headroom;
}

/*
 * The idle delays' share of one scope, from room: what the kernel could
 * still give (free memory plus what it reclaims without swap: in a memory
 * cgroup, this process's lazy-free pages; system-wide, MemAvailable),
 * with what the delays hold counted as givable, since
 * that is what the cap is about. A margin of it always stays free or
 * reclaimable, for the watcher to see a burst coming and end the delays.
 * It was two margins: at 125% of the data in bench-pressure that kept
 * 48 of 240 MiB outside the delays, and pin mode paid a volatile cycle
 * (MADV_FREE, then a probe at 257 ns per page: bench-pressure
 * --first-touch) on a third of its visits (pin + unpin 32 us vs 1.4 us
 * with one margin, at 0.6-0.8x of the best LRU); with one margin, 0 OOM
 * kills in 20 runs with the hog (50% of the limit over 1.5 s, pin and
 * optimistic, default and 100 ms delays, 25-125% of the data) and in 2
 * with a hog 7 times faster (bench/README.md, issue 8).
 * In a memory cgroup the delays may hold the rest, also while it
 * reclaims (less than the reserve free: pressure.h), but then two margins
 * stay free or lazy-free: the lazy-free pages are still there for
 * reclaim to take without swap, but it finds them by scanning while the
 * cache's own fills and other processes compete. Until 2026-12 the cap
 * was 0 there: a cache that fills its own group reaches the limit about
 * every look, and each time every delay ended (bench-pressure pin mode
 * at 100% of the data uniform, alternating builds, 100 runs each: a
 * median of 2,086 visits/s and 16.3 system calls per visit then, 3,130
 * and 11.7 with the delays held; 0 OOM kills in either; bench/README.md,
 * issue 8). With one
 * margin at the limit, pin mode at 25% of the data with a hog and a
 * 100 ms delay was OOM-killed in 1 run of 45. System-wide, while less
 * than a margin is available (reclaiming), nothing.
 */
static void room_cap(uint64_t room, bool reclaiming, uint64_t margin,
		     struct vc_pressure_event *ev)
{
	uint64_t held = vc_idle_held_bytes();
	uint64_t cap;

	room = room > UINT64_MAX - held ? UINT64_MAX : room + held;
	cap = room > margin && !reclaiming ? room - margin : 0;
	if (cap < ev->cap)
		ev->cap = cap;
}

/*
 * This process's lazy-free pages (LazyFree in /proc/self/smaps_rollup:
 * anonymous pages marked MADV_FREE and still clean), which reclaim takes
 * without swap. Read fresh at every look (see below). Not the
 * group's memory.stat
 * (whose file and lazy-free counts would include other processes' page
 * cache): reading that at every look (tens a second at the limit) or
 * every 100 ms doubled the regenerations of an optimistic workload at
 * 100% of its group in bench-pressure (2.5 -> 4-5 chunks per visit in
 * every run), presumably because reading it flushes the group's
 * statistics, which reclaim's list balancing reads; and reading it once
 * a second let a hog growing meanwhile find the delays holding what the
 * stale figure allowed (two OOM kills in 30 runs). Other processes' page
 * cache is left out: the cap errs on the small side.
 *
 * smaps_rollup walks every page table of the process: 3.5-7.7 ms in a
 * bench-pressure child (192 MiB resident), 93-204 ms in bench-scale (10^6
 * objects of 64 KiB, 93 MB of page tables), where reading it at every
 * look (tens a second at the limit) took the watcher's whole CPU and the
 * creations slowed from 84 to 218-235 us. So while the delays hold
 * nothing (the figure then only lets them start) it is read at most a
 * tenth of the time: after a read that took d, not for 10 d, and a look
 * meanwhile goes without (the cap errs small). Never an older figure:
 * holds come out of lazy-free memory, so a stale figure counts them
 * twice (taking the last figure up to 200 ms old, pin mode at 100% of
 * the data uniform had its group OOM-killed in one run of three).
 */
static _Atomic uint64_t lazy_next_ns;

static int self_lazyfree(uint64_t *ret)
{
	uint64_t t0 = vc_now_ns(), t1;
	char buf[4096], *p;
	int err;

	if (!vc_idle_held_bytes() && t0 < atomic_load(&lazy_next_ns))
		return -EAGAIN;
	err = read_file("/proc/self/smaps_rollup", buf, sizeof(buf));
	t1 = vc_now_ns();
	atomic_store(&lazy_next_ns, t1 + 10 * (t1 - t0));
	if (err < 0)
		return err;
	p = strstr(buf, "\nLazyFree:");
	if (!p)
		return -ENOENT;
	*ret = strtoull(p + strlen("\nLazyFree:"), NULL, 10) * 1024;
	return 0;
}

/*
 * One look at the scope (look: the watcher's; else a fill's own sample,
 * vc_pressure_sample()).
 */
static void sample(const struct scope *s, bool event, bool look,
		   struct vc_pressure_event *ev, bool *ret_tight)
{
	uint64_t avail = meminfo("MemAvailable:");
	uint64_t total = meminfo("MemTotal:");

	ev->level = VCACHE_PRESSURE_NONE;
	ev->want = 0;
	ev->headroom = UINT64_MAX;
	ev->cap = UINT64_MAX;
	*ret_tight = false;
	if (s->limit != UINT64_MAX) {
		uint64_t usage, file, m = margin_for(s->limit);

		if (read_u64(s->cg, s->version == 1 ? "memory.usage_in_bytes" :
			     "memory.current", &usage) == 0) {
			uint64_t h = usage < s->limit ? s->limit - usage : 0;

			judge(h, m, event, ev);
			*ret_tight |= h < 4 * m;
			/*
			 * Without the figure, only the free part counts.
			 * Reclaiming means less than the reserve free: the
			 * library makes room ahead of the limit itself
			 * (purge.c), so below the margin the group need not
			 * be reclaiming. Then two margins (room_cap()); but
			 * a fill's own sample (soft, shared objects: before
			 * each regenerating pin) ends every delay there, as
			 * the watcher did before, rather than walk the page
			 * tables for the figure each time.
			 */
			bool reclaiming = h < vc_pressure_reserve(s->limit);
			bool no_delay = reclaiming && !look;

			if (no_delay || self_lazyfree(&file) < 0 ||
			    file > usage)
				file = 0;
			room_cap(h + file, no_delay, reclaiming ? 2 * m : m, ev);
		}
	}
	if (avail != UINT64_MAX && total != UINT64_MAX) {
		uint64_t m = margin_for(total / 2);

		judge(avail, m, event && s->limit == UINT64_MAX, ev);
		*ret_tight |= avail < 4 * m;
		/*
		 * MemAvailable counts the file LRU, lazy-free pages included.
		 * System-wide, other processes compete for that memory and
		 * are not ours to watch: at most a quarter of it, as before.
		 */
		room_cap(avail, avail < m, m, ev);
		if (avail / 4 < ev->cap)
			ev->cap = avail / 4;
	}
}

static void notify(const struct vc_pressure_event *ev)
{
	vc_pressure_fn fn[MAX_SUBSCRIBERS];
	void *ud[MAX_SUBSCRIBERS];
	unsigned int n;

	pthread_mutex_lock(&lock);
	n = nsubs;
	for (unsigned int i = 0; i < n; i++) {
		fn[i] = subs[i].fn;
		ud[i] = subs[i].userdata;
	}
	pthread_mutex_unlock(&lock);
	for (unsigned int i = 0; i < n; i++)
		fn[i](ev, ud[i]);
}

/*
 * Whether a source wakes the watcher before the group reaches its limit:
 * cgroup v1's usage threshold. PSI and cgroup v2's memory.events speak
 * only once the group reclaims or hits its limit.
 */
static bool warns_early(const struct source *src, int n)
{
	for (int i = 1; i < n; i++)
		if (src[i].fd >= 0 && strcmp(src[i].why, WHY_THRESHOLD) == 0)
			return true;
	return false;
}

/* Whether the group's usage (one pread(2)) is within 4 margins of its limit. */
static bool room_tight(void)
{
	uint64_t room, limit;

	return vc_pressure_room(&room, &limit) < 0 ||
	       room < 4 * margin_for(limit);
}

static void *watch_main(void *arg)
{
	struct watch_arg wa = *(struct watch_arg *)arg;
	struct source src[MAX_FDS];
	struct pollfd pfd[MAX_FDS];
	struct scope s;
	int n, timeout = 0;
	bool tight = false, quick = false;
	uint64_t looked = 0;

	/* Before start() returns: the first creations may need the room. */
	scope_find(&s);
	room_open(&s);
	sem_post(&started); /* see start() */
	free(arg);
	src[0] = (struct source){ wa.fd, -1, SRC_STOP, "stop", wa.id,
				  fd_id(-1) };
	n = sources_open(src, &s);
	for (;;) {
		struct vc_pressure_event ev;
		const char *why = NULL;
		char self[sizeof(s.self)];
		int r;

		for (int i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ src[i].fd,
				src[i].kind == SRC_EVENTFD ||
				src[i].kind == SRC_STOP ? POLLIN : POLLPRI, 0 };
		r = poll(pfd, (nfds_t)n, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (atomic_load(&generation) != wa.gen)
			break;
		if (r > 0)
			drop_lost(src, pfd, n);
		if (pfd[0].revents) {
			uint64_t v = 0;

			(void)!read(src[0].fd, &v, sizeof(v));
			if (v >= STOP)
				break;
			/* A kick is no sign of pressure: just look again. */
		}
		/* A quick poll: the whole look only once room is short. */
		if (r == 0 && quick && !room_tight() &&
		    vc_now_ns() - looked < 1000000000ull)
			continue;
		looked = vc_now_ns();
		for (int i = 1; r > 0 && i < n; i++) {
			uint64_t v;

			if (!pfd[i].revents)
				continue;
			why = src[i].why;
			if (src[i].kind == SRC_EVENTFD)
				(void)!read(src[i].fd, &v, sizeof(v));
			else if (src[i].kind == SRC_KERNFS)
				(void)!pread(src[i].fd, self, sizeof(self), 0);
		}
		sample(&s, why != NULL, true, &ev, &tight);
		ev.why = why ? why : "poll";
		atomic_store(&cur_level, ev.level);
		atomic_store(&delay_cap, ev.cap);
		ev.flush = vc_idle_held_bytes() > ev.cap;
		if ((ev.level != VCACHE_PRESSURE_NONE && ev.want) || ev.flush)
			notify(&ev);
		/*
		 * Every 100 ms while memory is tight or short. Else every
		 * second, but in a group with a limit and no usage threshold
		 * to wake us before it (cgroup v2) a quick poll of its usage
		 * every 100 ms in between: faults of shared objects make no
		 * room themselves, and between looks a second apart they
		 * filled the 32 MiB from comfortable to the limit in the QEMU
		 * guest (test_shared_pressure OOM-killed, 2026-12-01).
		 */
		quick = !tight && !ev.level && s.limit != UINT64_MAX &&
			!warns_early(src, n);
		timeout = tight || ev.level || quick ? 100 : 1000;
		/* Moved to another cgroup? Watch that one instead. */
		if (read_file("/proc/self/cgroup", self, sizeof(self)) == 0 &&
		    strcmp(self, s.self) != 0) {
			sources_close(src, n);
			scope_find(&s);
			room_open(&s);
			n = sources_open(src, &s);
		}
	}
	sources_close(src, n);
	s.version = 0;
	room_open(&s); /* closes it */
	atomic_store(&cur_level, VCACHE_PRESSURE_NONE);
	atomic_store(&delay_cap, UINT64_MAX);
	return NULL;
}

/*
 * Sample now, on the caller's thread, as if extra more bytes were already
 * in use: for an allocation the library is about to make (object
 * creation), which may not wait for the watcher's next look. Also notices
 * a move to another cgroup and has the watcher follow at once.
 */
/* The last synchronous sample: skip the files while there is plenty. */
static _Atomic uint64_t last_ns, last_room;

void vc_pressure_sample(uint64_t extra, struct vc_pressure_event *ev)
{
	uint64_t now = vc_now_ns();
	struct scope s;
	bool tight, moved;

	if (now - atomic_load(&last_ns) < 5000000ull &&
	    atomic_load(&last_room) > extra) {
		ev->level = VCACHE_PRESSURE_NONE;
		ev->want = 0;
		ev->headroom = atomic_load(&last_room);
		ev->cap = atomic_load(&delay_cap);
		ev->flush = false;
		ev->why = "allocation";
		return;
	}
	restart_if_needed();
	scope_find(&s);
	if (s.limit != UINT64_MAX)
		s.limit = s.limit > extra ? s.limit - extra : 0;
	sample(&s, false, false, ev, &tight);
	ev->why = "allocation";
	/*
	 * The library is about to fill memory itself: the delays end,
	 * down to this cap (the fill counted) if they hold more (purge.c).
	 */
	ev->flush = true;
	/* Room left before the comfortable zone ends (4 margins). */
	{
		uint64_t m = margin_for(s.limit != UINT64_MAX ? s.limit + extra :
					meminfo("MemTotal:") / 2);

		atomic_store(&last_room, ev->headroom > 4 * m ?
				 ev->headroom - 4 * m : 0);
		atomic_store(&last_ns, now);
	}
	pthread_mutex_lock(&lock);
	moved = strcmp(last_self, s.self) != 0;
	if (moved)
		memcpy(last_self, s.self, sizeof(last_self));
	if (moved && running && fd_is(stop_fd, stop_id)) {
		uint64_t kick = KICK;

		(void)!write(stop_fd, &kick, sizeof(kick));
	}
	pthread_mutex_unlock(&lock);
}

/* lock held */
static int start(void)
{
	struct watch_arg *wa = malloc(sizeof(*wa));
	sigset_t all, saved;
	int err;

	if (!wa)
		return -ENOMEM;
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stop_fd < 0) {
		err = -errno;
		free(wa);
		return err;
	}
	stop_id = fd_id(stop_fd);
	*wa = (struct watch_arg){ stop_fd, stop_id, atomic_load(&generation) };
	/* The thread takes no signals meant for the program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	sem_init(&started, 0, 0);
	err = -pthread_create(&thread, NULL, watch_main, wa);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (err < 0) {
		free(wa);
		close(stop_fd);
		stop_fd = -1;
		sem_destroy(&started);
		return err;
	}
	/*
	 * Return only once the thread runs its own code: a new thread's
	 * start-up may allocate (under ASan it holds the sanitizer's
	 * allocator lock), and a fork() right after vcache_new() would give
	 * the child that lock held by a thread that does not exist there.
	 */
	while (sem_wait(&started) < 0 && errno == EINTR)
		;
	sem_destroy(&started);
	running = true;
	return 0;
}

/*
 * The thread does not exist in a fork() child. A new one is not started
 * here: creating a thread inside fork() is not async-signal-safe (under
 * ASan it deadlocks on the allocator lock). The next vcache_new(), object
 * creation or regenerating pin in the child starts it (restart_if_needed).
 */
static void fork_child(void)
{
	/*
	 * fork_prepare() took it on this very thread: unlock, not re-init
	 * (re-initialising a held mutex is undefined, and TSan then sees it
	 * held for ever and reports every later lock order as a cycle).
	 */
	pthread_mutex_unlock(&lock);
	if (!running)
		return;
	running = false;
	close_if(stop_fd, stop_id);
	stop_fd = -1;
}

void vc_pressure_resume(void)
{
	restart_if_needed();
}

static void restart_if_needed(void)
{
	pthread_mutex_lock(&lock);
	if (!running && nsubs)
		(void)start();
	pthread_mutex_unlock(&lock);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_atfork(void)
{
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int vc_pressure_subscribe(vc_pressure_fn fn, void *userdata)
{
	int err = 0;

	pthread_once(&once, register_atfork);
	pthread_mutex_lock(&lock);
	if (nsubs == MAX_SUBSCRIBERS) {
		err = -ENOSPC;
	} else {
		if (!running)
			err = start();
		if (err == 0) {
			subs[nsubs].fn = fn;
			subs[nsubs].userdata = userdata;
			nsubs++;
		}
	}
	pthread_mutex_unlock(&lock);
	return err;
}

void vc_pressure_unsubscribe(vc_pressure_fn fn, void *userdata)
{
	bool stop = false;
	pthread_t t;
	struct fdid id = { 0, 0 };
	int fd = -1;

	pthread_mutex_lock(&lock);
	for (unsigned int i = 0; i < nsubs; i++)
		if (subs[i].fn == fn && subs[i].userdata == userdata) {
			subs[i] = subs[--nsubs];
			break;
		}
	if (nsubs == 0 && running) {
		uint64_t cmd = STOP;

		atomic_fetch_add(&generation, 1);
		if (fd_is(stop_fd, stop_id))
			(void)!write(stop_fd, &cmd, sizeof(cmd));
		t = thread;
		fd = stop_fd;
		id = stop_id;
		stop_fd = -1;
		running = false;
		stop = true;
	}
	pthread_mutex_unlock(&lock);
	if (stop) {
		pthread_join(t, NULL);
		close_if(fd, id);
	}
}
