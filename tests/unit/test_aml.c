// SPDX-License-Identifier: Apache-2.0
/* Unit tests for the AML byte-code builder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/aml.h"

/* Decode a PkgLength at @p; returns its byte count and stores the value in *@val. */
static unsigned int decode_pkglen(const uint8_t *p, size_t *val)
{
	unsigned int n = (p[0] >> 6) + 1, i;

	if (n == 1) {
		*val = p[0] & 0x3f;
		return 1;
	}
	assert_int_equal(p[0] & 0x30, 0);
	*val = p[0] & 0x0f;
	for (i = 1; i < n; i++)
		*val |= (size_t)p[i] << (4 + 8 * (i - 1));
	return n;
}

static void expect_bytes(const struct aml *a, const uint8_t *want, size_t n)
{
	assert_int_equal(aml_error(a), 0);
	assert_int_equal(a->len, n);
	assert_memory_equal(a->buf, want, n);
}

static void test_pkglen_encoding(void **state)
{
	static const struct {
		size_t body;
		int n;
		uint8_t bytes[4];
	} cases[] = {
		{ 0, 1, { 0x01 } },
		{ 62, 1, { 0x3f } }, /* total 63: the largest one-byte length */
		{ 63, 2, { 0x41, 0x04 } }, /* total 65: 64 cannot be reached from 63 + 1 */
		{ 4093, 2, { 0x4f, 0xff } }, /* total 4095: the largest two-byte length */
		{ 4094, 3, { 0x81, 0x00, 0x01 } }, /* total 4097 */
		{ 0xffffc, 3, { 0x8f, 0xff, 0xff } }, /* total 1 MiB - 1 */
		{ 0xffffd, 4, { 0xc1, 0x00, 0x00, 0x01 } }, /* total 1 MiB + 1 */
		{ AML_PKGLEN_LIMIT - 4, 4, { 0xcf, 0xff, 0xff, 0xff } },
	};
	uint8_t out[AML_PKGLEN_MAX_BYTES];
	size_t i, val;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = aml_pkglen(cases[i].body, out);

		assert_int_equal(n, cases[i].n);
		assert_memory_equal(out, cases[i].bytes, (size_t)n);
		assert_int_equal(decode_pkglen(out, &val), (unsigned int)n);
		assert_int_equal(val, cases[i].body + (size_t)n);
	}
	assert_int_equal(aml_pkglen(AML_PKGLEN_LIMIT - 3, out), -E2BIG);
	assert_int_equal(aml_pkglen(SIZE_MAX, out), -E2BIG);
}

/* A Scope whose body crosses each PkgLength boundary is closed with the right length. */
static void test_pkglen_nested_patch(void **state)
{
	static const size_t bodies[] = { 0, 58, 59, 60, 4000, 4089, 4090, 4091, 0xffff8, 0xffff9,
					 0x100000 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct aml a;
		size_t mark, val, hdr;
		uint8_t *filler = calloc(1, bodies[i] + 1);

		assert_non_null(filler);
		aml_init(&a);
		mark = aml_scope(&a, "_SB_");
		assert_int_equal(mark, 1);
		aml_bytes(&a, filler, bodies[i]);
		aml_end(&a, mark);
		assert_int_equal(aml_error(&a), 0);
		assert_int_equal(a.buf[0], 0x10);
		hdr = decode_pkglen(a.buf + 1, &val);
		/* The PkgLength covers itself, the name and the body: everything after ScopeOp. */
		assert_int_equal(val, a.len - 1);
		assert_int_equal(a.len, 1 + hdr + 4 + bodies[i]);
		assert_memory_equal(a.buf + 1 + hdr, "_SB_", 4);
		aml_free(&a);
		free(filler);
	}
}

