/* SPDX-License-Identifier: MIT */
/*
 * vcache.h - kernel-assisted volatile caches
 *
 * A cache holds named objects: page-aligned buffers whose contents the
 * program can regenerate through a callback. While an object is not pinned
 * it is *volatile*: the kernel may discard (purge) its pages under memory
 * pressure instead of swapping them. Two ways to use an object:
 *
 *  - explicit: vcache_pin() before use; it reports whether any chunk of the
 *    range was purged (and, with VCACHE_PIN_REGENERATE, refills it first);
 *    vcache_unpin() when done.
 *  - optimistic: read vcache_object_data() without pinning. A touch of a
 *    purged page raises SIGBUS; the library's handler regenerates that chunk
 *    in place through the callback and the access resumes. The chunk becomes
 *    volatile again by itself.
 *
 * Backends (see vcache_backend_status()):
 *  - VCACHE_BACKEND_VRANGE: the vrange(2) system call of the patched kernel
 *    (kernel/ in this project); used only when the running kernel advertises
 *    it in /sys/kernel/mm/vrange/syscall_nr.
 *  - VCACHE_BACKEND_UFFD: stock kernels >= 5.11: MADV_FREE marks pages
 *    volatile, userfaultfd (UFFD_USER_MODE_ONLY, UFFD_FEATURE_SIGBUS) turns a
 *    touch of a purged page into SIGBUS.
 *  - VCACHE_BACKEND_SOFT: where userfaultfd is refused (container seccomp
 *    profiles, gVisor, kernels < 5.11): the kernel discards nothing by
 *    itself; the library purges (mprotect(PROT_NONE) + MADV_DONTNEED) when
 *    its memory-pressure watcher sees a shortage (see vcache_pressure()),
 *    on vcache_purge*() and in strict mode. A touch of a purged page raises
 *    SIGSEGV, which the library handles like the SIGBUS of the other
 *    backends. It only sees the pressure its watcher sees: a sudden
 *    allocation faster than the watcher can react can still meet the OOM
 *    killer.
 *  - VCACHE_BACKEND_NONE: never purges (valgrind, debugging, fallback).
 *
 * SIGSEGV (soft backend only): the first soft cache installs a SIGSEGV
 * handler with sigaction() (SA_SIGINFO | SA_NODEFER | SA_RESTART; the
 * area lookup uses GNU libsigsegv's dispatcher, not its global handler,
 * which would discard handlers installed before it). A SIGSEGV that is not
 * a SEGV_ACCERR on a purged page of a soft object goes to the handler that
 * was installed before the library's, with that handler's mask and flags,
 * or gets the default action: a program's own handler, a runtime's or a
 * sanitizer's installed first keeps working unchanged. A handler (or
 * libsigsegv's sigsegv_install_handler()) installed *after* the first soft
 * cache must pass faults it does not recognise to the handler it
 * replaced, as sigaction() returned it; libsigsegv's does not, so a
 * program using libsigsegv must install its handler before the first
 * vcache_new(). The last soft cache restores the previous handler if the
 * library's is still the current one.
 *
 * Conventions: functions return 0 (or a documented non-negative value) on
 * success and a negative errno on failure; output parameters are named
 * ret_* and are written only on success. Destructors accept NULL. The
 * library never prints, except the documented message of the default
 * optimistic-regeneration failure policy.
 *
 * Thread safety: every function may be called concurrently from any thread
 * on any cache or object, unless stated otherwise below.
 *
 * Signal safety: only vcache_object_data(), vcache_object_size(),
 * vcache_object_chunk_size(), vcache_object_name(),
 * vcache_backend_name() and vcache_pressure() are async-signal-safe. A regeneration callback may
 * run inside the library's SIGBUS handler (see vcache_regen_fn): it may call
 * those functions and may read or write other objects optimistically, but
 * must not call any other vcache function.
 *
 * Errors common to every function taking a pointer: a NULL cache, object,
 * name or ret_* pointer gives -EINVAL; an object handle whose object has
 * already been freed gives -ESTALE where that is detectable (the library
 * never reuses the memory of an object handle for anything but another
 * object handle, so the check cannot crash).
 *
 * Error table:
 *   function                 errno        cause
 *   vcache_new               -EINVAL      opts->size too small or unknown
 *                                         opts->flags bits, bad backend value,
 *                                         VCACHE_BACKEND names no backend,
 *                                         VCACHE_STRICT not "0" or "1"
 *                            -ENOSYS      forced vrange backend, kernel has
 *                                         no vrange(2)
 *                            -EPERM,...   forced uffd backend refused: the
 *                                         errno userfaultfd(2) gave
 *                            -ENOMEM      out of memory
 *   vcache_free              -EBUSY       an object is pinned or a handle
 *                                         to one is still held
 *   vcache_object_create     -EINVAL      empty name, size 0, chunk size not
 *                                         a multiple of the page size, NULL
 *                                         regen, unknown flags, both
 *                                         PURGE_FIRST and KEEP
 *                            -ENAMETOOLONG name longer than
 *                                         VCACHE_NAME_MAX
 *                            -EOVERFLOW   size too large to map
 *                            -EEXIST      name already in the cache
 *                            -ENOMEM      out of memory / address space
 *                            <callback>   the regen callback failed
 *                                         while filling the new object
 *   vcache_object_lookup     -ENOENT      no object of that name
 *   vcache_object_remove     -EBUSY       some chunk is pinned
 *                            -ENOENT      already removed
 *   vcache_pin[_range]       -EINVAL      unknown flags, length 0, range
 *                                         outside the object
 *                            -EOVERFLOW   pin count would overflow
 *                            <callback>   VCACHE_PIN_REGENERATE and the
 *                                         callback failed (the range stays
 *                                         pinned, caller must refill)
 *   vcache_unpin[_range]     -EINVAL      length 0, range outside the
 *                                         object, or a chunk in the range
 *                                         is not pinned (double unpin);
 *                                         nothing is changed
 *   vcache_read / _write     as vcache_pin_range, plus -errno of
 *                            read(2) / write(2)
 *   vcache_purge[_range]     -EINVAL      length 0, range outside the object
 *   vcache_purge_cache       -ENOMEM      out of memory (nothing purged)
 *   vcache_object_set_priority -EINVAL    not a VCACHE_PRIORITY_* value
 */
