/* SPDX-License-Identifier: MIT */
/*
 * pagemap.c - which object owns an address, in constant time, lock-free
 *
 * The SIGBUS handler must map a faulting address to its object without
 * locks or allocation, and before this it scanned every object (15 us per
 * fault with a few objects, 105 us with 64k). A radix tree over the page
 * number, shaped like the CPU's page tables: 9 bits per level, six levels
 * (54 bits, more than any user page number), a leaf slot per page holding
 * the owner. A lookup is six dependent atomic loads whatever the number
 * of objects. Nodes are one page each, taken from the slab's metadata
 * pools when first needed (normal context, under the slab lock: one
 * mapping per 8 MiB of nodes, not one per node) and never freed, so a reader can never
 * follow a pointer into freed memory; a slot is set after its object is
 * fully set up and cleared before it is torn down, and the reader checks
 * the object's own region afterwards anyway (slab.c). Cost: 8 bytes per
 * object page plus the interior nodes (about 0.2% of object memory).
 * Objects carved from arenas (arena.c) are not in the tree: their arena's
 * slot table costs 8 bytes per object instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>

#include "internal.h"

#define LEVEL_BITS 9
#define LEVEL_SLOTS VC_PAGEMAP_SLOTS
#define LEVELS 6

/* Every node has the shape of the root. */
#define node vc_pagemap

static unsigned int page_shift(void)
{
	return (unsigned int)__builtin_ctzl(vc_page_size);
}

static unsigned int index_at(uintptr_t key, int level)
{
	return (unsigned int)(key >> (LEVEL_BITS * (LEVELS - 1 - level))) &
	       (LEVEL_SLOTS - 1);
}

/* The leaf node for key, allocating the path if create. */
static struct node *leaf_for(struct vc_pagemap *m, uintptr_t key, bool create)
{
	struct node *n = m;

	for (int level = 0; level < LEVELS - 1; level++) {
		void *_Atomic *s = &n->slot[index_at(key, level)];
		struct node *next = atomic_load_explicit(s,
							 memory_order_acquire);

		if (!next) {
			if (!create)
				return NULL;
			next = vc_meta_alloc(sizeof(*next));
			if (!next)
				return NULL;
			/* Zero-filled by the kernel: publish it. */
			atomic_store_explicit(s, next, memory_order_release);
		}
		n = next;
	}
	return n;
}

/* Caller holds the slab lock (writers are serialised). */
int vc_pagemap_set(struct vc_pagemap *m, uintptr_t start, size_t len,
		   void *value)
{
	uintptr_t key = start >> page_shift();
	uintptr_t end = (start + len + vc_page_size - 1) >> page_shift();
	struct node *leaf = NULL;

	for (; key < end; key++) {
		if (!leaf || index_at(key, LEVELS - 1) == 0) {
			leaf = leaf_for(m, key, value != NULL);
			if (!leaf) {
				if (value)
					return -ENOMEM;
				/* Nothing was ever set under this leaf. */
				key |= LEVEL_SLOTS - 1;
				continue;
			}
		}
		atomic_store_explicit(&leaf->slot[index_at(key, LEVELS - 1)],
				      value, memory_order_release);
	}
	return 0;
}

/* Async-signal-safe: atomic loads of never-freed memory. */
void *vc_pagemap_get(struct vc_pagemap *m, uintptr_t addr)
{
	uintptr_t key = addr >> page_shift();
	struct node *leaf = leaf_for(m, key, false);

	if (!leaf)
		return NULL;
	return atomic_load_explicit(&leaf->slot[index_at(key, LEVELS - 1)],
				    memory_order_acquire);
}
