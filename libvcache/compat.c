/* SPDX-License-Identifier: MIT */
/*
 * compat.c - what binaries built against the 0.1 development snapshots
 * (same soname, version node LIBVCACHE_1) call and the 1.0 header no
 * longer declares out of line. Programs built against this header never
 * use these, so the static archive leaves this file out
 * (prelink-static.sh). Their struct layouts are the 1.0 (VER0) ones, so
 * both write exactly VER0 bytes.
 */
#include <string.h>

#include "internal.h"

/*
 * vcache_options_init@LIBVCACHE_1: the header's static inline of that
 * name is not used in this file, so no local copy collides with this
 * symbol.
 */
_public_ void vc_compat_options_init(struct vcache_options *opts)
	__asm__("vcache_options_init");
_public_ void vc_compat_options_init(struct vcache_options *opts)
{
	if (!opts)
		return;
	memset(opts, 0, VCACHE_OPTIONS_SIZE_VER0);
	opts->size = VCACHE_OPTIONS_SIZE_VER0;
}

/*
 * vcache_stats_get@LIBVCACHE_1: the 2-argument version. The 3-argument
 * one is vcache_stats_get@@LIBVCACHE_1.0 (stats.c).
 */
_public_ int vc_compat_stats_get_v0(vcache *cache,
				    struct vcache_stats *ret_stats);
_public_ int vc_compat_stats_get_v0(vcache *cache,
				    struct vcache_stats *ret_stats)
{
	return vcache_stats_get(cache, ret_stats, VCACHE_STATS_SIZE_VER0);
}
__asm__(".symver vc_compat_stats_get_v0, vcache_stats_get@LIBVCACHE_1");
