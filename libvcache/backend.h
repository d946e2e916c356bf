/* SPDX-License-Identifier: MIT */
/*
 * backend.h - how the library talks to the kernel about volatile memory
 *
 * A backend turns "this range may be discarded" / "this range must stay"
 * into system calls, and installs regenerated pages. Object memory is
 * always a private anonymous mapping created by object.c; a backend never
 * allocates it. All addresses and lengths passed in are page aligned.
 *
 * Process-wide state (a syscall number, a /proc/self/mem descriptor) is
 * the backend's own; get/put bracket the lifetime of each cache using the
 * backend. What two backends need alike comes from the primitive layer
 * (prim.h: the userfaultfd of uffd and vrange), never from each other.
 * Which backends exist, and in which order AUTO tries them: backend.c.
 */
#ifndef VCACHE_BACKEND_H
#define VCACHE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "vcache.h"

struct backend_ops {
	enum vcache_backend id;
	const char *name;

	/*
	 * Small private objects may be carved from arenas (arena.c): large
	 * mappings attached once. Needs attach() to work on any part of a
	 * mapping, install() to fill missing pages of an attached range
	 * (object creation fills through it), and purge/volatility to work
	 * on sub-ranges without splitting the mapping. uffd and none; not
	 * soft (mprotect per purged chunk splits mappings anyway) nor vrange
	 * (kept on one mapping per object until measured on the patched
	 * kernel).
	 */
	bool arena;

	/*
	 * Is the backend usable here? 0, or a negative errno with
	 * *ret_reason set to a static human-readable string. Normal
	 * context; may open and close descriptors; no lasting effect.
	 */
	int (*probe)(const char **ret_reason);

	/*
	 * Take / drop a reference on the process-wide state. get returns
	 * 0 or a negative errno (then nothing is held).
	 */
	int (*get)(void);
	void (*put)(void);

	/*
	 * A new object's mapping [addr, addr + len), already filled with
	 * its contents, starts being managed: after attach, a purged page
	 * must fault (SIGBUS) instead of reading zeros. 0 or -errno.
	 * detach undoes it just before the mapping is unmapped.
	 */
	int (*attach)(void *addr, size_t len);
	void (*detach)(void *addr, size_t len);

	/*
	 * The kernel may discard any page of the range from now on.
	 * 0 or -errno; normal or signal context.
	 */
	int (*mark_volatile)(void *addr, size_t len);

	/*
	 * No page of the range may be discarded after this returns 0.
	 * *ret_purged is set to whether any page of exactly this range had
	 * been discarded; such pages are missing afterwards and must be
	 * filled with install() before anyone touches them. Must not race
	 * with reclaim: a page found present stays present. Normal context,
	 * called with the chunk BUSY (see internal.h).
	 */
	int (*mark_nonvolatile)(void *addr, size_t len, bool *ret_purged);

	/*
	 * Optional (NULL if the backend cannot): mark_nonvolatile for a
	 * whole range in one call, reporting per page. vec holds one byte
	 * per page of the range: 1 the page had been discarded, 0 it was
	 * kept, VC_PAGE_UNKNOWN the call did not get to it (then nothing
	 * was changed for that page). The range need not be BUSY: the
	 * caller holds the object's lock, and uses a chunk's report only if
	 * the chunk is still volatile once it claims it. 0 or -errno (the
	 * vector is valid either way). Normal context.
	 */
	int (*mark_nonvolatile_pages)(void *addr, size_t len,
				      unsigned char *vec);

	/*
	 * Signal context, chunk BUSY, just before install() in the fault
	 * path. NULL when nothing is needed.
	 */
	int (*fault_prepare)(void *addr, size_t len);

	/*
	 * Signal context, chunk BUSY: is the page at addr still purged, or
	 * has someone refilled it since the fault? NULL: whether the page is
	 * present (mincore) says it. soft needs its own answer: its purged
	 * pages are PROT_NONE, and may be present (a huge page the refill of
	 * a neighbour mapped over them).
	 */
	bool (*page_missing)(const void *addr);

	/*
	 * Fill every missing page of [dst, dst + len) from src (a buffer of
	 * len bytes outside the object), atomically per page: another
	 * thread never observes a partially written page, and a present page
	 * is kept as is. Async-signal-safe. 0 or -errno.
	 */
	int (*install)(void *dst, const void *src, size_t len);

	/*
	 * In the child of fork(), single-threaded, before any object is
	 * touched: make the backend's process-wide state valid for the
	 * child's address space. fork.c then calls attach() again for every
	 * live object. NULL when nothing is needed.
	 */
	void (*fork_child)(void);

	/*
	 * Discard the pages of the range now (purge.c, normal context,
	 * chunk BUSY and unpinned): afterwards a touch must fault and
	 * mark_nonvolatile() must report them purged. 0 or -errno. NULL:
	 * the backend cannot purge (none).
	 */
	int (*purge)(void *addr, size_t len);
};

#define VC_PAGE_UNKNOWN 0xff

extern const struct backend_ops vc_backend_uffd;
extern const struct backend_ops vc_backend_none;
extern const struct backend_ops vc_backend_vrange;
extern const struct backend_ops vc_backend_soft;

/*
 * backend.c: the registry. vc_backend_at(i): the i-th backend in the order
 * AUTO tries them (best first), NULL past the last. vc_backend_index():
 * that position for an enum value, -1 for AUTO or an unknown value.
 * Constant data: thread- and async-signal-safe.
 */
const struct backend_ops *vc_backend_at(size_t i);
int vc_backend_index(enum vcache_backend id);

#endif
