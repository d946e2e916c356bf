/* SPDX-License-Identifier: MIT */
/*
 * sharedtabs - a renderer process and a browser process sharing volatile
 * tab bitmaps (libvcache shared objects), as Chromium's discardable shared
 * memory does for its renderer and GPU/browser processes.
 *
 * The renderer creates one shared object per tab (vcache_object_create_
 * shared(), 3 MiB each, rendered by render.c) and sends their memfds to the
 * browser over a Unix socket (SCM_RIGHTS). The browser opens them
 * (vcache_object_open_fd()) with its own regeneration callback and
 * switches tabs: it pins the visible tab, checks every pixel against the
 * renderer's formula, unpins it; every few switches it also reads a
 * hidden tab without pinning (optimistic: a purged chunk faults and is
 * regenerated in the browser). Meanwhile the renderer "repaints": it pins
 * tabs itself and checks them, so both processes regenerate.
 *
 * Pressure: both processes run in a memory cgroup whose limit is below
 * the tabs' total (root, cgroup v1 or a delegated v2 group). Stock kernels
 * never reclaim shared memory without swap, so the purges come from the
 * library: its pressure watcher in each process punches holes in tabs no
 * process pins. Without cgroup rights (--pressure purge) the browser
 * purges the tab it leaves with vcache_purge() instead, and says so.
 *
 * Exit status: 0, or 1 if any pixel was wrong in either process, or (with
 * --expect-purges) if nothing was purged and regenerated; 77 if asked for
 * a cgroup that cannot be made.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vcache.h>

#include "cgroup.h"
#include "render.h"

#define CHUNK (64u << 10)
#define MAX_TABS 64

struct opts {
	unsigned int tabs;
	unsigned int switches;
	size_t limit_mib;
	bool cgroup; /* else vcache_purge() by the browser */
	bool expect_purges;
	bool quiet;
};

/* What each process reports at the end (the renderer over the socket). */
struct report {
	uint64_t checked_pixels;
	uint64_t mismatches;
	uint64_t pins_purged; /* pins that reported VCACHE_PURGED */
	struct vcache_stats st;
};

static int render_tab(vcache_object *o, void *dst, size_t offset,
		      size_t length, void *arg)
{
	(void)o;
	render_range((unsigned int)(uintptr_t)arg, dst, offset, length);
	return 0;
}

/* --- descriptors over the socket ---------------------------------------- */

