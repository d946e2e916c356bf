/* SPDX-License-Identifier: MIT */
/*
 * old-program.c - a program as it was written and linked against the 0.1
 * development snapshot of libvcache (its header: vcache-0.1.h, its
 * exports: vcache-0.1.sym). run.sh links it against a stub with exactly
 * those symbol versions, as if built back then, and runs it against the
 * library of this tree: it must work unchanged. Exit 0 on success; a
 * message and 1 at the first thing that differs.
 */
#include <stdio.h>
#include <string.h>

#include "vcache-0.1.h"

#define SIZE (16 * 4096)

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "old-program: %s:%d: %s\n",	\
				__FILE__, __LINE__, #cond);		\
			return 1;					\
		}							\
	} while (0)

static int fill(vcache_object *obj, void *dst, size_t offset, size_t length,
		void *userdata)
{
	(void)obj;
	(void)userdata;
	for (size_t i = 0; i < length; i++)
		((unsigned char *)dst)[i] = (unsigned char)((offset + i) * 13 + 1);
	return 0;
}

int main(void)
{
	struct {
		struct vcache_options o;
		unsigned char canary[32];
	} b;
	struct {
		struct vcache_stats st;
		unsigned char canary[32];
	} s;
	vcache_object *obj, *again;
	const unsigned char *p;
	const char *reason;
	vcache *c;

	/* The 0.1 vcache_options_init() was a library call. */
	memset(&b, 0x5a, sizeof(b));
	vcache_options_init(&b.o);
	CHECK(b.o.size == sizeof(b.o));
	for (size_t i = 0; i < sizeof(b.canary); i++)
		CHECK(b.canary[i] == 0x5a);
	b.o.backend = VCACHE_BACKEND_NONE;
	CHECK(vcache_new(&b.o, &c) == 0);
	CHECK(vcache_backend(c) == VCACHE_BACKEND_NONE);
	CHECK(strcmp(vcache_backend_name(vcache_backend(c)), "none") == 0);
	CHECK(vcache_backend_status(c, VCACHE_BACKEND_NONE, &reason) == 0);

	CHECK(vcache_object_create(c, "old", SIZE, 0, fill, NULL, 0, &obj) == 0);
	CHECK(vcache_pin(obj, VCACHE_PIN_REGENERATE) >= 0);
	p = vcache_object_data(obj);
	for (size_t i = 0; i < SIZE; i++)
		CHECK(p[i] == (unsigned char)(i * 13 + 1));

	/* The 0.1 vcache_stats_get() had two arguments. */
	memset(&s, 0x5a, sizeof(s));
	CHECK(vcache_stats_get(c, &s.st) == 0);
	CHECK(s.st.objects == 1);
	CHECK(s.st.bytes_pinned == SIZE);
	for (size_t i = 0; i < sizeof(s.canary); i++)
		CHECK(s.canary[i] == 0x5a);
	CHECK(vcache_unpin(obj) == 0);
	CHECK(vcache_stats_get(c, &s.st) == 0);
	CHECK(s.st.bytes_pinned == 0);
	CHECK(vcache_stats_get(NULL, &s.st) == -22); /* -EINVAL */

	CHECK(vcache_object_lookup(c, "old", &again) == 0 && again == obj);
	vcache_object_unref(again);
	CHECK(vcache_object_remove(obj) == 0);
	vcache_object_unref(obj);
	CHECK(vcache_free(c) == 0);
	printf("old-program: built against vcache 0.1, ran against this "
	       "library: options, objects, pins, stats as before\n");
	return 0;
}
