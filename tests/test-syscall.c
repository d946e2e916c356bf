/* SPDX-License-Identifier: MIT */
/*
 * test-syscall.c - system calls on volatile memory. The kernel does not
 * regenerate: a purged page handed to write(2)/read(2) makes the call fail
 * with EFAULT (never zeros). vcache_write()/vcache_read() pin around the
 * call and succeed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tutil.h"

enum { PAGES = 4 }; /* well below the default pipe capacity */

static uint8_t *data(vcache_object *o)
{
	return vcache_object_data(o);
}

static void drain_and_check(int fd, uint64_t seed, size_t offset,
			    size_t length)
{
	uint8_t *buf = malloc(length);
	size_t got = 0;
	ssize_t n;

	ck_assert_ptr_nonnull(buf);
	while (got < length) {
		n = read(fd, buf + got, length - got);
		ck_assert_int_gt(n, 0);
		got += n;
	}
	ck_assert_uint_eq(gen_check(buf, seed, offset, length), SIZE_MAX);
	free(buf);
}

START_TEST(test_syscall_write_efault)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;
	int p[2];

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 51);
	o = tobj_create(c, "write", size, 0, &t);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_uint_eq(purge_range(data(o), size), PAGES);
	errno = 0;
	ck_assert_int_eq(write(p[1], data(o), size), -1);
	ck_assert_int_eq(errno, EFAULT);
	/* Nothing reached the pipe: not even zeros. */
	ck_assert_int_eq(read(p[0], &(char){ 0 }, 1), -1);
	ck_assert_int_eq(errno, EAGAIN);

	ck_assert_int_eq(vcache_write(p[1], o, 0, size), (ssize_t)size);
	drain_and_check(p[0], t.seed, 0, size);
	/* An offset range, then volatile again afterwards. */
	ck_assert_int_eq(vcache_write(p[1], o, pagesz, 10), 10);
	drain_and_check(p[0], t.seed, pagesz, 10);
	ck_assert_uint_eq(purge_range(data(o), size), PAGES);
	close(p[0]);
	close(p[1]);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

/* A purged page in the middle: whatever was copied is right. */
START_TEST(test_syscall_write_partial)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;
	ssize_t n;
	int p[2];

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 52);
	o = tobj_create(c, "partial", size, 0, &t);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_uint_eq(purge_range(data(o) + 2 * pagesz, pagesz), 1);
	errno = 0;
	n = write(p[1], data(o), size);
	printf("%s: write over a purged page: %zd (%s)\n", __func__, n,
	       n < 0 ? strerror(errno) : "short");
	ck_assert_msg((n == -1 && errno == EFAULT) ||
		      (n >= 0 && (size_t)n <= 2 * pagesz),
		      "write copied past a purged page: %zd", n);
	if (n > 0)
		drain_and_check(p[0], t.seed, 0, n);
	close(p[0]);
	close(p[1]);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_syscall_read_efault)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;
	uint8_t *src;
	int p[2];

	SKIP_UNLESS_PURGING(c);
	tobj_init(&t, 53);
	o = tobj_create(c, "read", size, 0, &t);
	src = malloc(size);
	ck_assert_ptr_nonnull(src);
	gen_fill(src, t.seed, 0, size);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_int_eq(write(p[1], src, size), (ssize_t)size);
	ck_assert_uint_eq(purge_range(data(o), size), PAGES);
	errno = 0;
	ck_assert_int_eq(read(p[0], data(o), size), -1);
	ck_assert_int_eq(errno, EFAULT);
	/* The data is still in the pipe; the pinned helper reads it. */
	ck_assert_int_eq(vcache_read(p[0], o, 0, size), (ssize_t)size);
	assert_content(o, t.seed, 0, size);
	/* The helper unpinned: volatile again. */
	ck_assert_uint_eq(purge_range(data(o), size), PAGES);
	assert_content(o, t.seed, 0, size);
	free(src);
	close(p[0]);
	close(p[1]);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_syscall_helpers_any_backend)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;
	int p[2];

	tobj_init(&t, 54);
	o = tobj_create(c, "helpers", size, 0, &t);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(vcache_write(p[1], o, 0, size), (ssize_t)size);
	ck_assert_int_eq(vcache_read(p[0], o, 0, size), (ssize_t)size);
	assert_content(o, t.seed, 0, size);
	/* A short read returns the short count. */
	ck_assert_int_eq(write(p[1], "abc", 3), 3);
	ck_assert_int_eq(vcache_read(p[0], o, 0, size), 3);
	ck_assert_int_eq(memcmp(data(o), "abc", 3), 0);
	close(p[0]);
	close(p[1]);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

START_TEST(test_syscall_helpers_errors)
{
	vcache *c = tcache_new();
	size_t size = PAGES * pagesz;
	vcache_object *o;
	struct tobj t;
	int p[2], devnull;

	tobj_init(&t, 55);
	o = tobj_create(c, "errors", size, 0, &t);
	ck_assert_int_eq(pipe(p), 0);
	devnull = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(devnull, 0);

	ck_assert_errno(vcache_write(-1, o, 0, size), EBADF);
	ck_assert_errno(vcache_read(-1, o, 0, size), EBADF);
	ck_assert_errno(vcache_write(p[0], o, 0, size), EBADF);
	ck_assert_errno(vcache_read(p[1], o, 0, size), EBADF);
	ck_assert_errno(vcache_write(devnull, o, 0, size), EBADF);
	ck_assert_errno(vcache_write(p[1], NULL, 0, size), EINVAL);
	ck_assert_errno(vcache_read(p[0], NULL, 0, size), EINVAL);
	ck_assert_errno(vcache_write(p[1], o, 0, 0), EINVAL);
	ck_assert_errno(vcache_read(p[0], o, 0, 0), EINVAL);
	ck_assert_errno(vcache_write(p[1], o, 0, size + 1), EINVAL);
	ck_assert_errno(vcache_read(p[0], o, size, 1), EINVAL);
	ck_assert_errno(vcache_write(p[1], o, SIZE_MAX, 2), EINVAL);
	ck_assert_errno(vcache_read(p[0], o, 1, SIZE_MAX), EINVAL);
	/* Nothing stayed pinned by a failed call. */
	ck_assert_int_eq(vcache_object_remove(o), 0);
	close(devnull);
	close(p[0]);
	close(p[1]);
	vcache_object_unref(o);
	tcache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("syscall");
	TCase *tc;

	tc = ttcase("efault");
	tcase_add_test(tc, test_syscall_write_efault);
	tcase_add_test(tc, test_syscall_write_partial);
	tcase_add_test(tc, test_syscall_read_efault);
	suite_add_tcase(s, tc);

	tc = ttcase("helpers");
	tcase_add_test(tc, test_syscall_helpers_any_backend);
	tcase_add_test(tc, test_syscall_helpers_errors);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
