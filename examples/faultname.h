/* SPDX-License-Identifier: MIT */
/*
 * faultname.h - the signal a purged page raises under a cache's backend,
 * for the examples' summaries: the soft backend protects purged pages
 * (SIGSEGV), the others leave them missing (SIGBUS).
 */
#ifndef EXAMPLES_FAULTNAME_H
#define EXAMPLES_FAULTNAME_H

#include <vcache.h>

static inline const char *fault_name(const vcache *cache)
{
	return vcache_backend(cache) == VCACHE_BACKEND_SOFT ? "SIGSEGV" :
							       "SIGBUS";
}

/* The same in lower case, for the status lines. */
static inline const char *fault_label(const vcache *cache)
{
	return vcache_backend(cache) == VCACHE_BACKEND_SOFT ? "sigsegv" :
							       "sigbus";
}

#endif
