// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"
#include "kvmrun/guest_mem.h"

#define RAM_SIZE (64 * MiB)
#define KERNEL_LEN 0x3000u

struct bz_opts {
	uint8_t setup_sects;
	uint32_t kernel_len;
	uint16_t version;
	uint8_t loadflags;
	uint8_t xloadflags;
	uint8_t relocatable;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static struct bz_opts default_opts(void)
{
	return (struct bz_opts){
		.setup_sects = 4,
		.kernel_len = KERNEL_LEN,
		.version = 0x020f,
		.loadflags = 0x01,
		.xloadflags = 0x03,
		.relocatable = 1,
		.pref_address = 0x1000000,
		.init_size = 4 * MiB,
		.initrd_addr_max = 0x7fffffff,
		.cmdline_size = 2047,
	};
}

static size_t setup_len_of(uint8_t setup_sects)
{
	return ((size_t)(setup_sects ? setup_sects : 4) + 1) * 512;
}

/* A synthetic bzImage; the protected-mode part is a byte pattern. */
static uint8_t *make_bz(const struct bz_opts *o, size_t *len)
{
	size_t setup_len = setup_len_of(o->setup_sects);
	uint8_t *img;

	*len = setup_len + o->kernel_len;
	img = calloc(1, *len < 0x1000 ? 0x1000 : *len);
	assert_non_null(img);
	img[0x1f1] = o->setup_sects;
	put32(img + 0x1f4, o->kernel_len / 16);
	put16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x66; /* the setup header ends at 0x268 */
	memcpy(img + 0x202, "HdrS", 4);
	put16(img + 0x206, o->version);
	img[0x211] = o->loadflags;
	put32(img + 0x22c, o->initrd_addr_max);
	img[0x234] = o->relocatable;
	put16(img + 0x236, o->xloadflags);
	put32(img + 0x238, o->cmdline_size);
	put64(img + 0x258, o->pref_address);
	put32(img + 0x260, o->init_size);
	for (size_t i = setup_len; i < *len; i++)
		img[i] = (uint8_t)(i * 13 + 1);
	return img;
}

static void test_parse_valid(void **state)
{
	struct bz_opts o = default_opts();
	struct bzimage bz;
	const char *why = NULL;
	size_t len;
	uint8_t *img = make_bz(&o, &len);

	(void)state;
	assert_int_equal(boot_parse_bzimage(img, len, &bz, &why), 0);
	assert_null(why);
	assert_int_equal(bz.version, 0x020f);
	assert_int_equal(bz.setup_sects, 4);
	assert_int_equal(bz.setup_len, 5 * 512);
	assert_int_equal(bz.kernel_len, KERNEL_LEN);
	assert_true(bz.relocatable);
	assert_int_equal(bz.xloadflags, 0x03);
	assert_int_equal(bz.pref_address, 0x1000000);
	assert_int_equal(bz.init_size, 4 * MiB);
	assert_int_equal(bz.initrd_addr_max, 0x7fffffff);
	assert_int_equal(bz.cmdline_size, 2047);
	free(img);

	/* The oldest accepted protocol, a different setup size. */
	o.version = 0x020c;
	o.setup_sects = 30;
	img = make_bz(&o, &len);
	assert_int_equal(boot_parse_bzimage(img, len, &bz, &why), 0);
	assert_int_equal(bz.setup_sects, 30);
	assert_int_equal(bz.setup_len, 31 * 512);
	assert_int_equal(bz.kernel_len, KERNEL_LEN);
	free(img);
}

static void expect_parse_fail(const uint8_t *img, size_t len, const char *why_part)
{
	struct bzimage bz;
	const char *why = NULL;

	assert_int_equal(boot_parse_bzimage(img, len, &bz, &why), -ENOEXEC);
	assert_non_null(why);
	assert_non_null(strstr(why, why_part));
}

static void test_parse_bad_magic(void **state)
{
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img = make_bz(&o, &len);

	(void)state;
	img[0x205] = 'T';
	expect_parse_fail(img, len, "HdrS");
	img[0x205] = 'S';
	img[0x1fe] = 0x56;
	expect_parse_fail(img, len, "not a bzImage");
	free(img);
}

static void test_parse_old_protocol(void **state)
{
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img;

	(void)state;
	o.version = 0x020b;
	img = make_bz(&o, &len);
	expect_parse_fail(img, len, "older than 2.12");
	free(img);
}

static void test_parse_truncated(void **state)
{
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img = make_bz(&o, &len);

	(void)state;
	/* Shorter than the setup header. */
	expect_parse_fail(img, 0x267, "too short");
	expect_parse_fail(img, 0x200, "too short");
	expect_parse_fail(img, 0, "too short");
	/* The setup sectors and nothing after. */
	expect_parse_fail(img, 5 * 512, "no protected-mode kernel");
	expect_parse_fail(img, 0x300, "no protected-mode kernel");
	/* Shorter than syssize says. */
	expect_parse_fail(img, len - 16, "syssize");
	expect_parse_fail(img, len - 1, "syssize");
	free(img);
}

static void test_parse_not_64bit(void **state)
{
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img;

	(void)state;
	o.xloadflags = 0x02;
	img = make_bz(&o, &len);
	expect_parse_fail(img, len, "64-bit");
	free(img);

	o = default_opts();
	o.loadflags = 0;
	img = make_bz(&o, &len);
	expect_parse_fail(img, len, "loaded high");
	free(img);
}

static void test_parse_init_size_too_small(void **state)
{
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img;

	(void)state;
	o.init_size = KERNEL_LEN - 1;
	img = make_bz(&o, &len);
	expect_parse_fail(img, len, "init_size");
	free(img);
}

static void test_parse_not_relocatable_and_defaults(void **state)
{
	struct bz_opts o = default_opts();
	struct bzimage bz;
	const char *why = NULL;
	size_t len;
	uint8_t *img;

	(void)state;
	o.relocatable = 0;
	o.pref_address = 0x2000000;
	img = make_bz(&o, &len);
	assert_int_equal(boot_parse_bzimage(img, len, &bz, &why), 0);
	assert_false(bz.relocatable);
	assert_int_equal(bz.pref_address, 0x2000000);
	free(img);

	/* setup_sects 0 means 4; no pref_address means the default. */
	o = default_opts();
	o.setup_sects = 0;
	o.pref_address = 0;
	img = make_bz(&o, &len);
	assert_int_equal(len, 5 * 512 + KERNEL_LEN);
	assert_int_equal(boot_parse_bzimage(img, len, &bz, &why), 0);
	assert_int_equal(bz.setup_sects, 4);
	assert_int_equal(bz.setup_len, 5 * 512);
	assert_int_equal(bz.kernel_len, KERNEL_LEN);
	assert_int_equal(bz.pref_address, LAYOUT_KERNEL_DEFAULT);
	free(img);
}

/* Guest RAM: RAM_SIZE at gpa 0, filled with junk so zeroing is visible. */
struct ram {
	struct guest_mem gm;
	uint8_t *host;
};

static int ram_setup(void **state)
{
	struct ram *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->host = malloc(RAM_SIZE);
	assert_non_null(r->host);
	memset(r->host, 0xcc, RAM_SIZE);
	assert_int_equal(gm_add_region(&r->gm, 0, RAM_SIZE, r->host), 0);
	*state = r;
	return 0;
}

static int ram_teardown(void **state)
{
	struct ram *r = *state;

	free(r->host);
	free(r);
	return 0;
}

static void test_load_linux(void **state)
{
	struct ram *r = *state;
	struct bz_opts o = default_opts();
	struct e820_entry e820[E820_MAX];
	uint8_t initrd[0x1234 + 7];
	size_t len;
	uint8_t *img = make_bz(&o, &len);
	const char *cmdline = "console=ttyS0 root=/dev/vda quiet";
	struct boot_images bi = {
		.kernel = img, .kernel_len = len, .initrd = initrd, .initrd_len = sizeof(initrd),
		.cmdline = cmdline, .rsdp = 0xe0000,
	};
	uint64_t entry = 0, bpa = 0, rd_addr;
	const char *why = NULL;
	const uint8_t *bp;
	unsigned int n;

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), 0);
	assert_int_equal(entry, 0x1000000 + 0x200);
	assert_int_equal(bpa, LAYOUT_BOOT_PARAMS);

	/* The protected-mode kernel at pref_address. */
	assert_memory_equal(r->host + 0x1000000, img + 5 * 512, KERNEL_LEN);

	/* boot_params: zeroed, setup header copied, loader fields filled. */
	bp = r->host + LAYOUT_BOOT_PARAMS;
	assert_int_equal(bp[0], 0);
	assert_int_equal(bp[0x1f0], 0);
	assert_int_equal(bp[0xfff], 0);
	assert_memory_equal(bp + 0x202, "HdrS", 4);
	assert_int_equal(get16(bp + 0x206), 0x020f);
	assert_int_equal(bp[0x1f1], 4);
	assert_int_equal(get16(bp + 0x1fe), 0xaa55);
	assert_int_equal(get32(bp + 0x260), 4 * MiB);
	assert_int_equal(bp[0x210], 0xff);
	assert_int_equal(get32(bp + 0x228), LAYOUT_CMDLINE);
	assert_string_equal((const char *)r->host + LAYOUT_CMDLINE, cmdline);
	assert_int_equal(get64(bp + 0x70), 0xe0000);

	/* initrd: page aligned, below the top of RAM, above the kernel's init_size. */
	rd_addr = get32(bp + 0x218);
	assert_int_equal(get32(bp + 0x21c), sizeof(initrd));
	assert_int_equal(rd_addr & 0xfff, 0);
	assert_true(rd_addr + sizeof(initrd) <= RAM_SIZE);
	assert_true(rd_addr >= 0x1000000 + 4 * MiB);
	/* Placed as high as it goes. */
	assert_true(rd_addr + sizeof(initrd) + 0x1000 > RAM_SIZE);
	assert_memory_equal(r->host + rd_addr, initrd, sizeof(initrd));
	assert_int_equal(get32(bp + 0xc0), 0); /* ext_ramdisk_image: below 4 GiB */

	/* e820 as boot_e820 describes it. */
	n = boot_e820(RAM_SIZE, e820);
	assert_int_equal(bp[0x1e8], n);
	assert_int_equal(n, 3);
	assert_memory_equal(bp + 0x2d0, e820, n * sizeof(e820[0]));
	assert_int_equal(get64(bp + 0x2d0 + 2 * 20), LAYOUT_HIGH_RAM);
	assert_int_equal(get64(bp + 0x2d0 + 2 * 20 + 8), RAM_SIZE - LAYOUT_HIGH_RAM);
	assert_int_equal(get32(bp + 0x2d0 + 2 * 20 + 16), E820_RAM);
	free(img);
}

