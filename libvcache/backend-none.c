/* SPDX-License-Identifier: MIT */
/*
 * backend-none.c - memory that is never purged
 *
 * For valgrind, debugging, and systems where neither vrange(2) nor
 * userfaultfd is available. Every pin reports intact, nothing ever faults.
 */
#include <string.h>

#include "backend.h"

static int none_probe(const char **ret_reason)
{
	*ret_reason = NULL;
	return 0;
}

static int none_get(void)
{
	return 0;
}

static void none_put(void)
{
}

static int none_attach(void *addr, size_t len)
{
	(void)addr;
	(void)len;
	return 0;
}

static void none_detach(void *addr, size_t len)
{
	(void)addr;
	(void)len;
}

static int none_mark_volatile(void *addr, size_t len)
{
	(void)addr;
	(void)len;
	return 0;
}

static int none_mark_nonvolatile(void *addr, size_t len, bool *ret_purged)
{
	(void)addr;
	(void)len;
	*ret_purged = false;
	return 0;
}

/* Never reached (nothing is purged); kept total for the interface. */
static int none_install(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	return 0;
}

const struct backend_ops vc_backend_none = {
	.id = VCACHE_BACKEND_NONE,
	.name = "none",
	.arena = true,
	.probe = none_probe,
	.get = none_get,
	.put = none_put,
	.attach = none_attach,
	.detach = none_detach,
	.mark_volatile = none_mark_volatile,
	.mark_nonvolatile = none_mark_nonvolatile,
	.fault_prepare = NULL,
	.install = none_install,
	.fork_child = NULL,
};
