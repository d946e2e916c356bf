/* SPDX-License-Identifier: MIT */
/*
 * stats.c - a snapshot of a cache's counters
 *
 * Event counters are atomics bumped wherever the event happens (also in the
 * SIGBUS handler); byte counts are computed from the chunk states now.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "shared.h"

_public_ int vcache_stats_get(vcache *cache, struct vcache_stats *ret_stats,
			     size_t size)
{
	struct vcache_stats st;
	int err;

	if (!cache || !ret_stats)
		return -EINVAL;
	err = vc_struct_check_size(ret_stats, size, sizeof(st),
				   VCACHE_STATS_SIZE_VER0);
	if (err < 0)
		return err;
	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&cache->lock);
	st.objects = cache->nobjects;
	for (struct vcache_object *o = cache->objects; o; o = o->next)
		for (size_t i = 0; !o->shared && i < o->nchunks; i++) {
			uint64_t s = atomic_load(&o->chunks[i]);

			if (chunk_pinned(o, s))
				st.bytes_pinned += chunk_length(o, i);
			if (s & CHUNK_VOLATILE)
				st.bytes_volatile += chunk_length(o, i);
		}
	/* Shared: pinned by any process / by none (shared-pin.c). */
	for (struct vcache_object *o = cache->objects; o; o = o->next)
		if (o->shared)
			vc_shared_stats(o, &st.bytes_pinned,
					&st.bytes_volatile);
	pthread_mutex_unlock(&cache->lock);
	st.purges = atomic_load(&cache->purges);
	st.regenerations = atomic_load(&cache->regenerations);
	st.regen_ns = atomic_load(&cache->regen_ns);
	st.faults = atomic_load(&cache->faults);
	/* An older caller's smaller struct gets the counters it knows. */
	memcpy(ret_stats, &st, size < sizeof(st) ? size : sizeof(st));
	return 0;
}
/* The 3-argument version is 1.0's; compat.c has the 0.1 one. */
__asm__(".symver vcache_stats_get, vcache_stats_get@@@LIBVCACHE_1.0");
