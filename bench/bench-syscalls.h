/* SPDX-License-Identifier: MIT */
/*
 * bench-syscalls.h - count this process's system calls (all its threads)
 * with a perf tracepoint counter on raw_syscalls:sys_enter, so a benchmark
 * can show, not claim, how many system calls an operation costs.
 */
#ifndef VCACHE_BENCH_SYSCALLS_H
#define VCACHE_BENCH_SYSCALLS_H

#include <stdint.h>

/*
 * Open the counter. Call before the library starts any thread, so that
 * threads created later are counted too (inherit). Returns an fd, or a
 * negative errno with *ret_reason saying why counting is unavailable
 * (no tracefs, perf_event_paranoid, ...).
 */
int bench_syscalls_open(const char **ret_reason);

/* Current count, or UINT64_MAX if fd < 0 or the read failed. */
uint64_t bench_syscalls_read(int fd);

#endif /* VCACHE_BENCH_SYSCALLS_H */
