/* SPDX-License-Identifier: MIT */
/*
 * io.c - read(2)/write(2) on object memory
 *
 * The kernel cannot take a fault on a purged page of ours for a system
 * call's buffer (under uffd it fails with EFAULT, by design: no zeros), so
 * the range is pinned with regeneration around the call.
 */
#include <errno.h>
#include <unistd.h>

#include "internal.h"

static ssize_t pinned_io(int fd, vcache_object *object, size_t offset,
			 size_t length, bool out)
{
	bool pinned = false;
	ssize_t n;
	int err;

	err = vc_pin_range(object, offset, length, VCACHE_PIN_REGENERATE,
			&pinned);
	if (err < 0) {
		/* A failed callback leaves the range pinned: undo that. */
		if (pinned)
			(void)vcache_unpin_range(object, offset, length);
		return err;
	}
	if (out)
		n = write(fd, object->data + offset, length);
	else
		n = read(fd, object->data + offset, length);
	if (n < 0)
		n = -errno;
	(void)vcache_unpin_range(object, offset, length);
	return n;
}

_public_ ssize_t vcache_write(int fd, vcache_object *object, size_t offset,
			      size_t length)
{
	return pinned_io(fd, object, offset, length, true);
}

_public_ ssize_t vcache_read(int fd, vcache_object *object, size_t offset,
			     size_t length)
{
	return pinned_io(fd, object, offset, length, false);
}
