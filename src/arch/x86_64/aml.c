// SPDX-License-Identifier: Apache-2.0
/* AML byte-code builder (ACPI 6.5, chapter 20: ACPI Machine Language Specification). */
#include "arch/x86_64/aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes and prefixes. */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR 0x5c
#define AML_PARENT_PREFIX 0x5e
#define AML_RETURN_OP 0xa4

/* Resource descriptor tags (ACPI 6.5, 6.4). */
#define AML_RES_IRQ_NOFLAGS 0x22 /* small item 0x04, length 2 */
#define AML_RES_IO 0x47 /* small item 0x08, length 7 */
#define AML_RES_FIXED_IO 0x4b /* small item 0x09, length 3 */
#define AML_RES_END_TAG 0x79 /* small item 0x0f, length 1 */
#define AML_RES_MEMORY32_FIXED 0x86
#define AML_RES_DWORD_ADDR 0x87
#define AML_RES_WORD_ADDR 0x88
#define AML_RES_EXT_IRQ 0x89
#define AML_RES_QWORD_ADDR 0x8a

/* Address space resource types and general flags. */
#define AML_ADDR_MEMORY 0
#define AML_ADDR_IO 1
#define AML_ADDR_BUS 2
#define AML_ADDR_MAX_FIXED (1 << 3)
#define AML_ADDR_MIN_FIXED (1 << 2)
#define AML_IO_ENTIRE_RANGE 3

#define AML_NAMESEG_LEN 4
#define AML_MAX_SEGS 255

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

int aml_error(const struct aml *a)
{
	return a->err;
}

static void aml_fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

/* Make room for @n more bytes. */
static int aml_reserve(struct aml *a, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (a->err)
		return a->err;
	if (n > AML_PKGLEN_LIMIT || a->len > AML_PKGLEN_LIMIT - n) {
		aml_fail(a, -E2BIG);
		return a->err;
	}
	if (a->len + n <= a->cap)
		return 0;
	cap = a->cap ? a->cap : 256;
	while (cap < a->len + n)
		cap *= 2;
	p = realloc(a->buf, cap);
	if (!p) {
		aml_fail(a, -ENOMEM);
		return a->err;
	}
	a->buf = p;
	a->cap = cap;
	return 0;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (aml_reserve(a, n))
		return;
	if (n)
		memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned int n)
{
	uint8_t b[8];
	unsigned int i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n);
}

/* Insert @n bytes at offset @at, moving what follows. */
static void aml_insert(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
	if (a->err)
		return;
	if (at > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	if (aml_reserve(a, n))
		return;
	memmove(a->buf + at + n, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, n);
	a->len += n;
}

int aml_pkglen(size_t body_len, uint8_t out[AML_PKGLEN_MAX_BYTES])
{
	size_t total;
	int n;

	if (body_len > AML_PKGLEN_LIMIT - 4)
		return -E2BIG;
	if (body_len + 1 <= 0x3f) {
		out[0] = (uint8_t)(body_len + 1);
		return 1;
	}
	if (body_len + 2 <= 0xfff)
		n = 2;
	else if (body_len + 3 <= 0xfffff)
		n = 3;
	else
		n = 4;
	/* Lead byte: bits 7-6 count the bytes that follow, bits 3-0 the low nibble. */
	total = body_len + (size_t)n;
	out[0] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
	for (int i = 1; i < n; i++)
		out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return n;
}

int aml_eisaid(const char *id, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	if (!id || strlen(id) != 7)
		return -EINVAL;
	for (i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
		v = (v << 5) | (uint32_t)(id[i] - 0x40);
	}
	for (i = 3; i < 7; i++) {
		char c = id[i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return -EINVAL;
		v = (v << 4) | d;
	}
	/* The 32-bit id is stored big-endian; as an AML integer it is byte-swapped. */
	*out = __builtin_bswap32(v);
	return 0;
}

static bool aml_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool aml_name_char(char c)
{
	return aml_lead_char(c) || (c >= '0' && c <= '9');
}

void aml_namestring(struct aml *a, const char *path)
{
	uint8_t segs[AML_MAX_SEGS][AML_NAMESEG_LEN];
	unsigned int nsegs = 0;
	const char *p = path;

	if (a->err)
		return;
	if (!path) {
		aml_fail(a, -EINVAL);
		return;
	}
	if (*p == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(a, AML_PARENT_PREFIX);
			p++;
		}
	}
	while (*p) {
		unsigned int n = 0;

		if (nsegs == AML_MAX_SEGS || !aml_lead_char(*p)) {
			aml_fail(a, -EINVAL);
			return;
		}
		while (*p && *p != '.') {
			if (n == AML_NAMESEG_LEN || !aml_name_char(*p)) {
				aml_fail(a, -EINVAL);
				return;
			}
			segs[nsegs][n++] = (uint8_t)*p++;
		}
		while (n < AML_NAMESEG_LEN)
			segs[nsegs][n++] = '_';
		nsegs++;
		if (*p == '.') {
			p++;
			if (!*p) {
				aml_fail(a, -EINVAL);
				return;
			}
		}
	}
	if (nsegs == 0) {
		aml_byte(a, 0x00); /* NullName */
		return;
	}
	if (nsegs == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nsegs);
	}
	aml_bytes(a, segs, (size_t)nsegs * AML_NAMESEG_LEN);
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	size_t i;

	if (a->err)
		return;
	if (!s) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (i = 0; s[i]; i++) {
		if ((unsigned char)s[i] > 0x7f) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, i + 1);
}

