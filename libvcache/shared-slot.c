/* SPDX-License-Identifier: MIT */
/*
 * shared-slot.c - who has a shared object open, who pins what, who is
 * busy with a chunk, and cleaning up after processes that died
 *
 * A process is named by its pid and its start time (field 22 of
 * /proc/<pid>/stat, clock ticks since boot): a pid alone may be reused by
 * an unrelated process after the owner died. A slot is dead when that
 * pair no longer names a live process: /proc/<pid>/stat is gone, shows
 * another start time (pid reused), or shows a zombie ('Z', 'X': killed
 * but not yet reaped by its parent). Without a readable /proc (a sandbox)
 * only the pid is kept and kill(pid, 0) failing with ESRCH means dead;
 * so also when another process's entry is hidden (hidepid=2) but its pid
 * exists: unsure means alive, never reaped.
 * Pids are those of the library's pid namespace: processes sharing an
 * object must see each other's pids (same namespace), see vcache.h.
 *
 * Reaping a dead slot (vc_shared_reap(), run by every purge, by a waiter
 * that has waited long for a BUSY chunk, by the stats and when no slot is
 * free): claim it with compare-and-swap (so one process reaps it), clear
 * BUSY on the chunks it held (their missing pages just fault again), drop
 * its pin counts, free it. Its pins are then gone: the chunks are volatile
 * again unless another process pins them.
 *
 * Everything here that the fault path uses is async-signal-safe (open,
 * read, close, kill, futex; no allocation, no locks).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "shared.h"

#define BUSY_DEPTH 16

/* Chunks this thread holds BUSY: a fault on one of them is a deadlock. */
static _tls_ struct {
	struct vc_shared *sh;
	size_t chunk;
} tls_busy[BUSY_DEPTH];
static _tls_ unsigned int tls_busy_depth;

static bool busy_is_mine(struct vc_shared *sh, size_t i)
{
	for (unsigned int d = 0; d < tls_busy_depth && d < BUSY_DEPTH; d++)
		if (tls_busy[d].sh == sh && tls_busy[d].chunk == i)
			return true;
	return false;
}

/* Decimal pid into buf (no stdio: signal context). */
static void stat_path(char *buf, pid_t pid)
{
	char digits[16];
	size_t n = 0, k = 0;

	do {
		digits[n++] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid && n < sizeof(digits));
	memcpy(buf, "/proc/", 6);
	k = 6;
	while (n)
		buf[k++] = digits[--n];
	memcpy(buf + k, "/stat", 6);
}

/*
 * Whether pid has exited (every thread of it: a zombie or dead state
 * with at most one thread counted) and its start time, from
 * /proc/<pid>/stat. A process whose main thread called pthread_exit()
 * shows the zombie state too while its other threads run: field 20 (the
 * thread count) tells it apart. 0, -ESRCH when there is no such process,
 * or another negative errno when /proc cannot be read at all.
 */
