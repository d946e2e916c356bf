/* SPDX-License-Identifier: MIT */
/*
 * test-shared.c - objects shared between processes (issue 13): a memfd
 * passed over a Unix socket, pins counted across processes with exact
 * purge reports in both, regeneration by the process that touches a hole,
 * a pinning process killed with SIGKILL, and what each backend can purge.
 *
 * Every test runs a second process (fork(), then a socketpair to pass the
 * descriptor with SCM_RIGHTS and to take turns). Contents always come
 * from the generator, so a page of zeros is always caught.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "tutil.h"

enum { CHUNK_PAGES = 2, NCHUNKS = 8, SEED = 0x5eed };

#define CS (CHUNK_PAGES * pagesz)
#define SIZE (NCHUNKS * CS)

/* --- a second process ------------------------------------------------- */

struct peer {
	pid_t pid;
	int sock;
};

static void peer_start(struct peer *p, int (*fn)(int sock, void *arg),
		       void *arg)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	fflush(NULL);
	p->pid = fork();
	ck_assert_int_ge(p->pid, 0);
	if (p->pid == 0) {
		close(sv[0]);
		_exit(fn(sv[1], arg));
	}
	close(sv[1]);
	p->sock = sv[0];
}

static int peer_wait(struct peer *p)
{
	int st = 0;

	close(p->sock);
	ck_assert_int_eq(waitpid(p->pid, &st, 0), p->pid);
	return st;
}

static void assert_peer_ok(struct peer *p)
{
	int st = peer_wait(p);

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "peer status 0x%x", st);
}

static void send_fd(int sock, int fd)
{
	char c = 'f';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	memset(u.buf, 0, sizeof(u.buf));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sock, &msg, 0) != 1)
		abort();
}

