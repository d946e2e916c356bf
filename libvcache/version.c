/* SPDX-License-Identifier: MIT */
/*
 * version.c - the version of the loaded library (vcache-version.h is
 * generated from meson's project version)
 */
#include "internal.h"

_public_ unsigned long vcache_version(void)
{
	return VCACHE_VERSION;
}
