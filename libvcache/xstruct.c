/* SPDX-License-Identifier: MIT */
/*
 * xstruct.c - the extensible-struct rule of clone3(2)/openat2(2) for
 * struct vcache_options and struct vcache_stats (see vcache.h). No state,
 * no allocation: tests/test-abi.c compiles this file in to check the rule
 * on a struct that has grown, which the public structs have not yet.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int vc_struct_check_size(const void *user, size_t usize, size_t ksize,
		      size_t ver0)
{
	if (usize < ver0)
		return -EINVAL;
	/* Like clone3(2): an absurd size is refused before reading it. */
	if (usize > VC_STRUCT_SIZE_MAX)
		return -E2BIG;
	if (usize > ksize &&
	    !all_zero((const unsigned char *)user + ksize, usize - ksize))
		return -E2BIG;
	return 0;
}

int vc_struct_copy_in(void *dst, size_t ksize, const void *user,
		      size_t usize, size_t ver0)
{
	int err = vc_struct_check_size(user, usize, ksize, ver0);

	if (err < 0)
		return err;
	/* dst holds the defaults: fields the caller lacks keep them. */
	memcpy(dst, user, usize < ksize ? usize : ksize);
	return 0;
}
