/* SPDX-License-Identifier: MIT */
/*
 * scratch.c - buffers that regeneration callbacks write into
 *
 * Under uffd a chunk is regenerated into a separate buffer and then
 * installed page by page (UFFDIO_COPY), so other threads never see a page
 * half written. The fault path runs in a signal handler, where malloc() is
 * off limits, so buffers come from a small fixed pool claimed with
 * compare-and-swap. Several may be in use at once: several threads fault
 * together, and a callback may fault on another object (nesting). Buffers
 * are sized in normal context when an object is created (vc_scratch_reserve()).
 * If every pooled buffer is busy or too small, a fresh one is mapped
 * (vc_mem_map(): a plain system call, safe in a signal handler), and this
 * keeps deep nesting from deadlocking on an exhausted pool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>

#include "internal.h"

#define SCRATCH_SLOTS 16
#define SCRATCH_RESERVED 4 /* slots kept at the largest chunk size */

struct scratch_slot {
	_Atomic uintptr_t busy; /* 0, or the holder's tls_owner address */
	void *buf;   /* changed only by the holder of busy */
	size_t size;
};

static struct scratch_slot slots[SCRATCH_SLOTS];
/* Its address tells threads apart, also in a fork() child. */
static _tls_ char tls_owner;

static uintptr_t me(void)
{
	return (uintptr_t)&tls_owner;
}

int vc_scratch_reserve(size_t len)
{
	for (int i = 0; i < SCRATCH_RESERVED; i++) {
		struct scratch_slot *s = &slots[i];
		uintptr_t expected = 0;
		void *buf = NULL;

		while (!atomic_compare_exchange_weak(&s->busy, &expected, me())) {
			expected = 0;
			sched_yield();
		}
		if (s->size < len) {
			if (vc_mem_map(len, PROT_READ | PROT_WRITE, &buf) < 0) {
				atomic_store(&s->busy, 0);
				return -ENOMEM;
			}
			if (s->buf)
				vc_mem_unmap(s->buf, s->size);
			s->buf = buf;
			s->size = len;
		}
		atomic_store(&s->busy, 0);
	}
	return 0;
}

void *vc_scratch_get(size_t len, int *ret_slot)
{
	void *buf = NULL;

	for (int i = 0; i < SCRATCH_SLOTS; i++) {
		struct scratch_slot *s = &slots[i];
		uintptr_t expected = 0;

		if (atomic_load(&s->busy))
			continue;
		if (!atomic_compare_exchange_strong(&s->busy, &expected, me()))
			continue;
		if (s->size >= len) {
			*ret_slot = i;
			return s->buf;
		}
		atomic_store(&s->busy, 0);
	}
	if (vc_mem_map(len, PROT_READ | PROT_WRITE, &buf) < 0)
		return NULL;
	*ret_slot = -1;
	return buf;
}

/*
 * Large pooled buffers are handed back to the kernel as lazily freeable:
 * their contents are never read before being written again, and otherwise
 * one huge chunk would pin that much memory for the life of the process.
 */
#define SCRATCH_KEEP (64 * 1024)

void vc_scratch_put(void *buf, size_t len, int slot)
{
	if (slot < 0) {
		vc_mem_unmap(buf, len);
		return;
	}
	if (len > SCRATCH_KEEP)
		(void)vc_mem_advise(buf, len, MADV_FREE);
	atomic_store(&slots[slot].busy, 0);
}

/*
 * fork() child: threads that held slots in the parent do not exist here.
 * This thread's own slots stay held: it may have forked from inside a
 * regeneration callback that is still writing into one.
 */
void vc_scratch_fork_child(void)
{
	for (int i = 0; i < SCRATCH_SLOTS; i++)
		if (atomic_load(&slots[i].busy) != me())
			atomic_store(&slots[i].busy, 0);
}
