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
 *  1. get "plasma-512" (decoded), get it again (found by name);
 *  2. read it pinned;
 *  3. have the kernel reclaim its pages (MADV_PAGEOUT: real reclaim of one
 *     range, standing in for memory pressure), then write it to a file:
 *     plain write(2) on purged memory fails with EFAULT (the kernel does
 *     not regenerate), vcache_write() pins and regenerates around it;
 *  4. reclaim again and read without a pin: the library's SIGBUS handler
 *     decodes the touched chunks in place.
 * Exit status 1 if any pixel is wrong, anywhere.
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

/* Look an image up by name; decode it into a new object if absent. */
static int get_image(vcache *cache, const char *name, vcache_object **ret)
{
	char kind_name[16];
	unsigned int side;
	int r;

	r = vcache_object_lookup(cache, name, ret);
	if (r != -ENOENT)
		return r;
	if (sscanf(name, "%15[a-z]-%u", kind_name, &side) != 2 ||
	    side == 0 || side > 8192)
		return -EINVAL;
	for (enum kind k = PLASMA; k <= RINGS; k++) {
		if (strcmp(kind_name, kind_names[k]) == 0) {
			printf("  decoding %s\n", name);
			return vcache_object_create(cache, name,
						    (size_t)side * side * 4,
						    CHUNK_SIZE, decode,
						    PACK(k, side), 0, ret);
		}
	}
	return -EINVAL;
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

/* Write the image to a file, plainly and pinned; check what landed. */
static int write_to_file(vcache_object *img, void *userdata)
{
	char path[] = "/tmp/imgcache.XXXXXX";
	size_t size = vcache_object_size(img);
	uint32_t *back = malloc(size);
	int fd = mkstemp(path), bad = 0;
	ssize_t n;

	if (fd < 0 || !back) {
		perror("  temporary file");
		free(back);
		return 1;
	}
	unlink(path);

	/* Wrong: the kernel copies from purged pages and cannot decode. */
	n = write(fd, vcache_object_data(img), size);
	if (n < 0)
		printf("  write(2) of the purged image: %s (expected: "
		       "the kernel does not regenerate)\n", strerror(errno));
	else
		printf("  write(2) of the image: %zd of %zu bytes\n", n, size);
	/* Whatever it did write must be real pixels, never zeros. */
	if (n > 0 && (pread(fd, back, (size_t)n, 0) != n ||
		      check(back, (size_t)n, userdata))) {
		printf("  FAIL: write(2) stored wrong pixels\n");
		bad = 1;
	}

	/* Right: vcache_write() pins (regenerating) around write(2). */
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		perror("  truncate");
		bad = 1;
	}
	n = vcache_write(fd, img, 0, size);
	if (n < 0) {
		printf("  FAIL: vcache_write: %s\n", strerror((int)-n));
		bad = 1;
	} else if ((size_t)n != size || pread(fd, back, size, 0) != n ||
		   check(back, size, userdata)) {
		printf("  FAIL: vcache_write: %zd bytes, wrong file\n", n);
		bad = 1;
	} else {
		printf("  vcache_write(): %zd bytes, every pixel correct\n", n);
	}
	free(back);
	close(fd);
	return bad;
}

int main(void)
{
	vcache_object *img = NULL, *again = NULL;
	struct vcache_stats st;
	vcache *cache;
	size_t bad = 0;
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

	printf("1. get an image twice\n");
	r = get_image(cache, "plasma-512", &img);
	if (r == 0)
		r = get_image(cache, "plasma-512", &again);
	if (r < 0) {
		fprintf(stderr, "imgcache: get_image: %s\n", strerror(-r));
		return 2;
	}
	printf("  same object both times: %s\n", img == again ? "yes" : "NO");
	bad += img != again;
	vcache_object_unref(again);

	printf("2. read it pinned\n");
	r = vcache_pin(img, VCACHE_PIN_REGENERATE);
	if (r < 0) {
		fprintf(stderr, "imgcache: vcache_pin: %s\n", strerror(-r));
		return 2;
	}
	bad += check(vcache_object_data(img), vcache_object_size(img), ud);
	vcache_unpin(img);
	printf("  %s, wrong pixels so far: %zu\n",
	       r == VCACHE_PURGED ? "was purged, re-decoded" : "intact", bad);

	printf("3. reclaim it, then save it to a file\n");
	bad += reclaim(img, purgeable);
	bad += write_to_file(img, ud);

	printf("4. reclaim it, then read it without a pin\n");
	bad += reclaim(img, purgeable);
	bad += check(vcache_object_data(img), vcache_object_size(img), ud);
	if (vcache_stats_get(cache, &st) == 0)
		printf("  chunks purged %llu, re-decoded %llu (%llu on "
		       "SIGBUS) in %.2f ms\n", (unsigned long long)st.purges,
		       (unsigned long long)st.regenerations,
		       (unsigned long long)st.faults, st.regen_ns / 1e6);

	vcache_object_remove(img);
	vcache_object_unref(img);
	r = vcache_free(cache);
	printf("%s: %zu wrong pixels\n", bad ? "FAIL" : "OK", bad);
	return bad || r < 0 ? 1 : 0;
}
