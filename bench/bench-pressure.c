/* SPDX-License-Identifier: MIT */
/*
 * bench-pressure - a cache larger than the memory it is allowed.
 *
 * N objects (default 48 x 4 MiB = 192 MiB) are created and then visited
 * for a few rounds, each object once per round in shuffled order, or with
 * --skewed 80% of the visits going to a hot 20% (a visit reads and checks
 * one word of every page), inside a memory cgroup (v1, or v2 where v1 is
 * not mounted) limited to less than that (default 64 MiB). There is no
 * swap (on v2 the group's swap is set to 0 where swap exists). Every mode runs in its own child
 * process, in its own fresh group, side by side in one run:
 *  vcache-pin   objects in a vcache (uffd by default), pinned with
 *               VCACHE_PIN_REGENERATE around each visit;
 *  vcache-opt   the same, read optimistically (SIGBUS regeneration);
 *  plain-lru    plain memory with a guessed budget (default 3/4 of the
 *               limit), least recently used objects freed and regenerated
 *               on the next visit: the program must shrink itself;
 *  plain-all    plain memory keeping everything: with no swap, expect the
 *               cgroup's OOM killer.
 * Reported as seen: outcome (exit or signal, OOM kills of the group), time,
 * regenerated MiB, peak and final memory of the group and the child's RSS.
 * --series FILE.csv adds a time series per mode (every --series-ms, default
 * 50 ms, from the child's start): visits, visits/s, regenerated MiB and
 * MiB/s, group memory, RSS; bench/plot.sh draws it.
 * For issue 8's matrix (bench/perf.sh): --budget-pct P (repeatable) runs
 * plain-lru once per budget of P% of the limit; --delay-ms sets the vcache
 * modes' idle delay (default: the library's default options); --hog-pct P
 * starts, after setup, a process in the same group that takes P% of the
 * limit in 1 MiB steps over --hog-ramp-ms and holds it; --label names the
 * scenario in the "RESULT" line printed per mode (median visits/s over the
 * rounds, outcome, OOM kills, pages with wrong content).
 * --min-round-ms N makes each round repeat its pass (every object once,
 * or the skewed plan) until it lasts N ms, so that rounds of a cache that
 * fits measure a steady state, not the first 100 ms after setup; visits/s
 * is then visits over time per round.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "bench-syscalls.h"
#include "bench-util.h"

#define MAX_OBJECTS 1024
#define MAX_ROUNDS 32

enum mode { VCACHE_PIN, VCACHE_OPT, PLAIN_LRU, PLAIN_ALL, MODE_MAX };
static const char *const mode_names[MODE_MAX] = {
	"vcache-pin", "vcache-opt", "plain-lru", "plain-all",
};

static struct {
	size_t limit, budget, obj_size, chunk;
	unsigned int objects, rounds, timeout_s;
	bool skewed;
	enum vcache_backend backend;
	unsigned int series_ms;
	unsigned int min_round_ms;    /* a round repeats its pass until then */
	int delay_ms;                 /* < 0: the library's default */
	unsigned int hog_pct, hog_ramp_ms;
	const char *label;
} cfg = {
	.delay_ms = -1, .hog_ramp_ms = 1000, .label = "-",
	.limit = 64 * BENCH_MIB, .obj_size = 4 * BENCH_MIB,
	.chunk = 64 * BENCH_KIB, .objects = 48, .rounds = 4, .timeout_s = 300,
	.backend = VCACHE_BACKEND_UFFD, .series_ms = 50,
};

/* Child -> parent reports; small enough for an atomic pipe write. */
enum { MSG_CREATED, MSG_ROUND, MSG_DONE, MSG_ERROR, MSG_SAMPLE };
struct msg {
	int type, error;
	unsigned int objects, round;
	double ns;              /* setup or round time */
	uint64_t regen_bytes;   /* cumulative, after setup */
	uint64_t purges, faults;
	int64_t cg_usage;       /* group memory at the end of the step */
	int64_t rss_kib;        /* child VmRSS */
	/* Where a visit's time goes, cumulative after setup (MSG_ROUND): */
	uint64_t visits, syscalls, regen_ns;
	double pin_ns, check_ns, unpin_ns;
	uint32_t levels[4];     /* visits begun at each vcache_pressure() */
	int level;              /* MSG_SAMPLE: vcache_pressure() then */
	char text[96];
};

struct result {
	struct msg last_created, rounds[MAX_ROUNDS], done, error;
	unsigned int nrounds;
	struct msg *samples;    /* MSG_SAMPLE, for --series */
	size_t nsamples;
	bool have_done, have_error;
	int status;
	int64_t max_usage, failcnt, oom_kills;
};

