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
 * a SEGV_ACCERR on a purged page of a soft object goes to the action
 * installed before the library's, applied by the same rules as a foreign
 * SIGBUS (see "Living with other SIGBUS users"; SIGSEGV has no
 * asynchronous positive si_code, so with SIG_IGN only sent SIGSEGVs,
 * si_code <= 0, are ignored): a program's own handler, a runtime's or a
 * sanitizer's installed first keeps working unchanged. vcache_new()
 * re-installs the SIGSEGV handler over SIG_DFL and SIG_IGN, and
 * vcache_sigbus_check() checks and re-installs it too. A handler (or
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
 * vcache_backend_name(), vcache_backend_from_name(), vcache_version(),
 * vcache_options_init() and vcache_pressure() are async-signal-safe. A
 * regeneration callback may run inside the library's SIGBUS handler (see
 * vcache_regen_fn): it may call
 * those functions and may read or write other objects optimistically, but
 * must not call any other vcache function. It may fork() (the library holds
 * no lock across a callback). fork() from a signal handler that interrupted
 * a vcache call on the same thread may still block in the library's
 * pre-fork handler, as it may in malloc's.
 *
 * Any signal handler may read objects optimistically (a purged page is
 * regenerated from inside it), also when it interrupts the library itself
 * (a pin's page probe, a regeneration), with two conditions:
 *  - SIGBUS (SIGSEGV for soft objects) must not be blocked while it runs
 *    (not in its sa_mask): the kernel kills a thread that faults with it
 *    blocked before any handler runs. (The library's own work unblocks
 *    SIGBUS and SIGSEGV for itself, whatever mask it was called with:
 *    under TSan, or chained to from a handler without SA_NODEFER,
 *    everything still works.)
 *  - impossible case: it must not need a purged page of a chunk that its
 *    own thread is regenerating, pinning or purging (vcache_purge*()) at
 *    that moment (the handler would wait for itself). The library then writes "vcache: object
 *    '<name>' at offset <n>: this thread touched a purged page of a chunk
 *    it is regenerating or pinning itself ..." to stderr and aborts (after
 *    calling on_regen_failure with -EDEADLK, which may siglongjmp()). It
 *    never hangs. Handlers that read the same objects should block each
 *    other (sa_mask) to stay clear of it. (x86-64 tells the pin's page
 *    probe from such a handler by the faulting instruction; elsewhere the
 *    probe claims any fault on the page it is writing, so there this case
 *    ends the handler early instead of with the message.)
 *
 * Living with other SIGBUS users (runtimes, sanitizers, crash reporters):
 * the first cache whose backend can purge (vrange, uffd, soft; not none,
 * which installs nothing) installs one process-wide SIGBUS handler with
 * SA_SIGINFO | SA_NODEFER | SA_RESTART (not SA_ONSTACK: regeneration may
 * need more stack than an alternate stack has); the last such
 * vcache_free() restores the previous action if the library's handler is
 * still the current one. A SIGBUS that is not a fault on a purged object
 * page is handed to the action that was installed before, exactly as the
 * kernel would have applied it:
 *  - SIG_DFL: the process dies of that SIGBUS (the signal is re-queued
 *    with its own siginfo), whatever its si_code (faults, BUS_MCEERR_AO,
 *    sigqueue()).
 *  - SIG_IGN: sent signals (si_code <= 0) and BUS_MCEERR_AO are ignored;
 *    other positive si_codes are synchronous faults, which the kernel
 *    never lets a program ignore: default action.
 *  - a handler: called with its sa_mask plus SIGBUS (unless SA_NODEFER)
 *    blocked, reset first if SA_RESETHAND (once, as the kernel would),
 *    with siginfo and context if SA_SIGINFO, and, if SA_ONSTACK and the
 *    thread has an alternate signal stack it is not already on, on that
 *    stack (x86-64: the library switches stacks for the call; on other
 *    architectures it runs on the current stack). SS_AUTODISARM is not
 *    emulated.
 * A handler installed after the library that calls the action it replaced
 * (the usual courtesy) works: the library does its work whatever mask that
 * handler runs with. If the previous handler resets SIGBUS to SIG_DFL or
 * SIG_IGN while it runs (Rust's std does), that becomes the previous
 * action and the library's handler is put back on top.
 *
 * A program that changes SIGBUS after vcache_new() must keep the library
 * reachable: either install its handler chaining to the action it
 * replaced (sigaction()'s third argument), or call
 * vcache_sigbus_check(VCACHE_SIGBUS_REINSTALL) after the change (not over
 * a handler that chains to the library). vcache_new() re-installs by
 * itself over SIG_DFL and SIG_IGN. Sanitizers: ASan must not take SIGBUS
 * over (ASAN_OPTIONS=handle_sigbus=0); TSan works (it runs handlers with
 * every signal blocked, so a handler of the program cannot fault on
 * purged memory there, see above).
 *
 * Descriptors, locked memory, fork(): the uffd backend's userfaultfd is
 * checked (one fstat(2)) on every operation that depends on it; closed
 * behind the library's back (close_range() in a daemon) or impossible to
 * reopen in a fork() child (seccomp, RLIMIT_NOFILE), the cache becomes
 * "lost": its objects become inaccessible (PROT_NONE: a read crashes with
 * SIGSEGV, never returns zeros), vcache_pin*(), vcache_read(),
 * vcache_write() and vcache_object_create() fail with -EBADF (closed) or
 * the errno userfaultfd(2) gave in the child (-EPERM ...), while unpin,
 * remove, unref and vcache_free() still work; free and re-create the cache.
 * Reads between the loss and the next vcache call cannot be checked.
 * Object memory is never locked: vcache_object_create() munlock()s it
 * (mlockall(MCL_FUTURE) would make it impossible to purge and fail
 * creation). Objects locked again later (mlockall(MCL_CURRENT)) are simply
 * never purged until unlocked.
 *
 * Errors common to every function taking a pointer: a NULL cache, object,
 * name or ret_* pointer gives -EINVAL; an object handle whose object has
 * already been freed gives -ESTALE where that is detectable (the library
 * never reuses the memory of an object handle for anything but another
 * object handle, so the check cannot crash).
 *
 * Extensible structs (struct vcache_options, struct vcache_stats) follow
 * the rule of the kernel's clone3(2) and openat2(2): the caller says how
 * big its struct is (opts->size; the size argument of vcache_stats_get()).
 * A size smaller than the library's is accepted down to the first published
 * layout (VCACHE_OPTIONS_SIZE_VER0, VCACHE_STATS_SIZE_VER0): options the
 * caller's struct lacks take their defaults, counters it lacks are not
 * written. A size larger than the library's is accepted only if every byte
 * the library does not know is zero (-E2BIG otherwise, nothing done): a
 * program built against a newer header runs against an older library as
 * long as it leaves the newer fields at zero. A size above 4096 bytes is
 * -E2BIG without reading the struct (as clone3(2) refuses more than a
 * page). Fields are only ever appended, and the zero value of every option
 * is its default.
 *
 * Error table (the man pages' ERRORS sections are checked against it):
 *   function                 errno        cause
 *   vcache_new               -EINVAL      opts->size smaller than
 *                                         VCACHE_OPTIONS_SIZE_VER0, unknown
 *                                         opts->flags bits, bad backend value,
 *                                         VCACHE_BACKEND names no backend,
 *                                         VCACHE_STRICT not "0" or "1"
 *                            -E2BIG       opts->size larger than the
 *                                         library's and a byte it does not
 *                                         know is non-zero, or above 4096
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
 *   vcache_read, vcache_write as vcache_pin_range, plus -errno of
 *                            read(2) / write(2)
 *   vcache_backend_from_name -ENOENT      no backend of that name
 *   vcache_stats_get         -EINVAL      size smaller than
 *                                         VCACHE_STATS_SIZE_VER0
 *                            -E2BIG       size larger than the library's
 *                                         and a byte it does not know is
 *                                         non-zero, or above 4096
 *   vcache_pin[_range]       -EBADF       (uffd) the library's userfaultfd
 *                                         was closed behind its back (also
 *                                         vcache_read, vcache_write)
 *                            <errno>      (uffd) fork() child could not
 *                                         open its own (e.g. -EPERM); see
 *                                         "Descriptors" above
 *   vcache_object_create     -EBADF       as vcache_pin_range
 *                            <errno>      as vcache_pin_range
 *   vcache_sigbus_check      -EINVAL      unknown flags
 *   vcache_purge[_range]     -EINVAL      length 0, range outside the object
 *   vcache_purge_cache       -ENOMEM      out of memory (nothing purged)
 *   vcache_object_set_priority -EINVAL    not a VCACHE_PRIORITY_* value
 *   vcache_object_create_shared -EINVAL   same causes as for
 *                                         vcache_object_create
 *                            -EBADF       (uffd) the cache is lost, as
 *                                         for vcache_object_create
 *                            -ENAMETOOLONG name longer than
 *                                         VCACHE_NAME_MAX
 *                            -EOVERFLOW   size too large to map
 *                            -EEXIST      name already in the cache
 *                            -ENOMEM      out of memory / address space
 *                            -EMFILE      no descriptor left for the memfd
 *                            <callback>   the regen callback failed
 *                                         while filling the new object
 *   vcache_object_open_fd    -EBADF       fd is not an open descriptor
 *                            -EINVAL      NULL cache, regen or ret_object,
 *                                         unknown flags, or fd is not a
 *                                         memfd made by
 *                                         vcache_object_create_shared
 *                                         (header, size, seals, version or
 *                                         page size do not match), or not
 *                                         open for reading and writing
 *                            -EEXIST      the object's name is already in
 *                                         this cache
 *                            -EUSERS      32 live processes already have
 *                                         the object open
 *                            -EXDEV       the creator is in another pid
 *                                         namespace
 *                            -EMFILE      no descriptor left for the copy
 *                            -ENOMEM      out of memory / address space
 *                            <callback>   (soft, none) the regen callback
 *                                         failed filling a purged chunk
 *   vcache_object_fd         -ENOTTY      not a shared object
 *   vcache_pin[_range]       -EUSERS      (shared object) a fork() child
 *                                         found no free process slot
 */
#ifndef VCACHE_H
#define VCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vcache-version.h" /* VCACHE_VERSION_* (generated by meson) */

#ifdef __cplusplus
extern "C" {
#endif

/*
 * VCACHE_VERSION_CHECK(major, minor, micro): true if this header is that
 * version or newer (compile time). vcache_version() gives the version of
 * the library actually loaded, as VCACHE_VERSION_ENCODE() of its parts;
 * compare the two to detect running against an older library. All three
 * work in #if.
 */
#define VCACHE_VERSION_ENCODE(major, minor, micro) \
	((major) * 65536UL + (minor) * 256UL + (micro))
#define VCACHE_VERSION \
	VCACHE_VERSION_ENCODE(VCACHE_VERSION_MAJOR, VCACHE_VERSION_MINOR, \
			      VCACHE_VERSION_MICRO)
#define VCACHE_VERSION_CHECK(major, minor, micro) \
	(VCACHE_VERSION >= VCACHE_VERSION_ENCODE(major, minor, micro))

/* The loaded library's VCACHE_VERSION. Async-signal-safe. */
unsigned long vcache_version(void);

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

/* Values are ABI: new backends are appended. */
enum vcache_backend {
	VCACHE_BACKEND_AUTO = 0, /* VCACHE_BACKEND env, else vrange, uffd,
				  * soft, none */
	VCACHE_BACKEND_VRANGE,
	VCACHE_BACKEND_UFFD,
	VCACHE_BACKEND_NONE,
	VCACHE_BACKEND_SOFT,     /* appended: the values are ABI */
};

/*
 * Extensible (see "Extensible structs" above): set size, leave what you do
 * not use zero, or start from vcache_options_init().
 */
struct vcache_options {
	size_t size;                 /* sizeof(struct vcache_options) */
	enum vcache_backend backend; /* default AUTO; env VCACHE_BACKEND */
	unsigned int idle_delay_ms;  /* delay from last unpin to volatile,
				      * pressure-aware (see below); 0 =
				      * the default, VCACHE_IDLE_DELAY_
				      * DEFAULT_MS; env VCACHE_IDLE_DELAY_MS
				      * (0 there: at once); at once:
				      * VCACHE_OPT_NO_IDLE_DELAY */
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

/*
 * The idle delay. After the last unpin of a chunk (and after the SIGBUS
 * handler regenerated a chunk) the library waits idle_delay_ms before
 * handing the chunk back to the kernel as volatile, so an object pinned
 * again soon costs no system call, and regenerated chunks are handed back
 * in batches. Each object's delay learns from its use: a pin that finds
 * chunks its delay handed back still whole sets the object's delay to
 * twice the time since its last unpin, if that time was longer than the
 * object's delay and shorter than ten times the cache's (never more than
 * that), and a pin that finds a purge sets it back to the cache's. Memory inside the delay cannot be reclaimed (without swap it
 * is dirty anonymous memory), so the delay gives way to memory pressure:
 * the bytes the process holds inside delays stay under a cap the pressure
 * watcher sets at each look from what the kernel could still give in the
 * tightest scope (free memory plus what it reclaims without swap: in a
 * memory cgroup the process's volatile pages still resident, as
 * LazyFree in /proc/self/smaps_rollup; system-wide MemAvailable; plus
 * what the delays hold) less a margin of 1/8 of the limit, and less
 * two margins while a memory cgroup is at its limit (less than the
 * reserve free, see "Making room ahead" below: the library itself keeps
 * that much free), so that free or lazy-free memory is always left for
 * the kernel to take without swap; system-wide 0 while less than a
 * margin is available, and at most a quarter of MemAvailable (other
 * processes compete for it); the delay
 * is skipped for an unpin whose newly held chunks, counted twice, would
 * pass the cap (the memory was filled out of the margin the cap leaves,
 * and the next regeneration like it fills as much again before the
 * watcher looks), and a look that finds the delays holding more than
 * the cap ends the delays of the least recently used objects (the order
 * of "Making room ahead" below) until they hold no more than the cap: up
 * to 16 objects per cache, then every delay; and every delay when the
 * cap is 0. So a memory cgroup filled by its own volatile cache, even
 * at its limit, keeps its hot objects inside the delay while the cold
 * ones stay volatile for the kernel to reclaim; plain memory growing
 * towards the limit, which leaves less lazy-free memory, ends the
 * delays, the least recently used first. The library's own check before
 * it fills memory (a creation or regenerating pin on the soft backend, a
 * fill of a shared object) still ends every delay while the group is at
 * its limit.
 * The default is VCACHE_IDLE_DELAY_DEFAULT_MS; VCACHE_OPT_NO_IDLE_DELAY
 * (with idle_delay_ms 0, else -EINVAL) makes chunks volatile at their
 * last unpin, as strict mode does without purging them.
 */
#define VCACHE_OPT_NO_IDLE_DELAY (1u << 1)
#define VCACHE_IDLE_DELAY_DEFAULT_MS 100u

/* Size of the first published struct vcache_options (vcache 1.0). */
#define VCACHE_OPTIONS_SIZE_VER0 \
	(offsetof(struct vcache_options, on_regen_failure_userdata) + \
	 sizeof(void *))

/*
 * Fill opts with the defaults (environment not applied): every field zero,
 * size = sizeof(*opts) as this header knows it. Inline, so that a program
 * never has the library write past the struct it was compiled with.
 * Async-signal-safe. NULL: does nothing.
 */
static inline void vcache_options_init(struct vcache_options *opts)
{
	unsigned char *p = (unsigned char *)opts;
	size_t i;

	if (!opts)
		return;
	for (i = 0; i < sizeof(*opts); i++)
		p[i] = 0;
	opts->size = sizeof(*opts);
}

/*
 * Create a cache. opts may be NULL for the defaults. Environment variables
 * override the backend and idle delay only where opts leaves them at the
 * default. The first cache of the process whose backend can purge installs
 * the SIGBUS handler (see "Living with other SIGBUS users" above).
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
 * The backend whose vcache_backend_name() is name (exact, case-sensitive;
 * "auto" gives VCACHE_BACKEND_AUTO). 0 or -EINVAL (NULL argument) or
 * -ENOENT (no such backend). Async-signal-safe.
 */
int vcache_backend_from_name(const char *name,
			     enum vcache_backend *ret_backend);
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
 *
 * Making room ahead (uffd and vrange, in a memory cgroup with a limit).
 * Before the library fills memory itself - an object's creation, a pin
 * with VCACHE_PIN_REGENERATE of a volatile object - it reads the group's
 * usage (fstat(2) + pread(2)), and if the fill would leave less than the
 * reserve free (1/256 of the limit, at least 1 MiB) it purges from the
 * end of the cache's objects as many bytes as the fill needs. Faults fill
 * memory too, inside the SIGBUS handler, which can take no lock: after
 * every reserve's worth of pages they install, the cache's idle thread
 * (see the idle delay) is woken and makes room up to four reserves while
 * the faulting thread goes on; the watcher does the same whenever it
 * finds less than four reserves free. So the group does not reach its
 * limit through the library's fills, and the kernel's reclaim (which at
 * the limit runs in the allocating thread, page by page) is left for what
 * the library does not see. The objects go in the class order above and
 * within a class the least recently used first, where a use is an unpin,
 * a vcache_object_data() call or a fault: the library does not see the
 * reads themselves. So call vcache_object_data() when you use an object,
 * rather than keeping its pointer for long: an object read through an
 * old pointer looks idle until it faults, and is purged ahead of
 * objects in use. (A cache without an idle delay, or in strict mode, has
 * no idle thread, and neither has a fork() child until its next creation
 * or delayed unpin: faults there leave the room to the kernel's
 * reclaim.) Only the cache's own
 * objects: a process with several caches leaves the others to the
 * kernel. The purges count in the stats like the kernel's.
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

/*
 * Accessors; async-signal-safe. NULL for NULL / 0 for NULL.
 * vcache_object_data() also counts as a use of the object for making
 * room ahead (see vcache_object_set_priority()): call it when you use
 * the object. It stores the time at most once a millisecond per object.
 */
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
 * reaches zero becomes volatile after the cache's idle delay (a pin within
 * the delay costs no system call; see "The idle delay" for the default and
 * how pressure shortens it), or at once with VCACHE_OPT_NO_IDLE_DELAY.
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
 * -ESTALE for a freed object, -ENOMEM (vcache_purge_cache: no memory to
 * order the objects; nothing purged). Normal context only. A chunk that another
 * thread is regenerating or pinning at that moment is in use and skipped.
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
 * every 100 ms when memory is tight; in a cgroup v2 group with a limit
 * its usage every 100 ms in between). LOW: an event or less than twice
 * the margin left (the margin is 1/8 of the cgroup limit, or of half the
 * RAM without one, 4 to 512 MiB); MEDIUM: less than the margin;
 * CRITICAL: less than half of it. Each look also sets the cap on what
 * idle delays may hold, and if they hold more ends the least recently
 * used objects' delays until they do not (see "The idle delay"). The
 * soft backend
 * purges until 4 margins are free again; it also checks before filling a new object and
 * before a pin with VCACHE_PIN_REGENERATE of a volatile chunk. On uffd
 * and vrange in a memory cgroup the library makes room ahead of the
 * limit (see vcache_object_set_priority()). In the
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

/* Extensible (see "Extensible structs" above). */
struct vcache_stats {
	uint64_t objects;        /* objects in the cache */
	uint64_t bytes_pinned;   /* bytes in chunks with a pin count > 0 */
	uint64_t bytes_volatile; /* bytes in chunks marked volatile */
	uint64_t purges;         /* purged chunks found (pin or fault) */
	uint64_t regenerations;  /* chunks regenerated (create excluded) */
	uint64_t regen_ns;       /* time spent in those regenerations */
	uint64_t faults;         /* SIGBUS-driven regenerations */
};

/* Size of the first published struct vcache_stats (vcache 1.0). */
#define VCACHE_STATS_SIZE_VER0 \
	(offsetof(struct vcache_stats, faults) + sizeof(uint64_t))

/*
 * Snapshot the cache's counters into the first size bytes of *ret_stats;
 * pass sizeof(*ret_stats). A larger struct must come zeroed (its tail the
 * library does not know must be zero, and stays zero). 0 or a negative
 * errno (nothing written).
 */
int vcache_stats_get(vcache *cache, struct vcache_stats *ret_stats,
		     size_t size);

/*
 * Is the library's SIGBUS handler still the process's SIGBUS action?
 * Without it, an optimistic touch of a purged page kills the process (or
 * goes to whoever replaced it). Returns VCACHE_SIGBUS_INSTALLED when it is
 * the current action, or when no cache needs one (backend none, or no
 * cache); VCACHE_SIGBUS_REPLACED when another action has replaced it; with
 * VCACHE_SIGBUS_REINSTALL in flags a replaced handler is installed again
 * on top, the current action becoming the one it passes foreign SIGBUSes
 * to (see "Living with other SIGBUS users" above), and the return value
 * is still VCACHE_SIGBUS_REPLACED (it was). -EINVAL for unknown flags,
 * or the negative errno of sigaction(2). Thread-safe; not
 * async-signal-safe.
 *
 * While a soft cache exists the library's SIGSEGV handler is needed too
 * and is checked the same way: VCACHE_SIGBUS_REPLACED if either handler
 * was replaced, and VCACHE_SIGBUS_REINSTALL puts back each one that was.
 *
 * Do not use VCACHE_SIGBUS_REINSTALL over a handler that itself chains to
 * the library (one installed after vcache_new() that calls the action it
 * replaced): the two would call each other for every foreign SIGBUS.
 * vcache_new() does this check itself and re-installs, with no flag
 * needed, when the current action is SIG_DFL or SIG_IGN (those cannot
 * chain to anyone).
 */
#define VCACHE_SIGBUS_REINSTALL (1u << 0)
enum {
	VCACHE_SIGBUS_INSTALLED = 0,
	VCACHE_SIGBUS_REPLACED = 1,
};
int vcache_sigbus_check(unsigned int flags);

/*
 * Shared objects (vcache 1.1): one object mapped by several processes.
 *
 * vcache_object_create_shared() is vcache_object_create() (same
 * arguments, same errors) for an object whose bytes live in a memfd
 * (memfd_create(2), sealed against shrinking and growing) instead of
 * private memory. vcache_object_fd() gives that descriptor; pass it to
 * another process over a Unix socket (SCM_RIGHTS) or by inheritance, and
 * there vcache_object_open_fd() makes an object of it in any cache, filed
 * under the creator's name, with that process's own regeneration callback
 * and userdata (flags: a purge priority, as for vcache_object_create()).
 * There is no directory of names between processes: the descriptor is
 * the capability. Every process sees the same bytes.
 *
 * Same semantics as a private object, across processes:
 *  - pins are counted per process in the memfd; a chunk is volatile while
 *    no process pins it; vcache_pin*() reports purges exactly for its
 *    chunks, in whichever process the purge happened. A pin always
 *    regenerates purged chunks before it returns (as with
 *    VCACHE_PIN_REGENERATE; the result is still VCACHE_PURGED): zeros left
 *    for the caller to refill would be read as data by the other
 *    processes. On a callback failure nothing stays pinned.
 *  - optimistic access: a touch of a purged page in any process raises
 *    SIGBUS there and is regenerated by that process's callback; a chunk
 *    is regenerated once, by one process, while the others wait.
 *  - vcache_purge*() and the library's response to memory pressure punch
 *    holes (fallocate(FALLOC_FL_PUNCH_HOLE)) in chunks no process pins;
 *    every process then sees the purge. Strict mode purges at the last
 *    unpin of this process if no other process pins the chunk. The idle
 *    delay does not apply: an unpin is one atomic decrement, no system
 *    call, except on the fvrange path below, where the last unpin of a
 *    chunk makes it volatile in the kernel (one fvrange call).
 *  - a process that dies (even by SIGKILL) while pinning leaves no chunk
 *    pinned for good: each process has a slot in the memfd named by its
 *    pid and start time; a slot whose process is gone, a zombie (all its
 *    threads exited: a process whose main thread alone exited is alive),
 *    or whose pid now names another process is reaped by the next purge,
 *    stats
 *    call, slot allocation, or a process waiting for a chunk it held.
 *    Processes sharing an object must be in the same pid namespace
 *    (vcache_object_open_fd() checks: -EXDEV). At
 *    most 32 live processes have an object open at once (-EUSERS).
 *  - after fork() the child has its own slot and no pins (its parent's
 *    stay the parent's): an unpin there of a chunk it did not pin fails
 *    with -EINVAL. If all 32 slots are taken the child has none: pins and
 *    vcache_read() fail with -EUSERS, and a touch of a purged page there
 *    is a failed regeneration (-EUSERS, handled as on_regen_failure in
 *    the options says).
 *  - stats: bytes_pinned counts chunks pinned by any process,
 *    bytes_volatile chunks no process pins (0 where nothing can purge).
 *
 * What each backend does with a shared object (see the README table):
 * uffd registers the mapping with userfaultfd in MISSING mode, so a hole
 * faults in every process; only the library purges (the kernel never
 * discards shmem pages without swap, and with swap it swaps them out).
 * vrange does the same, and on a kernel with shmem volatile ranges
 * (fvrange, advertised in /sys/kernel/mm/vrange/fvrange_syscall_nr) also
 * marks the chunks no process pins volatile in the kernel: reclaim then
 * purges them by itself, a touch in any process raises SIGBUS, and the
 * library's pressure response punches holes as well. soft and none cannot
 * catch a hole (it would read as zeros), so a process with such a cache
 * marks its slot, and no process purges the object while it is attached;
 * it fills any hole it finds when it opens the object.
 *
 * read(2)/pread(2) of the memfd itself bypasses all this: a purged range
 * reads as zeros there. Read through the mapping (or vcache_read()).
 *
 * Thread safety as for the other functions; none is async-signal-safe.
 */
int vcache_object_create_shared(vcache *cache, const char *name, size_t size,
				size_t chunk_size, vcache_regen_fn regen,
				void *userdata, unsigned int flags,
				vcache_object **ret_object);

/*
 * The memfd of a shared object: a descriptor the object owns (O_CLOEXEC;
 * closed with the object: dup(2) it to keep it), or -ENOTTY for a private
 * object.
 */
int vcache_object_fd(vcache_object *object);

/*
 * Open in cache the shared object whose memfd is fd (fd is duplicated:
 * the caller may close its own). The object is not filled: its chunks hold
 * what the other processes left, and purged ones regenerate through regen
 * on first touch or pin. *ret_object receives a handle (one reference),
 * as from vcache_object_create().
 */
int vcache_object_open_fd(vcache *cache, int fd, vcache_regen_fn regen,
			  void *userdata, unsigned int flags,
			  vcache_object **ret_object);

#ifdef __cplusplus
}
#endif

#endif /* VCACHE_H */
