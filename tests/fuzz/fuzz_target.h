/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What libFuzzer calls in a target (LLVMFuzzerInitialize is optional), and the
 * decoding of the register accesses that the bus targets' inputs are made of.
 */
#ifndef FUZZ_TARGET_H
#define FUZZ_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An operation: one byte, bits 0-1 log2 of the width, bit 2 write, bits 3-7 the
 * selector; then an offset of 1 or 2 bytes (little endian).
 */
struct fuzz_op {
	unsigned int sel;
	uint32_t len;
	bool is_write;
	uint16_t off;
};

/* Decodes the operation at *pos and moves past it; false if the input has no whole one left. */
static inline bool fuzz_op_next(const uint8_t *data, size_t size, size_t *pos, size_t off_bytes,
				struct fuzz_op *op)
{
	const uint8_t *p = data + *pos;

	if (*pos + 1 + off_bytes > size)
		return false;
	op->sel = p[0] >> 3;
	op->len = 1U << (p[0] & 3);
	op->is_write = p[0] & 4;
	op->off = (uint16_t)(p[1] | (off_bytes > 1 ? p[2] << 8 : 0));
	*pos += 1 + off_bytes;
	return true;
}

/* Copies up to n bytes of the input at *pos to buf (fewer where it ends); returns how many. */
static inline size_t fuzz_take(const uint8_t *data, size_t size, size_t *pos, void *buf, size_t n)
{
	n = n < size - *pos ? n : size - *pos;
	memcpy(buf, data + *pos, n);
	*pos += n;
	return n;
}

#endif
