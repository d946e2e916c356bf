// SPDX-License-Identifier: MIT
/*
 * imgcache - an image cache on volatile memory, in one short file
 *
 * Images are "decoded" on demand into named vcache objects and found again
 * by name. Decoding here is procedural (plasma, checkerboard, rings), so
 * any part of an image can be decoded alone and checked exactly; a real
 * program would decode a PNG or JPEG tile instead.
 *
 * The walk-through:
 *  1. get three images (each decoded), get "plasma-512" again (found by
 *     name, not decoded);
 *  2. read them pinned;
 *  3. have the kernel reclaim plasma-512 (MADV_PAGEOUT: real reclaim of one
 *     range, standing in for memory pressure), then write it to a file:
 *     plain write(2) on purged memory fails with EFAULT (the kernel does
 *     not regenerate); pinning around write(2) works, and so does
 *     vcache_write(), which does just that;
 *  4. reclaim again and read without a pin: the library's SIGBUS handler
 *     decodes the touched chunks in place.
 * Exit status 1 if any pixel is wrong, anywhere, or a volatile image
 * could not be reclaimed. The cache frees the images left in it.
 */
#define _GNU_SOURCE /* MADV_PAGEOUT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vcache.h>

#define CHUNK_SIZE (64u * 1024)

enum kind { PLASMA, CHECKER, RINGS };
static const char *const kind_names[] = { "plasma", "checker", "rings" };

/* What an image name means travels in the callback's userdata:
 * the side length and the kind packed in one integer, nothing to free. */
#define PACK(kind, side) ((void *)(uintptr_t)((side) << 4 | (kind)))
#define KIND(ud) ((enum kind)((uintptr_t)(ud) & 15))
#define SIDE(ud) ((unsigned int)((uintptr_t)(ud) >> 4))

static uint32_t pixel(enum kind kind, unsigned int side, unsigned int x,
		      unsigned int y)
{
	unsigned int cx = x - side / 2, cy = y - side / 2; /* wraps: fine */

	switch (kind) {
	case PLASMA:
		return ((x * 7 + y * 3) & 0xff) << 16 |
		       ((x * y / (side / 8 + 1)) & 0xff) << 8 | ((x ^ y) & 0xff);
	case CHECKER:
		return ((x / 32 + y / 32) & 1) ? 0xffffff : 0x202020;
	case RINGS:
		return ((cx * cx + cy * cy) / 64 & 0xff) * 0x010101u;
	}
	return 0;
}

/* The "decoder": fills bytes [offset, offset + length) of the image. Runs
 * in the SIGBUS handler too, so: no allocation, no locks, no stdio. */
static int decode(vcache_object *object, void *dst, size_t offset,
		  size_t length, void *userdata)
{
	unsigned int side = SIDE(userdata);
	uint32_t *px = dst;

	(void)object;
	for (size_t i = 0; i < length / 4; i++) {
		size_t p = offset / 4 + i;

		px[i] = pixel(KIND(userdata), side, p % side, p / side);
	}
	return 0;
}

/* Count wrong pixels in the first bytes of the image, at data. */
static size_t check(const uint32_t *data, size_t bytes, void *userdata)
{
	unsigned int side = SIDE(userdata);
	size_t bad = 0;

	for (size_t p = 0; p < bytes / 4; p++)
		bad += data[p] != pixel(KIND(userdata), side, p % side, p / side);
	return bad;
}

/* What a name like "rings-300" means, packed as the callback's userdata. */
static int parse_name(const char *name, void **ret_userdata)
{
	char kind_name[16];
	unsigned int side;

	if (sscanf(name, "%15[a-z]-%u", kind_name, &side) != 2 ||
	    side == 0 || side > 8192)
		return -EINVAL;
	for (enum kind k = PLASMA; k <= RINGS; k++) {
		if (strcmp(kind_name, kind_names[k]) == 0) {
			*ret_userdata = PACK(k, side);
			return 0;
		}
	}
	return -EINVAL;
}

