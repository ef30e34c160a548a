// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel release read from a bzImage's setup header: from crafted headers,
 * good and bad in every field read, and from a real kernel where one is cached.
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

#include "exec/bzimage.h"
#include "exec/kimage.h"

#define SETUP_SECTS 4
#define IMAGE_SIZE ((SETUP_SECTS + 1) * 512 + 1024) /* setup area, then some "kernel" */
#define VERSION_AT 0x400 /* where the crafted images keep their version string */

static const char version[] = "6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP";

static void put16(unsigned char *img, size_t off, unsigned int v)
{
	img[off] = (unsigned char)v;
	img[off + 1] = (unsigned char)(v >> 8);
}

/* A bzImage header with the version string at @at (0: none). */
static void craft(unsigned char *img, size_t at, const char *str)
{
	memset(img, 0xcc, IMAGE_SIZE);
	img[0x1f1] = SETUP_SECTS;
	put16(img, 0x1fe, 0xaa55);
	memcpy(img + 0x202, "HdrS", 4);
	put16(img, 0x206, 0x020f);
	put16(img, 0x20e, at ? (unsigned int)(at - 0x200) : 0);
	if (str)
		memcpy(img + at, str, strlen(str) + 1);
}

static int release_of(const unsigned char *img, size_t len, char *out)
{
	return bzimage_release_from_buf(img, len, out, BZIMAGE_RELEASE_MAX);
}

static void test_good(void **state)
{
	unsigned char img[IMAGE_SIZE];
	char out[BZIMAGE_RELEASE_MAX];

	craft(img, VERSION_AT, version);
	assert_int_equal(release_of(img, sizeof(img), out), 0);
	assert_string_equal(out, "6.1.0-28-cloud-amd64");
	/* Only the setup area is needed. */
	assert_int_equal(release_of(img, (SETUP_SECTS + 1) * 512, out), 0);
	assert_string_equal(out, "6.1.0-28-cloud-amd64");
	/* A release alone, without the build details after it. */
	craft(img, VERSION_AT, "5.10.0+");
	assert_int_equal(release_of(img, sizeof(img), out), 0);
	assert_string_equal(out, "5.10.0+");
	/* The last byte of the setup area is the NUL. */
	craft(img, (SETUP_SECTS + 1) * 512 - 4, "6.1");
	assert_int_equal(release_of(img, sizeof(img), out), 0);
	assert_string_equal(out, "6.1");
	/* setup_sects 0 means 4. */
	craft(img, VERSION_AT, version);
	img[0x1f1] = 0;
	assert_int_equal(release_of(img, sizeof(img), out), 0);
	assert_string_equal(out, "6.1.0-28-cloud-amd64");
	/* Right after the header is the first place allowed. */
	craft(img, 0x210, "6.2");
	assert_int_equal(release_of(img, sizeof(img), out), 0);
	assert_string_equal(out, "6.2");
}

static void test_truncated(void **state)
{
	unsigned char img[IMAGE_SIZE];
	char out[BZIMAGE_RELEASE_MAX];
	static const size_t lens[] = { 0, 1, 0x1f1, 0x200, 0x20f };

	craft(img, VERSION_AT, version);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
		assert_int_equal(release_of(img, lens[i], out), -ENOEXEC);
	/* The header whole, the string's start cut off. */
	assert_int_equal(release_of(img, 0x210, out), -ERANGE);
	assert_int_equal(release_of(img, VERSION_AT, out), -ERANGE);
	/* The string's start there, its NUL cut off. */
	assert_int_equal(release_of(img, VERSION_AT + 10, out), -EBADMSG);
}

static void test_not_bzimage(void **state)
{
	unsigned char img[IMAGE_SIZE];
	char out[BZIMAGE_RELEASE_MAX];

	craft(img, VERSION_AT, version);
	put16(img, 0x1fe, 0x55aa);
	assert_int_equal(release_of(img, sizeof(img), out), -ENOEXEC);
	craft(img, VERSION_AT, version);
	img[0x205] = 's';
	assert_int_equal(release_of(img, sizeof(img), out), -ENOEXEC);
	/* Boot protocol before 2.00: no kernel_version field. */
	craft(img, VERSION_AT, version);
	put16(img, 0x206, 0x01ff);
	assert_int_equal(release_of(img, sizeof(img), out), -ENOEXEC);
	craft(img, VERSION_AT, version);
	put16(img, 0x206, 0x0200);
	assert_int_equal(release_of(img, sizeof(img), out), 0);
	/* An ELF vmlinux, all zeros. */
	memset(img, 0, sizeof(img));
	memcpy(img, "\177ELF", 4);
	assert_int_equal(release_of(img, sizeof(img), out), -ENOEXEC);
	memset(img, 0, sizeof(img));
	assert_int_equal(release_of(img, sizeof(img), out), -ENOEXEC);
}