static void test_load_linux_page_tables(void **state)
{
	struct ram *r = *state;
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img = make_bz(&o, &len);
	struct boot_images bi = { .kernel = img, .kernel_len = len, .cmdline = "" };
	uint64_t entry, bpa;
	const char *why = NULL;
	uint64_t pml4[512], pdpt[512], pd[4 * 512];

	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), 0);
	memcpy(pml4, r->host + LAYOUT_PML4, sizeof(pml4));
	memcpy(pdpt, r->host + LAYOUT_PDPT, sizeof(pdpt));
	memcpy(pd, r->host + LAYOUT_PD, sizeof(pd));

	assert_int_equal(pml4[0], LAYOUT_PDPT | 0x3);
	for (unsigned int i = 1; i < 512; i++)
		assert_int_equal(pml4[i], 0);
	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(pdpt[i], (LAYOUT_PD + i * 0x1000) | 0x3);
	for (unsigned int i = 4; i < 512; i++)
		assert_int_equal(pdpt[i], 0);
	for (uint64_t i = 0; i < 4 * 512; i++) {
		assert_int_equal(pd[i] & ~0xfffULL, i * 2 * MiB);
		assert_true(pd[i] & 0x80); /* PS: 2 MiB page */
		assert_int_equal(pd[i] & 0x3, 0x3); /* present, writable */
	}
	assert_int_equal(pd[4 * 512 - 1] & ~0xfffULL, 4 * GiB - 2 * MiB);

	/* No initrd: ramdisk fields zero. */
	assert_int_equal(get32(r->host + LAYOUT_BOOT_PARAMS + 0x218), 0);
	assert_int_equal(get32(r->host + LAYOUT_BOOT_PARAMS + 0x21c), 0);
	assert_int_equal(r->host[LAYOUT_CMDLINE], 0);
	free(img);
}

