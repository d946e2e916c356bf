/* SPDX-License-Identifier: MIT */
/*
 * shared.h - objects shared between processes through a memfd (internal)
 *
 * The memfd holds a header area, then the object's bytes:
 *
 *   [0, hdr_size)             struct vc_shared_hdr, then
 *                             slot owners   _Atomic uint64_t [VC_SHARED_SLOTS]
 *                             slot flags    _Atomic uint32_t [VC_SHARED_SLOTS]
 *                             chunk states  _Atomic uint32_t [nchunks]
 *                             pin counts    _Atomic uint32_t [SLOTS][nchunks]
 *   [hdr_size, + map_size)    the object (page aligned; holes = purged)
 *
 * Every process that has the object open owns one slot: owner word =
 * pid | (low 32 bits of its start time since boot) << 32, so a slot whose
 * process died, became a zombie or whose pid was reused is recognised as
 * dead. A process's pins are counted in its own slot row; a chunk is
 * pinned while any live slot counts a pin on it. A chunk state word holds
 * BUSY (one thread of one process is purging or regenerating the chunk)
 * with the owning slot, so a dead holder is recognised too. Waiters sleep
 * on the state word with a shared futex (not FUTEX_PRIVATE_FLAG: the word
 * is in a shared mapping and the waker may be another process).
 *
 * Trust: every process mapping the memfd can write the header; processes
 * sharing an object trust each other as much as threads of one process.
 */
#ifndef VCACHE_SHARED_H
#define VCACHE_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"

#define VC_SHARED_MAGIC 0x3165726168736376ull /* "vcshare1" */
#define VC_SHARED_VERSION 1u
#define VC_SHARED_SLOTS 32u

/* Slot flags. */
#define SLOT_UNPROTECTED (1u << 0) /* reads holes as zeros: never punch */

/* Chunk state word. */
#define SCHUNK_BUSY (1u << 0)
#define SCHUNK_WAITERS (1u << 1)
#define SCHUNK_OWNER_SHIFT 8 /* slot index of the BUSY holder */

#define SLOT_REAPING UINT64_MAX

struct vc_shared_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t nslots;
	uint64_t size;
	uint64_t chunk_size;
	uint64_t nchunks;
	uint64_t hdr_size; /* offset of the object's bytes in the memfd */
	uint64_t page_size;
	uint64_t pidns; /* inode of the creator's pid namespace, or 0 */
	char name[VCACHE_NAME_MAX + 1];
};

/* How purged pages are noticed in this process. */
enum vc_shared_mode {
	VC_SHARED_NONE,   /* nothing purges: no fault on a hole, never punched */
	VC_SHARED_UFFD,   /* userfaultfd MISSING on the shmem mapping */
	VC_SHARED_FVRANGE /* the same, and the patched kernel's shmem volatile
			   * ranges mark unpinned chunks volatile */
};

struct vc_shared {
	int fd;                 /* the memfd, O_CLOEXEC */
	enum vc_shared_mode mode;
	bool creator;
	bool uffd_ref;          /* holds a vc_backend_uffd reference */
	bool fv;                /* the kernel has fvrange(): purge records
				 * may exist, whoever marked the pages */
	struct vc_shared_hdr *hdr;
	size_t hdr_size;
	_Atomic uint64_t *owners;
	_Atomic uint32_t *slot_flags;
	_Atomic uint32_t *state;
	_Atomic uint32_t *pins; /* [slot * nchunks + chunk] */
	_Atomic int slot;       /* ours, or -1 until claimed */
	_Atomic uint64_t self;  /* our owner word */
	pthread_mutex_t lock;   /* this process's pins and unpins */
	struct vcache_object *object;
};

/* shared.c */
int vc_shared_setup(struct vcache_object *o);   /* object.c, fill + attach */
void vc_shared_destroy(struct vcache_object *o); /* object.c, unmap + free */
void vc_shared_free(struct vc_shared *sh); /* not attached to an object */

/* shared-slot.c */
uint64_t vc_shared_identity(pid_t pid); /* owner word, 0 if gone */
bool vc_shared_owner_dead(uint64_t owner); /* async-signal-safe */
int vc_shared_slot_claim(struct vc_shared *sh, uint32_t flags);
void vc_shared_slot_release(struct vc_shared *sh);
void vc_shared_reap(struct vc_shared *sh);
int vc_shared_chunk_claim(struct vc_shared *sh, size_t i, bool may_wait);
void vc_shared_chunk_release(struct vc_shared *sh, size_t i);
void vc_shared_chunk_wait_idle(struct vc_shared *sh, size_t i);
bool vc_shared_chunk_pinned(struct vc_shared *sh, size_t i);

/* shared-fvrange.c */
bool vc_fvrange_available(void);
int vc_fvrange(int fd, uint64_t offset, size_t len, int mode,
	       bool *ret_purged);

/* shared-pin.c */
void vc_shared_mark_all_volatile(struct vcache_object *o);
int vc_shared_pin(struct vcache_object *o, size_t offset, size_t length,
		  unsigned int flags, bool *ret_pinned);
int vc_shared_unpin(struct vcache_object *o, size_t offset, size_t length);
size_t vc_shared_purge_locked(struct vcache_object *o, size_t start,
			      size_t end);
void vc_shared_fault(struct vcache_object *o, uintptr_t addr);
int vc_shared_fill_holes(struct vcache_object *o);
bool vc_shared_pinned_here(struct vcache_object *o);
void vc_shared_stats(struct vcache_object *o, uint64_t *pinned,
		     uint64_t *vol);

/* purge.c: make room before filling shared memory (pressure watcher). */
void vc_purge_before_shared(struct vcache *c, size_t bytes);

/* object.c: vcache_object_create() with a shared part (sh may be NULL). */
int vc_object_new(struct vcache *cache, const char *name, size_t size,
		  size_t chunk_size, vcache_regen_fn regen, void *userdata,
		  unsigned int flags, struct vc_shared *sh,
		  struct vcache_object **ret_object);

#endif
