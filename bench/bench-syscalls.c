/* SPDX-License-Identifier: MIT */
/*
 * bench-syscalls.c - system call counter (see bench-syscalls.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench-syscalls.h"

static const char *const id_paths[] = {
	"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
	"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
};

/* The tracepoint's id from tracefs, or -errno. */
static long tracepoint_id(void)
{
	int err = -ENOENT;

	for (size_t i = 0; i < sizeof(id_paths) / sizeof(id_paths[0]); i++) {
		char buf[32];
		ssize_t n;
		int fd = open(id_paths[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			err = -errno;
			continue;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		return strtol(buf, NULL, 10);
	}
	return err;
}

int bench_syscalls_open(const char **ret_reason)
{
	struct perf_event_attr attr;
	long id = tracepoint_id();
	int fd;

	if (id < 0) {
		*ret_reason = "raw_syscalls:sys_enter not found in tracefs";
		return (int)id;
	}
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.config = (unsigned long long)id;
	attr.inherit = 1; /* threads the library starts later count too */
	attr.exclude_hv = 1;
	fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1,
			  PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		int err = -errno;

		*ret_reason = "perf_event_open() refused the tracepoint "
			      "(perf_event_paranoid or no CAP_PERFMON?)";
		return err;
	}
	*ret_reason = NULL;
	return fd;
}

uint64_t bench_syscalls_read(int fd)
{
	uint64_t v;

	if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return UINT64_MAX;
	return v;
}
