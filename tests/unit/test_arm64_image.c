// SPDX-License-Identifier: Apache-2.0
/*
 * The arm64 Image header and boot placement (src/arch/arm64/image.c), on any host:
 * crafted headers, good and bad in each field read, and initramfs first bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/arm64/image.h"

#define HDR 4096
#define RAM 0x40000000ULL

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A HDR-byte Image: text_offset, image_size and flags as given, the magic at 56. */
static void craft(uint8_t *img, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	memset(img, 0, HDR);
	put64(img + 8, text_offset);
	put64(img + 16, image_size);
	put64(img + 24, flags);
	memcpy(img + 56, "ARM\x64", 4);
}

static void test_good(void **state)
{
	uint8_t img[HDR];
	struct a64_image im;
	const char *why = NULL;

	(void)state;
	craft(img, 0, 0x2000000, 0xa);
	assert_int_equal(a64_image_parse(img, sizeof(img), &im, &why), 0);
	assert_int_equal(im.text_offset, 0);
	assert_int_equal(im.image_size, 0x2000000);
	assert_int_equal(im.flags, 0xa);
	craft(img, 0x80000, HDR, 0);
	assert_int_equal(a64_image_parse(img, sizeof(img), &im, &why), 0);
	assert_int_equal(im.text_offset, 0x80000);
}

static void test_malformed(void **state)
{
	uint8_t img[HDR];
	struct a64_image im;
	const char *why = NULL;

	(void)state;
	craft(img, 0, 0x2000000, 0);
	img[59] = 0x65; /* bad magic */
	assert_int_equal(a64_image_parse(img, sizeof(img), &im, &why), -EINVAL);
	assert_non_null(strstr(why, "magic"));
	craft(img, 0, HDR - 1, 0); /* image_size smaller than the file */
	assert_int_equal(a64_image_parse(img, sizeof(img), &im, &why), -EINVAL);
	assert_non_null(strstr(why, "image_size"));
	craft(img, 0, 0, 0); /* no image_size */
	assert_int_equal(a64_image_parse(img, sizeof(img), &im, &why), -EINVAL);
	craft(img, 0x200000, 0x2000000, 0); /* text_offset absurd */
	assert_int_equal(a64_image_parse(img, sizeof(img), &im, &why), -EINVAL);
	assert_non_null(strstr(why, "text_offset"));
	craft(img, 0xffffffffffff0000ULL, 0x2000000, 0);
	assert_int_equal(a64_image_parse(img, sizeof(img), &im, &why), -EINVAL);
	craft(img, 0x80001, 0x2000000, 0); /* not page aligned */
	assert_int_equal(a64_image_parse(img, sizeof(img), &im, &why), -EINVAL);
	craft(img, 0, 0x2000000, 1); /* big endian */
	assert_int_equal(a64_image_parse(img, sizeof(img), &im, &why), -EINVAL);
	craft(img, 0, 0x2000000, 0); /* truncated: shorter than the header */
	assert_int_equal(a64_image_parse(img, 63, &im, &why), -EINVAL);
	assert_int_equal(a64_image_parse(img, 0, &im, &why), -EINVAL);
	assert_int_equal(a64_image_parse(NULL, 0, &im, &why), -EINVAL);
}

static void test_initrd(void **state)
{
	static const uint8_t gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0};
	static const uint8_t padded[] = {0, 0, 0, 0, '0', '7', '0', '7', '0', '1', 0};
	const char *why = NULL;

	(void)state;
	assert_int_equal(a64_initrd_check((const uint8_t *)"070701000000", 12, &why), 0);
	assert_int_equal(a64_initrd_check(gz, sizeof(gz), &why), 0);
	assert_int_equal(a64_initrd_check(padded, sizeof(padded), &why), 0);
	assert_int_equal(a64_initrd_check((const uint8_t *)"hello world\n", 12, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(a64_initrd_check((const uint8_t *)"0707", 4, &why), -EINVAL);
	assert_int_equal(a64_initrd_check(NULL, 0, &why), -EINVAL);
}

static void test_layout(void **state)
{
	struct a64_image im = {.text_offset = 0x80000, .image_size = 0x2000000};
	struct a64_boot_layout bl;
	const char *why = NULL;
	bool initrd;

	(void)state;
	assert_int_equal(a64_boot_layout(&im, RAM, 256ULL << 20, 0x100001, &bl, &initrd, &why), 0);
	assert_int_equal(bl.kernel, RAM + 0x80000);
	assert_int_equal(bl.kernel % 0x200000, 0x80000);
	assert_int_equal(bl.dtb, RAM + (256ULL << 20) - A64_DTB_MAX);
	assert_int_equal(bl.dtb % 8, 0);
	assert_true(bl.initrd >= bl.kernel + im.image_size);
	assert_true(bl.initrd + bl.initrd_len <= bl.dtb);
	assert_int_equal(bl.initrd % 4096, 0);
	/* the initrd does not fit beside the kernel and the tree */
	assert_int_equal(a64_boot_layout(&im, RAM, 64ULL << 20, 40ULL << 20, &bl, &initrd, &why),
			 -ENOSPC);
	assert_true(initrd);
	/* nor the kernel itself */
	im.image_size = 63ULL << 20;
	assert_int_equal(a64_boot_layout(&im, RAM, 64ULL << 20, 0, &bl, &initrd, &why), -ENOSPC);
	assert_false(initrd);
	assert_int_equal(a64_boot_layout(&im, RAM, 1ULL << 20, 0, &bl, &initrd, &why), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_initrd),
	    cmocka_unit_test(test_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
