// SPDX-License-Identifier: MIT
/*
 * test-imgcache.c - the PNG image store (image.c, pngband.c) under real
 * purges: every pixel after regeneration equals a fresh decode of the
 * file, in every seek mode, optimistic and pinned; broken files are
 * rejected with the documented errno and leave no object behind.
 *
 * Purges are real reclaim: MADV_PAGEOUT of volatile pages, checked with
 * mincore(). The images are written by pnggen.c into a fresh directory.
 */
#define _GNU_SOURCE /* MADV_PAGEOUT */
#include "image.h"
#include "pnggen.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vcache.h>

#define ck_assert_errno(expr, err) ck_assert_int_eq((expr), -(err))

static char dir[256];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "%s/test-imgcache.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

static int is_png(const struct dirent *e)
{
	return strstr(e->d_name, ".png") != NULL;
}

/* Reclaim the object now; returns the pages no longer resident. */
static size_t page_out(struct image *img)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = img->info->size / page, gone = 0;
	unsigned char *vec = malloc(n);

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(madvise(vcache_object_data(img->obj),
				 img->info->size, MADV_PAGEOUT), 0);
	ck_assert_int_eq(mincore(vcache_object_data(img->obj),
				 img->info->size, vec), 0);
	for (size_t i = 0; i < n; i++)
		gone += !(vec[i] & 1);
	free(vec);
	return gone;
}

/* Reclaim every other band (a pattern that makes the decoder seek). */
static void page_out_odd_bands(struct image *img)
{
	const struct pngband_info *in = img->info;
	char *data = vcache_object_data(img->obj);

	for (uint32_t b = 1; b < in->bands; b += 2)
		ck_assert_int_eq(madvise(data + (size_t)b * in->band_bytes,
					 in->band_bytes, MADV_PAGEOUT), 0);
}

static void check_image(vcache *cache, const char *file, int seek,
			int purging)
{
	struct image_options o;
	struct image *img = NULL;
	char path[512], err[256];
	int r;

	image_options_init(&o);
	o.seek = (enum pngband_seek)seek;
	o.verify = 0;
	o.band_bytes = 32u << 10; /* several bands even in small images */
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	r = image_probe(path, &o, &img, err, sizeof(err));
	ck_assert_msg(r == 0, "%s: %s", file, err);
	r = image_load(img, cache, file, &o, err, sizeof(err));
	ck_assert_msg(r == 0, "%s: %s", file, err);
	ck_assert_int_eq(image_compare_fresh(img), 0);

	/* Everything purged, then read without a pin: SIGBUS regenerates
	 * each band in the handler, in the order the reads come. */
	if (purging)
		ck_assert_msg(page_out(img) > 0, "%s: nothing reclaimed", file);
	ck_assert_msg(image_compare_fresh(img) == 0, "%s: optimistic", file);

	/* Every other band purged, then pinned with REGENERATE. */
	page_out_odd_bands(img);
	r = vcache_pin(img->obj, VCACHE_PIN_REGENERATE);
	ck_assert_int_ge(r, 0);
	if (purging && img->info->bands > 1)
		ck_assert_int_eq(r, VCACHE_PURGED);
	ck_assert_msg(image_compare_fresh(img) == 0, "%s: pinned", file);
	ck_assert_int_eq(vcache_unpin(img->obj), 0);

	/* Bands from the bottom up: each one is a backward seek. */
	page_out(img);
	for (uint32_t b = img->info->bands; b-- > 0;)
		(void)*(volatile const uint8_t *)image_row(
			img, b * img->info->band_rows);
	ck_assert_msg(image_compare_fresh(img) == 0, "%s: backward", file);
	image_free(img);
}

START_TEST(test_imgcache_pixels_after_purge)
{
	static const char *const modes[] = { "restart", "resume",
					     "checkpoint" };
	struct dirent **list;
	struct vcache_stats st;
	vcache *cache;
	int n, purging;

	make_dir();
	ck_assert_int_gt(pnggen_good(dir, 0), 0);
	ck_assert_int_eq(vcache_new(NULL, &cache), 0);
	/* MADV_PAGEOUT purges the memory of these backends only. */
	purging = vcache_backend(cache) == VCACHE_BACKEND_UFFD ||
		  vcache_backend(cache) == VCACHE_BACKEND_VRANGE;
	n = scandir(dir, &list, is_png, alphasort);
	ck_assert_int_gt(n, 10);
	for (int i = 0; i < n; i++) {
		check_image(cache, list[i]->d_name, _i, purging);
		free(list[i]);
	}
	free(list);
	ck_assert_int_eq(vcache_stats_get(cache, &st, sizeof(st)), 0);
	printf("seek %s: %llu bands purged, %llu regenerated (%llu on "
	       "SIGBUS), %.1f ms\n", modes[_i],
	       (unsigned long long)st.purges,
	       (unsigned long long)st.regenerations,
	       (unsigned long long)st.faults, st.regen_ns / 1e6);
	if (purging)
		ck_assert_uint_gt(st.faults, 0);
	ck_assert_int_eq(vcache_free(cache), 0);
	remove_dir();
	if (!purging)
		printf("SKIP: test_imgcache_pixels_after_purge: MADV_PAGEOUT "
		       "does not purge this backend (pixels checked without "
		       "purges)\n");
}
END_TEST