static int report_fd = -1;
static struct cgroup_group group;
static FILE *series;             /* --series */
static uint64_t child_t0, next_sample_ns;
static uint64_t visits_done;
/* The per-visit split (struct msg), accumulated by visit(). */
static struct msg split;
static int syscalls_fd = -1;
static uint64_t syscalls0;

/* A counter of the group in v1 or v2 spelling, or -1. */
static int64_t group_number(const char *v1_file, const char *v2_file)
{
	uint64_t v;

	if (cgroup_read_u64(group.dir, group.version == 1 ? v1_file : v2_file,
			    &v) < 0)
		return -1;
	return (int64_t)v;
}

/* "key N" from a flat keyed file of the group, or -1. */
static int64_t group_key(const char *file, const char *key)
{
	uint64_t v;

	if (cgroup_read_key(group.dir, file, key, &v) < 0)
		return -1;
	return (int64_t)v;
}

static void report(struct msg *m)
{
	if (write(report_fd, m, sizeof(*m)) != (ssize_t)sizeof(*m))
		_exit(3);
}

static void report_error(int error, const char *what)
{
	struct msg m = { .type = MSG_ERROR, .error = error };

	snprintf(m.text, sizeof(m.text), "%s", what);
	report(&m);
	_exit(1);
}

static int64_t vm_rss_kib(void)
{
	char line[128];
	long long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* xorshift64: the same visiting order in every mode (same seed). */
static uint64_t rng = 0x2545f4914f6cdd1dull;
static unsigned int rnd(unsigned int n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned int)(rng % n);
}

/*
 * A round's visits. Uniform: every object once, shuffled. Skewed: as many
 * visits, 80% of them to the first 20% of the objects (the hot set), the
 * rest spread over the others, as real caches are.
 */
