// SPDX-License-Identifier: MIT
/*
 * no-uffd.c - run a command where userfaultfd(2) is refused
 *
 * Loads a seccomp filter (libseccomp) that makes userfaultfd(2) fail with
 * EPERM, as the default profiles of container runtimes do, then execs the
 * command. Under it libvcache's auto-selection cannot use the uffd backend
 * and picks soft (or vrange on the patched kernel):
 *
 *   build/examples/no-uffd build/examples/tabcache --expect-purges
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	scmp_filter_ctx ctx;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: %s COMMAND [ARG...]\n", argv[0]);
		return 2;
	}
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		fprintf(stderr, "no-uffd: seccomp_init failed\n");
		return 1;
	}
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(userfaultfd),
			     0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0) {
		fprintf(stderr, "no-uffd: seccomp: %s\n", strerror(-r));
		return 1;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "no-uffd: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