static int proc_stat(pid_t pid, bool *ret_exited, uint64_t *ret_start)
{
	uint64_t threads = 0;
	char state;
	char path[40], buf[512];
	ssize_t n;
	char *p;
	int fd, field;

	stat_path(path, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH; /* gone between open and read */
	buf[n] = '\0';
	/* The command name may hold anything, ')' too: the last one ends it. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EIO;
	p += 2;
	state = *p;
	/*
	 * Field 3 is the state, 20 the thread count, 22 the start time.
	 * Digits by hand: strtoull() is not async-signal-safe.
	 */
	for (field = 3; field < 22 && *p; p++) {
		if (*p != ' ')
			continue;
		if (++field == 20)
			for (const char *d = p + 1; *d >= '0' && *d <= '9'; d++)
				threads = threads * 10 + (uint64_t)(*d - '0');
	}
	if (field != 22)
		return -EIO;
	*ret_start = 0;
	for (; *p >= '0' && *p <= '9'; p++)
		*ret_start = *ret_start * 10 + (uint64_t)(*p - '0');
	*ret_exited = (state == 'Z' || state == 'X') && threads <= 1;
	return 0;
}

static _Atomic int proc_usable = -1; /* -1 unknown, 0 no, 1 yes */

static bool have_proc(void)
{
	int u = atomic_load(&proc_usable);
	uint64_t start;
	bool exited;

	if (u < 0) {
		u = proc_stat(getpid(), &exited, &start) == 0;
		atomic_store(&proc_usable, u);
	}
	return u;
}

uint64_t vc_shared_identity(pid_t pid)
{
	uint64_t start;
	bool exited;

	if (pid <= 0)
		return 0;
	if (!have_proc())
		return kill(pid, 0) < 0 && errno == ESRCH ? 0 : (uint32_t)pid;
	if (proc_stat(pid, &exited, &start) < 0 || exited)
		return 0;
	return (uint32_t)pid | (uint64_t)(uint32_t)start << 32;
}

/*
 * Reaping a live process would drop pins it relies on, so anything
 * unsure counts as alive: a /proc entry that cannot be read (another
 * user's process under a hidepid=2 mount) while kill(pid, 0) finds the
 * pid, or an owner recorded without a start time (no /proc then).
 */
bool vc_shared_owner_dead(uint64_t owner)
{
	pid_t pid = (pid_t)(uint32_t)owner;
	uint64_t start;
	bool exited;
	int err;

	if (owner == 0 || owner == SLOT_REAPING)
		return false;
	if (!have_proc() || owner >> 32 == 0)
		return kill(pid, 0) < 0 && errno == ESRCH;
	err = proc_stat(pid, &exited, &start);
	if (err == 0)
		return exited || (uint32_t)start != (uint32_t)(owner >> 32);
	return kill(pid, 0) < 0 && errno == ESRCH;
}

static _Atomic uint32_t *row(struct vc_shared *sh, unsigned int s)
{
	return sh->pins + (size_t)s * sh->hdr->nchunks;
}

static void futex_wake_all(_Atomic uint32_t *w)
{
	(void)vc_futex_wake_all_shared((uint32_t *)w);
}

/* Slot s is ours to clean (owner word SLOT_REAPING or our own). */
static void slot_clear(struct vc_shared *sh, unsigned int s)
{
	_Atomic uint32_t *r = row(sh, s);
	size_t n = sh->hdr->nchunks;

	for (size_t i = 0; i < n; i++) {
		uint32_t st = atomic_load(&sh->state[i]);

		while ((st & SCHUNK_BUSY) &&
		       ((st >> SCHUNK_OWNER_SHIFT) & 0xff) == s) {
			if (atomic_compare_exchange_weak(&sh->state[i], &st,
							 0)) {
				if (st & SCHUNK_WAITERS)
					futex_wake_all(&sh->state[i]);
				break;
			}
		}
		atomic_store(&r[i], 0);
	}
	atomic_store(&sh->slot_flags[s], 0);
}

void vc_shared_reap(struct vc_shared *sh)
{
	for (unsigned int s = 0; s < VC_SHARED_SLOTS; s++) {
		uint64_t owner = atomic_load(&sh->owners[s]);

		if ((int)s == atomic_load(&sh->slot) ||
		    !vc_shared_owner_dead(owner))
			continue;
		if (!atomic_compare_exchange_strong(&sh->owners[s], &owner,
						    SLOT_REAPING))
			continue; /* someone else reaps it, or it changed */
		slot_clear(sh, s);
		atomic_store(&sh->owners[s], 0);
	}
}

/*
 * Take a free slot for this process. Its flags are visible before the
 * caller maps the object's bytes, so a purger that could make this
 * process read holes as zeros (SLOT_UNPROTECTED) sees it first.
 */
int vc_shared_slot_claim(struct vc_shared *sh, uint32_t flags)
{
	uint64_t self = vc_shared_identity(getpid());

	if (!self)
		return -ESRCH;
	for (int attempt = 0; attempt < 2; attempt++) {
		for (unsigned int s = 0; s < VC_SHARED_SLOTS; s++) {
			uint64_t expected = 0;

			if (!atomic_compare_exchange_strong(&sh->owners[s],
							    &expected, self))
				continue;
			atomic_store(&sh->slot_flags[s], flags);
			atomic_store(&sh->self, self);
			atomic_store(&sh->slot, (int)s);
			return 0;
		}
		vc_shared_reap(sh); /* dead processes may hold slots */
	}
	return -EUSERS;
}

void vc_shared_slot_release(struct vc_shared *sh)
{
	int s = atomic_exchange(&sh->slot, -1);

	if (s < 0)
		return;
	slot_clear(sh, (unsigned int)s);
	atomic_store(&sh->owners[s], 0);
}

bool vc_shared_chunk_pinned(struct vc_shared *sh, size_t i)
{
	for (unsigned int s = 0; s < VC_SHARED_SLOTS; s++)
		if (atomic_load(&sh->owners[s]) && atomic_load(&row(sh, s)[i]))
			return true;
	return false;
}

/* How long a waiter sleeps before it checks whether the holder died. */
#define SLOT_WAIT_NS (100 * 1000000ull)

/*
 * Sleep until the BUSY holder of chunk i (state s) releases it, at most
 * SLOT_WAIT_NS; then, if the holder's process is dead, release it for it.
 */
static void chunk_wait(struct vc_shared *sh, size_t i, uint32_t s)
{
	_Atomic uint32_t *w = &sh->state[i];
	unsigned int owner = (s >> SCHUNK_OWNER_SHIFT) & 0xff;

	if (!(s & SCHUNK_WAITERS)) {
		if (!atomic_compare_exchange_strong(w, &s, s | SCHUNK_WAITERS))
			return;
		s |= SCHUNK_WAITERS;
	}
	if (vc_futex_wait_shared((uint32_t *)w, s, SLOT_WAIT_NS) !=
	    -ETIMEDOUT)
		return;
	if (owner < VC_SHARED_SLOTS &&
	    vc_shared_owner_dead(atomic_load(&sh->owners[owner])))
		vc_shared_reap(sh);
}

int vc_shared_chunk_claim(struct vc_shared *sh, size_t i, bool may_wait)
{
	_Atomic uint32_t *w = &sh->state[i];
	int slot = atomic_load(&sh->slot);
	uint32_t me, s = atomic_load(w);

	/*
	 * No slot (a fork() child that found all of them taken): a claim it
	 * held when it died could never be reaped, so it may not take one.
	 */
	if (slot < 0)
		return -EUSERS;
	me = (uint32_t)slot << SCHUNK_OWNER_SHIFT;
	for (;;) {
		if (s & SCHUNK_BUSY) {
			if (busy_is_mine(sh, i))
				return -EDEADLK;
			if (!may_wait)
				return -EAGAIN;
			chunk_wait(sh, i, s);
			s = atomic_load(w);
			continue;
		}
		if (atomic_compare_exchange_weak(w, &s,
						 SCHUNK_BUSY | me |
							 (s & SCHUNK_WAITERS)))
			break;
	}
	if (tls_busy_depth < BUSY_DEPTH) {
		tls_busy[tls_busy_depth].sh = sh;
		tls_busy[tls_busy_depth].chunk = i;
	}
	tls_busy_depth++;
	return 0;
}

void vc_shared_chunk_release(struct vc_shared *sh, size_t i)
{
	uint32_t old;

	tls_busy_depth--;
	old = atomic_exchange(&sh->state[i], 0);
	if (old & SCHUNK_WAITERS)
		futex_wake_all(&sh->state[i]);
}

void vc_shared_chunk_wait_idle(struct vc_shared *sh, size_t i)
{
	uint32_t s;

	while ((s = atomic_load(&sh->state[i])) & SCHUNK_BUSY)
		chunk_wait(sh, i, s);
}