void aml_eisaid_integer(struct aml *a, const char *id)
{
	uint32_t v;
	int ret;

	if (a->err)
		return;
	ret = aml_eisaid(id, &v);
	if (ret) {
		aml_fail(a, ret);
		return;
	}
	/* Always a DWord, as iasl emits it, whatever the value. */
	aml_byte(a, AML_DWORD_PREFIX);
	aml_le(a, v, 4);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name(a, name);
	aml_integer(a, v);
}

void aml_name_string(struct aml *a, const char *name, const char *s)
{
	aml_name(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name(a, name);
	aml_eisaid_integer(a, id);
}

/* Close an object: insert the PkgLength of everything from @mark on at @mark. */
void aml_end(struct aml *a, size_t mark)
{
	uint8_t pl[AML_PKGLEN_MAX_BYTES];
	int n;

	if (a->err)
		return;
	if (mark > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	n = aml_pkglen(a->len - mark, pl);
	if (n < 0) {
		aml_fail(a, n);
		return;
	}
	aml_insert(a, mark, pl, (size_t)n);
}

size_t aml_scope(struct aml *a, const char *name)
{
	size_t mark;

	aml_byte(a, AML_SCOPE_OP);
	mark = a->len;
	aml_namestring(a, name);
	return mark;
}

size_t aml_device(struct aml *a, const char *name)
{
	size_t mark;

	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	mark = a->len;
	aml_namestring(a, name);
	return mark;
}

size_t aml_method(struct aml *a, const char *name, unsigned int nargs, bool serialized)
{
	size_t mark;

	aml_byte(a, AML_METHOD_OP);
	mark = a->len;
	aml_namestring(a, name);
	if (nargs > 7)
		aml_fail(a, -EINVAL);
	/* MethodFlags: bits 2-0 ArgCount, bit 3 SerializeFlag, bits 7-4 SyncLevel 0. */
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return mark;
}

size_t aml_package(struct aml *a, unsigned int nelems)
{
	size_t mark;

	aml_byte(a, AML_PACKAGE_OP);
	mark = a->len;
	if (nelems > 0xff)
		aml_fail(a, -EINVAL);
	aml_byte(a, (uint8_t)nelems);
	return mark;
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN_OP);
}

size_t aml_buffer(struct aml *a)
{
	aml_byte(a, AML_BUFFER_OP);
	return a->len;
}

void aml_buffer_end(struct aml *a, size_t mark)
{
	struct aml size;

	if (a->err)
		return;
	if (mark > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	/* BufferSize is a TermArg before the bytes: encode it, insert it, then the length. */
	aml_init(&size);
	aml_integer(&size, a->len - mark);
	if (size.err) {
		aml_fail(a, size.err);
		aml_free(&size);
		return;
	}
	aml_insert(a, mark, size.buf, size.len);
	aml_free(&size);
	aml_end(a, mark);
}

size_t aml_restemplate(struct aml *a)
{
	return aml_buffer(a);
}

void aml_restemplate_end(struct aml *a, size_t mark)
{
	uint8_t sum = AML_RES_END_TAG;
	size_t i;

	if (a->err)
		return;
	if (mark > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (i = mark; i < a->len; i++)
		sum = (uint8_t)(sum + a->buf[i]);
	aml_byte(a, AML_RES_END_TAG);
	aml_byte(a, (uint8_t)-sum);
	aml_buffer_end(a, mark);
}

void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	if (min > max)
		aml_fail(a, -EINVAL);
	aml_byte(a, AML_RES_IO);
	aml_byte(a, 0x01); /* Decode16 */
	aml_le(a, min, 2);
	aml_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

void aml_res_fixed_io(struct aml *a, uint16_t base, uint8_t len)
{
	if (base > 0x3ff)
		aml_fail(a, -EINVAL);
	aml_byte(a, AML_RES_FIXED_IO);
	aml_le(a, base, 2);
	aml_byte(a, len);
}

void aml_res_irq_noflags(struct aml *a, unsigned int irq)
{
	if (irq > 15) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_RES_IRQ_NOFLAGS);
	aml_le(a, 1U << irq, 2);
}

void aml_res_interrupt(struct aml *a, unsigned int flags, const uint32_t *gsis, unsigned int n)
{
	unsigned int i;

	if (n == 0 || n > 255 || !gsis || (flags & ~0xfU)) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_RES_EXT_IRQ);
	aml_le(a, 2 + 4 * n, 2); /* flags, count, the list; no resource source */
	aml_byte(a, (uint8_t)flags);
	aml_byte(a, (uint8_t)n);
	for (i = 0; i < n; i++)
		aml_le(a, gsis[i], 4);
}

void aml_res_memory32_fixed(struct aml *a, bool rw, uint32_t base, uint32_t len)
{
	aml_byte(a, AML_RES_MEMORY32_FIXED);
	aml_le(a, 9, 2);
	aml_byte(a, rw ? 1 : 0);
	aml_le(a, base, 4);
	aml_le(a, len, 4);
}

/*
 * Word/DWord/QWord address space descriptor: tag, length, resource type, general flags,
 * type-specific flags, then granularity, min, max, translation and length, each @width
 * bytes wide.
 */
static void aml_res_addr(struct aml *a, uint8_t tag, unsigned int width, uint8_t type,
			 uint8_t type_flags, uint64_t min, uint64_t max)
{
	uint64_t limit = width == 8 ? UINT64_MAX : (1ULL << (8 * width)) - 1;
	uint64_t len = max - min + 1;

	if (min > max || max > limit || len == 0 || len > limit) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, tag);
	aml_le(a, 3 + 5 * width, 2);
	aml_byte(a, type);
	aml_byte(a, AML_ADDR_MIN_FIXED | AML_ADDR_MAX_FIXED); /* producer, positive decode */
	aml_byte(a, type_flags);
	aml_le(a, 0, width); /* granularity */
	aml_le(a, min, width);
	aml_le(a, max, width);
	aml_le(a, 0, width); /* translation offset */
	aml_le(a, len, width);
}

void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, AML_RES_WORD_ADDR, 2, AML_ADDR_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, AML_RES_WORD_ADDR, 2, AML_ADDR_IO, AML_IO_ENTIRE_RANGE, min, max);
}

static uint8_t aml_mem_flags(enum aml_mem_cache cache, bool rw)
{
	return (uint8_t)(((unsigned int)cache & 3) << 1 | (rw ? 1 : 0));
}

void aml_res_dword_memory(struct aml *a, enum aml_mem_cache cache, bool rw, uint32_t min,
			  uint32_t max)
{
	aml_res_addr(a, AML_RES_DWORD_ADDR, 4, AML_ADDR_MEMORY, aml_mem_flags(cache, rw), min,
		     max);
}

void aml_res_qword_memory(struct aml *a, enum aml_mem_cache cache, bool rw, uint64_t min,
			  uint64_t max)
{
	aml_res_addr(a, AML_RES_QWORD_ADDR, 8, AML_ADDR_MEMORY, aml_mem_flags(cache, rw), min,
		     max);
}