static int recv_fd(int sock)
{
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static void say(int sock, char c)
{
	if (write(sock, &c, 1) != 1)
		abort();
}

static char hear(int sock)
{
	char c = 0;

	return read(sock, &c, 1) == 1 ? c : 0;
}

/* --- helpers ------------------------------------------------------------ */

/* Can the cache's shared objects be purged (holes fault)? */
static bool shared_purges(vcache *c)
{
	enum vcache_backend b = vcache_backend(c);

	return b == VCACHE_BACKEND_UFFD || b == VCACHE_BACKEND_VRANGE;
}

/* The patched kernel's shmem volatile ranges, in this process's cache. */
static bool kernel_volatile(vcache *c)
{
	return vcache_backend(c) == VCACHE_BACKEND_VRANGE &&
	       access("/sys/kernel/mm/vrange/fvrange_syscall_nr", R_OK) == 0;
}

static vcache_object *create(vcache *c, const char *name, struct tobj *t)
{
	vcache_object *o = NULL;

	ck_assert_int_eq(vcache_object_create_shared(c, name, SIZE, CS,
						     tobj_regen, t, 0, &o),
			 0);
	ck_assert_ptr_nonnull(o);
	return o;
}

static void destroy(vcache *c, vcache_object *o)
{
	ck_assert_int_eq(vcache_object_remove(o), 0);
	vcache_object_unref(o);
	tcache_free(c);
}

static struct vcache_stats stats(vcache *c)
{
	struct vcache_stats st;

	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(vcache_stats_get(c, &st, sizeof(st)), 0);
	return st;
}

/* The peer's side: a cache of its own, the object from the socket. */
struct opened {
	vcache *cache;
	vcache_object *object;
	struct tobj t;
};

static void peer_open(int sock, struct opened *op)
{
	int fd = recv_fd(sock);

	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(vcache_new(NULL, &op->cache) == 0);
	tobj_init(&op->t, SEED);
	CHILD_CHECK(vcache_object_open_fd(op->cache, fd, tobj_regen, &op->t, 0,
					  &op->object) == 0);
	close(fd); /* the object keeps its own copy */
}

static void peer_close(struct opened *op)
{
	CHILD_CHECK(vcache_object_remove(op->object) == 0);
	vcache_object_unref(op->object);
	CHILD_CHECK(vcache_free(op->cache) == 0);
}

/* --- create / fd / open -------------------------------------------------- */

static int open_peer(int sock, void *arg)
{
	struct opened op;
	const uint8_t *p;
	vcache_object *found = NULL;

	(void)arg;
	peer_open(sock, &op);
	CHILD_CHECK(strcmp(vcache_object_name(op.object), "shared-a") == 0);
	CHILD_CHECK(vcache_object_size(op.object) == SIZE);
	CHILD_CHECK(vcache_object_chunk_size(op.object) == CS);
	CHILD_CHECK(vcache_object_lookup(op.cache, "shared-a", &found) == 0);
	CHILD_CHECK(found == op.object);
	vcache_object_unref(found);
	CHILD_CHECK(vcache_object_fd(op.object) >= 0);
	p = vcache_object_data(op.object);
	CHILD_CHECK(gen_check(p, SEED, 0, SIZE) == SIZE_MAX);
	/* Opening fills nothing: the creator's bytes are the object's. */
	CHILD_CHECK(atomic_load(&op.t.calls) == 0);
	peer_close(&op);
	return 0;
}

START_TEST(test_shared_open_fd)
{
	vcache *c = tcache_new();
	struct tobj t;
	struct peer p;
	vcache_object *o;

	tobj_init(&t, SEED);
	o = create(c, "shared-a", &t);
	ck_assert_int_eq(atomic_load(&t.calls), NCHUNKS);
	assert_content(o, SEED, 0, SIZE);
	ck_assert_int_ge(vcache_object_fd(o), 0);
	peer_start(&p, open_peer, NULL);
	send_fd(p.sock, vcache_object_fd(o));
	assert_peer_ok(&p);
	destroy(c, o);
}
END_TEST

/* --- pins: exact in both processes -------------------------------------- */

static int exact_peer(int sock, void *arg)
{
	struct opened op;
	bool purges = *(bool *)arg;
	ssize_t n;

	peer_open(sock, &op);
	/* The parent pins chunks 0..3: only 4..7 can go. */
	CHILD_CHECK(hear(sock) == 'p');
	n = vcache_purge(op.object);
	if (n != (ssize_t)(purges ? SIZE / 2 : 0))
		fprintf(stderr, "peer: purge freed %zd\n", n);
	CHILD_CHECK(n == (ssize_t)(purges ? SIZE / 2 : 0));
	say(sock, 'd');
	/* The parent purged chunks 2..5; report them here, exactly. */
	CHILD_CHECK(hear(sock) == 'q');
	for (size_t k = 0; k < NCHUNKS; k++) {
		int r = vcache_pin_range(op.object, k * CS, CS, 0);
		int want = purges && k >= 2 && k <= 5 ? VCACHE_PURGED
						      : VCACHE_INTACT;

		if (r != want)
			fprintf(stderr, "peer: chunk %zu: pin %d, want %d\n",
				k, r, want);
		CHILD_CHECK(r == want);
	}
	/* Pinned chunks are regenerated and whole, never zeros. */
	CHILD_CHECK(gen_check(vcache_object_data(op.object), SEED, 0, SIZE) ==
		    SIZE_MAX);
	CHILD_CHECK(vcache_unpin(op.object) == 0);
	peer_close(&op);
	return 0;
}

START_TEST(test_shared_pin_exact)
{
	vcache *c = tcache_new();
	bool purges = shared_purges(c);
	struct tobj t;
	struct peer p;
	vcache_object *o;

	tobj_init(&t, SEED);
	o = create(c, "shared-b", &t);
	ck_assert_int_eq(vcache_pin_range(o, 0, 4 * CS, 0), VCACHE_INTACT);
	peer_start(&p, exact_peer, &purges);
	send_fd(p.sock, vcache_object_fd(o));
	say(p.sock, 'p');
	ck_assert_int_eq(hear(p.sock), 'd');
	/* Chunk by chunk: the peer's purge, exactly where it happened. */
	for (size_t k = 0; k < NCHUNKS; k++)
		ck_assert_int_eq(vcache_pin_range(o, k * CS, CS, 0),
				 purges && k >= 4 ? VCACHE_PURGED
						  : VCACHE_INTACT);
	assert_content(o, SEED, 0, SIZE);
	ck_assert_int_eq(vcache_unpin(o), 0);
	ck_assert_int_eq(vcache_unpin_range(o, 0, 4 * CS), 0);
	ck_assert_int_eq(vcache_purge_range(o, 2 * CS, 4 * CS),
			 purges ? 4 * CS : 0);
	say(p.sock, 'q');
	assert_peer_ok(&p);
	destroy(c, o);
}
END_TEST

/* --- optimistic access: the other process regenerates ------------------ */

static int fault_peer(int sock, void *arg)
{
	struct opened op;
	bool purges = *(bool *)arg;
	struct vcache_stats st;
	size_t bad;

	peer_open(sock, &op);
	/* Every chunk is a hole: reading them regenerates them here. */
	bad = gen_check(vcache_object_data(op.object), SEED, 0, SIZE);
	if (bad != SIZE_MAX)
		fprintf(stderr, "peer: wrong byte at %zu\n", bad);
	CHILD_CHECK(bad == SIZE_MAX);
	memset(&st, 0, sizeof(st));
	CHILD_CHECK(vcache_stats_get(op.cache, &st, sizeof(st)) == 0);
	CHILD_CHECK(st.faults == (purges ? NCHUNKS : 0));
	CHILD_CHECK(atomic_load(&op.t.calls) == (purges ? NCHUNKS : 0));
	CHILD_CHECK(atomic_load(&op.t.bad_args) == 0);
	peer_close(&op);
	return 0;
}

START_TEST(test_shared_fault_other)
{
	vcache *c = tcache_new();
	bool purges = shared_purges(c);
	struct tobj t;
	struct peer p;
	vcache_object *o;

	tobj_init(&t, SEED);
	o = create(c, "shared-c", &t);
	ck_assert_int_eq(vcache_purge(o), purges ? SIZE : 0);
	ck_assert_uint_eq(resident_pages(vcache_object_data(o), SIZE),
			  purges ? 0 : SIZE / pagesz);
	peer_start(&p, fault_peer, &purges);
	send_fd(p.sock, vcache_object_fd(o));
	assert_peer_ok(&p);
	/* The peer's callback filled the holes: here nothing faults. */
	assert_content(o, SEED, 0, SIZE);
	ck_assert_int_eq(atomic_load(&t.calls), NCHUNKS); /* creation only */
	ck_assert_uint_eq(stats(c).faults, 0);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin(o), 0);
	destroy(c, o);
}
END_TEST

/*
 * Both processes at once: pins, optimistic reads and purges of random
 * chunks, interleaved as the scheduler likes. Every read is checked
 * against the generator, in both processes: a purge that slipped past a
 * pin, or a hole read as zeros, fails here.
 */
enum { RACE_ROUNDS = 3000 };

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

static int race(vcache_object *o, unsigned int seed)
{
	const uint8_t *d = vcache_object_data(o);
	unsigned int s = seed;

	for (int n = 0; n < RACE_ROUNDS; n++) {
		size_t k = rnd(&s) % NCHUNKS;
		int r;

		switch (rnd(&s) % 3) {
		case 0:
			r = vcache_pin_range(o, k * CS, CS, 0);
			if (r < 0)
				return 1;
			/* Pinned: whole and stays so, whatever the other does. */
			if (gen_check(d + k * CS, SEED, k * CS, CS) != SIZE_MAX)
				return 2;
			sched_yield();
			/* A punch under the pin would show as missing pages. */
			if (resident_pages(d + k * CS, CS) != CHUNK_PAGES)
				return 7;
			if (gen_check(d + k * CS, SEED, k * CS, CS) != SIZE_MAX)
				return 3;
			if (vcache_unpin_range(o, k * CS, CS) < 0)
				return 4;
			break;
		case 1:
			if (gen_check(d + k * CS, SEED, k * CS, CS) != SIZE_MAX)
				return 5;
			break;
		default:
			if (vcache_purge_range(o, k * CS, CS) < 0)
				return 6;
		}
	}
	return 0;
}