/* Look an image up by name; decode it into a new object if absent. */
static int get_image(vcache *cache, const char *name, vcache_object **ret)
{
	void *userdata;
	int r;

	r = vcache_object_lookup(cache, name, ret);
	if (r != -ENOENT)
		return r;
	r = parse_name(name, &userdata);
	if (r < 0)
		return r;
	printf("  decoding %s\n", name);
	return vcache_object_create(cache, name,
				    (size_t)SIDE(userdata) * SIDE(userdata) * 4,
				    CHUNK_SIZE, decode, userdata, 0, ret);
}

/* Read an image pinned and check it; returns the wrong pixels. */
static size_t read_pinned(vcache *cache, const char *name)
{
	vcache_object *img = NULL;
	void *userdata;
	size_t wrong;
	int r;

	r = get_image(cache, name, &img);
	if (r == 0)
		r = parse_name(name, &userdata);
	if (r == 0)
		r = vcache_pin(img, VCACHE_PIN_REGENERATE);
	if (r < 0) {
		printf("  FAIL: %s: %s\n", name, strerror(-r));
		vcache_object_unref(img);
		return 1;
	}
	wrong = check(vcache_object_data(img), vcache_object_size(img),
		      userdata);
	vcache_unpin(img);
	vcache_object_unref(img);
	printf("  %-12s %s, %zu wrong pixels\n", name, r == VCACHE_PURGED ?
	       "had been purged, decoded again" : "intact", wrong);
	return wrong;
}

/*
 * Ask the kernel to reclaim the object now and report how much is gone.
 * Returns 1 (a failure) if the object should have been purgeable but
 * nothing went: its pages were not really volatile.
 */
static int reclaim(vcache_object *img, int purgeable)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = vcache_object_size(img) / page, gone = 0;
	unsigned char *vec = malloc(n);

	if (madvise(vcache_object_data(img), vcache_object_size(img),
		    MADV_PAGEOUT) < 0)
		perror("  madvise(MADV_PAGEOUT)");
	if (vec && mincore(vcache_object_data(img), n * page, vec) == 0)
		for (size_t i = 0; i < n; i++)
			gone += !(vec[i] & 1);
	free(vec);
	printf("  reclaimed: %zu of %zu pages are no longer in memory\n",
	       gone, n);
	if (purgeable && gone == 0) {
		printf("  FAIL: nothing reclaimed: the pages were not "
		       "volatile\n");
		return 1;
	}
	return 0;
}

/* Check that the file holds the first n bytes of the image. */
static int file_ok(int fd, ssize_t n, void *userdata)
{
	uint32_t *back = malloc(n > 0 ? (size_t)n : 1);
	int ok = back && pread(fd, back, (size_t)n, 0) == n &&
		 check(back, (size_t)n, userdata) == 0;

	free(back);
	return ok;
}

enum save_how { PLAIN, PINNED_BY_HAND, VCACHE_WRITE };

/* Save the image into a fresh temporary file; 1 if that went wrong. */
static int save(vcache_object *img, enum save_how how, void *userdata)
{
	static const char *const what[] = { "plain write(2)",
					    "pin, write(2), unpin",
					    "vcache_write()" };
	char path[] = "/tmp/imgcache.XXXXXX";
	size_t size = vcache_object_size(img);
	int fd = mkstemp(path), bad = 0, r = 0;
	ssize_t n = -1;

	if (fd < 0) {
		perror("  mkstemp");
		return 1;
	}
	unlink(path);
	switch (how) {
	case PLAIN:
		/* Wrong: the kernel copies from purged pages and cannot
		 * decode them; it fails with EFAULT instead. */
		n = write(fd, vcache_object_data(img), size);
		n = n < 0 ? -errno : n;
		break;
	case PINNED_BY_HAND:
		/* Right: a pin makes the range present and non-volatile for
		 * the duration of the system call. */
		r = vcache_pin(img, VCACHE_PIN_REGENERATE);
		if (r >= 0) {
			n = write(fd, vcache_object_data(img), size);
			n = n < 0 ? -errno : n;
			vcache_unpin(img);
		}
		break;
	case VCACHE_WRITE:
		/* Right, and shorter: the library's helper does the same. */
		n = vcache_write(fd, img, 0, size);
		break;
	}
	if (r < 0)
		n = r;
	if (n == -EFAULT)
		printf("  %-22s EFAULT: the kernel does not regenerate\n",
		       what[how]);
	else if (n < 0)
		printf("  %-22s %s\n", what[how], strerror((int)-n));
	else
		printf("  %-22s %zd of %zu bytes\n", what[how], n, size);
	/* Whatever was written must be real pixels, never zeros. */
	if (n > 0 && !file_ok(fd, n, userdata)) {
		printf("  FAIL: the file holds wrong pixels\n");
		bad = 1;
	}
	if (how != PLAIN && n != (ssize_t)size) {
		printf("  FAIL: the pinned write must write everything\n");
		bad = 1;
	}
	close(fd);
	return bad;
}