static void plan_round(unsigned int *order, unsigned int n)
{
	unsigned int hot = n / 5 ? n / 5 : 1;

	for (unsigned int i = 0; i < n; i++)
		order[i] = i;
	if (cfg.skewed && hot < n) {
		for (unsigned int i = 0; i < n; i++)
			order[i] = rnd(10) < 8 ? rnd(hot) : hot + rnd(n - hot);
		return;
	}
	for (unsigned int i = n - 1; i > 0; i--) {
		unsigned int j = rnd(i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
}

/* Per-mode state of the child. */
static vcache *cache;
static vcache_object *objs[MAX_OBJECTS];
static uint64_t seeds[MAX_OBJECTS];
static char *plain[MAX_OBJECTS];
static uint64_t last_use[MAX_OBJECTS], tick, plain_regen_bytes;
static unsigned int resident;

static void fill_msg(struct msg *m, enum mode mode)
{
	struct vcache_stats st;

	m->regen_bytes = plain_regen_bytes;
	if (mode <= VCACHE_OPT && vcache_stats_get(cache, &st, sizeof(st)) == 0) {
		m->regen_bytes = st.regenerations * cfg.chunk;
		m->purges = st.purges;
		m->faults = st.faults;
		m->regen_ns = st.regen_ns;
		m->level = vcache_pressure();
	}
	m->visits = split.visits;
	m->pin_ns = split.pin_ns;
	m->check_ns = split.check_ns;
	m->unpin_ns = split.unpin_ns;
	memcpy(m->levels, split.levels, sizeof(m->levels));
	m->syscalls = syscalls_fd < 0 ? 0 :
		      bench_syscalls_read(syscalls_fd) - syscalls0;
	m->cg_usage = group_number("memory.usage_in_bytes", "memory.current");
	m->rss_kib = vm_rss_kib();
}

/* --series: a sample of the child's state every cfg.series_ms. */
static void maybe_sample(enum mode mode)
{
	uint64_t t = bench_now_ns();
	struct msg m = { .type = MSG_SAMPLE };

	if (!series || t < next_sample_ns)
		return;
	next_sample_ns = t + cfg.series_ms * 1000000ull;
	m.ns = (double)(t - child_t0);
	m.round = (unsigned int)visits_done;
	fill_msg(&m, mode);
	report(&m);
}

static char *plain_new(unsigned int i)
{
	char *p = mmap(NULL, cfg.obj_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		report_error(-errno, "mmap of a plain object");
	bench_fill(p, 0, cfg.obj_size, seeds[i]);
	return p;
}

/* plain-lru: make room under the budget by dropping the coldest object. */
static void plain_lru_load(unsigned int i)
{
	size_t budget_objs = cfg.budget / cfg.obj_size;

	if (plain[i])
		return;
	while (resident >= budget_objs && resident > 0) {
		unsigned int victim = MAX_OBJECTS;

		for (unsigned int j = 0; j < cfg.objects; j++)
			if (plain[j] && (victim == MAX_OBJECTS ||
					 last_use[j] < last_use[victim]))
				victim = j;
		munmap(plain[victim], cfg.obj_size);
		plain[victim] = NULL;
		resident--;
	}
	plain[i] = plain_new(i);
	resident++;
}

static void setup(enum mode mode)
{
	struct msg m = { .type = MSG_CREATED };
	uint64_t t0 = bench_now_ns();
	int r;

	if (mode <= VCACHE_OPT) {
		struct vcache_options o;

		vcache_options_init(&o);
		o.backend = cfg.backend;
		if (cfg.delay_ms >= 0)
			o.idle_delay_ms = (unsigned int)cfg.delay_ms;
		if (cfg.delay_ms == 0) /* at once, not the default */
			o.flags |= VCACHE_OPT_NO_IDLE_DELAY;
		r = vcache_new(&o, &cache);
		if (r < 0)
			report_error(r, "vcache_new");
	}
	for (unsigned int i = 0; i < cfg.objects; i++) {
		char name[32];

		seeds[i] = 1000 + i;
		snprintf(name, sizeof(name), "obj%u", i);
		if (mode <= VCACHE_OPT) {
			r = vcache_object_create(cache, name, cfg.obj_size,
						 cfg.chunk, bench_regen,
						 &seeds[i], 0, &objs[i]);
			if (r < 0)
				report_error(r, "vcache_object_create");
		} else if (mode == PLAIN_LRU) {
			last_use[i] = ++tick;
			plain_lru_load(i);
		} else {
			plain[i] = plain_new(i);
		}
		m.objects = i + 1;
		maybe_sample(mode);
		/* Tell the parent how far we got, in case we get killed. */
		m.ns = (double)(bench_now_ns() - t0);
		fill_msg(&m, mode);
		report(&m);
	}
	plain_regen_bytes = 0; /* count regenerations after setup only */
}

static unsigned long visit(enum mode mode, unsigned int i)
{
	unsigned long bad;
	const char *data;
	uint64_t t0 = bench_now_ns(), t1, t2;
	int r = 0;

	if (mode <= VCACHE_OPT) {
		int level = vcache_pressure();

		split.levels[level >= 0 && level < 4 ? level : 0]++;
	}
	switch (mode) {
	case VCACHE_PIN:
		r = vcache_pin(objs[i], VCACHE_PIN_REGENERATE);
		if (r < 0)
			report_error(r, "vcache_pin");
		data = vcache_object_data(objs[i]);
		break;
	case VCACHE_OPT:
		data = vcache_object_data(objs[i]);
		break;
	case PLAIN_LRU:
		if (!plain[i])
			plain_regen_bytes += cfg.obj_size;
		plain_lru_load(i);
		last_use[i] = ++tick;
		data = plain[i];
		break;
	default:
		data = plain[i];
		break;
	}
	t1 = bench_now_ns();
	/* Optimistic mode: the faults and regenerations happen in here. */
	bad = bench_check_pages(data, 0, cfg.obj_size, seeds[i]);
	t2 = bench_now_ns();
	if (mode == VCACHE_PIN) {
		r = vcache_unpin(objs[i]);
		if (r < 0)
			report_error(r, "vcache_unpin");
	}
	split.pin_ns += (double)(t1 - t0); /* plain-lru: its (re)load */
	split.check_ns += (double)(t2 - t1);
	split.unpin_ns += (double)(bench_now_ns() - t2);
	split.visits++;
	return bad;
}

/*
 * --hog-pct: a process in the same group (a fork inherits it) that takes
 * memory step by step while the cache is in use, touching every page, and
 * holds it until killed: pressure that changes under a running cache.
 * Forked before the system call counter is opened (it would inherit it)
 * and before setup; it starts taking memory when *ret_go is written.
 */
static pid_t start_hog(int *ret_go)
{
	size_t steps = cfg.limit / 100 * cfg.hog_pct / BENCH_MIB;
	int go[2];
	char c;
	pid_t pid;

	*ret_go = -1;
	if (!cfg.hog_pct || !steps || pipe2(go, O_CLOEXEC) < 0)
		return 0;
	pid = fork();
	if (pid != 0) {
		close(go[0]);
		if (pid > 0)
			*ret_go = go[1];
		else
			close(go[1]);
		return pid;
	}
	/* Not the report pipe's writer (the parent waits for its EOF), and
	 * gone with the child if the OOM killer takes the child first. */
	close(report_fd);
	close(go[1]);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1 || read(go[0], &c, 1) != 1)
		_exit(0);
	for (size_t i = 0; i < steps; i++) {
		char *p = mmap(NULL, BENCH_MIB, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p != MAP_FAILED)
			memset(p, 0x33, BENCH_MIB);
		usleep((useconds_t)(cfg.hog_ramp_ms * 1000ull / steps));
	}
	for (;;)
		pause();
}

static void child(enum mode mode)
{
	unsigned int order[MAX_OBJECTS];
	struct msg m;
	const char *why;
	pid_t hog;
	int r, go;

	alarm(cfg.timeout_s); /* never outlive a stuck run */
	child_t0 = bench_now_ns();
	r = cgroup_enter(&group, 0);
	if (r < 0)
		report_error(r, "joining the cgroup");
	hog = start_hog(&go);
	/* Before the library starts its threads: they count too. */
	syscalls_fd = bench_syscalls_open(&why);
	setup(mode);
	memset(&split, 0, sizeof(split));
	syscalls0 = bench_syscalls_read(syscalls_fd);
	if (go >= 0) {
		(void)!write(go, "g", 1);
		close(go);
	}
	for (unsigned int round = 0; round < cfg.rounds; round++) {
		unsigned long bad = 0;
		uint64_t t0 = bench_now_ns();

		/* One pass: each object once (or the skewed plan's visits);
		 * --min-round-ms: passes until the round lasts that long. */
		do {
			plan_round(order, cfg.objects);
			for (unsigned int k = 0; k < cfg.objects; k++) {
				bad += visit(mode, order[k]);
				visits_done++;
				maybe_sample(mode);
			}
		} while (bench_now_ns() - t0 < cfg.min_round_ms * 1000000ull);
		memset(&m, 0, sizeof(m));
		m.type = MSG_ROUND;
		m.round = round;
		m.ns = (double)(bench_now_ns() - t0);
		fill_msg(&m, mode);
		if (bad)
			snprintf(m.text, sizeof(m.text),
				 "%lu pages had wrong content", bad);
		report(&m);
	}
	memset(&m, 0, sizeof(m));
	m.type = MSG_DONE;
	if (hog > 0) { /* error: the hog's wait status, -1 if it is gone */
		int st = 0;

		if (kill(hog, 0) < 0 || waitpid(hog, &st, WNOHANG) == hog)
			m.error = st ? st : -1;
		kill(hog, SIGKILL);
		waitpid(hog, NULL, 0);
	}
	report(&m);
	_exit(0);
}

static void add_sample(struct result *res, const struct msg *m)
{
	struct msg *more;

	if ((res->nsamples & (res->nsamples + 1)) == 0) { /* 0, 1, 3, 7.. */
		more = realloc(res->samples, (res->nsamples * 2 + 2) *
			       sizeof(*more));
		if (!more)
			return;
		res->samples = more;
	}
	res->samples[res->nsamples++] = *m;
}

/* The series of one mode as CSV rows; rates from consecutive samples. */
static void write_series(enum mode mode, const struct result *res)
{
	for (size_t i = 0; series && i < res->nsamples; i++) {
		const struct msg *m = &res->samples[i];
		const struct msg *p = i ? m - 1 : NULL;
		double dt = p ? (m->ns - p->ns) / 1e9 : 0;

		fprintf(series, "%s,%.3f,%u,%.1f,%.2f,%.2f,%.2f,%.2f,%d\n",
			mode_names[mode], m->ns / 1e9, m->round,
			dt > 0 ? (m->round - p->round) / dt : 0,
			m->regen_bytes / (double)BENCH_MIB,
			dt > 0 ? (double)(m->regen_bytes - p->regen_bytes) /
				 BENCH_MIB / dt : 0,
			m->cg_usage / (double)BENCH_MIB,
			m->rss_kib / 1024.0, m->level);
	}
}

static int run_mode(enum mode mode, struct result *res)
{
	char name[64], why[512];
	int fds[2], r;
	pid_t pid;
	struct msg m;

	memset(res, 0, sizeof(*res));
	snprintf(name, sizeof(name), "vcache-bench-%s", mode_names[mode]);
	r = cgroup_create(&group, name, cfg.limit, why, sizeof(why));
	if (r < 0) {
		printf("  skipped: %s\n", why);
		return r;
	}
	/* The comparison is against no swap: keep it so if swap is on (the
	 * file is absent without swap accounting; nothing to do then). */
	if (group.version == 2)
		(void)cgroup_write(group.dir, "memory.swap.max", "0");
	printf("  in cgroup v%d group %s\n", group.version, group.dir);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		r = -errno;
		cgroup_remove(&group);
		return r;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		report_fd = fds[1];
		child(mode);
	}
	close(fds[1]);
	while (pid > 0 && read(fds[0], &m, sizeof(m)) == (ssize_t)sizeof(m)) {
		if (m.type == MSG_CREATED)
			res->last_created = m;
		else if (m.type == MSG_ROUND && res->nrounds < MAX_ROUNDS)
			res->rounds[res->nrounds++] = m;
		else if (m.type == MSG_DONE)
			res->have_done = true, res->done = m;
		else if (m.type == MSG_SAMPLE)
			add_sample(res, &m);
		else if (m.type == MSG_ERROR)
			res->error = m, res->have_error = true;
	}
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, &res->status, 0);
	res->max_usage = group_number("memory.max_usage_in_bytes",
				      "memory.peak");
	/* Times the limit was hit: v1 failcnt, v2 "max" events. */
	res->failcnt = group.version == 1 ?
		       group_number("memory.failcnt", NULL) :
		       group_key("memory.events", "max");
	res->oom_kills = group_key(group.version == 1 ? "memory.oom_control" :
				   "memory.events", "oom_kill");
	r = cgroup_remove(&group);
	if (r < 0)
		printf("  (could not remove %s: %s)\n", group.dir,
		       strerror(-r));
	return pid < 0 ? -errno : 0;
}