#ifndef VCACHE_H
#define VCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VCACHE_NAME_MAX 255

typedef struct vcache vcache;
typedef struct vcache_object vcache_object;

/*
 * Regeneration callback: write the object's bytes [offset, offset + length)
 * into dst (dst points to a buffer of at least length bytes, which is *not*
 * necessarily inside the object: under the uffd backend it is a scratch
 * buffer installed atomically afterwards). offset is a multiple of the
 * object's chunk size; length is the chunk size, or less for the last chunk.
 * Must write every byte and must produce the object's contents (the library
 * may keep unpurged pages of a partially purged chunk). Return 0 or a
 * negative errno.
 *
 * Called from vcache_object_create() (every chunk), from vcache_pin*() with
 * VCACHE_PIN_REGENERATE, and from the SIGBUS handler on the thread whose
 * access faulted (signal context: see "Signal safety" above; it must not
 * take a lock the faulting code may hold). A chunk is regenerated once even
 * when several threads fault on it; the others wait.
 */
typedef int (*vcache_regen_fn)(vcache_object *object, void *dst,
			       size_t offset, size_t length, void *userdata);

/*
 * Called on the faulting thread, in signal context, when optimistic
 * regeneration failed (error is the callback's negative errno). It may
 * siglongjmp() out of the access; if it returns, the default policy
 * applies: a message naming the object and offset is written to stderr
 * with write(2), then abort().
 */
typedef void (*vcache_regen_failure_fn)(vcache_object *object, size_t offset,
					int error, void *userdata);

enum vcache_backend {
	VCACHE_BACKEND_AUTO = 0, /* VCACHE_BACKEND env, else vrange, uffd,
				  * soft, none */
	VCACHE_BACKEND_VRANGE,
	VCACHE_BACKEND_UFFD,
	VCACHE_BACKEND_NONE,
	VCACHE_BACKEND_SOFT,     /* appended: the values are ABI */
	_VCACHE_BACKEND_MAX,
};

struct vcache_options {
	size_t size;                 /* sizeof(struct vcache_options) */
	enum vcache_backend backend; /* default AUTO; env VCACHE_BACKEND */
	unsigned int idle_delay_ms;  /* delay from last unpin to volatile;
				      * 0 = at once (default);
				      * env VCACHE_IDLE_DELAY_MS */
	unsigned int flags;          /* VCACHE_OPT_*; env VCACHE_STRICT=1 */
	vcache_regen_failure_fn on_regen_failure; /* NULL: message + abort */
	void *on_regen_failure_userdata;
};

/*
 * Strict mode, for testing programs: every chunk is purged at once when
 * its last pin is released (the idle delay is ignored), so code that
 * keeps using memory after vcache_unpin() sees regenerated contents on the
 * first run instead of after a rare purge in production. Also enabled by
 * the environment variable VCACHE_STRICT=1 (0 or unset: as the option
 * says; anything else makes vcache_new() fail with -EINVAL). No effect on
 * the none backend, which cannot purge.
 */
#define VCACHE_OPT_STRICT (1u << 0)

/* Fill opts with the defaults (environment not applied). */
void vcache_options_init(struct vcache_options *opts);