static void test_load_linux_not_relocatable(void **state)
{
	struct ram *r = *state;
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img;
	struct boot_images bi = { .cmdline = "x" };
	uint64_t entry, bpa;
	const char *why = NULL;

	o.relocatable = 0;
	o.pref_address = 0x2000000;
	img = make_bz(&o, &len);
	bi.kernel = img;
	bi.kernel_len = len;
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), 0);
	assert_int_equal(entry, 0x2000200);
	assert_memory_equal(r->host + 0x2000000, img + 5 * 512, KERNEL_LEN);
	/* Nothing at the default address. */
	assert_int_equal(r->host[0x1000000], 0xcc);
	free(img);
}

static void test_load_linux_initrd_limit(void **state)
{
	struct ram *r = *state;
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img;
	static uint8_t initrd[0x10000];
	struct boot_images bi = { .cmdline = "", .initrd = initrd, .initrd_len = 0x8001 };
	uint64_t entry, bpa, rd_addr;
	const char *why = NULL;

	o.initrd_addr_max = 32 * MiB - 1;
	img = make_bz(&o, &len);
	bi.kernel = img;
	bi.kernel_len = len;
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), 0);
	rd_addr = get32(r->host + LAYOUT_BOOT_PARAMS + 0x218);
	assert_int_equal(rd_addr, 32 * MiB - 0x9000);
	assert_true(rd_addr + bi.initrd_len <= 32 * MiB);
	free(img);
}

