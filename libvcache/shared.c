/* SPDX-License-Identifier: MIT */
/*
 * shared.c - objects shared between processes: creating one on a memfd,
 * handing out its descriptor, opening it in another process
 *
 * No directory of names: a memfd has no name anyone else can open, and a
 * file in /dev/shm would outlive crashed processes and need permissions
 * and cleanup of its own. The descriptor is the capability: pass it over
 * a Unix socket (SCM_RIGHTS) or let a child inherit it. The object's name
 * travels in the memfd's header, and the opener's cache files the object
 * under that name, so vcache_object_lookup() works in every process.
 *
 * Mode per process (shared.h): with a userfaultfd (uffd caches, and
 * vrange caches on a kernel without shmem volatile ranges) the object's
 * mapping is registered in MISSING mode, so a hole faults (SIGBUS) instead
 * of reading zeros, and the object can be purged. Without one (soft and
 * none caches) a hole would read as zeros in this process, so its slot is
 * marked SLOT_UNPROTECTED, which stops every process from punching while
 * it is attached, and the holes it finds at open are filled first.
 *
 * The memfd is sealed against shrinking and growing (F_SEAL_SHRINK,
 * F_SEAL_GROW, F_SEAL_SEAL): a peer truncating it would turn the object
 * into SIGBUS the library could not repair.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "shared.h"

/*
 * Slots name processes by pid: every process must see the same pids, or
 * a live process would look dead and lose its pins. 0 if unknown.
 */