static void test_pointer_out_of_range(void **state)
{
	static const unsigned int bad[] = {
		0x0001, /* into the boot sector's header */
		0x000f, /* the last byte of the kernel_version field itself */
		(SETUP_SECTS + 1) * 512 - 0x200, /* the first byte after the setup area */
		0x7fff, 0xfffe, 0xffff,
	};
	unsigned char img[IMAGE_SIZE];
	char out[BZIMAGE_RELEASE_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		craft(img, VERSION_AT, version);
		put16(img, 0x20e, bad[i]);
		assert_int_equal(release_of(img, sizeof(img), out), -ERANGE);
	}
	/* The string just past a one-sector setup area; inside a two-sector one. */
	craft(img, VERSION_AT, version);
	img[0x1f1] = 1;
	put16(img, 0x20e, VERSION_AT - 0x200);
	assert_int_equal(release_of(img, sizeof(img), out), -ERANGE);
	img[0x1f1] = 2;
	assert_int_equal(release_of(img, sizeof(img), out), 0);
	/* Zero: no version string at all. */
	craft(img, 0, NULL);
	assert_int_equal(release_of(img, sizeof(img), out), -ENODATA);
}

static void test_bad_string(void **state)
{
	static const char *const bad[] = {
		"", " 6.1.0", "../../etc", "..", ".", "6.1/../x", "6.1\t0", "6.1\n",
		"\xff\xfe", "0123456789012345678901234567890123456789012345678901234567890123",
	};
	unsigned char img[IMAGE_SIZE];
	char out[BZIMAGE_RELEASE_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		craft(img, VERSION_AT, bad[i]);
		assert_int_equal(release_of(img, sizeof(img), out), -EBADMSG);
	}
	/* No NUL anywhere in the setup area: the string runs into the kernel. */
	craft(img, VERSION_AT, version);
	memset(img + VERSION_AT, 'a', (SETUP_SECTS + 1) * 512 - VERSION_AT);
	img[(SETUP_SECTS + 1) * 512] = '\0';
	assert_int_equal(release_of(img, sizeof(img), out), -EBADMSG);
	/* A short release whose NUL is the first byte after the setup area. */
	craft(img, (SETUP_SECTS + 1) * 512 - 3, "6.1");
	assert_int_equal(img[(SETUP_SECTS + 1) * 512], '\0');
	assert_int_equal(release_of(img, sizeof(img), out), -EBADMSG);
	/* 63 bytes fit; the output buffer must hold them. */
	craft(img, VERSION_AT, "012345678901234567890123456789012345678901234567890123456789012");
	assert_int_equal(release_of(img, sizeof(img), out), 0);
	assert_int_equal(strlen(out), 63);
	assert_int_equal(bzimage_release_from_buf(img, sizeof(img), out, 63), -ENOSPC);
	assert_int_equal(bzimage_release_from_buf(img, sizeof(img), out, 0), -ENOSPC);
}

static void test_file(void **state)
{
	unsigned char img[IMAGE_SIZE];
	char out[BZIMAGE_RELEASE_MAX], dir[4096];

	test_mkdtemp(dir, sizeof(dir), "bzimage");
	craft(img, VERSION_AT, version);
	test_write_file(dir, "vmlinuz", img, sizeof(img));
	test_write_file(dir, "short", img, 0x300);
	snprintf(out, sizeof(out), "%s", "unchanged");
	{
		char path[4200];

		snprintf(path, sizeof(path), "%s/vmlinuz", dir);
		assert_int_equal(kimage_release(path, out, sizeof(out)), 0);
		assert_string_equal(out, "6.1.0-28-cloud-amd64");
		snprintf(path, sizeof(path), "%s/short", dir);
		assert_int_equal(kimage_release(path, out, sizeof(out)), -ERANGE);
		/* Empty, missing and a directory: test_kimage. */
	}
	test_rm_tree(dir);
}

/* A Debian kernel fetched by scripts/fetch-guest-kernel, with its release beside it. */
static void test_real_kernel(void **state)
{
	static const char *const flavours[] = { "cloud", "host" };
	char base[4096], path[4200], out[BZIMAGE_RELEASE_MAX], *want;
	size_t len;
	int found = 0;

	for (size_t i = 0; i < ARRAY_SIZE(flavours); i++) {
		if (!test_cached_kernel(flavours[i], base, sizeof(base)))
			continue;
		snprintf(path, sizeof(path), "%s/version", base);
		want = (char *)test_slurp(path, &len);
		want[strcspn(want, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s/vmlinuz", base);
		assert_int_equal(kimage_release(path, out, sizeof(out)), 0);
		assert_string_equal(out, want);
		free(want);
		found++;
	}
	assert_true(found);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),	     cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_not_bzimage), cmocka_unit_test(test_pointer_out_of_range),
		cmocka_unit_test(test_bad_string),  cmocka_unit_test(test_file),
	};
	const struct CMUnitTest cached[] = {
		cmocka_unit_test(test_real_kernel),
	};

	return test_main_cached(argc, argv, tests, ARRAY_SIZE(tests), cached, ARRAY_SIZE(cached),
				"cloud");
}