static void test_load_linux_too_big(void **state)
{
	struct ram *r = *state;
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img;
	uint8_t *big = calloc(1, 48 * MiB);
	struct boot_images bi = { .cmdline = "" };
	uint64_t entry, bpa;
	const char *why;

	assert_non_null(big);
	img = make_bz(&o, &len);
	bi.kernel = img;
	bi.kernel_len = len;

	/* initrd larger than what is left above the kernel (RAM - 20 MiB = 44 MiB). */
	bi.initrd = big;
	bi.initrd_len = 44 * MiB + 1;
	why = NULL;
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), -E2BIG);
	assert_non_null(why);
	assert_non_null(strstr(why, "initrd"));
	/* Larger than RAM itself. */
	bi.initrd_len = 48 * MiB;
	why = NULL;
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), -E2BIG);
	assert_non_null(strstr(why, "initrd"));
	/* Exactly what is left fits. */
	bi.initrd_len = 44 * MiB;
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), 0);
	assert_int_equal(get32(r->host + LAYOUT_BOOT_PARAMS + 0x218), 20 * MiB);
	free(img);

	/* Fits only before page alignment pushes it into the kernel's init_size. */
	o.init_size = 4 * MiB + 1;
	img = make_bz(&o, &len);
	bi.kernel = img;
	bi.kernel_len = len;
	bi.initrd_len = RAM_SIZE - (20 * MiB + 1);
	why = NULL;
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), -E2BIG);
	assert_non_null(strstr(why, "initrd"));
	free(img);

	/* Kernel init_size beyond RAM. */
	bi.initrd = NULL;
	bi.initrd_len = 0;
	o.init_size = 48 * MiB + 1;
	img = make_bz(&o, &len);
	bi.kernel = img;
	bi.kernel_len = len;
	why = NULL;
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), -E2BIG);
	assert_non_null(strstr(why, "kernel"));
	/* Up to the end of RAM fits; not when less RAM is mapped than mem claims. */
	o.init_size = 48 * MiB;
	free(img);
	img = make_bz(&o, &len);
	bi.kernel = img;
	bi.kernel_len = len;
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), 0);
	why = NULL;
	{
		struct guest_mem small = { 0 };

		assert_int_equal(gm_add_region(&small, 0, 32 * MiB, r->host), 0);
		assert_int_equal(boot_load_linux(&small, RAM_SIZE, &bi, &entry, &bpa, &why),
				 -E2BIG);
		assert_non_null(why);
	}
	free(img);
	free(big);
}

static void test_load_linux_cmdline_too_long(void **state)
{
	struct ram *r = *state;
	struct bz_opts o = default_opts();
	size_t len;
	uint8_t *img;
	struct boot_images bi = { 0 };
	uint64_t entry, bpa;
	const char *why = NULL;
	char line[64];

	o.cmdline_size = 16;
	img = make_bz(&o, &len);
	bi.kernel = img;
	bi.kernel_len = len;
	memset(line, 'a', sizeof(line));
	line[16] = '\0';
	bi.cmdline = line;
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), 0);
	assert_string_equal((const char *)r->host + LAYOUT_CMDLINE, line);
	line[16] = 'a';
	line[17] = '\0';
	assert_int_equal(boot_load_linux(&r->gm, RAM_SIZE, &bi, &entry, &bpa, &why), -E2BIG);
	assert_non_null(strstr(why, "command line"));
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_bad_magic),
		cmocka_unit_test(test_parse_old_protocol),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_not_64bit),
		cmocka_unit_test(test_parse_init_size_too_small),
		cmocka_unit_test(test_parse_not_relocatable_and_defaults),
		cmocka_unit_test_setup_teardown(test_load_linux, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(test_load_linux_page_tables, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(test_load_linux_not_relocatable, ram_setup,
						ram_teardown),
		cmocka_unit_test_setup_teardown(test_load_linux_initrd_limit, ram_setup,
						ram_teardown),
		cmocka_unit_test_setup_teardown(test_load_linux_too_big, ram_setup, ram_teardown),
		cmocka_unit_test_setup_teardown(test_load_linux_cmdline_too_long, ram_setup,
						ram_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