static uint64_t pid_namespace(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static size_t page_up(size_t n)
{
	return (n + vc_page_size - 1) & ~(vc_page_size - 1);
}

/* Header bytes for nchunks chunks; 0 if it would overflow. */
static size_t header_size(uint64_t nchunks)
{
	size_t fixed = sizeof(struct vc_shared_hdr) +
		       VC_SHARED_SLOTS * (sizeof(uint64_t) + sizeof(uint32_t));

	if (nchunks > (SIZE_MAX / 4) / (4 * (VC_SHARED_SLOTS + 1)))
		return 0;
	return page_up(fixed + 4 * nchunks * (VC_SHARED_SLOTS + 1));
}

static void layout(struct vc_shared *sh)
{
	uint8_t *p = (uint8_t *)sh->hdr + sizeof(struct vc_shared_hdr);

	sh->owners = (_Atomic uint64_t *)p;
	p += VC_SHARED_SLOTS * sizeof(uint64_t);
	sh->slot_flags = (_Atomic uint32_t *)p;
	p += VC_SHARED_SLOTS * sizeof(uint32_t);
	sh->state = (_Atomic uint32_t *)p;
	p += sh->hdr->nchunks * sizeof(uint32_t);
	sh->pins = (_Atomic uint32_t *)p;
}

static struct vc_shared *shared_new(int fd, size_t hdr_size, bool creator)
{
	struct vc_shared *sh = calloc(1, sizeof(*sh));
	void *h = NULL;

	if (!sh)
		return NULL;
	if (vc_mem_map_file(fd, 0, hdr_size, PROT_READ | PROT_WRITE, &h) < 0) {
		free(sh);
		return NULL;
	}
	sh->fd = fd;
	sh->hdr = h;
	sh->hdr_size = hdr_size;
	sh->creator = creator;
	atomic_store(&sh->slot, -1);
	pthread_mutex_init(&sh->lock, NULL);
	return sh;
}

void vc_shared_free(struct vc_shared *sh)
{
	if (!sh)
		return;
	vc_shared_slot_release(sh);
	vc_mem_unmap(sh->hdr, sh->hdr_size);
	close(sh->fd);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

/* --- fork ---------------------------------------------------------------- */

/*
 * The child shares the memfd but is another process: its own slot (the
 * parent's pins stay the parent's; the child starts with none), and the
 * pin lock fresh (another thread may have held it at the fork).
 * Single-threaded here, and fork.c held every cache and object lock
 * across the fork, so the lists are consistent without locks (taking a
 * lock of our own in a prepare handler would invert the order against
 * vc_shared_destroy(), which runs under the cache lock).
 */
static void fork_child(void)
{
	for (struct vcache *c = vc_caches; c; c = c->next)
		for (struct vcache_object *o = c->objects; o; o = o->next) {
			struct vc_shared *sh = o->shared;

			if (!sh || !o->data)
				continue;
			pthread_mutex_init(&sh->lock, NULL);
			atomic_store(&sh->slot, -1);
			for (size_t i = 0; i < o->nchunks; i++)
				atomic_fetch_and(&o->chunks[i],
						 ~CHUNK_PINS_MASK);
			(void)vc_shared_slot_claim(sh,
					sh->mode == VC_SHARED_NONE ?
						SLOT_UNPROTECTED : 0);
		}
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static int fork_err;

static void fork_register(void)
{
	fork_err = -pthread_atfork(NULL, NULL, fork_child);
}

/* --- setup (object.c) --------------------------------------------------- */

/*
 * uffd caches: userfaultfd only (the stock-kernel path, also on the
 * patched kernel when uffd is asked for). vrange caches: userfaultfd for
 * holes, plus the kernel's shmem volatile ranges where it has them. Both
 * need the process's userfaultfd: without it (soft, none, or refused)
 * holes would read as zeros here (VC_SHARED_NONE, see the top).
 */
static enum vc_shared_mode choose_mode(struct vc_shared *sh,
				       const struct vcache *c)
{
	sh->fv = vc_fvrange_available();
	if (c->backend == &vc_backend_uffd)
		return VC_SHARED_UFFD;
	if (c->backend == &vc_backend_vrange && vc_backend_uffd.get() == 0) {
		sh->uffd_ref = true;
		return sh->fv ? VC_SHARED_FVRANGE : VC_SHARED_UFFD;
	}
	return VC_SHARED_NONE;
}

/* The creator fills every chunk with the callback, straight in place. */
static int fill(struct vcache_object *o)
{
	int err = 0;

	vc_sigbus_open();
	for (size_t i = 0; i < o->nchunks && err == 0; i++) {
		size_t off = chunk_offset(o, i);

		err = o->regen(o, o->data + off, off, chunk_length(o, i),
			       o->userdata);
		if (err > 0 || err < -4095)
			err = -EIO;
	}
	vc_sigbus_close();
	return err;
}

int vc_shared_setup(struct vcache_object *o)
{
	struct vc_shared *sh = o->shared;
	struct vcache *c = o->cache;
	void *data = NULL;
	int err;

	err = pthread_once(&fork_once, fork_register) ? -ENOMEM : fork_err;
	if (err < 0)
		return err;
	sh->object = o;
	sh->mode = choose_mode(sh, c);
	err = vc_shared_slot_claim(sh, sh->mode == VC_SHARED_NONE ?
					       SLOT_UNPROTECTED : 0);
	if (err < 0)
		return err;
	err = vc_mem_map_file(sh->fd, (off_t)sh->hdr_size, o->map_size,
			      PROT_READ | PROT_WRITE, &data);
	if (err < 0)
		return err;
	o->data = data;
	(void)vc_mem_unlock(data, o->map_size); /* see object.c */
	(void)vc_mem_advise(data, o->map_size, MADV_NOHUGEPAGE);
	if (sh->creator) {
		vc_purge_before_shared(c, o->map_size);
		err = fill(o);
		if (err < 0)
			return err;
		memset(o->data + o->size, 0, o->map_size - o->size);
	}
	if (sh->mode != VC_SHARED_NONE) {
		err = vc_backend_uffd.attach(data, o->map_size);
		if (err < 0)
			return err;
	}
	err = vc_slab_publish(o, (uintptr_t)data, (uintptr_t)data + o->map_size);
	if (err < 0)
		return err;
	/* Unprotected: holes a purger left before we were counted. */
	if (!sh->creator && sh->mode == VC_SHARED_NONE) {
		err = vc_shared_fill_holes(o);
		if (err < 0)
			return err;
	}
	if (sh->creator && sh->mode == VC_SHARED_FVRANGE)
		vc_shared_mark_all_volatile(o);
	return 0;
}

void vc_shared_destroy(struct vcache_object *o)
{
	struct vc_shared *sh = o->shared;

	if (o->data) {
		if (sh->mode != VC_SHARED_NONE)
			vc_backend_uffd.detach(o->data, o->map_size);
		else /* soft: an area fork.c may have registered */
			o->cache->backend->detach(o->data, o->map_size);
		vc_mem_unmap(o->data, o->map_size);
	}
	if (sh->uffd_ref)
		vc_backend_uffd.put();
	vc_shared_free(sh);
}

/* --- public API ---------------------------------------------------------- */

_public_ int vcache_object_create_shared(vcache *cache, const char *name,
					 size_t size, size_t chunk_size,
					 vcache_regen_fn regen, void *userdata,
					 unsigned int flags,
					 vcache_object **ret_object)
{
	struct vc_shared *sh;
	struct vc_shared_hdr *h;
	char fdname[64];
	size_t hdr_size, map_size, nchunks, name_len;
	int fd;

	/* vc_object_new() checks the rest; the layout needs these first. */
	if (!cache || !name || !regen || !ret_object || size == 0)
		return -EINVAL;
	name_len = strnlen(name, VCACHE_NAME_MAX + 1);
	if (name_len == 0)
		return -EINVAL;
	if (name_len > VCACHE_NAME_MAX)
		return -ENAMETOOLONG;
	if (chunk_size == 0)
		chunk_size = vc_page_size;
	if (chunk_size % vc_page_size)
		return -EINVAL;
	if (size > PTRDIFF_MAX / 2 || chunk_size > PTRDIFF_MAX)
		return -EOVERFLOW;
	map_size = page_up(size);
	nchunks = (size + chunk_size - 1) / chunk_size;
	hdr_size = header_size(nchunks);
	if (!hdr_size || map_size > (size_t)PTRDIFF_MAX - hdr_size)
		return -EOVERFLOW;

	snprintf(fdname, sizeof(fdname), "vcache:%s", name);
	fd = memfd_create(fdname, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(hdr_size + map_size)) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int err = errno == EFBIG || errno == EINVAL ? -EOVERFLOW : -errno;

		close(fd);
		return err;
	}
	sh = shared_new(fd, hdr_size, true);
	if (!sh) {
		close(fd);
		return -ENOMEM;
	}
	h = sh->hdr;
	h->version = VC_SHARED_VERSION;
	h->nslots = VC_SHARED_SLOTS;
	h->size = size;
	h->chunk_size = chunk_size;
	h->nchunks = nchunks;
	h->hdr_size = hdr_size;
	h->page_size = vc_page_size;
	h->pidns = pid_namespace();
	memcpy(h->name, name, name_len + 1);
	/* Last: an opener that sees the magic sees the rest. */
	__atomic_store_n(&h->magic, VC_SHARED_MAGIC, __ATOMIC_RELEASE);
	layout(sh);
	return vc_object_new(cache, name, size, chunk_size, regen, userdata,
			     flags, sh, ret_object);
}

_public_ int vcache_object_fd(vcache_object *object)
{
	int err = vc_object_check(object);

	if (err < 0)
		return err;
	if (!object->shared)
		return -ENOTTY;
	return object->shared->fd;
}

/* Is fd a memfd made by vcache_object_create_shared()? 0 or -errno. */
static int check_fd(int fd, struct vc_shared_hdr *h)
{
	int seals = fcntl(fd, F_GET_SEALS);
	const int need = F_SEAL_SHRINK | F_SEAL_GROW;
	struct stat st;
	size_t hdr_size, map_size;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* Mapped shared and writable: regeneration writes into it. */
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
		return -EINVAL;
	if (seals < 0 || (seals & need) != need ||
	    pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h))
		return -EINVAL;
	if (h->magic != VC_SHARED_MAGIC || h->version != VC_SHARED_VERSION ||
	    h->nslots != VC_SHARED_SLOTS || h->page_size != vc_page_size ||
	    h->size == 0 || h->chunk_size == 0 ||
	    h->chunk_size % vc_page_size || h->size > PTRDIFF_MAX / 2 ||
	    h->nchunks != (h->size + h->chunk_size - 1) / h->chunk_size)
		return -EINVAL;
	map_size = page_up(h->size);
	hdr_size = header_size(h->nchunks);
	if (!hdr_size || h->hdr_size != hdr_size ||
	    (uint64_t)st.st_size != hdr_size + map_size)
		return -EINVAL;
	h->name[VCACHE_NAME_MAX] = '\0';
	if (h->pidns && pid_namespace() && h->pidns != pid_namespace())
		return -EXDEV;
	return 0;
}

_public_ int vcache_object_open_fd(vcache *cache, int fd,
				   vcache_regen_fn regen, void *userdata,
				   unsigned int flags,
				   vcache_object **ret_object)
{
	struct vc_shared_hdr h;
	struct vc_shared *sh;
	int err, own;

	if (!cache || !regen || !ret_object || fd < 0)
		return fd < 0 && cache && regen && ret_object ? -EBADF
							      : -EINVAL;
	err = check_fd(fd, &h);
	if (err < 0)
		return err;
	/* Ours, so that the caller may close theirs. */
	own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (own < 0)
		return -errno;
	sh = shared_new(own, h.hdr_size, false);
	if (!sh) {
		close(own);
		return -ENOMEM;
	}
	layout(sh);
	return vc_object_new(cache, h.name, h.size, h.chunk_size, regen,
			     userdata, flags, sh, ret_object);
}