/* Counted in both (the child's counter could be opened). */
static bool syscalls_ok(const struct msg *a, const struct msg *b)
{
	return b->syscalls != 0 && b->syscalls < (1ull << 62) &&
	       a->syscalls <= b->syscalls;
}

static double mib(double bytes)
{
	return bytes / (double)BENCH_MIB;
}

/*
 * Where the visits between two reports went, per visit: time in the pin
 * (plain-lru: the reload), in reading and checking the pages (optimistic
 * mode: faults and regenerations happen there), in the unpin; system
 * calls of the whole process (all threads; "-" without a counter);
 * chunks regenerated and their time; and the share of visits that began
 * at each level vcache_pressure() reported (none/low/medium/critical).
 */
static void print_split(const struct msg *a, const struct msg *b, bool kv)
{
	double n = (double)(b->visits - a->visits);
	uint32_t lv[4];
	double tot = 0;

	if (n <= 0)
		return;
	for (int k = 0; k < 4; k++)
		tot += lv[k] = b->levels[k] - a->levels[k];
	if (tot <= 0)
		tot = 1;
	printf(kv ? " pin_us=%.1f check_us=%.1f unpin_us=%.1f" :
		    "\n    per visit: pin %.1f us, check %.1f us, unpin %.1f us",
	       (b->pin_ns - a->pin_ns) / n / 1e3,
	       (b->check_ns - a->check_ns) / n / 1e3,
	       (b->unpin_ns - a->unpin_ns) / n / 1e3);
	if (syscalls_ok(a, b))
		printf(kv ? " syscalls=%.1f" : ", %.1f syscalls",
		       (double)(b->syscalls - a->syscalls) / n);
	else
		printf(kv ? " syscalls=-" : ", syscalls not counted");
	printf(kv ? " regen_chunks=%.1f regen_us=%.1f levels=%.2f/%.2f/%.2f/%.2f" :
		    ", %.1f chunks regenerated in %.1f us; levels n/l/m/c "
		    "%.2f/%.2f/%.2f/%.2f",
	       (double)(b->regen_bytes - a->regen_bytes) / cfg.chunk / n,
	       (double)(b->regen_ns - a->regen_ns) / n / 1e3,
	       lv[0] / tot, lv[1] / tot, lv[2] / tot, lv[3] / tot);
}