int main(void)
{
	static const char *const names[] = { "plasma-512", "checker-256",
					     "rings-300" };
	vcache_object *img = NULL, *again = NULL;
	struct vcache_stats st;
	vcache *cache;
	size_t bad = 0, wrong;
	void *ud = PACK(PLASMA, 512);
	int purgeable, r;

	/* The walk-through reclaims right after unpinning: volatility must
	 * not be delayed. */
	unsetenv("VCACHE_IDLE_DELAY_MS");
	r = vcache_new(NULL, &cache);
	if (r < 0) {
		fprintf(stderr, "imgcache: vcache_new: %s\n", strerror(-r));
		return 2;
	}
	printf("imgcache: backend %s\n",
	       vcache_backend_name(vcache_backend(cache)));
	/* The "none" backend never lets the kernel purge anything. */
	purgeable = vcache_backend(cache) != VCACHE_BACKEND_NONE;

	printf("1. get images by name: decoded once, then found\n");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		r = get_image(cache, names[i], &again);
		if (r < 0) {
			fprintf(stderr, "imgcache: %s: %s\n", names[i],
				strerror(-r));
			return 2;
		}
		if (!img)
			img = vcache_object_ref(again); /* the first, plasma */
		vcache_object_unref(again);
	}
	r = get_image(cache, "plasma-512", &again);
	if (r < 0) {
		fprintf(stderr, "imgcache: plasma-512: %s\n", strerror(-r));
		return 2;
	}
	printf("  plasma-512 again: %s\n", img == again ?
	       "the same object, not decoded again" : "FAIL: another object");
	bad += img != again;
	vcache_object_unref(again);

	printf("2. read them pinned\n");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		bad += read_pinned(cache, names[i]);

	printf("3. reclaim plasma-512, then save it to a file, three ways\n");
	bad += reclaim(img, purgeable);
	bad += save(img, PLAIN, ud);
	bad += save(img, PINNED_BY_HAND, ud);
	bad += reclaim(img, purgeable);
	bad += save(img, VCACHE_WRITE, ud);

	printf("4. reclaim it, then read it without a pin\n");
	bad += reclaim(img, purgeable);
	wrong = check(vcache_object_data(img), vcache_object_size(img), ud);
	printf("  %zu wrong pixels\n", wrong);
	bad += wrong;
	if (vcache_stats_get(cache, &st, sizeof(st)) == 0)
		printf("  chunks purged %llu, re-decoded %llu (%llu on "
		       "SIGBUS) in %.2f ms\n", (unsigned long long)st.purges,
		       (unsigned long long)st.regenerations,
		       (unsigned long long)st.faults, st.regen_ns / 1e6);

	vcache_object_remove(img);
	vcache_object_unref(img);
	r = vcache_free(cache);
	if (bad)
		printf("FAIL: %zu problems (wrong pixels, failed checks)\n",
		       bad);
	else
		printf("OK\n");
	return bad || r < 0 ? 1 : 0;
}