static int race_peer(int sock, void *arg)
{
	struct opened op;
	int r;

	(void)arg;
	peer_open(sock, &op);
	say(sock, 'g');
	r = race(op.object, 2);
	if (r)
		fprintf(stderr, "peer: race check %d failed\n", r);
	CHILD_CHECK(r == 0);
	peer_close(&op);
	return 0;
}

START_TEST(test_shared_race)
{
	vcache *c = tcache_new();
	struct tobj t;
	struct peer p;
	vcache_object *o;

	tobj_init(&t, SEED);
	o = create(c, "shared-r", &t);
	peer_start(&p, race_peer, NULL);
	send_fd(p.sock, vcache_object_fd(o));
	ck_assert_int_eq(hear(p.sock), 'g');
	ck_assert_int_eq(race(o, 1), 0);
	assert_peer_ok(&p);
	ck_assert_uint_eq(stats(c).bytes_pinned, 0);
	assert_content(o, SEED, 0, SIZE);
	destroy(c, o);
}
END_TEST

/*
 * System calls on a purged shared object: the kernel's own access to a
 * hole fails with EFAULT (UFFD_USER_MODE_ONLY), never copies zeros;
 * vcache_write() pins with regeneration around the call.
 */
START_TEST(test_shared_syscall)
{
	vcache *c = tcache_new();
	bool purges = shared_purges(c);
	struct tobj t;
	vcache_object *o;
	uint8_t buf[4096 * 2];
	int pfd[2];

	tobj_init(&t, SEED);
	o = create(c, "shared-s", &t);
	ck_assert_int_eq(pipe(pfd), 0);
	ck_assert_int_eq(vcache_purge_range(o, 0, CS), purges ? CS : 0);
	if (purges) {
		errno = 0;
		ck_assert_int_eq(write(pfd[1], vcache_object_data(o), pagesz),
				 -1);
		ck_assert_int_eq(errno, EFAULT);
	} else {
		ck_assert_int_eq(write(pfd[1], vcache_object_data(o), pagesz),
				 (ssize_t)pagesz);
		ck_assert_int_eq(read(pfd[0], buf, pagesz), (ssize_t)pagesz);
	}
	ck_assert_int_eq(vcache_write(pfd[1], o, 0, 2 * pagesz),
			 (ssize_t)(2 * pagesz));
	ck_assert_int_eq(read(pfd[0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
	ck_assert_uint_eq(gen_check(buf, SEED, 0, sizeof(buf)), SIZE_MAX);
	ck_assert_uint_eq(stats(c).bytes_pinned, 0);
	close(pfd[0]);
	close(pfd[1]);
	destroy(c, o);
}
END_TEST

/* --- a pinning process killed with SIGKILL ------------------------------ */

static int pin_and_hang(int sock, void *arg)
{
	struct opened op;

	(void)arg;
	peer_open(sock, &op);
	CHILD_CHECK(vcache_pin(op.object, 0) == VCACHE_INTACT);
	say(sock, 'k');
	for (;;)
		pause();
	return 0;
}

START_TEST(test_shared_dead_pinner)
{
	vcache *c = tcache_new();
	bool purges = shared_purges(c);
	struct tobj t;
	struct peer p;
	vcache_object *o;
	siginfo_t si;

	tobj_init(&t, SEED);
	o = create(c, "shared-d", &t);
	peer_start(&p, pin_and_hang, NULL);
	send_fd(p.sock, vcache_object_fd(o));
	ck_assert_int_eq(hear(p.sock), 'k');
	ck_assert_uint_eq(stats(c).bytes_pinned, SIZE);
	ck_assert_int_eq(vcache_purge(o), 0); /* pinned by the peer */
	ck_assert_int_eq(kill(p.pid, SIGKILL), 0);
	/* Dead but not yet waited for: a zombie still has its pid. */
	memset(&si, 0, sizeof(si));
	ck_assert_int_eq(waitid(P_PID, (id_t)p.pid, &si, WEXITED | WNOWAIT),
			 0);
	ck_assert_uint_eq(stats(c).bytes_pinned, 0);
	ck_assert_int_eq(vcache_purge(o), purges ? SIZE : 0);
	ck_assert_int_eq(vcache_pin(o, 0), purges ? VCACHE_PURGED
						  : VCACHE_INTACT);
	assert_content(o, SEED, 0, SIZE);
	ck_assert_int_eq(vcache_unpin(o), 0);
	{
		int st = peer_wait(&p);

		ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	destroy(c, o);
}
END_TEST

/*
 * A process whose main thread called pthread_exit() while another thread
 * pins: /proc shows it as a zombie, yet it is alive and its pins hold.
 */
static void *pin_in_thread(void *arg)
{
	int sock = *(int *)arg;
	struct opened op;

	peer_open(sock, &op);
	CHILD_CHECK(vcache_pin(op.object, 0) == VCACHE_INTACT);
	say(sock, 'k');
	CHILD_CHECK(hear(sock) == 'u'); /* the other side has looked */
	CHILD_CHECK(vcache_unpin(op.object) == 0);
	say(sock, 'd');
	_exit(0); /* the whole process, from the last thread, as peers end */
}

static int pin_after_main_exits(int sock, void *arg)
{
	static int the_sock;
	pthread_t thr;

	(void)arg;
	the_sock = sock;
	CHILD_CHECK(pthread_create(&thr, NULL, pin_in_thread, &the_sock) == 0);
	/*
	 * The main thread alone ends: the raw exit(2), which is what
	 * pthread_exit() comes to, without glibc's unwinder (libgcc_s, which
	 * the test guest does not carry).
	 */
	syscall(SYS_exit, 0);
	return 1; /* not reached */
}

START_TEST(test_shared_main_thread_exited)
{
	struct tobj t;
	struct peer p;
	vcache_object *o;
	bool purges;
	vcache *c;

	SKIP_IF(UNDER_TSAN, "TSan does not follow a thread ending by a raw "
		"exit(2)");
	c = tcache_new();
	purges = shared_purges(c);
	tobj_init(&t, SEED);
	o = create(c, "shared-m", &t);
	peer_start(&p, pin_after_main_exits, NULL);
	send_fd(p.sock, vcache_object_fd(o));
	ck_assert_int_eq(hear(p.sock), 'k');
	/* The peer's main thread is gone: a reap now would drop the pins. */
	ck_assert_uint_eq(stats(c).bytes_pinned, SIZE);
	ck_assert_int_eq(vcache_purge(o), 0);
	ck_assert_uint_eq(stats(c).bytes_pinned, SIZE);
	say(p.sock, 'u');
	ck_assert_int_eq(hear(p.sock), 'd');
	ck_assert_int_eq(peer_wait(&p), 0);
	ck_assert_uint_eq(stats(c).bytes_pinned, 0);
	ck_assert_int_eq(vcache_purge(o), purges ? SIZE : 0);
	destroy(c, o);
}
END_TEST

/*
 * A process killed while regenerating a chunk (holding it BUSY): the
 * next process that needs the chunk waits, finds the holder dead, and
 * regenerates it itself.
 */
/* A callback that never returns (its process is killed meanwhile). */
static int hang_regen(vcache_object *object, void *dst, size_t offset,
		      size_t length, void *userdata)
{
	(void)object;
	(void)dst;
	(void)offset;
	(void)length;
	say(*(int *)userdata, 'r');
	for (;;)
		pause();
	return 0;
}

static int regen_and_hang(int sock, void *arg)
{
	vcache *c;
	vcache_object *o;
	int fd = recv_fd(sock);

	(void)arg;
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_open_fd(c, fd, hang_regen, &sock, 0, &o) ==
		    0);
	(void)vcache_pin_range(o, 0, CS, 0);
	return 1;
}

START_TEST(test_shared_dead_regenerator)
{
	vcache *c = tcache_new();
	struct tobj t;
	struct peer p;
	vcache_object *o;
	unsigned long calls;

	if (!shared_purges(c)) {
		const char *b = vcache_backend_name(vcache_backend(c));

		tcache_free(c);
		SKIP_IF(true, "shared objects are never purged under %s", b);
	}
	tobj_init(&t, SEED);
	o = create(c, "shared-e", &t);
	ck_assert_int_eq(vcache_purge(o), SIZE);
	peer_start(&p, regen_and_hang, NULL);
	send_fd(p.sock, vcache_object_fd(o));
	/* Said from inside its callback: it holds chunk 0 BUSY. */
	ck_assert_int_eq(hear(p.sock), 'r');
	ck_assert_int_eq(kill(p.pid, SIGKILL), 0);
	calls = atomic_load(&t.calls);
	ck_assert_int_eq(vcache_pin_range(o, 0, CS, 0), VCACHE_PURGED);
	ck_assert_uint_eq(atomic_load(&t.calls), calls + 1);
	assert_content(o, SEED, 0, CS);
	ck_assert_int_eq(vcache_unpin_range(o, 0, CS), 0);
	(void)peer_wait(&p);
	destroy(c, o);
}
END_TEST

/* --- reclaim and the library's purges ----------------------------------- */

/*
 * Stock kernels never discard shmem pages in reclaim (without swap there
 * is nowhere to put them): MADV_PAGEOUT leaves a shared object whole, and
 * only the library's purges make holes (README backend table).
 */
START_TEST(test_shared_reclaim_keeps)
{
	vcache *c = tcache_new();
	struct tobj t;
	vcache_object *o;
	void *p;

	SKIP_IF_SWAP(c);
	if (kernel_volatile(c)) {
		tcache_free(c);
		SKIP_IF(true, "this kernel purges shmem in reclaim "
			"(test_shared_kernel_reclaim)");
	}
	tobj_init(&t, SEED);
	o = create(c, "shared-f", &t);
	p = vcache_object_data(o);
	(void)madvise(p, SIZE, MADV_PAGEOUT);
	ck_assert_uint_eq(resident_pages(p, SIZE), SIZE / pagesz);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	assert_content(o, SEED, 0, SIZE);
	ck_assert_int_eq(vcache_unpin(o), 0);
	destroy(c, o);
}
END_TEST

static int kernel_reclaim_peer(int sock, void *arg)
{
	struct opened op;
	struct vcache_stats st;

	(void)arg;
	peer_open(sock, &op);
	/* Purged by the kernel in the other process: SIGBUS here, regen. */
	CHILD_CHECK(gen_check(vcache_object_data(op.object), SEED, 0, SIZE) ==
		    SIZE_MAX);
	memset(&st, 0, sizeof(st));
	CHILD_CHECK(vcache_stats_get(op.cache, &st, sizeof(st)) == 0);
	printf("peer: %llu chunks regenerated by faults\n",
	       (unsigned long long)st.faults);
	CHILD_CHECK(st.faults > 0);
	CHILD_CHECK(atomic_load(&op.t.calls) == st.faults);
	peer_close(&op);
	return 0;
}

/*
 * Patched kernel: reclaim (MADV_PAGEOUT) purges unpinned shared chunks
 * and leaves records; pins report them exactly per chunk, and the other
 * process faults on them and regenerates.
 */
START_TEST(test_shared_kernel_reclaim)
{
	vcache *c = tcache_new();
	struct tobj t;
	struct peer p;
	vcache_object *o;
	uint8_t *d;
	unsigned int purged = 0;
	unsigned long calls;

	if (!kernel_volatile(c)) {
		tcache_free(c);
		SKIP_IF(true, "needs the vrange backend and a kernel with "
			"fvrange (/sys/kernel/mm/vrange/fvrange_syscall_nr)");
	}
	tobj_init(&t, SEED);
	o = create(c, "shared-k", &t);
	d = vcache_object_data(o);
	/* Only the second half: the first must be reported intact. */
	ck_assert_int_eq(madvise(d + SIZE / 2, SIZE / 2, MADV_PAGEOUT), 0);
	for (size_t k = 0; k < NCHUNKS; k++) {
		int r = vcache_pin_range(o, k * CS, CS, 0);

		if (k < NCHUNKS / 2)
			ck_assert_int_eq(r, VCACHE_INTACT);
		else
			ck_assert(r == VCACHE_INTACT || r == VCACHE_PURGED);
		purged += r == VCACHE_PURGED;
	}
	printf("kernel reclaim purged %u of %d chunks\n", purged,
	       NCHUNKS / 2);
	ck_assert_uint_gt(purged, 0);
	assert_content(o, SEED, 0, SIZE);
	ck_assert_int_eq(vcache_unpin(o), 0); /* volatile again */
	ck_assert_int_eq(madvise(d, SIZE, MADV_PAGEOUT), 0);
	calls = atomic_load(&t.calls);
	peer_start(&p, kernel_reclaim_peer, NULL);
	send_fd(p.sock, vcache_object_fd(o));
	assert_peer_ok(&p);
	/* The peer regenerated; here the pages are simply there. */
	assert_content(o, SEED, 0, SIZE);
	ck_assert_uint_eq(atomic_load(&t.calls), calls);
	destroy(c, o);
}
END_TEST

/* vcache_purge_cache() (and so the pressure response) takes them. */
START_TEST(test_shared_purge_cache)
{
	vcache *c = tcache_new();
	bool purges = shared_purges(c);
	struct tobj t;
	vcache_object *o;

	tobj_init(&t, SEED);
	o = create(c, "shared-g", &t);
	ck_assert_int_eq(vcache_pin_range(o, 0, CS, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_purge_cache(c, SIZE_MAX),
			 purges ? SIZE - CS : 0);
	ck_assert_uint_eq(stats(c).bytes_pinned, CS);
	ck_assert_uint_eq(stats(c).bytes_volatile, purges ? SIZE - CS : 0);
	ck_assert_int_eq(vcache_unpin_range(o, 0, CS), 0);
	assert_content(o, SEED, 0, SIZE); /* optimistic: regenerated */
	ck_assert_uint_eq(stats(c).faults, purges ? NCHUNKS - 1 : 0);
	destroy(c, o);
}
END_TEST

/*
 * A purge punches runs of neighbouring unpinned chunks (shared-pin.c,
 * PUNCH_RUN): pinned chunks split the runs, a long run is cut in pieces,
 * and exactly the unpinned chunks go. 40 one-page chunks, pinned 5, 20
 * and 21: runs 0-4, 6-19, 22-37 (16 chunks) and 38-39.
 */
START_TEST(test_shared_purge_runs)
{
	enum { N = 40 };
	static const size_t pinned[] = { 5, 20, 21 };
	vcache *c = tcache_new();
	bool purges = shared_purges(c);
	size_t size = N * pagesz;
	vcache_object *o = NULL;
	struct tobj t;

	tobj_init(&t, SEED);
	ck_assert_int_eq(vcache_object_create_shared(c, "runs", size, pagesz,
						     tobj_regen, &t, 0, &o),
			 0);
	for (size_t k = 0; k < 3; k++)
		ck_assert_int_eq(vcache_pin_range(o, pinned[k] * pagesz,
						  pagesz, 0),
				 VCACHE_INTACT);
	ck_assert_int_eq(vcache_purge(o), purges ? (ssize_t)((N - 3) * pagesz)
						 : 0);
	for (size_t i = 0; i < N; i++) {
		size_t res = resident_pages((uint8_t *)vcache_object_data(o) +
						    i * pagesz,
					    pagesz);
		bool pin = false;

		for (size_t k = 0; k < 3; k++)
			pin |= pinned[k] == i;
		ck_assert_msg(res == (pin || !purges), "chunk %zu: resident %zu",
			      i, res);
	}
	for (size_t k = 0; k < 3; k++)
		ck_assert_int_eq(vcache_unpin_range(o, pinned[k] * pagesz,
						    pagesz),
				 0);
	ck_assert_int_eq(vcache_pin(o, VCACHE_PIN_REGENERATE),
			 purges ? VCACHE_PURGED : VCACHE_INTACT);
	assert_content(o, SEED, 0, size);
	ck_assert_uint_eq(stats(c).purges, purges ? N - 3 : 0);
	ck_assert_int_eq(vcache_unpin(o), 0);
	destroy(c, o);
}
END_TEST

/*
 * Real pressure: two processes in a 64 MiB memory cgroup share 96 MiB of
 * objects. Shared memory is not reclaimable without swap, so only the
 * library's watcher (and its room-making before a creation or a
 * regenerating pin) keeps the group from the OOM killer; every byte read
 * in both processes comes from the generator. The creator's optimistic
 * reads regenerate by faults, which make no room themselves: the
 * watcher's passes must outrun them (one fallocate(2) per chunk did not,
 * under CPU load or in the QEMU guest: shared-pin.c PUNCH_RUN; nor did
 * looks a second apart in the guest's cgroup v2 group, where no event
 * comes before the limit: pressure.c's quick polls).
 */
enum { PR_LIMIT_MB = 64, PR_OBJ_MB = 4, PR_NOBJ = 24 };
#define MiB (1024ul * 1024)

static int pressure_reader(void *arg)
{
	vcache_object **inherited = arg;
	vcache_object *o[PR_NOBJ];
	struct tobj t[PR_NOBJ];
	struct vcache_stats st;
	vcache *c;

	/* A cache of its own: the watcher runs in this process too. */
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	for (int i = 0; i < PR_NOBJ; i++) {
		tobj_init(&t[i], SEED + (uint64_t)i);
		CHILD_CHECK(vcache_object_open_fd(c,
				vcache_object_fd(inherited[i]), tobj_regen,
				&t[i], 0, &o[i]) == 0);
	}
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < PR_NOBJ; i++) {
			CHILD_CHECK(vcache_pin(o[i], 0) >= 0);
			CHILD_CHECK(gen_check(vcache_object_data(o[i]),
					      SEED + (uint64_t)i, 0,
					      PR_OBJ_MB * MiB) == SIZE_MAX);
			CHILD_CHECK(vcache_unpin(o[i]) == 0);
		}
	memset(&st, 0, sizeof(st));
	CHILD_CHECK(vcache_stats_get(c, &st, sizeof(st)) == 0);
	printf("reader: %llu purged chunks found by pins, %llu regenerated\n",
	       (unsigned long long)st.purges,
	       (unsigned long long)st.regenerations);
	fflush(stdout);
	CHILD_CHECK(st.purges > 0);
	for (int i = 0; i < PR_NOBJ; i++) {
		CHILD_CHECK(vcache_object_remove(o[i]) == 0);
		vcache_object_unref(o[i]);
	}
	CHILD_CHECK(vcache_free(c) == 0);
	return 0;
}

static int pressure_child(void *arg)
{
	struct cgroup_group *cg = arg;
	vcache_object *o[PR_NOBJ];
	struct tobj t[PR_NOBJ];
	struct vcache_stats st;
	vcache *c;
	int s;

	CHILD_CHECK(cgroup_enter(cg, 0) == 0);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	for (int i = 0; i < PR_NOBJ; i++) {
		char name[32];

		snprintf(name, sizeof(name), "pressure-%d", i);
		tobj_init(&t[i], SEED + (uint64_t)i);
		CHILD_CHECK(vcache_object_create_shared(c, name,
				PR_OBJ_MB * MiB, 16 * pagesz, tobj_regen,
				&t[i], 0, &o[i]) == 0);
	}
	s = run_in_child(pressure_reader, o);
	CHILD_CHECK(!(WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL));
	CHILD_CHECK(WIFEXITED(s) && WEXITSTATUS(s) == 0);
	/* Optimistic reads here: holes fault and regenerate. */
	for (int i = 0; i < PR_NOBJ; i++)
		CHILD_CHECK(gen_check(vcache_object_data(o[i]),
				      SEED + (uint64_t)i, 0,
				      PR_OBJ_MB * MiB) == SIZE_MAX);
	memset(&st, 0, sizeof(st));
	CHILD_CHECK(vcache_stats_get(c, &st, sizeof(st)) == 0);
	printf("creator: %llu chunks regenerated by faults\n",
	       (unsigned long long)st.faults);
	for (int i = 0; i < PR_NOBJ; i++) {
		CHILD_CHECK(vcache_object_remove(o[i]) == 0);
		vcache_object_unref(o[i]);
	}
	CHILD_CHECK(vcache_free(c) == 0);
	return 0;
}

START_TEST(test_shared_pressure)
{
	struct cgroup_group cg;
	vcache *c = tcache_new();
	bool purges = shared_purges(c);
	char why[512];
	int st;

	tcache_free(c);
	SKIP_IF(!purges, "shared objects are never purged on this backend");
	SKIP_IF(UNDER_TSAN, "TSan's shadow memory counts against the cgroup "
		"limit");
	SKIP_IF(cgroup_create(&cg, "vcache-shared", PR_LIMIT_MB * MiB, why,
			      sizeof(why)) < 0, "%s", why);
	st = run_in_child(pressure_child, &cg);
	cgroup_remove(&cg);
	ck_assert_msg(!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL),
		      "killed (OOM?)");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x",
		      st);
}
END_TEST

/* --- a process that cannot catch holes ---------------------------------- */

static int unprotected_peer(int sock, void *arg)
{
	struct vcache_options opts;
	struct opened op;
	int fd;

	(void)arg;
	fd = recv_fd(sock);
	CHILD_CHECK(fd >= 0);
	vcache_options_init(&opts);
	opts.backend = VCACHE_BACKEND_NONE;
	CHILD_CHECK(vcache_new(&opts, &op.cache) == 0);
	tobj_init(&op.t, SEED);
	CHILD_CHECK(vcache_object_open_fd(op.cache, fd, tobj_regen, &op.t, 0,
					  &op.object) == 0);
	close(fd);
	/* The holes made before it came were filled by its callback. */
	CHILD_CHECK(atomic_load(&op.t.calls) == NCHUNKS);
	CHILD_CHECK(gen_check(vcache_object_data(op.object), SEED, 0, SIZE) ==
		    SIZE_MAX);
	say(sock, 'o');
	CHILD_CHECK(hear(sock) == 'x');
	/* Nothing was purged while it was attached: still no zeros. */
	CHILD_CHECK(gen_check(vcache_object_data(op.object), SEED, 0, SIZE) ==
		    SIZE_MAX);
	peer_close(&op);
	return 0;
}

START_TEST(test_shared_unprotected_peer)
{
	vcache *c = tcache_new();
	struct tobj t;
	struct peer p;
	vcache_object *o;

	if (!shared_purges(c)) {
		tcache_free(c);
		SKIP_IF(true, "needs a backend that purges shared objects");
	}
	tobj_init(&t, SEED);
	o = create(c, "shared-h", &t);
	ck_assert_int_eq(vcache_purge(o), SIZE);
	peer_start(&p, unprotected_peer, NULL);
	send_fd(p.sock, vcache_object_fd(o));
	ck_assert_int_eq(hear(p.sock), 'o');
	/* A none-backend process is attached: nobody may punch. */
	ck_assert_int_eq(vcache_purge(o), 0);
	say(p.sock, 'x');
	assert_peer_ok(&p);
	/* Gone (its slot released): purging works again. */
	ck_assert_int_eq(vcache_purge(o), SIZE);
	assert_content(o, SEED, 0, SIZE);
	destroy(c, o);
}
END_TEST

/* --- fork() ------------------------------------------------------------- */

static int fork_child_fn(void *arg)
{
	vcache_object *o = arg;
	ssize_t n;

	/* The parent's pin of chunk 0 is not the child's to undo. */
	CHILD_CHECK(vcache_unpin_range(o, 0, CS) == -EINVAL);
	CHILD_CHECK(vcache_pin_range(o, CS, CS, 0) == VCACHE_INTACT);
	n = vcache_purge(o);
	CHILD_CHECK(n == (ssize_t)(SIZE - 2 * CS) || n == 0);
	CHILD_CHECK(gen_check(vcache_object_data(o), SEED, 0, SIZE) ==
		    SIZE_MAX);
	CHILD_CHECK(vcache_unpin_range(o, CS, CS) == 0);
	return 0;
}

START_TEST(test_shared_fork)
{
	vcache *c = tcache_new();
	bool purges = shared_purges(c);
	struct tobj t;
	vcache_object *o;
	int st;

	tobj_init(&t, SEED);
	o = create(c, "shared-i", &t);
	ck_assert_int_eq(vcache_pin_range(o, 0, CS, 0), VCACHE_INTACT);
	st = run_in_child(fork_child_fn, o);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child 0x%x", st);
	/* The child's purge left chunk 0 (ours) and 1 (its own pin then). */
	ck_assert_int_eq(vcache_pin_range(o, 0, 2 * CS, 0), VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin_range(o, 0, 2 * CS), 0);
	ck_assert_int_eq(vcache_unpin_range(o, 0, CS), 0);
	/* Its regeneration of 2..7 is what we read (pages are shared). */
	ck_assert_int_eq(vcache_pin_range(o, 2 * CS, SIZE - 2 * CS, 0),
			 VCACHE_INTACT);
	ck_assert_int_eq(vcache_unpin_range(o, 2 * CS, SIZE - 2 * CS), 0);
	(void)purges;
	assert_content(o, SEED, 0, SIZE);
	destroy(c, o);
}
END_TEST

/* --- another pid namespace ---------------------------------------------- */

static int pidns_grandchild(void *arg)
{
	vcache *c;
	vcache_object *o = NULL;
	struct tobj t;

	tobj_init(&t, SEED);
	CHILD_CHECK(getpid() == 1);
	CHILD_CHECK(vcache_new(NULL, &c) == 0);
	CHILD_CHECK(vcache_object_open_fd(c, *(int *)arg, tobj_regen, &t, 0,
					  &o) == -EXDEV);
	CHILD_CHECK(o == NULL);
	CHILD_CHECK(vcache_free(c) == 0);
	return 0;
}

static int pidns_child(void *arg)
{
	int st;

	if (unshare(CLONE_NEWPID) < 0)
		return 77;
	st = run_in_child(pidns_grandchild, arg);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 101;
}

START_TEST(test_shared_pidns)
{
	vcache *c = tcache_new();
	struct tobj t;
	vcache_object *o;
	int fd, st;

	tobj_init(&t, SEED);
	o = create(c, "shared-n", &t);
	fd = vcache_object_fd(o);
	st = run_in_child(pidns_child, &fd);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		destroy(c, o);
		SKIP_IF(true, "unshare(CLONE_NEWPID) refused (no privileges)");
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x",
		      st);
	destroy(c, o);
}
END_TEST