/*
 * One line per mode for bench/perf.sh: visits per second (median over the
 * rounds after the first, min..max; 0 when the child did not finish), how it ended, the
 * group's OOM kills, pages read with wrong content, the hog's fate.
 */
static void print_result_line(enum mode mode, const struct result *res)
{
	double v[MAX_ROUNDS];
	struct bench_summary s = { 0, 0, 0 };
	unsigned long bad = 0;
	char name[32];

	/* Round 0 is the warm-up (first touch after setup), left out of the
	 * throughput when there are more rounds. */
	unsigned int first = res->nrounds > 1, n = 0;

	for (unsigned int i = 0; i < res->nrounds; i++) {
		uint64_t visits = res->rounds[i].visits -
				  (i ? res->rounds[i - 1].visits : 0);

		if (i >= first)
			v[n++] = (double)visits * 1e9 / res->rounds[i].ns;
		if (res->rounds[i].text[0])
			bad += strtoul(res->rounds[i].text, NULL, 10);
	}
	if (n && res->have_done)
		s = bench_summarize(v, n);
	if (mode == PLAIN_LRU)
		snprintf(name, sizeof(name), "lru-%zu",
			 (cfg.budget * 100 + cfg.limit / 2) / cfg.limit);
	else
		snprintf(name, sizeof(name), "%s", mode_names[mode]);
	printf("RESULT scenario=%s mode=%s visits_per_s=%.1f min=%.1f max=%.1f"
	       " finished=%d status=%s%d oom_kills=%lld bad_pages=%lu"
	       " hog=%s", cfg.label, name, s.median, s.min, s.max,
	       res->have_done, WIFSIGNALED(res->status) ? "signal" : "exit",
	       WIFSIGNALED(res->status) ? WTERMSIG(res->status) :
	       WEXITSTATUS(res->status), (long long)res->oom_kills, bad,
	       !cfg.hog_pct ? "none" : !res->have_done ? "?" :
	       res->done.error == 0 ? "alive" : "gone");
	if (res->nrounds) {
		static const struct msg zero;

		print_split(first ? &res->rounds[0] : &zero,
			    &res->rounds[res->nrounds - 1], true);
	}
	printf("\n");
}