/* A trivial regen, to show that a rejected file's name is free. */
static int zeros(vcache_object *o, void *dst, size_t off, size_t len,
		 void *ud)
{
	(void)o, (void)off, (void)ud;
	memset(dst, 0, len);
	return 0;
}

START_TEST(test_imgcache_bad_files)
{
	struct vcache_stats st;
	vcache *cache;

	make_dir();
	ck_assert_int_eq(pnggen_bad(dir), 0);
	ck_assert_int_eq(vcache_new(NULL, &cache), 0);
	for (size_t i = 0; i < pnggen_bad_count; i++) {
		const struct pnggen_bad *bad = &pnggen_bad_files[i];
		struct image_options o;
		struct image *img = NULL;
		vcache_object *obj = NULL;
		char path[512], err[256] = "";
		int r;

		image_options_init(&o);
		o.verify = _i;
		snprintf(path, sizeof(path), "%s/%s", dir, bad->name);
		r = image_probe(path, &o, &img, err, sizeof(err));
		if (r == 0) {
			r = image_load(img, cache, bad->name, &o, err,
				       sizeof(err));
			image_free(img);
		}
		printf("%s: %s (%s)\n", bad->name, err, strerror(-r));
		ck_assert_msg(r == bad->expect, "%s: got %d, want %d",
			      bad->name, r, bad->expect);
		ck_assert_msg(err[0] != '\0', "%s: no message", bad->name);
		/* No half object: the name is free. */
		ck_assert_errno(vcache_object_lookup(cache, bad->name, &obj),
				ENOENT);
		ck_assert_int_eq(vcache_object_create(cache, bad->name, 4096,
						      0, zeros, NULL, 0, &obj),
				 0);
		ck_assert_int_eq(vcache_object_remove(obj), 0);
		vcache_object_unref(obj);
	}
	ck_assert_int_eq(vcache_stats_get(cache, &st, sizeof(st)), 0);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_int_eq(vcache_free(cache), 0);
	remove_dir();
}
END_TEST

/* The documented errors of pngband_open() for bad arguments and files. */
START_TEST(test_imgcache_open_errors)
{
	struct pngband *pb = NULL;
	char err[256];

	ck_assert_errno(pngband_open(NULL, 4096, 0, PNGBAND_RESTART, &pb,
				     err, sizeof(err)), EINVAL);
	ck_assert_errno(pngband_open("/nonexistent/x.png", 4096, 0,
				     PNGBAND_RESTART, &pb, err, sizeof(err)),
			ENOENT);
	ck_assert_errno(pngband_open("/", 4096, 0, PNGBAND_RESTART, &pb, err,
				     sizeof(err)), EBADMSG);
	make_dir();
	ck_assert_int_gt(pnggen_good(dir, 0), 0);
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/rgb8-640x480.png", dir);
		/* 640x480x4 = 1.2 MB: above a 1 MB limit. */
		ck_assert_errno(pngband_open(path, 4096, 1000000,
					     PNGBAND_RESTART, &pb, err,
					     sizeof(err)), EFBIG);
		ck_assert_errno(pngband_open(path, 0, 0, PNGBAND_RESTART, &pb,
					     err, sizeof(err)), EINVAL);
		ck_assert_int_eq(pngband_open(path, 4096, 0, PNGBAND_RESUME,
					      &pb, err, sizeof(err)), 0);
		ck_assert_errno(pngband_decode(pb, pngband_info(pb)->bands,
					       err), EINVAL);
		pngband_free(pb);
	}
	remove_dir();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("imgcache");
	TCase *tc = tcase_create("pixels");
	SRunner *sr;
	int failed;

	/*
	 * The pixel test purges bands right after faults regenerated them:
	 * without the default idle delay (vcache.h) they are volatile again
	 * at once, as that test expects.
	 */
	setenv("VCACHE_IDLE_DELAY_MS", "0", 0);

	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, test_imgcache_pixels_after_purge, 0, 3);
	suite_add_tcase(s, tc);
	tc = tcase_create("bad");
	tcase_set_timeout(tc, 60);
	/* without and with the reference decode */
	tcase_add_loop_test(tc, test_imgcache_bad_files, 0, 2);
	tcase_add_test(tc, test_imgcache_open_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
