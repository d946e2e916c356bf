/* SPDX-License-Identifier: MIT */
/*
 * prim.c - the out-of-line operating-system primitives (contract: prim.h)
 *
 * Only what no fault or pin runs on its way to success lives here: the
 * page size's one-time fetch, the signal a foreign fault is ended with and
 * the last words before abort(). The rest is static inline in prim.h.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>

#include "prim.h"

size_t vc_page_size;

static pthread_once_t page_size_once = PTHREAD_ONCE_INIT;

static void page_size_fetch(void)
{
	vc_page_size = (size_t)sysconf(_SC_PAGESIZE);
}

void vc_page_size_init(void)
{
	pthread_once(&page_size_once, page_size_fetch);
}

void vc_signal_self(int sig, const siginfo_t *si)
{
	siginfo_t copy = *si;

	/* A copy, as chain.c always passed: si stays const for callers. */
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), sig,
		    &copy) < 0)
		(void)!syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

void vc_msg_str(const char *s)
{
	(void)!write(STDERR_FILENO, s, strlen(s));
}

void vc_msg_u64(uint64_t v)
{
	char buf[24];
	size_t n = sizeof(buf);

	do {
		buf[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	(void)!write(STDERR_FILENO, buf + n, sizeof(buf) - n);
}