static void print_result(enum mode mode, struct result *res)
{
	double rt[MAX_ROUNDS];
	char a[32], b[32], c[32];

	printf("  outcome: ");
	if (WIFEXITED(res->status))
		printf("exited %d", WEXITSTATUS(res->status));
	else if (WIFSIGNALED(res->status))
		printf("killed by signal %d (%s)", WTERMSIG(res->status),
		       strsignal(WTERMSIG(res->status)));
	printf("; group OOM kills %lld, limit hits %lld, "
	       "peak usage %.1f MiB\n", (long long)res->oom_kills,
	       (long long)res->failcnt, mib((double)res->max_usage));
	if (res->have_error)
		printf("  error: %s: %s\n", res->error.text,
		       strerror(-res->error.error));
	printf("  setup: %u/%u objects (%.0f MiB) in %s, group usage %.1f MiB, "
	       "RSS %.1f MiB\n", res->last_created.objects, cfg.objects,
	       mib((double)res->last_created.objects * cfg.obj_size),
	       bench_fmt_ns(a, sizeof(a), res->last_created.ns),
	       mib((double)res->last_created.cg_usage),
	       res->last_created.rss_kib / 1024.0);
	for (unsigned int i = 0; i < res->nrounds; i++) {
		struct msg *m = &res->rounds[i];
		uint64_t prev = i ? res->rounds[i - 1].regen_bytes : 0;

		rt[i] = m->ns;
		printf("  round %u: %s, regenerated %.1f MiB, group usage "
		       "%.1f MiB, RSS %.1f MiB", i, bench_fmt_ns(a, sizeof(a),
		       m->ns), mib((double)(m->regen_bytes - prev)),
		       mib((double)m->cg_usage), m->rss_kib / 1024.0);
		if (mode <= VCACHE_OPT)
			printf(", purges %llu, faults %llu",
			       (unsigned long long)m->purges,
			       (unsigned long long)m->faults);
		if (m->text[0])
			printf(" !! %s", m->text);
		{
			static const struct msg zero;

			print_split(i ? &res->rounds[i - 1] : &zero, m, false);
		}
		printf("\n");
	}
	if (res->nrounds) {
		struct bench_summary s = bench_summarize(rt, res->nrounds);

		printf("  round time: median %s [%s..%s]\n",
		       bench_fmt_ns(a, sizeof(a), s.median),
		       bench_fmt_ns(b, sizeof(b), s.min),
		       bench_fmt_ns(c, sizeof(c), s.max));
	}
	print_result_line(mode, res);
}

/*
 * --first-touch: the floor under any volatile scheme on a stock kernel.
 * MADV_FREE (like MADV_COLD) clears the accessed bit of every page it
 * keeps, so the first read of each page afterwards sets it again: read
 * one word per page of the data size (objects x object size) after
 * MADV_FREE, after MADV_COLD and after nothing, interleaved, first and
 * second pass. No cgroup, no library.
 */
static volatile unsigned char touch_sink; /* the reads are not dropped */

