// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel release of a kernel file: the banner inside an arm64 Image, good and
 * malformed, cut short and across the reader's chunks; bzImages still through their
 * header; compressed and unknown files refused; and Debian's arm64 kernel where one
 * is cached.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "exec_fixture.h"

#include "exec/kimage.h"

static const char banner[] = "Linux version 6.1.0-57-cloud-arm64 (debian-kernel@lists.debian.org) "
			     "(aarch64-linux-gnu-gcc-12) #1 SMP Debian";

static int from(const char *s, char *out, size_t size)
{
	return kimage_release_from_banner(s, strlen(s), out, size);
}

static void test_banner_good(void **state)
{
	char out[BZIMAGE_RELEASE_MAX];
	char buf[512];

	assert_int_equal(from(banner, out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.0-57-cloud-arm64");
	/* Inside other bytes, NULs included, and after a malformed banner. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf + 3, "Linux version %s", 16);
	memcpy(buf + 40, "Linux version  (x", 17);
	memcpy(buf + 100, banner, sizeof(banner) - 1);
	assert_int_equal(kimage_release_from_banner(buf, sizeof(buf), out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.0-57-cloud-arm64");
	assert_int_equal(from("xxLinux version 6.6.0+ (a)", out, sizeof(out)), 0);
	assert_string_equal(out, "6.6.0+");
	/* The longest release that fits. */
	snprintf(buf, sizeof(buf), "Linux version %.*s (x)", BZIMAGE_RELEASE_MAX - 1,
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(from(buf, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), BZIMAGE_RELEASE_MAX - 1);
	assert_int_equal(from(banner, out, 20), -ENOSPC);
	assert_int_equal(from(banner, out, 21), 0);
}

static void test_banner_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "Linux version ",
	    "Linux version 6",
	    "Linux version 6.1.0",   /* cut before the space */
	    "Linux version 6.1.0 ",  /* cut before the "(" */
	    "Linux version 6.1.0 x", /* no "(" */
	    "Linux version  (x)",    /* empty */
	    "Linux version . (x)",   /* not a directory name */
	    "Linux version .. (x)",
	    "Linux version 6.1/../x (x)", /* a path */
	    "Linux version 6.1\n (x)",
	    "Linux version 6.1\0 (x)",
	    "linux version 6.1.0 (x)", /* case matters */
	    "Linux  version 6.1.0 (x)",
	    "Linux version %s (%s)",
	};
	char out[BZIMAGE_RELEASE_MAX], buf[256];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(out, 'z', sizeof(out));
		assert_int_equal(from(bad[i], out, sizeof(out)), -ENODATA);
		assert_int_equal(out[0], 'z');
	}
	/* One byte too long. */
	snprintf(buf, sizeof(buf), "Linux version %.*s (x)", BZIMAGE_RELEASE_MAX,
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(from(buf, out, sizeof(out)), -ENODATA);
	/* Each prefix of a good banner up to its " (" is not one: nothing read past @len. */
	for (size_t n = 0; n < 36; n++) {
		char *copy = malloc(n ? n : 1);

		memcpy(copy, banner, n);
		assert_int_equal(kimage_release_from_banner(copy, n, out, sizeof(out)), -ENODATA);
		free(copy);
	}
	assert_int_equal(kimage_release_from_banner(banner, 36, out, sizeof(out)), 0);
}

/* An arm64 Image of @size bytes: its header's magic, zeros, and @text at @at. */
static unsigned char *image(size_t size, size_t at, const char *text)
{
	unsigned char *img = calloc(1, size);

	assert_non_null(img);
	memcpy(img + 56, "ARM\x64", 4);
	if (text)
		memcpy(img + at, text, strlen(text));
	return img;
}

static void test_file(void **state)
{
	const size_t mib = 1024 * 1024;
	/* Banner positions: in the head, at a chunk's end, across chunks, near the end. */
	const size_t at[] = {64,      4000, mib - 30,	 mib - 14,
			     mib - 5, mib,  2 * mib - 1, 3 * mib - sizeof(banner) + 1};
	char dir[4096], path[4200], out[BZIMAGE_RELEASE_MAX];
	unsigned char *img;

	test_mkdtemp(dir, sizeof(dir), "kimage");
	snprintf(path, sizeof(path), "%s/Image", dir);
	for (size_t i = 0; i < ARRAY_SIZE(at); i++) {
		img = image(3 * mib, at[i], banner);
		test_write_file(dir, "Image", img, 3 * mib);
		memset(out, 0, sizeof(out));
		assert_int_equal(kimage_release(path, out, sizeof(out)), 0);
		assert_string_equal(out, "6.1.0-57-cloud-arm64");
		free(img);
	}
	/* Cut inside the banner: no release. */
	img = image(3 * mib, 2 * mib - 10, banner);
	test_write_file(dir, "Image", img, 2 * mib + 20);
	assert_int_equal(kimage_release(path, out, sizeof(out)), -ENODATA);
	free(img);
	/* No banner at all; only a header; a header cut short. */
	img = image(2 * mib, 0, NULL);
	test_write_file(dir, "Image", img, 2 * mib);
	assert_int_equal(kimage_release(path, out, sizeof(out)), -ENODATA);
	test_write_file(dir, "Image", img, 64);
	assert_int_equal(kimage_release(path, out, sizeof(out)), -ENODATA);
	test_write_file(dir, "Image", img, 59);
	assert_int_equal(kimage_release(path, out, sizeof(out)), -ENOEXEC);
	free(img);
	/* A banner without the arm64 magic is not looked for. */
	img = image(4096, 100, banner);
	img[56] = 'X';
	test_write_file(dir, "Image", img, 4096);
	assert_int_equal(kimage_release(path, out, sizeof(out)), -ENOEXEC);
	/* gzip: the compressed Image Debian could ship; refused with its own error. */
	img[0] = 0x1f;
	img[1] = 0x8b;
	test_write_file(dir, "Image", img, 4096);
	assert_int_equal(kimage_release(path, out, sizeof(out)), -EPROTONOSUPPORT);
	free(img);
	test_write_file(dir, "Image", "", 0);
	assert_int_equal(kimage_release(path, out, sizeof(out)), -ENOEXEC);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(kimage_release(path, out, sizeof(out)), -ENOENT);
	assert_int_equal(kimage_release(dir, out, sizeof(out)), -EISDIR);
	test_rm_tree(dir);
}

/* A bzImage still gives its header's release (not a banner it may also hold). */
static void test_bzimage(void **state)
{
	const size_t size = 5 * 512 + 1024;
	char dir[4096], path[4200], out[BZIMAGE_RELEASE_MAX];
	unsigned char *img = calloc(1, size);

	assert_non_null(img);
	img[0x1f1] = 4;
	img[0x1fe] = 0x55;
	img[0x1ff] = 0xaa;
	memcpy(img + 0x202, "HdrS", 4);
	img[0x206] = 0x0f;
	img[0x207] = 0x02;
	img[0x20e] = 0x00; /* the version string at 0x200 + 0x200 */
	img[0x20f] = 0x02;
	memcpy(img + 0x400, "6.1.0-28-cloud-amd64 (x)", 25);
	memcpy(img + 0x800, "Linux version 9.9.9 (x)", 23);
	test_mkdtemp(dir, sizeof(dir), "kimage");
	test_write_file(dir, "bzImage", img, size);
	snprintf(path, sizeof(path), "%s/bzImage", dir);
	assert_int_equal(kimage_release(path, out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.0-28-cloud-amd64");
	free(img);
	test_rm_tree(dir);
}

/* Debian's arm64 kernel as scripts/fetch-guest-kernel cloud-arm64 left it. */
static void test_real_kernel(void **state)
{
	char base[4096], path[4200], out[BZIMAGE_RELEASE_MAX], *want;
	size_t len;

	assert_true(test_cached_kernel("cloud-arm64", base, sizeof(base)));
	snprintf(path, sizeof(path), "%s/version", base);
	want = (char *)test_slurp(path, &len);
	want[strcspn(want, "\n")] = '\0';
	snprintf(path, sizeof(path), "%s/vmlinuz", base);
	assert_int_equal(kimage_release(path, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	free(want);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_banner_good),
	    cmocka_unit_test(test_banner_malformed),
	    cmocka_unit_test(test_file),
	    cmocka_unit_test(test_bzimage),
	};
	const struct CMUnitTest cached[] = {
	    cmocka_unit_test(test_real_kernel),
	};

	return test_main_cached(argc, argv, tests, ARRAY_SIZE(tests), cached, ARRAY_SIZE(cached),
				"cloud-arm64");
}
