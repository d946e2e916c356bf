/* SPDX-License-Identifier: MIT */
/*
 * bench-scale - P6 of issue 8: does the library's cost depend on how many
 * objects the process has ever created?
 *
 *  objects  Fresh child processes, interleaved round by round: one whose
 *           cache holds 1 object, one holding 10,000 (--many), one that
 *           created 10,000 and removed all but one. Each child times a hot
 *           pin + check + unpin of one 64 KiB object (idle delay 100 ms
 *           and the library's defaults) and optimistic faults of one
 *           purged page (MADV_PAGEOUT, untimed, checked with mincore).
 *  max      A child in a memory cgroup (so the filled objects can be
 *           reclaimed) creates 64 KiB objects until an error or --max-cap
 *           objects or --max-s seconds; prints the count, the error, the
 *           process's VMA count (/proc/self/maps) against the object count
 *           and vm.max_map_count, the create cost (overall, first and last
 *           tenth of the cap), the metadata per object (RssAnon growth
 *           minus the object pages mincore() finds resident) and page
 *           tables per object (VmPTE), then removes every object (cost
 *           per removal, VMAs after), and the group's OOM kills. Progress
 *           is kept in shared memory, so a child the OOM killer ends still
 *           reports how far it got.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "bench-util.h"

#define MAX_REPS 64

static unsigned int reps = 7, many = 10000, max_s = 180, cycles = 2000;
static unsigned long max_cap = 1000000;
/*
 * The group holds what cannot be reclaimed: about 0.9 KiB of metadata and
 * page tables per 64 KiB object (measured below), so 10^6 objects need
 * about 860 MB, far more than the 256 MiB used while a process stopped at
 * vm.max_map_count; the objects' 61 GiB of data are reclaimed as they go.
 */
static size_t limit_mib = 2048;
static enum vcache_backend backend = VCACHE_BACKEND_UFFD;
static size_t pg;

static int regen_small(vcache_object *object, void *dst, size_t offset,
		       size_t length, void *userdata)
{
	(void)object;
	(void)offset;
	(void)userdata;
	memset(dst, 0x5a, length); /* filler objects: content irrelevant */
	return 0;
}