static void test_integers(void **state)
{
	static const struct {
		uint64_t v;
		size_t n;
		uint8_t bytes[9];
	} cases[] = {
		{ 0, 1, { 0x00 } },
		{ 1, 1, { 0x01 } },
		{ 2, 2, { 0x0a, 0x02 } },
		{ 0xff, 2, { 0x0a, 0xff } },
		{ 0x100, 3, { 0x0b, 0x00, 0x01 } },
		{ 0xffff, 3, { 0x0b, 0xff, 0xff } },
		{ 0x10000, 5, { 0x0c, 0x00, 0x00, 0x01, 0x00 } },
		{ 0xffffffff, 5, { 0x0c, 0xff, 0xff, 0xff, 0xff } },
		{ 0x100000000ULL, 9, { 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 } },
		{ UINT64_MAX, 9, { 0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml a;

		aml_init(&a);
		aml_integer(&a, cases[i].v);
		expect_bytes(&a, cases[i].bytes, cases[i].n);
		aml_free(&a);
	}
}

static void test_eisaid(void **state)
{
	static const uint8_t want[] = { 0x0c, 0x41, 0xd0, 0x05, 0x01 };
	struct aml a;
	uint32_t v;

	(void)state;
	assert_int_equal(aml_eisaid("PNP0501", &v), 0);
	assert_int_equal(v, 0x0105d041);
	assert_int_equal(aml_eisaid("PNP0B00", &v), 0);
	assert_int_equal(v, 0x000bd041);
	assert_int_equal(aml_eisaid("PNP0303", &v), 0);
	assert_int_equal(v, 0x0303d041);
	assert_int_equal(aml_eisaid("PNP050", &v), -EINVAL);
	assert_int_equal(aml_eisaid("PNP05011", &v), -EINVAL);
	assert_int_equal(aml_eisaid("pnp0501", &v), -EINVAL);
	assert_int_equal(aml_eisaid("PNP050G", &v), -EINVAL);
	assert_int_equal(aml_eisaid(NULL, &v), -EINVAL);

	aml_init(&a);
	aml_eisaid_integer(&a, "PNP0501");
	expect_bytes(&a, want, sizeof(want));
	aml_eisaid_integer(&a, "bad");
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
}

static void test_namestrings(void **state)
{
	static const struct {
		const char *path;
		size_t n;
		const char *bytes;
	} cases[] = {
		{ "_STA", 4, "_STA" },
		{ "_SB", 4, "_SB_" },
		{ "C", 4, "C___" },
		{ "\\_SB_", 5, "\\_SB_" },
		{ "\\", 2, "\\\0" },
		{ "\\_SB.COM1", 10, "\\\x2e_SB_COM1" },
		{ "_SB.PCI0", 9, "\x2e_SB_PCI0" },
		{ "\\_SB.PCI0.ISA", 15, "\\\x2f\x03_SB_PCI0ISA_" },
		{ "^^FOO", 6, "^^FOO_" },
	};
	static const char *const bad[] = { "_sb_", "TOOLONG", "1ABC", "_SB..X", "_SB.", "A-B",
					   "\\^A" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml a;

		aml_init(&a);
		aml_namestring(&a, cases[i].path);
		expect_bytes(&a, (const uint8_t *)cases[i].bytes, cases[i].n);
		aml_free(&a);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aml a;

		aml_init(&a);
		aml_namestring(&a, bad[i]);
		assert_int_equal(aml_error(&a), -EINVAL);
		aml_free(&a);
	}
}

static void test_string_and_name(void **state)
{
	static const uint8_t want[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'Q', 'E', 'M', 'U',
					'0', '0', '0', '1', 0x00 };
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_name_string(&a, "_HID", "QEMU0001");
	expect_bytes(&a, want, sizeof(want));
	aml_string(&a, "\xc3\xa9");
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
}

/* Device { Name(_UID, 5) Method(_STA) { Return(0x0f) } } and a package. */
static void test_device_method_package(void **state)
{
	static const uint8_t want[] = {
		0x5b, 0x82, 0x16, 'D', 'E', 'V', '0', /* Device, PkgLength 22 */
		0x08, '_', 'U', 'I', 'D', 0x0a, 0x05, /* Name (_UID, 5) */
		0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f, /* Method (_STA, 0) */
		0x12, 0x06, 0x03, 0x01, 0x00, 0x0a, 0x05, /* Package (3) { 1, 0, 5 } */
		0x14, 0x06, 'S', 'E', 'R', '_', 0x0b, /* Method (SER, 3, Serialized) */
	};
	struct aml a;
	size_t dev, m, pkg;

	(void)state;
	aml_init(&a);
	dev = aml_device(&a, "DEV0");
	aml_name_integer(&a, "_UID", 5);
	m = aml_method(&a, "_STA", 0, false);
	aml_return(&a);
	aml_integer(&a, 0x0f);
	aml_end(&a, m);
	aml_end(&a, dev);
	pkg = aml_package(&a, 3);
	aml_integer(&a, 1);
	aml_integer(&a, 0);
	aml_integer(&a, 5);
	aml_end(&a, pkg);
	m = aml_method(&a, "SER", 3, true);
	aml_end(&a, m);
	expect_bytes(&a, want, sizeof(want));

	aml_method(&a, "BAD", 8, false);
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void test_restemplate(void **state)
{
	static const uint8_t want[] = {
		0x11, 0x10, 0x0a, 0x0d, /* Buffer, PkgLength 16, size 13 */
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08, /* IO (Decode16, 0x3f8, .., 0, 8) */
		0x22, 0x10, 0x00, /* IRQNoFlags () {4} */
		0x79, /* End Tag, then the checksum */
	};
	struct aml a;
	size_t res;

	(void)state;
	aml_init(&a);
	res = aml_restemplate(&a);
	aml_res_io(&a, 0x3f8, 0x3f8, 0, 8);
	aml_res_irq_noflags(&a, 4);
	aml_restemplate_end(&a, res);
	assert_int_equal(aml_error(&a), 0);
	assert_int_equal(a.len, sizeof(want) + 1);
	assert_memory_equal(a.buf, want, sizeof(want));
	/* The descriptors and the End Tag, checksum included, sum to zero. */
	assert_int_equal(sum(a.buf + 4, 13), 0);
	aml_free(&a);

	/* An empty template is just the End Tag. */
	aml_init(&a);
	res = aml_restemplate(&a);
	aml_restemplate_end(&a, res);
	{
		static const uint8_t empty[] = { 0x11, 0x05, 0x0a, 0x02, 0x79, 0x87 };

		expect_bytes(&a, empty, sizeof(empty));
	}
	aml_free(&a);
}

static void test_descriptors(void **state)
{
	static const uint8_t fixed_io[] = { 0x4b, 0x60, 0x00, 0x01 };
	static const uint8_t mem32[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xb0, 0xfe,
					 0x02, 0x00, 0x00, 0x00 };
	static const uint8_t intr[] = { 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00 };
	static const uint8_t bus[] = { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00,
				       0xff, 0x00, 0x00, 0x00, 0x00, 0x01 };
	static const uint8_t wio[] = { 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x0d,
				       0xff, 0xff, 0x00, 0x00, 0x00, 0xf3 };
	static const uint32_t gsi = 5;
	struct aml a;
	size_t off;

	(void)state;
	aml_init(&a);
	aml_res_fixed_io(&a, 0x60, 1);
	expect_bytes(&a, fixed_io, sizeof(fixed_io));
	aml_free(&a);

	aml_init(&a);
	aml_res_memory32_fixed(&a, true, 0xfeb00000, 2);
	expect_bytes(&a, mem32, sizeof(mem32));
	aml_free(&a);

	aml_init(&a);
	aml_res_interrupt(&a, AML_INT_CONSUMER | AML_INT_EDGE, &gsi, 1);
	expect_bytes(&a, intr, sizeof(intr));
	aml_free(&a);

	aml_init(&a);
	aml_res_word_bus(&a, 0, 0xff);
	expect_bytes(&a, bus, sizeof(bus));
	aml_free(&a);

	aml_init(&a);
	aml_res_word_io(&a, 0x0d00, 0xffff);
	expect_bytes(&a, wio, sizeof(wio));
	aml_free(&a);

	/* DWordMemory: 26 bytes, non-cacheable read-write, min/max/length at 10/14/22. */
	aml_init(&a);
	aml_res_dword_memory(&a, AML_MEM_NONCACHEABLE, true, 0xc0000000, 0xdfffffff);
	assert_int_equal(aml_error(&a), 0);
	assert_int_equal(a.len, 26);
	assert_int_equal(a.buf[0], 0x87);
	assert_int_equal(a.buf[1] | a.buf[2] << 8, 23);
	assert_int_equal(a.buf[3], 0x00); /* memory */
	assert_int_equal(a.buf[5], 0x01); /* read-write, non-cacheable */
	off = 10;
	assert_memory_equal(a.buf + off, "\x00\x00\x00\xc0", 4);
	assert_memory_equal(a.buf + off + 4, "\xff\xff\xff\xdf", 4);
	assert_memory_equal(a.buf + off + 12, "\x00\x00\x00\x20", 4);
	aml_free(&a);

	/* QWordMemory: 46 bytes, prefetchable. */
	aml_init(&a);
	aml_res_qword_memory(&a, AML_MEM_PREFETCHABLE, true, 0x100000000ULL, 0x1ffffffffULL);
	assert_int_equal(aml_error(&a), 0);
	assert_int_equal(a.len, 46);
	assert_int_equal(a.buf[0], 0x8a);
	assert_int_equal(a.buf[1] | a.buf[2] << 8, 43);
	assert_int_equal(a.buf[5], 0x07);
	assert_memory_equal(a.buf + 14, "\x00\x00\x00\x00\x01\x00\x00\x00", 8);
	assert_memory_equal(a.buf + 22, "\xff\xff\xff\xff\x01\x00\x00\x00", 8);
	assert_memory_equal(a.buf + 38, "\x00\x00\x00\x00\x01\x00\x00\x00", 8);
	aml_free(&a);

	/* Bad values. */
	aml_init(&a);
	aml_res_dword_memory(&a, AML_MEM_NONCACHEABLE, true, 0, 0xffffffff); /* len 2^32 */
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_res_word_io(&a, 0x10, 0x0f);
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_res_irq_noflags(&a, 16);
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_res_interrupt(&a, AML_INT_CONSUMER, &gsi, 0);
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
}

/* After the first error nothing more is emitted and the error stays the first one. */
static void test_sticky_error(void **state)
{
	struct aml a;
	size_t len, mark;

	(void)state;
	aml_init(&a);
	aml_integer(&a, 7);
	len = a.len;
	aml_namestring(&a, "bad!");
	assert_int_equal(aml_error(&a), -EINVAL);
	mark = aml_scope(&a, "_SB_");
	aml_integer(&a, 0x1234);
	aml_end(&a, mark);
	aml_res_memory32_fixed(&a, true, 0, 1);
	assert_int_equal(a.len, len);
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);

	/* A mark past the end is a misuse, not a crash. */
	aml_init(&a);
	aml_end(&a, 10);
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkglen_encoding),
		cmocka_unit_test(test_pkglen_nested_patch),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_eisaid),
		cmocka_unit_test(test_namestrings),
		cmocka_unit_test(test_string_and_name),
		cmocka_unit_test(test_device_method_package),
		cmocka_unit_test(test_restemplate),
		cmocka_unit_test(test_descriptors),
		cmocka_unit_test(test_sticky_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
