/* SPDX-License-Identifier: MIT */
/*
 * backend.c - the backend registry: the one list of backends
 *
 * A backend is its ops (backend-*.c: enum value, name, operations) plus
 * one line in the table below, whose order is the order AUTO tries them
 * in, best first. Everything else - the name of each enum value and back
 * (vcache_backend_name(), vcache_backend_from_name(), VCACHE_BACKEND),
 * probing, vcache_backend_status() - reads this table. So a new backend
 * is its file, a line here and a line in meson.build (and, being public,
 * its value appended to enum vcache_backend).
 */
#include <errno.h>
#include <string.h>

#include "backend.h"
#include "internal.h"

static const struct backend_ops *const registry[] = {
	&vc_backend_vrange, /* the patched kernel: the reference */
	&vc_backend_uffd,   /* stock kernels >= 5.11 */
	&vc_backend_soft,   /* userfaultfd refused: the library purges */
	&vc_backend_none,   /* never purges; always works, so always last */
};
#define REGISTRY_SIZE (sizeof(registry) / sizeof(registry[0]))
_Static_assert(REGISTRY_SIZE <= VC_BACKEND_MAX,
	       "raise VC_BACKEND_MAX (internal.h)");

const struct backend_ops *vc_backend_at(size_t i)
{
	return i < REGISTRY_SIZE ? registry[i] : NULL;
}

int vc_backend_index(enum vcache_backend id)
{
	for (size_t i = 0; i < REGISTRY_SIZE; i++)
		if (registry[i]->id == id)
			return (int)i;
	return -1;
}

/* AUTO is a choice, not a backend: it has a name but no line above. */
static const char auto_name[] = "auto";

_public_ const char *vcache_backend_name(enum vcache_backend backend)
{
	int i;

	if (backend == VCACHE_BACKEND_AUTO)
		return auto_name;
	i = vc_backend_index(backend);
	return i < 0 ? NULL : registry[i]->name;
}

_public_ int vcache_backend_from_name(const char *name,
				      enum vcache_backend *ret_backend)
{
	if (!name || !ret_backend)
		return -EINVAL;
	if (strcmp(name, auto_name) == 0) {
		*ret_backend = VCACHE_BACKEND_AUTO;
		return 0;
	}
	for (size_t i = 0; i < REGISTRY_SIZE; i++)
		if (strcmp(name, registry[i]->name) == 0) {
			*ret_backend = registry[i]->id;
			return 0;
		}
	return -ENOENT;
}
