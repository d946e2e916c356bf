/* SPDX-License-Identifier: MIT */
/*
 * cache.c - caches: options, environment, backend choice, lifetime
 *
 * The backends and their order are backend.c's table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "internal.h"

pthread_mutex_t vc_caches_lock = PTHREAD_MUTEX_INITIALIZER;
struct vcache *vc_caches;

static int env_backend(enum vcache_backend *ret)
{
	const char *v = getenv("VCACHE_BACKEND");

	if (!v || !*v)
		return 0;
	/* A bad name is the caller's configuration error, like a bad value. */
	return vcache_backend_from_name(v, ret) < 0 ? -EINVAL : 0;
}

static int env_idle_delay(unsigned int *ret)
{
	const char *v = getenv("VCACHE_IDLE_DELAY_MS");
	unsigned long n;
	char *end;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || v[0] == '-' || n > UINT_MAX)
		return -EINVAL;
	*ret = (unsigned int)n;
	return 0;
}

/* VCACHE_STRICT=1 turns strict mode on, 0 leaves it to the option. */
static int env_strict(bool *ret)
{
	const char *v = getenv("VCACHE_STRICT");

	if (!v || !*v)
		return 0;
	if (strcmp(v, "1") && strcmp(v, "0"))
		return -EINVAL;
	*ret = v[0] == '1';
	return 0;
}

/* Probe every backend (backend.c), then choose: AUTO the first usable. */
static int cache_pick_backend(struct vcache *c, enum vcache_backend want)
{
	const struct backend_ops *b;
	int i;

	for (i = 0; (b = vc_backend_at((size_t)i)); i++) {
		const char *reason = NULL;

		c->status[i].error = b->probe(&reason);
		c->status[i].reason = c->status[i].error ? reason : NULL;
	}

	if (want != VCACHE_BACKEND_AUTO) {
		i = vc_backend_index(want);
		if (c->status[i].error)
			return c->status[i].error;
		c->backend = vc_backend_at((size_t)i);
		return 0;
	}
	for (i = 0; (b = vc_backend_at((size_t)i)); i++)
		if (!c->status[i].error) {
			c->backend = b;
			return 0;
		}
	return -ENOSYS; /* unreachable: none always works */
}

_public_ int vcache_new(const struct vcache_options *opts, vcache **ret_cache)
{
	struct vcache_options o;
	struct vcache *c;
	int err;

	if (!ret_cache)
		return -EINVAL;
	vcache_options_init(&o);
	if (opts) {
		err = vc_struct_copy_in(&o, sizeof(o), opts, opts->size,
					VCACHE_OPTIONS_SIZE_VER0);
		if (err < 0)
			return err;
		o.size = sizeof(o);
	}
	bool strict = o.flags & VCACHE_OPT_STRICT;
	bool delay_set = o.idle_delay_ms || (o.flags & VCACHE_OPT_NO_IDLE_DELAY);

	if ((o.flags & ~(VCACHE_OPT_STRICT | VCACHE_OPT_NO_IDLE_DELAY)) ||
	    (o.idle_delay_ms && (o.flags & VCACHE_OPT_NO_IDLE_DELAY)) ||
	    (o.backend != VCACHE_BACKEND_AUTO &&
	     vc_backend_index(o.backend) < 0))
		return -EINVAL;
	if (!strict) {
		err = env_strict(&strict);
		if (err < 0)
			return err;
	}
	if (o.backend == VCACHE_BACKEND_AUTO) {
		err = env_backend(&o.backend);
		if (err < 0)
			return err;
	}
	if (!delay_set) {
		/* Unset: the pressure-aware default (idle.c); env "0": none. */
		o.idle_delay_ms = VCACHE_IDLE_DELAY_DEFAULT_MS;
		err = env_idle_delay(&o.idle_delay_ms);
		if (err < 0)
			return err;
	}

	/* Before fork.c's: see sigsegv.c for the order. */
	err = vc_sigsegv_atfork_register();
	if (err < 0)
		return err;
	err = vc_fork_handlers_register();
	if (err < 0)
		return err;
	vc_page_size_init();

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	err = cache_pick_backend(c, o.backend);
	if (err < 0)
		goto fail_free;
	/*
	 * Backend none never purges, so nothing ever faults: it installs no
	 * SIGBUS handler (and so stays out of the way of every other one).
	 */
	if (c->backend != &vc_backend_none) {
		err = vc_chain_install(SIGBUS);
		if (err < 0)
			goto fail_free;
	}
	err = c->backend->get();
	if (err < 0)
		goto fail_sigbus;
	err = vc_purge_attach(c);
	if (err < 0) {
		c->backend->put();
		goto fail_sigbus;
	}
	/* Arenas are per backend and process, shared by its caches. */
	(void)vc_arena_get(c->backend);

	pthread_mutex_init(&c->lock, NULL);
	sem_init(&c->idle_sem, 0, 0);
	c->idle_delay_ms = o.idle_delay_ms;
	c->strict = strict;
	c->on_regen_failure = o.on_regen_failure;
	c->on_regen_failure_userdata = o.on_regen_failure_userdata;

	pthread_mutex_lock(&vc_caches_lock);
	c->next = vc_caches;
	vc_caches = c;
	pthread_mutex_unlock(&vc_caches_lock);

	*ret_cache = c;
	return 0;

fail_sigbus:
	if (c->backend != &vc_backend_none)
		vc_chain_uninstall(SIGBUS);
fail_free:
	free(c);
	return err;
}

static bool cache_busy(struct vcache *c)
{
	for (struct vcache_object *o = c->objects; o; o = o->next) {
		if (o->refs || !o->in_cache)
			return true;
		if (vc_object_pinned(o))
			return true;
	}
	return false;
}

_public_ int vcache_free(vcache *cache)
{
	struct vcache **p;

	if (!cache)
		return 0;
	pthread_mutex_lock(&cache->lock);
	if (cache_busy(cache)) {
		pthread_mutex_unlock(&cache->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&cache->lock);

	vc_idle_stop(cache);

	pthread_mutex_lock(&vc_caches_lock);
	for (p = &vc_caches; *p != cache; p = &(*p)->next)
		;
	*p = cache->next;
	pthread_mutex_unlock(&vc_caches_lock);

	pthread_mutex_lock(&cache->lock);
	while (cache->objects) {
		struct vcache_object *o = cache->objects;

		o->in_cache = false;
		vc_object_release(o);
	}
	pthread_mutex_unlock(&cache->lock);

	vc_purge_detach(cache);
	/* The last cache of the backend unmaps its arenas (arena.c). */
	vc_arena_put(cache->backend);
	cache->backend->put();
	if (cache->backend != &vc_backend_none)
		vc_chain_uninstall(SIGBUS);
	sem_destroy(&cache->idle_sem);
	pthread_mutex_destroy(&cache->lock);
	free(cache->buckets);
	free(cache);
	return 0;
}

_public_ enum vcache_backend vcache_backend(const vcache *cache)
{
	return cache ? cache->backend->id : VCACHE_BACKEND_AUTO;
}

_public_ int vcache_backend_status(const vcache *cache,
				   enum vcache_backend backend,
				   const char **ret_reason)
{
	int i = vc_backend_index(backend);

	if (!cache || i < 0)
		return -EINVAL;
	if (ret_reason)
		*ret_reason = cache->status[i].reason;
	return cache->status[i].error;
}