/*
 * Create a cache. opts may be NULL for the defaults. Environment variables
 * override the backend and idle delay only where opts leaves them at the
 * default. The first cache of the process installs the SIGBUS handler.
 */
int vcache_new(const struct vcache_options *opts, vcache **ret_cache);

/*
 * Free a cache and every object left in it. Fails with -EBUSY (changing
 * nothing) while any object is pinned or any handle is still held. NULL:
 * returns 0. The last cache of the process restores the previous SIGBUS
 * handler.
 */
int vcache_free(vcache *cache);

/* The backend the cache uses. */
enum vcache_backend vcache_backend(const vcache *cache);
/* "vrange", "uffd", "soft", "none", "auto", or NULL for an unknown value. */
const char *vcache_backend_name(enum vcache_backend backend);
/*
 * Whether a backend is usable on this system, as probed when the cache was
 * created: 0 if usable, else the negative errno that refused it. If
 * ret_reason is non-NULL it receives a static, human-readable reason (or
 * NULL when usable).
 */
int vcache_backend_status(const vcache *cache, enum vcache_backend backend,
			  const char **ret_reason);

/*
 * Purge priority of an object: the order in which the library's own
 * purges (vcache_purge_cache(), the response to memory pressure) take
 * objects: purge-first, then normal, then keep-if-possible objects, and
 * within a class the least recently unpinned first. On the soft backend
 * this is the whole order. On uffd and vrange the kernel also reclaims by
 * itself, in its own LRU order; there the library purges purge-first
 * objects as soon as its watcher sees pressure, so they go before the
 * kernel takes anything else, and the other classes are left to the
 * kernel (keep-if-possible is then only a wish). Set at creation with
 * VCACHE_OBJECT_PURGE_FIRST or VCACHE_OBJECT_KEEP (not both), or later
 * with vcache_object_set_priority().
 */
enum vcache_priority {
	VCACHE_PRIORITY_NORMAL = 0,
	VCACHE_PRIORITY_PURGE_FIRST = 1,
	VCACHE_PRIORITY_KEEP = 2,
};
#define VCACHE_OBJECT_PURGE_FIRST (1u << 0) /* vcache_object_create flags */
#define VCACHE_OBJECT_KEEP (1u << 1)

/*
 * Create an object of size bytes (rounded up internally to a whole number
 * of chunks; the rounding is not addressable through the API) whose chunks
 * of chunk_size bytes (0: the page size) are regenerated by regen. The
 * object is filled by calling regen for every chunk, then left volatile.
 * *ret_object receives a handle (one reference); the cache keeps the
 * object, findable by name, until vcache_object_remove(). flags: 0, or
 * one purge priority, VCACHE_OBJECT_PURGE_FIRST or VCACHE_OBJECT_KEEP.
 */
int vcache_object_create(vcache *cache, const char *name, size_t size,
			 size_t chunk_size, vcache_regen_fn regen,
			 void *userdata, unsigned int flags,
			 vcache_object **ret_object);

/* Find an object by name; *ret_object receives a new reference. */
int vcache_object_lookup(vcache *cache, const char *name,
			 vcache_object **ret_object);

/* Take another reference. Returns object. */
vcache_object *vcache_object_ref(vcache_object *object);

/* Drop a reference. Accepts NULL; returns NULL. */
vcache_object *vcache_object_unref(vcache_object *object);

/*
 * Remove an object from its cache: its name is free at once, its memory is
 * released when the last reference is dropped. Fails with -EBUSY while any
 * chunk is pinned.
 */
int vcache_object_remove(vcache_object *object);

/* Accessors; async-signal-safe. NULL for NULL / 0 for NULL. */
void *vcache_object_data(vcache_object *object);
size_t vcache_object_size(const vcache_object *object);
size_t vcache_object_chunk_size(const vcache_object *object);
const char *vcache_object_name(const vcache_object *object);

#define VCACHE_PIN_REGENERATE (1u << 0) /* refill purged chunks first */

enum {
	VCACHE_INTACT = 0, /* no chunk of the range was purged */
	VCACHE_PURGED = 1, /* at least one chunk was purged */
};

/*
 * Pin the chunks overlapping [offset, offset + length): they are
 * non-volatile until unpinned as often as pinned. Returns VCACHE_INTACT or
 * VCACHE_PURGED, exact for those chunks (a purge elsewhere in the object is
 * not reported), or a negative errno with nothing pinned. Without
 * VCACHE_PIN_REGENERATE a purged chunk's contents are undefined and the
 * caller refills them while pinned; with it the chunks are regenerated
 * before return (the result is still VCACHE_PURGED, so the caller knows).
 */
int vcache_pin_range(vcache_object *object, size_t offset, size_t length,
		     unsigned int flags);
