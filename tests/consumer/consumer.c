/* SPDX-License-Identifier: MIT */
/*
 * consumer.c - a program as another project would write it against the
 * installed (or subproject) libvcache: one object, pinned, checked, stats
 * read with the caller's struct size. Built by scripts/test-consumers.sh
 * through meson (subproject) and CMake (pkg-config), and as C++. Exit 0
 * on success.
 */
#include <stdio.h>
#include <string.h>

#include <vcache.h>

#if !VCACHE_VERSION_CHECK(1, 0, 0)
#error "needs vcache 1.0"
#endif

static int fill(vcache_object *obj, void *dst, size_t offset, size_t length,
		void *userdata)
{
	(void)obj;
	(void)userdata;
	for (size_t i = 0; i < length; i++)
		((unsigned char *)dst)[i] = (unsigned char)((offset + i) * 7);
	return 0;
}

int main(void)
{
	struct vcache_options opts;
	struct vcache_stats st;
	vcache_object *obj;
	const unsigned char *p;
	vcache *cache;
	int r;

	vcache_options_init(&opts);
	r = vcache_backend_from_name("none", &opts.backend);
	if (r == 0)
		r = vcache_new(&opts, &cache);
	if (r < 0) {
		fprintf(stderr, "consumer: vcache_new: %s\n", strerror(-r));
		return 1;
	}
	r = vcache_object_create(cache, "blob", 1 << 16, 0, fill, NULL, 0,
				 &obj);
	if (r < 0 || vcache_pin(obj, VCACHE_PIN_REGENERATE) < 0)
		return 1;
	p = (const unsigned char *)vcache_object_data(obj);
	for (size_t i = 0; i < (1 << 16); i++)
		if (p[i] != (unsigned char)(i * 7))
			return 1;
	vcache_unpin(obj);
	if (vcache_stats_get(cache, &st, sizeof(st)) < 0 || st.objects != 1)
		return 1;
	vcache_object_remove(obj);
	vcache_object_unref(obj);
	vcache_free(cache);
	printf("consumer: vcache %s (header %s), backend none, 64 KiB checked\n",
	       vcache_version() == VCACHE_VERSION ? "matches" : "DIFFERS",
	       VCACHE_VERSION_STRING);
	return vcache_version() == VCACHE_VERSION ? 0 : 1;
}