static long count_vmas(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	long n = 0;
	int ch;

	if (!f)
		return -1;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

/* ---- objects: one child = one sample of one configuration ---- */

enum { C_ONE, C_MANY, C_REMOVED, C_MAX };
static char c_label[C_MAX][48]; /* "1 object", "N objects", ... */

struct csample {
	double pin_delay100, pin_default, fault;
	uint64_t bad, not_purged;
	int error;
};

static double time_cycles(vcache_object *o, uint64_t seed, uint64_t *bad)
{
	double v[5];

	for (int s = 0; s < 5; s++) {
		uint64_t t0 = bench_now_ns();

		for (unsigned int i = 0; i < cycles; i++) {
			if (vcache_pin(o, VCACHE_PIN_REGENERATE) < 0)
				(*bad)++;
			*bad += bench_check_pages(vcache_object_data(o), 0,
						  64 * BENCH_KIB, seed);
			vcache_unpin(o);
		}
		v[s] = (double)(bench_now_ns() - t0) / cycles;
	}
	return bench_summarize(v, 5).median;
}

static void objects_child(int kind, int fd)
{
	struct csample out = { 0 };
	unsigned int n = kind == C_ONE ? 0 : many - 1;
	vcache_object **fill = calloc(n + 1, sizeof(*fill));
	vcache_object *hot100 = NULL, *hotdef = NULL;
	vcache *c100 = NULL, *cdef = NULL;
	uint64_t seed = 5, nf = 0;
	double fns[50];
	struct vcache_options o;
	int r;

	vcache_options_init(&o);
	o.backend = backend;
	r = vcache_new(&o, &cdef);
	o.idle_delay_ms = 100;
	if (r == 0)
		r = vcache_new(&o, &c100);
	for (unsigned int i = 0; r == 0 && i < n; i++) {
		char name[24];

		snprintf(name, sizeof(name), "f%u", i);
		r = vcache_object_create(i % 2 ? cdef : c100, name, pg, 0,
					 regen_small, NULL, 0, &fill[i]);
	}
	if (r == 0)
		r = vcache_object_create(c100, "hot", 64 * BENCH_KIB, 0,
					 bench_regen, &seed, 0, &hot100);
	if (r == 0)
		r = vcache_object_create(cdef, "hot", 64 * BENCH_KIB, 0,
					 bench_regen, &seed, 0, &hotdef);
	for (unsigned int i = 0; r == 0 && kind == C_REMOVED && i < n; i++) {
		vcache_object_remove(fill[i]);
		fill[i] = vcache_object_unref(fill[i]);
	}
	if (r < 0) {
		out.error = r;
		goto done;
	}
	time_cycles(hot100, seed, &out.bad); /* warm */
	out.pin_delay100 = time_cycles(hot100, seed, &out.bad);
	out.pin_default = time_cycles(hotdef, seed, &out.bad);
	/*
	 * The hot object's chunks are inside the default idle delay after
	 * the cycles above: wait (untimed, bounded) until they are handed
	 * back, so the pageout below can purge them.
	 */
	for (int w = 0; r == 0 && w < 500; w++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		(void)vcache_purge_range(hotdef, 0, 16 * pg);
		if (bench_resident_pages(vcache_object_data(hotdef),
					 16 * pg) == 0)
			break;
		nanosleep(&ts, NULL);
	}
	for (unsigned int i = 0; i < 50; i++) {
		char *p = (char *)vcache_object_data(hotdef) +
			  (i % 16) * pg;
		uint64_t t0, t1, got;

		bench_pageout(p, pg);
		/* Regenerated by an earlier fault, the page may still wait
		 * for the idle thread's batch: the library's purge drops it. */
		if (bench_resident_pages(p, pg) != 0)
			(void)vcache_purge_range(hotdef, (i % 16) * pg, pg);
		if (bench_resident_pages(p, pg) != 0) {
			out.not_purged++;
			continue;
		}
		t0 = bench_now_ns();
		got = *(volatile uint64_t *)p;
		t1 = bench_now_ns();
		out.bad += got != bench_word(seed, (size_t)(p -
			   (char *)vcache_object_data(hotdef)));
		fns[nf++] = (double)(t1 - t0);
	}
	out.fault = nf ? bench_summarize(fns, nf).median : 0;
done:
	if (write(fd, &out, sizeof(out)) != (ssize_t)sizeof(out))
		_exit(3);
	_exit(0); /* the process's end frees everything */
}

static void objects(void)
{
	static struct csample s[C_MAX][MAX_REPS];
	uint64_t bad[C_MAX] = { 0 }, np[C_MAX] = { 0 };
	int err[C_MAX] = { 0 };

	snprintf(c_label[C_ONE], sizeof(c_label[0]), "1 object");
	snprintf(c_label[C_MANY], sizeof(c_label[0]), "%u objects", many);
	snprintf(c_label[C_REMOVED], sizeof(c_label[0]),
		 "%u created, %u removed", many, many - 1);
	printf("\n## P6: hot pin + check + unpin of a 64 KiB object and one "
	       "optimistic page fault\n##     (median of 50 per child), by objects ever created in the "
	       "process (fresh child per sample, %u rounds interleaved)\n",
	       reps);
	for (unsigned int r = 0; r < reps; r++)
		for (int k = 0; k < C_MAX; k++) {
			int fds[2], st;
			pid_t pid;

			if (pipe(fds) < 0)
				return;
			fflush(stdout);
			pid = fork();
			if (pid == 0) {
				close(fds[0]);
				objects_child(k, fds[1]);
			}
			close(fds[1]);
			if (read(fds[0], &s[k][r], sizeof(s[k][r])) !=
			    (ssize_t)sizeof(s[k][r]))
				s[k][r].error = -EPIPE;
			close(fds[0]);
			waitpid(pid, &st, 0);
			bad[k] += s[k][r].bad;
			np[k] += s[k][r].not_purged;
			if (s[k][r].error)
				err[k] = s[k][r].error;
		}
	double med[C_MAX][3];

	for (int k = 0; k < C_MAX; k++) {
		double a[MAX_REPS], b[MAX_REPS], c[MAX_REPS];
		struct bench_summary x, y, z;
		char t[6][32];

		if (err[k]) {
			printf("  %-32s failed: %s\n", c_label[k],
			       strerror(-err[k]));
			continue;
		}
		for (unsigned int r = 0; r < reps; r++) {
			a[r] = s[k][r].pin_delay100;
			b[r] = s[k][r].pin_default;
			c[r] = s[k][r].fault;
		}
		x = bench_summarize(a, reps);
		y = bench_summarize(b, reps);
		z = bench_summarize(c, reps);
		med[k][0] = x.median, med[k][1] = y.median, med[k][2] = z.median;
		printf("  %-32s pin+unpin delay 100: %s [%s..%s]; defaults: "
		       "%s [%s..%s]\n", c_label[k],
		       bench_fmt_ns(t[0], 32, x.median),
		       bench_fmt_ns(t[1], 32, x.min),
		       bench_fmt_ns(t[2], 32, x.max),
		       bench_fmt_ns(t[3], 32, y.median),
		       bench_fmt_ns(t[4], 32, y.min),
		       bench_fmt_ns(t[5], 32, y.max));
		printf("  %-32s fault: %s [%s..%s]; data: %llu bad; %llu "
		       "pages not purged (untimed)\n", "",
		       bench_fmt_ns(t[0], 32, z.median),
		       bench_fmt_ns(t[1], 32, z.min),
		       bench_fmt_ns(t[2], 32, z.max),
		       (unsigned long long)bad[k], (unsigned long long)np[k]);
	}
	for (int k = 1; k < C_MAX; k++)
		if (!err[k] && !err[C_ONE])
			printf("  RATIO P6 %s / 1 object: pin+unpin delay 100 "
			       "x%.2f, defaults x%.2f, fault x%.2f\n",
			       c_label[k], med[k][0] / med[C_ONE][0],
			       med[k][1] / med[C_ONE][1],
			       med[k][2] / med[C_ONE][2]);
}

/* ---- max objects per process ---- */

/*
 * Written by the child as it goes, in memory shared with the parent, so
 * a child the group's OOM killer ends still reports how far it got.
 */
struct mresult {
	unsigned long created, removed;
	int error;
	long vmas0, vmas1000, vmas_end, vmas_removed;
	double seconds, first_us, last_us, remove_us;
	/* /proc/self/status, KiB: before the first object, at the end. */
	long anon0, anon_end, pte0, pte_end;
	long object_pages; /* object pages resident at the end (mincore) */
	int phase; /* 0 creating, 1 measuring, 2 removing, 3 done */
};

static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	size_t kl = strlen(key);
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void max_child(struct cgroup_group *g, struct mresult *out)
{
	size_t osz = 64 * BENCH_KIB, tenth = max_cap / 10 ? max_cap / 10 : 1;
	vcache_object **obj = calloc(max_cap, sizeof(*obj));
	vcache *cache;
	uint64_t t0, tlast = 0;
	int r;

	if (!obj) {
		out->error = -ENOMEM;
		goto done;
	}
	/* The handle array is the bench's, not the library's: count it. */
	memset(obj, 0, max_cap * sizeof(*obj));
	if ((r = cgroup_enter(g, 0)) < 0) {
		out->error = r;
		goto done;
	}
	alarm(max_s + 120);
	r = bench_cache_new(backend, 0, &cache);
	if (r < 0) {
		out->error = r;
		goto done;
	}
	out->vmas0 = count_vmas();
	out->anon0 = status_kib("RssAnon");
	out->pte0 = status_kib("VmPTE");
	t0 = bench_now_ns();
	while (out->created < max_cap) {
		char name[24];

		snprintf(name, sizeof(name), "m%lu", out->created);
		if (out->created == max_cap - tenth)
			tlast = bench_now_ns();
		r = vcache_object_create(cache, name, osz, 0, regen_small, NULL,
					 0, &obj[out->created]);
		if (r < 0)
			break;
		/* The cache keeps it; the handle stays valid for removal. */
		out->created++;
		if (out->created == tenth)
			out->first_us = (double)(bench_now_ns() - t0) / 1e3 /
					(double)tenth;
		if (out->created == 1000)
			out->vmas1000 = count_vmas();
		if (out->created % 1024 == 0 &&
		    bench_now_ns() - t0 > max_s * 1000000000ull)
			break;
	}
	out->error = r;
	out->seconds = (double)(bench_now_ns() - t0) / 1e9;
	if (tlast && out->created == max_cap)
		out->last_us = (double)(bench_now_ns() - tlast) / 1e3 /
			       (double)tenth;
	out->phase = 1;
	out->vmas_end = count_vmas();
	out->anon_end = status_kib("RssAnon");
	out->pte_end = status_kib("VmPTE");
	for (unsigned long i = 0; i < out->created; i++) {
		long n = bench_resident_pages(vcache_object_data(obj[i]), osz);

		out->object_pages += n > 0 ? n : 0;
	}
	out->phase = 2;
	t0 = bench_now_ns();
	for (unsigned long i = 0; i < out->created; i++) {
		if (vcache_object_remove(obj[i]) == 0)
			out->removed++;
		vcache_object_unref(obj[i]);
	}
	out->remove_us = out->created ? (double)(bench_now_ns() - t0) / 1e3 /
					(double)out->created : 0;
	out->vmas_removed = count_vmas();
	out->phase = 3;
done:
	_exit(0); /* the process's end frees everything */
}

static void max_objects(void)
{
	struct cgroup_group g;
	struct mresult *m;
	char why[256];
	uint64_t mmc = 0, oom = 0;
	int st = 0;
	pid_t pid;
	FILE *f;

	printf("\n## P6: objects of 64 KiB per process until an error (cap "
	       "%lu objects or %u s), in a %zu MiB memory cgroup\n", max_cap,
	       max_s, limit_mib);
	f = fopen("/proc/sys/vm/max_map_count", "re");
	if (f) {
		if (fscanf(f, "%lu", (unsigned long *)&mmc) != 1)
			mmc = 0;
		fclose(f);
	}
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return;
	if (cgroup_create(&g, "vcache-bench-max", limit_mib * BENCH_MIB, why,
			  sizeof(why)) < 0) {
		printf("  skipped: %s\n", why);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		max_child(&g, m);
	waitpid(pid, &st, 0);
	cgroup_read_key(g.dir, g.version == 1 ? "memory.oom_control" :
			"memory.events", "oom_kill", &oom);
	cgroup_remove(&g);
	printf("  created %lu objects (%.1f GiB of address space) in %.1f s "
	       "(%.2f us each; first tenth of the cap %.2f us, last tenth "
	       "%.2f us); stopped by: %s\n", m->created,
	       m->created * 64.0 / (1024 * 1024), m->seconds,
	       m->created ? m->seconds * 1e6 / (double)m->created : 0,
	       m->first_us, m->last_us,
	       m->error ? strerror(-m->error) :
	       m->phase == 0 ? "the child's death" :
	       m->created >= max_cap ? "the cap" : "the time limit");
	printf("  VMAs: %ld before, %ld after 1000 objects, %ld at the end "
	       "(%.4f per object), %ld after removing them all; "
	       "vm.max_map_count %llu\n", m->vmas0, m->vmas1000, m->vmas_end,
	       m->created ? (double)(m->vmas_end - m->vmas0) /
	       (double)m->created : 0, m->vmas_removed,
	       (unsigned long long)mmc);
	if (m->phase >= 2 && m->created)
		printf("  memory: RssAnon %ld -> %ld KiB, of it %ld object "
		       "pages resident; metadata %.0f bytes per object "
		       "(RssAnon growth minus resident object pages); page "
		       "tables %ld -> %ld KiB (%.0f bytes per object)\n",
		       m->anon0, m->anon_end, m->object_pages,
		       ((double)(m->anon_end - m->anon0) * 1024 -
			(double)m->object_pages * (double)pg) /
		       (double)m->created, m->pte0, m->pte_end,
		       (double)(m->pte_end - m->pte0) * 1024 /
		       (double)m->created);
	if (m->phase == 3)
		printf("  removal: %lu of %lu removed, %.2f us each\n",
		       m->removed, m->created, m->remove_us);
	printf("  child: %s %d; group OOM kills %llu\n",
	       WIFSIGNALED(st) ? "killed by signal" : "exit status",
	       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
	       (unsigned long long)oom);
	printf("  RESULT P6 max objects %lu (%s), VMAs per object %.4f\n",
	       m->created, m->error ? strerror(-m->error) :
	       m->phase == 0 ? "child killed" : "cap/time",
	       m->created ? (double)(m->vmas_end - m->vmas0) /
	       (double)m->created : 0);
	if (m->phase >= 2 && m->created)
		printf("  RESULT P6 objects: create %.2f us, remove %.2f us, "
		       "metadata %.0f B + page tables %.0f B per object\n",
		       m->created ? m->seconds * 1e6 / (double)m->created : 0,
		       m->remove_us,
		       ((double)(m->anon_end - m->anon0) * 1024 -
			(double)m->object_pages * (double)pg) /
		       (double)m->created,
		       (double)(m->pte_end - m->pte0) * 1024 /
		       (double)m->created);
	munmap(m, sizeof(*m));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "only", required_argument, NULL, 'o' },
		{ "backend", required_argument, NULL, 'b' },
		{ "reps", required_argument, NULL, 'r' },
		{ "many", required_argument, NULL, 'n' },
		{ "max-cap", required_argument, NULL, 'c' },
		{ "max-s", required_argument, NULL, 's' },
		{ "limit-mib", required_argument, NULL, 'l' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *only = "objects,max", *reason;
	int o;

	while ((o = getopt_long(argc, argv, "o:b:r:n:c:s:l:qh", opts,
				NULL)) != -1) {
		unsigned long v = optarg ? strtoul(optarg, NULL, 0) : 0;

		switch (o) {
		case 'o': only = optarg; break;
		case 'b':
			if (bench_parse_backend(optarg, &backend) < 0)
				return 2;
			break;
		case 'r': reps = (unsigned int)v; break;
		case 'n': many = (unsigned int)v; break;
		case 'c': max_cap = v; break;
		case 's': max_s = (unsigned int)v; break;
		case 'l': limit_mib = v; break;
		case 'q': reps = 3, cycles = 500, max_s = 15; break;
		default:
			printf("usage: %s [--only objects,max] [--backend B] "
			       "[--reps N] [--many N] [--max-cap N] [--max-s S] "
			       "[--limit-mib N] [--quick]\n", argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	if (reps < 1 || reps > MAX_REPS || many < 2 || limit_mib < 16) {
		printf("reps 1..%d, many >= 2, limit-mib >= 16\n", MAX_REPS);
		return 2;
	}
	pg = bench_page_size();
	bench_print_context("bench-scale: cost vs objects ever created, "
			    "objects per process", argc, argv);
	if (bench_backend_usable(backend, &reason) < 0) {
		printf("# backend %s skipped: %s\n", vcache_backend_name(backend),
		       reason);
		return 0;
	}
	printf("# backend %s\n", vcache_backend_name(backend));
	if (strstr(only, "objects"))
		objects();
	if (strstr(only, "max"))
		max_objects();
	return 0;
}