int vcache_pin(vcache_object *object, unsigned int flags);

/*
 * Undo one pin of the chunks overlapping the range. A chunk whose count
 * reaches zero becomes volatile at once, or after the cache's idle delay
 * (a pin within the delay costs no system call).
 */
int vcache_unpin_range(vcache_object *object, size_t offset, size_t length);
int vcache_unpin(vcache_object *object);

/*
 * Pinned I/O. A purged page handed to a system call makes that call fail
 * with EFAULT (the kernel does not regenerate it); these helpers pin the
 * range with VCACHE_PIN_REGENERATE around write(2)/read(2). They return the
 * byte count of the system call (which may be short) or a negative errno.
 */
ssize_t vcache_write(int fd, vcache_object *object, size_t offset,
		     size_t length);
ssize_t vcache_read(int fd, vcache_object *object, size_t offset,
		    size_t length);

/*
 * Set / get an object's purge priority (enum vcache_priority). set: 0 or
 * -EINVAL for another value; get: the priority or a negative errno. Take
 * effect at the next purge.
 */
int vcache_object_set_priority(vcache_object *object, int priority);
int vcache_object_priority(const vcache_object *object);

/*
 * Purge now, for real: the unpinned chunks' pages are discarded at once
 * (soft: mprotect(PROT_NONE) + MADV_DONTNEED; uffd: MADV_DONTNEED on the
 * userfaultfd range; vrange: MADV_PAGEOUT, the kernel's reclaim). A later
 * touch regenerates them (optimistic) and a pin reports VCACHE_PURGED.
 * Pinned chunks are skipped, and so are chunks still inside their idle
 * delay (not volatile yet: in use). Under the none backend nothing is
 * purged.
 *
 * vcache_purge_range: the whole pages overlapping [offset, offset +
 * length) of chunks that are not pinned (a chunk may lose only some of
 * its pages). vcache_purge: the whole object. vcache_purge_cache: whole
 * objects of the cache, in purge-priority order, until at least bytes
 * bytes have been freed (SIZE_MAX: everything unpinned); bytes 0 does
 * nothing.
 *
 * Return: the number of bytes freed by this call (pages resident before
 * and not after, so already purged pages are not counted again, and pages
 * the kernel declined to reclaim are not counted), or a negative errno:
 * -EINVAL for a NULL handle, length 0 or a range outside the object,
 * -ESTALE for a freed object. Normal context only; may wait for a chunk
 * being regenerated by another thread.
 */
ssize_t vcache_purge_range(vcache_object *object, size_t offset,
			   size_t length);
ssize_t vcache_purge(vcache_object *object);
ssize_t vcache_purge_cache(vcache *cache, size_t bytes);

/*
 * Memory pressure as the library's watcher last saw it: one of the levels
 * below. The watcher runs while a cache whose backend can purge exists
 * (otherwise the level is VCACHE_PRESSURE_NONE). It reads the process's
 * memory cgroup (v1 memory.pressure_level and a usage threshold; v2
 * memory.pressure PSI trigger and memory.events), /proc/pressure/memory,
 * and polls usage against the cgroup limit and MemAvailable (every second,
 * every 100 ms when memory is tight). LOW: an event or less than twice
 * the margin left (the margin is 1/8 of the cgroup limit, or of half the
 * RAM without one, 4 to 512 MiB); MEDIUM: less than the margin;
 * CRITICAL: less than half of it. The soft backend purges until 4
 * margins are free again; it also checks before filling a new object and
 * before a pin with VCACHE_PIN_REGENERATE of a volatile chunk. In the
 * child of fork() the watcher thread is started again by the next
 * vcache_new(), object creation or regenerating pin there.
 * Async-signal-safe (one atomic load).
 */
enum {
	VCACHE_PRESSURE_NONE = 0,
	VCACHE_PRESSURE_LOW = 1,
	VCACHE_PRESSURE_MEDIUM = 2,
	VCACHE_PRESSURE_CRITICAL = 3,
};
int vcache_pressure(void);

struct vcache_stats {
	uint64_t objects;        /* objects in the cache */
	uint64_t bytes_pinned;   /* bytes in chunks with a pin count > 0 */
	uint64_t bytes_volatile; /* bytes in chunks marked volatile */
	uint64_t purges;         /* purged chunks found (pin or fault) */
	uint64_t regenerations;  /* chunks regenerated (create excluded) */
	uint64_t regen_ns;       /* time spent in those regenerations */
	uint64_t faults;         /* SIGBUS-driven regenerations */
};

/* Snapshot the cache's counters. */
int vcache_stats_get(vcache *cache, struct vcache_stats *ret_stats);

#ifdef __cplusplus
}
#endif

#endif /* VCACHE_H */