static int first_touch(unsigned int reps)
{
	static const char *const names[] = { "plain", "MADV_FREE", "MADV_COLD" };
	static const int advice[] = { 0, MADV_FREE, MADV_COLD };
	size_t size = cfg.objects * cfg.obj_size, page = bench_page_size();
	double t[3][2][MAX_ROUNDS];
	char a[32], b[32], c[32];

	reps = reps > MAX_ROUNDS ? MAX_ROUNDS : reps;
	for (unsigned int r = 0; r < reps; r++)
		for (int k = 0; k < 3; k++) {
			char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				return -errno;
			memset(p, 0x5a, size);
			if (advice[k] && madvise(p, size, advice[k]) < 0)
				return -errno;
			for (int pass = 0; pass < 2; pass++) {
				uint64_t t0 = bench_now_ns();

				for (size_t off = 0; off < size; off += page)
					touch_sink += p[off];
				t[k][pass][r] = (double)(bench_now_ns() - t0);
			}
			/* A page reclaim took (MADV_FREE) reads as 0. */
			if (p[0] != 0x5a && advice[k] != MADV_FREE)
				printf("  data: 1 bad\n");
			munmap(p, size);
		}
	printf("# first touch: one word per page of %zu MiB, %u interleaved "
	       "repetitions (median [min..max])\n", size / BENCH_MIB, reps);
	for (int k = 0; k < 3; k++)
		for (int pass = 0; pass < 2; pass++) {
			struct bench_summary s = bench_summarize(t[k][pass], reps);

			printf("  after %-9s pass %d: %s [%s..%s], %.0f ns per "
			       "page\n", names[k], pass + 1,
			       bench_fmt_ns(a, sizeof(a), s.median),
			       bench_fmt_ns(b, sizeof(b), s.min),
			       bench_fmt_ns(c, sizeof(c), s.max),
			       s.median / (double)(size / page));
		}
	return 0;
}