static int send_fd(int sock, int fd, unsigned char tag)
{
	struct iovec iov = { .iov_base = &tag, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	memset(u.buf, 0, sizeof(u.buf));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock, unsigned char *tag)
{
	struct iovec iov = { .iov_base = tag, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -EPROTO;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* Pin (regenerating), check every pixel, unpin. */
static void view(vcache_object *o, unsigned int tab, struct report *r)
{
	int p = vcache_pin(o, VCACHE_PIN_REGENERATE);

	if (p < 0) {
		fprintf(stderr, "pin of tab %u failed: %s\n", tab, strerror(-p));
		r->mismatches++;
		return;
	}
	r->pins_purged += p == VCACHE_PURGED;
	r->mismatches += render_verify(tab, vcache_object_data(o), 0,
				       RENDER_BYTES);
	r->checked_pixels += RENDER_BYTES / RENDER_BPP;
	(void)vcache_unpin(o);
}

/* --- the renderer ----------------------------------------------------- */

static int renderer(int sock, const struct opts *o)
{
	vcache_object *tabs[MAX_TABS];
	struct report r;
	vcache *c;
	char cmd = 0;
	unsigned int k = 0;
	int err;

	memset(&r, 0, sizeof(r));
	err = vcache_new(NULL, &c);
	if (err < 0)
		return 1;
	for (unsigned int i = 0; i < o->tabs; i++) {
		char name[32];

		snprintf(name, sizeof(name), "tab-%02u", i);
		err = vcache_object_create_shared(c, name, RENDER_BYTES, CHUNK,
						  render_tab,
						  (void *)(uintptr_t)i, 0,
						  &tabs[i]);
		if (err < 0 ||
		    send_fd(sock, vcache_object_fd(tabs[i]), (unsigned char)i) <
			    0) {
			fprintf(stderr, "renderer: tab %u: %s\n", i,
				strerror(err < 0 ? -err : errno));
			return 1;
		}
	}
	/* Repaint a tab per request until the browser says stop. */
	while (read(sock, &cmd, 1) == 1 && cmd == 'r') {
		view(tabs[k], k, &r);
		k = (k + 7) % o->tabs;
	}
	if (vcache_stats_get(c, &r.st, sizeof(r.st)) < 0)
		return 1;
	if (write(sock, &r, sizeof(r)) != (ssize_t)sizeof(r))
		return 1;
	for (unsigned int i = 0; i < o->tabs; i++) {
		(void)vcache_object_remove(tabs[i]);
		vcache_object_unref(tabs[i]);
	}
	return vcache_free(c) == 0 ? 0 : 1;
}

/* --- the browser ---------------------------------------------------- */

static int browser(int sock, const struct opts *o, struct report *r,
		   struct report *rr)
{
	vcache_object *tabs[MAX_TABS];
	vcache *c;
	int err;

	err = vcache_new(NULL, &c);
	if (err < 0)
		return err;
	for (unsigned int i = 0; i < o->tabs; i++) {
		unsigned char tag;
		int fd = recv_fd(sock, &tag);

		if (fd < 0 || tag != i)
			return fd < 0 ? fd : -EPROTO;
		/* Our own callback: the browser regenerates by itself. */
		err = vcache_object_open_fd(c, fd, render_tab,
					    (void *)(uintptr_t)i, 0, &tabs[i]);
		close(fd);
		if (err < 0)
			return err;
	}
	printf("browser: %u shared tabs of %zu KiB from the renderer, "
	       "backend %s\n", o->tabs, RENDER_BYTES >> 10,
	       vcache_backend_name(vcache_backend(c)));
	for (unsigned int s = 0; s < o->switches; s++) {
		unsigned int tab = s % o->tabs;

		view(tabs[tab], tab, r);
		/* Optimistic: a hidden tab read without a pin. */
		if (s % 4 == 3) {
			unsigned int h = (tab + o->tabs / 2) % o->tabs;

			r->mismatches += render_verify(
				h, vcache_object_data(tabs[h]), 0,
				RENDER_BYTES);
			r->checked_pixels += RENDER_BYTES / RENDER_BPP;
		}
		if (!o->cgroup)
			(void)vcache_purge(tabs[tab]);
		if (write(sock, "r", 1) != 1)
			return -EPIPE;
		if (!o->quiet && s % 50 == 49)
			printf("browser: %u switches, pressure level %d\n",
			       s + 1, vcache_pressure());
	}
	if (write(sock, "q", 1) != 1 ||
	    read(sock, rr, sizeof(*rr)) != (ssize_t)sizeof(*rr))
		return -EPROTO;
	err = vcache_stats_get(c, &r->st, sizeof(r->st));
	for (unsigned int i = 0; i < o->tabs; i++) {
		(void)vcache_object_remove(tabs[i]);
		vcache_object_unref(tabs[i]);
	}
	(void)vcache_free(c);
	return err;
}

static void print_report(const char *who, const struct report *r)
{
	printf("%-8s %12llu pixels checked, %llu wrong; pins found %llu "
	       "purged; regenerated %llu chunks (%llu by faults)\n",
	       who, (unsigned long long)r->checked_pixels,
	       (unsigned long long)r->mismatches,
	       (unsigned long long)r->pins_purged,
	       (unsigned long long)r->st.regenerations,
	       (unsigned long long)r->st.faults);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sharedtabs [--tabs N] [--switches N] [--limit-mib N]\n"
		"                  [--pressure cgroup|purge] [--expect-purges]"
		" [--quiet]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tabs", required_argument, NULL, 't' },
		{ "switches", required_argument, NULL, 's' },
		{ "limit-mib", required_argument, NULL, 'l' },
		{ "pressure", required_argument, NULL, 'p' },
		{ "expect-purges", no_argument, NULL, 'e' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .tabs = 16, .switches = 200, .cgroup = true };
	struct report r, rr;
	struct cgroup_group cg;
	bool have_cg = false;
	char why[512] = "";
	int sv[2], c, st = 0, err;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			o.tabs = (unsigned int)atoi(optarg);
			break;
		case 's':
			o.switches = (unsigned int)atoi(optarg);
			break;
		case 'l':
			o.limit_mib = (size_t)atoi(optarg);
			break;
		case 'p':
			o.cgroup = strcmp(optarg, "purge") != 0;
			break;
		case 'e':
			o.expect_purges = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.tabs < 2 || o.tabs > MAX_TABS || o.switches == 0) {
		usage(stderr);
		return 2;
	}
	if (!o.limit_mib) /* half the tabs, plus room for two programs */
		o.limit_mib = o.tabs * (RENDER_BYTES >> 20) / 2 + 16;
	if (o.cgroup) {
		err = cgroup_create(&cg, "sharedtabs", o.limit_mib << 20, why,
				    sizeof(why));
		if (err == 0)
			err = cgroup_enter(&cg, 0);
		if (err < 0) {
			printf("SKIP: no memory cgroup (%s); "
			       "--pressure purge runs without one\n", why);
			return 77;
		}
		have_cg = true;
		printf("pressure: both processes in a %zu MiB memory cgroup, "
		       "%u tabs of %zu MiB (%zu MiB)%s\n", o.limit_mib, o.tabs,
		       RENDER_BYTES >> 20, o.tabs * (RENDER_BYTES >> 20),
		       o.limit_mib >= o.tabs * (RENDER_BYTES >> 20) ?
			       ": not below the tabs' total, no shortage" : "");
	} else {
		printf("pressure: none; the browser purges each tab it leaves "
		       "(vcache_purge)\n");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("sharedtabs: socketpair(AF_UNIX)");
		return 1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("sharedtabs: fork");
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(renderer(sv[1], &o));
	}
	close(sv[1]);
	memset(&r, 0, sizeof(r));
	memset(&rr, 0, sizeof(rr));
	err = browser(sv[0], &o, &r, &rr);
	close(sv[0]);
	if (waitpid(pid, &st, 0) != pid)
		st = -1;
	if (have_cg) {
		(void)cgroup_leave(&cg);
		(void)cgroup_remove(&cg);
	}
	if (err < 0) {
		fprintf(stderr, "browser: %s\n", strerror(-err));
		return 1;
	}
	print_report("browser", &r);
	print_report("renderer", &rr);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "renderer: exit status 0x%x\n", st);
		return 1;
	}
	if (r.mismatches || rr.mismatches) {
		fprintf(stderr, "FAIL: wrong pixels\n");
		return 1;
	}
	if (o.expect_purges &&
	    (r.st.purges + rr.st.purges == 0 ||
	     r.st.regenerations + rr.st.regenerations == 0)) {
		fprintf(stderr, "FAIL: nothing was purged and regenerated\n");
		return 1;
	}
	printf("ok: every pixel right in both processes\n");
	return 0;
}
