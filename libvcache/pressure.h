/* SPDX-License-Identifier: MIT */
/*
 * pressure.h - the process-wide memory-pressure watcher (internal)
 *
 * One thread per process, started by the first subscriber and stopped
 * with the last, watches whatever signals of memory shortage this process
 * can read without privileges and calls the subscribers when memory is
 * short. Sources, all optional (pressure.c says why each):
 *  - cgroup v1: memory.pressure_level ("low") and a memory.usage_in_bytes
 *    threshold, both eventfd notifications through cgroup.event_control;
 *  - cgroup v2: a PSI trigger on the group's memory.pressure, and
 *    memory.events changes (high/max/oom);
 *  - system: a PSI trigger on /proc/pressure/memory;
 *  - polling, always: the cgroup's usage against its limit and
 *    MemAvailable, every second, every 100 ms while memory is tight.
 * The level comes from the headroom (bytes before the limit or before
 * MemAvailable runs out) against a margin scaled to the limit; a PSI or
 * vmpressure event raises it to at least LOW.
 */
#ifndef VCACHE_PRESSURE_H
#define VCACHE_PRESSURE_H

#include <stdbool.h>
#include <stdint.h>

#include "vcache.h"

struct vc_pressure_event {
	int level;         /* VCACHE_PRESSURE_* */
	uint64_t headroom; /* bytes left in the tightest scope */
	uint64_t want;     /* bytes to free to be comfortable again */
	uint64_t cap;      /* bytes the idle delays may hold (pressure.c) */
	bool flush;        /* they hold more: end delays now (purge.c) */
	const char *why;   /* static: which source woke the watcher */
};

/* Called on the watcher thread (normal context, no library lock held). */
typedef void (*vc_pressure_fn)(const struct vc_pressure_event *ev,
			       void *userdata);

/*
 * Add / remove a subscriber. The first subscribe starts the thread
 * (0 or a negative errno); unsubscribe of the last one stops and joins
 * it, so it must not be called from the callback.
 */
int vc_pressure_subscribe(vc_pressure_fn fn, void *userdata);
void vc_pressure_unsubscribe(vc_pressure_fn fn, void *userdata);

/* Sample now as if extra more bytes were in use (see pressure.c). */
void vc_pressure_sample(uint64_t extra, struct vc_pressure_event *ev);

/* In a fork() child: start the thread again if there are subscribers. */
void vc_pressure_resume(void);

/*
 * Making room ahead (purge.c). vc_pressure_room(): the bytes left before
 * the process's memory cgroup limit, read now (fstat(2) and pread(2) of
 * the usage file the watcher keeps open), and the limit; -ENOENT without
 * a limit, or when the watcher has not opened the file or has closed it.
 * vc_pressure_limit(): that limit without a read, UINT64_MAX in those
 * cases. vc_pressure_reserve(): the room kept free for allocations the
 * library does not see coming, 1/256 of the limit, at least 1 MiB. All
 * three are async-signal-safe.
 */
int vc_pressure_room(uint64_t *ret_room, uint64_t *ret_limit);
uint64_t vc_pressure_limit(void);
uint64_t vc_pressure_reserve(uint64_t limit);

/* The level last computed; async-signal-safe. */
int vc_pressure_level(void);

/*
 * Bytes the idle delays of the process may hold (idle.c), from the last
 * look, in the tightest scope: what the kernel could still give (free
 * memory plus what it reclaims without swap - in a cgroup the process's
 * lazy-free pages - plus what the delays hold) beyond a margin; in a
 * cgroup with less than the reserve free (at its limit), beyond two;
 * system-wide 0 while less than a margin is available. UINT64_MAX before
 * the first look (or without a watcher). Async-signal-safe.
 */
uint64_t vc_pressure_delay_cap(void);

#endif