static void usage(const char *argv0)
{
	printf("usage: %s [--mode vcache-pin|vcache-opt|plain-lru|plain-all]...\n"
	       "  [--backend uffd|vrange|none] [--limit-mib N] "
	       "[--budget-mib N]\n"
	       "  [--objects N] [--object-mib N] [--chunk-kib N] "
	       "[--rounds N] [--min-round-ms N] [--skewed] [--cheap]\n"
	       "  [--series FILE.csv] [--series-ms N] [--delay-ms N]\n"
	       "  [--budget-pct P]... [--hog-pct P] [--hog-ramp-ms N] "
	       "[--label NAME]\n"
	       "  [--first-touch]  (the read after MADV_FREE, no cgroup)\n",
	       argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "backend", required_argument, NULL, 'b' },
		{ "limit-mib", required_argument, NULL, 'l' },
		{ "budget-mib", required_argument, NULL, 'B' },
		{ "objects", required_argument, NULL, 'n' },
		{ "object-mib", required_argument, NULL, 's' },
		{ "chunk-kib", required_argument, NULL, 'c' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "min-round-ms", required_argument, NULL, 'M' },
		{ "skewed", no_argument, NULL, 'k' },
		{ "cheap", no_argument, NULL, 'C' },
		{ "series", required_argument, NULL, 'S' },
		{ "series-ms", required_argument, NULL, 'T' },
		{ "delay-ms", required_argument, NULL, 'D' },
		{ "budget-pct", required_argument, NULL, 'P' },
		{ "hog-pct", required_argument, NULL, 'H' },
		{ "hog-ramp-ms", required_argument, NULL, 'R' },
		{ "label", required_argument, NULL, 'L' },
		{ "first-touch", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned int budget_pct[8], nbudgets = 0;
	bool want[MODE_MAX] = { false }, any = false, touch = false;
	const char *reason;
	int o;

	while ((o = getopt_long(argc, argv, "m:b:l:B:n:s:c:r:M:kCS:T:D:P:H:R:L:Fh", opts,
				NULL)) != -1) {
		unsigned long v = optarg ? strtoul(optarg, NULL, 0) : 0;
		int k;

		switch (o) {
		case 'm':
			for (k = 0; k < MODE_MAX; k++)
				if (strcmp(optarg, mode_names[k]) == 0)
					break;
			if (k == MODE_MAX) {
				usage(argv[0]);
				return 2;
			}
			want[k] = any = true;
			break;
		case 'b':
			if (bench_parse_backend(optarg, &cfg.backend) < 0) {
				usage(argv[0]);
				return 2;
			}
			break;
		case 'l': cfg.limit = v * BENCH_MIB; break;
		case 'B': cfg.budget = v * BENCH_MIB; break;
		case 'n': cfg.objects = (unsigned int)v; break;
		case 's': cfg.obj_size = v * BENCH_MIB; break;
		case 'c': cfg.chunk = v * BENCH_KIB; break;
		case 'r': cfg.rounds = (unsigned int)v; break;
		case 'M': cfg.min_round_ms = v > 60000 ? 60000 : (unsigned int)v;
			break;
		case 'k': cfg.skewed = true; break;
		case 'C': bench_set_cheap_content(true); break;
		case 'T': cfg.series_ms = v ? (unsigned int)v : 1; break;
		case 'D': cfg.delay_ms = (int)v; break;
		case 'P':
			if (nbudgets < 8 && v >= 1 && v <= 200)
				budget_pct[nbudgets++] = (unsigned int)v;
			break;
		case 'H': cfg.hog_pct = v > 90 ? 90 : (unsigned int)v; break;
		case 'R': cfg.hog_ramp_ms = (unsigned int)v; break;
		case 'L': cfg.label = optarg; break;
		case 'F': touch = true; break;
		case 'S':
			series = fopen(optarg, "we");
			if (!series) {
				perror(optarg);
				return 2;
			}
			fputs("mode,t_s,visits,visits_per_s,regen_mib,"
			      "regen_mib_per_s,group_mib,rss_mib,level\n", series);
			break;
		default:
			usage(argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	if (!cfg.budget)
		cfg.budget = cfg.limit / 4 * 3;
	/* Keep it safe: bounded sizes on a shared machine. */
	if (cfg.objects < 1 || cfg.objects > MAX_OBJECTS || !cfg.obj_size ||
	    cfg.obj_size * cfg.objects > 4096 * BENCH_MIB ||
	    cfg.limit < 16 * BENCH_MIB || cfg.limit > 2048 * BENCH_MIB ||
	    cfg.rounds < 1 || cfg.rounds > MAX_ROUNDS || !cfg.chunk ||
	    cfg.chunk % bench_page_size() || cfg.obj_size % cfg.chunk) {
		printf("bad sizes (objects 1..%d, total <= 4 GiB, limit "
		       "16..2048 MiB, rounds 1..%d, chunk a page multiple "
		       "dividing the object)\n", MAX_OBJECTS, MAX_ROUNDS);
		return 2;
	}

	bench_print_context("bench-pressure: a cache larger than its memory "
			    "limit", argc, argv);
	if (touch) {
		int r = first_touch(cfg.rounds);

		if (r < 0)
			printf("first touch: %s\n", strerror(-r));
		return r < 0;
	}
	printf("# %u objects x %zu MiB = %zu MiB, chunk %zu KiB, memory cgroup "
	       "limit %zu MiB, plain-lru budget %zu MiB, %u rounds\n",
	       cfg.objects, cfg.obj_size / BENCH_MIB,
	       cfg.objects * cfg.obj_size / BENCH_MIB, cfg.chunk / BENCH_KIB,
	       cfg.limit / BENCH_MIB, cfg.budget / BENCH_MIB, cfg.rounds);
	if (cfg.hog_pct)
		printf("# after setup a hog in the same group takes %u%% of "
		       "the limit in 1 MiB steps over %u ms and holds it\n",
		       cfg.hog_pct, cfg.hog_ramp_ms);
	if (cfg.delay_ms >= 0)
		printf("# vcache idle delay %d ms\n", cfg.delay_ms);
	printf("# each round makes %u visits, %s; a visit checks one word "
	       "per page\n", cfg.objects, cfg.skewed ?
	       "80% of them to a hot 20% of the objects" :
	       "every object once in a shuffled order");
	if (cfg.min_round_ms)
		printf("# a round repeats that pass until it lasts %u ms\n",
		       cfg.min_round_ms);

	for (int k = 0; k < MODE_MAX; k++) {
		struct result res;

		if (any && !want[k])
			continue;
		printf("\n## %s", mode_names[k]);
		if (k <= VCACHE_OPT)
			printf(" (backend %s)", vcache_backend_name(cfg.backend));
		printf("\n");
		if (k <= VCACHE_OPT &&
		    bench_backend_usable(cfg.backend, &reason) < 0) {
			printf("  skipped: backend %s: %s\n",
			       vcache_backend_name(cfg.backend), reason);
			continue;
		}
		for (unsigned int b = 0; b < (k == PLAIN_LRU && nbudgets ?
					      nbudgets : 1); b++) {
			if (k == PLAIN_LRU && nbudgets) {
				cfg.budget = cfg.limit / 100 * budget_pct[b];
				printf("  budget %u%% of the limit: %zu MiB\n",
				       budget_pct[b], cfg.budget / BENCH_MIB);
			}
			if (run_mode(k, &res) == 0) {
				print_result(k, &res);
				write_series(k, &res);
			}
			free(res.samples);
		}
	}
	if (series && fclose(series) != 0) {
		perror("--series");
		return 1;
	}
	return 0;
}