/* --- bad input -------------------------------------------------------------- */

static int child_pin_eusers(void *arg)
{
	CHILD_CHECK(vcache_pin(arg, 0) == -EUSERS);
	CHILD_CHECK(vcache_read(STDOUT_FILENO, arg, 0, 1) == -EUSERS);
	return 0;
}

START_TEST(test_shared_errors)
{
	vcache *c = tcache_new(), *more[32];
	char longname[VCACHE_NAME_MAX + 2];
	struct tobj t;
	vcache_object *o, *o2 = NULL, *priv, *opened[40];
	int fd, pfd[2], n = 0;

	tobj_init(&t, SEED);
	ck_assert_errno(vcache_object_create_shared(NULL, "x", SIZE, CS,
						    tobj_regen, &t, 0, &o2),
			EINVAL);
	ck_assert_errno(vcache_object_create_shared(c, NULL, SIZE, CS,
						    tobj_regen, &t, 0, &o2),
			EINVAL);
	ck_assert_errno(vcache_object_create_shared(c, "x", 0, CS, tobj_regen,
						    &t, 0, &o2),
			EINVAL);
	ck_assert_errno(vcache_object_create_shared(c, "x", SIZE, CS + 1,
						    tobj_regen, &t, 0, &o2),
			EINVAL);
	ck_assert_errno(vcache_object_create_shared(c, "x", SIZE, CS, NULL, &t,
						    0, &o2),
			EINVAL);
	ck_assert_errno(vcache_object_create_shared(c, "x", SIZE, CS,
						    tobj_regen, &t, 4, &o2),
			EINVAL);
	ck_assert_errno(vcache_object_create_shared(c, "", SIZE, CS,
						    tobj_regen, &t, 0, &o2),
			EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_errno(vcache_object_create_shared(c, longname, SIZE, CS,
						    tobj_regen, &t, 0, &o2),
			ENAMETOOLONG);
	ck_assert_errno(vcache_object_create_shared(c, "x", SIZE_MAX - 1, CS,
						    tobj_regen, &t, 0, &o2),
			EOVERFLOW);
	ck_assert_ptr_null(o2);

	o = create(c, "shared-j", &t);
	ck_assert_errno(vcache_object_create_shared(c, "shared-j", SIZE, CS,
						    tobj_regen, &t, 0, &o2),
			EEXIST);
	fd = vcache_object_fd(o);
	ck_assert_int_ge(fd, 0);
	ck_assert_errno(vcache_object_fd(NULL), EINVAL);
	priv = tobj_create(c, "private", SIZE, CS, &t);
	ck_assert_errno(vcache_object_fd(priv), ENOTTY);

	ck_assert_errno(vcache_object_open_fd(NULL, fd, tobj_regen, &t, 0, &o2),
			EINVAL);
	ck_assert_errno(vcache_object_open_fd(c, fd, NULL, &t, 0, &o2), EINVAL);
	ck_assert_errno(vcache_object_open_fd(c, fd, tobj_regen, &t, 0, NULL),
			EINVAL);
	ck_assert_errno(vcache_object_open_fd(c, -1, tobj_regen, &t, 0, &o2),
			EBADF);
	ck_assert_int_eq(pipe(pfd), 0);
	close(pfd[1]);
	ck_assert_errno(vcache_object_open_fd(c, pfd[1], tobj_regen, &t, 0,
					      &o2),
			EBADF); /* closed number */
	ck_assert_errno(vcache_object_open_fd(c, pfd[0], tobj_regen, &t, 0,
					      &o2),
			EINVAL); /* not a memfd */
	close(pfd[0]);
	{
		int plain = memfd_create("plain", MFD_CLOEXEC);

		ck_assert_int_ge(plain, 0);
		ck_assert_int_eq(ftruncate(plain, 1 << 20), 0);
		ck_assert_errno(vcache_object_open_fd(c, plain, tobj_regen, &t,
						      0, &o2),
				EINVAL); /* no header */
		close(plain);
	}
	ck_assert_errno(vcache_object_open_fd(c, fd, tobj_regen, &t, 8, &o2),
			EINVAL);
	{
		char path[64];
		int ro;

		/* The same memfd, reopened read-only. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(ro, 0);
		ck_assert_errno(vcache_object_open_fd(c, ro, tobj_regen, &t, 0,
						      &o2),
				EINVAL);
		close(ro);
	}
	ck_assert_errno(vcache_object_open_fd(c, fd, tobj_regen, &t, 0, &o2),
			EEXIST); /* its name is in this cache already */
	ck_assert_ptr_null(o2);

	/* Double unpin, remove while pinned. */
	ck_assert_errno(vcache_unpin(o), EINVAL);
	ck_assert_int_eq(vcache_pin(o, 0), VCACHE_INTACT);
	ck_assert_errno(vcache_object_remove(o), EBUSY);
	ck_assert_errno(vcache_free(c), EBUSY);
	ck_assert_errno(vcache_pin(o, 2), EINVAL);
	ck_assert_errno(vcache_pin_range(o, SIZE, 1, 0), EINVAL);
	ck_assert_int_eq(vcache_unpin(o), 0);

	/* Slots: the creator holds one; 31 more opens, then -EUSERS. */
	for (int i = 0; i < 32; i++) {
		int r;

		ck_assert_int_eq(vcache_new(NULL, &more[i]), 0);
		r = vcache_object_open_fd(more[i], fd, tobj_regen, &t, 0,
					  &opened[i]);
		if (i < 31) {
			ck_assert_int_eq(r, 0);
			n++;
		} else {
			ck_assert_errno(r, EUSERS);
		}
	}
	/*
	 * A fork() child now finds no slot of its own for its pins. (The
	 * library's fork handler takes every cache and object lock: with 33
	 * caches that is more than TSan's deadlock detector can hold.)
	 */
	if (!UNDER_TSAN) {
		int st = run_in_child(child_pin_eusers, o);

		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "child 0x%x", st);
	} else {
		printf("SKIP: part of test_shared_errors: fork() with 33 "
		       "caches takes more locks than TSan can track\n");
	}
	for (int i = 0; i < 32; i++) {
		if (i < n) {
			ck_assert_int_eq(vcache_object_remove(opened[i]), 0);
			vcache_object_unref(opened[i]);
		}
		ck_assert_int_eq(vcache_free(more[i]), 0);
	}
	ck_assert_int_eq(vcache_object_remove(priv), 0);
	vcache_object_unref(priv);
	destroy(c, o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("shared");
	TCase *tc = ttcase("processes");

	tcase_add_test(tc, test_shared_open_fd);
	tcase_add_test(tc, test_shared_pin_exact);
	tcase_add_test(tc, test_shared_fault_other);
	tcase_add_test(tc, test_shared_dead_pinner);
	tcase_add_test(tc, test_shared_main_thread_exited);
	tcase_add_test(tc, test_shared_dead_regenerator);
	tcase_add_test(tc, test_shared_unprotected_peer);
	tcase_add_test(tc, test_shared_fork);
	tcase_add_test(tc, test_shared_race);
	suite_add_tcase(s, tc);
	tc = ttcase("purge");
	tcase_add_test(tc, test_shared_reclaim_keeps);
	tcase_add_test(tc, test_shared_purge_cache);
	tcase_add_test(tc, test_shared_purge_runs);
	tcase_add_test(tc, test_shared_syscall);
	tcase_add_test(tc, test_shared_kernel_reclaim);
	tcase_add_test(tc, test_shared_pressure);
	suite_add_tcase(s, tc);
	tc = ttcase("errors");
	tcase_add_test(tc, test_shared_errors);
	tcase_add_test(tc, test_shared_pidns);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
