/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small builder of ACPI Machine Language (AML) byte code, enough for the DSDT of the
 * x86-64 machine: names, scopes, devices, simple methods, packages, integers, strings,
 * EISA ids and resource templates.
 *
 * Every emitter appends to a growable buffer. Errors are sticky: after the first one
 * (-ENOMEM, -EINVAL for a bad name or value, -E2BIG past the AML length limit) every
 * later call does nothing, and the caller checks aml_error() once at the end.
 *
 * Objects with a PkgLength (Scope, Device, Method, Package, Buffer) are opened by a
 * function that returns a mark and closed by the matching *_end() call with that mark,
 * innermost first. The length is inserted when the object is closed, so it is always
 * encoded in the fewest bytes.
 */
#ifndef KVMRUN_X86_AML_H
#define KVMRUN_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"

/* The largest value a PkgLength can hold (28 bits), and its largest encoding. */
#define AML_PKGLEN_LIMIT 0x0fffffffU
#define AML_PKGLEN_MAX_BYTES 4

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err;
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* 0, or the first error any call on @a hit. */
int aml_error(const struct aml *a) WARN_UNUSED;

/*
 * Encode the PkgLength of an object whose body after the PkgLength is @body_len bytes
 * long (the encoded value counts its own bytes, as the spec wants). Returns the number
 * of bytes written to @out (1-4) or -E2BIG.
 */
int aml_pkglen(size_t body_len, uint8_t out[AML_PKGLEN_MAX_BYTES]) WARN_UNUSED;

/* "PNP0501" -> 0x0105d041 (the value whose little-endian bytes are the EISA id). */
int aml_eisaid(const char *id, uint32_t *out) WARN_UNUSED;

/* Raw bytes. */
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);

/*
 * NameString: "_STA", "COM", "\\_SB_", "\\_SB.PCI0", "^FOO". Segments shorter than four
 * characters are padded with '_'.
 */
void aml_namestring(struct aml *a, const char *path);

/* Data objects. */
void aml_integer(struct aml *a, uint64_t v); /* Zero, One or the smallest prefix */
void aml_string(struct aml *a, const char *s);
void aml_eisaid_integer(struct aml *a, const char *id);

/* Name(name, ...): emits NameOp and the name; the caller appends the data object. */
void aml_name(struct aml *a, const char *name);
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_string(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/* Objects with a body. Close each with aml_end(a, mark), innermost first. */
size_t aml_scope(struct aml *a, const char *name);
size_t aml_device(struct aml *a, const char *name);
size_t aml_method(struct aml *a, const char *name, unsigned int nargs, bool serialized);
size_t aml_package(struct aml *a, unsigned int nelems);
void aml_end(struct aml *a, size_t mark);

/* Return(...): emits ReturnOp; the caller appends the term. */
void aml_return(struct aml *a);

/* Buffer() { bytes }: opened by aml_buffer(), closed by aml_buffer_end(). */
size_t aml_buffer(struct aml *a);
void aml_buffer_end(struct aml *a, size_t mark);

/*
 * ResourceTemplate() { descriptors }: a Buffer closed by aml_restemplate_end(), which
 * appends the End Tag with a checksum that makes the descriptor bytes sum to zero.
 */
size_t aml_restemplate(struct aml *a);
void aml_restemplate_end(struct aml *a, size_t mark);

/* Resource descriptors, to be emitted inside a resource template. */
enum {
	AML_INT_CONSUMER = 1 << 0,
	AML_INT_EDGE = 1 << 1,
	AML_INT_ACTIVE_LOW = 1 << 2,
	AML_INT_SHARED = 1 << 3,
};

enum aml_mem_cache {
	AML_MEM_NONCACHEABLE = 0,
	AML_MEM_CACHEABLE = 1,
	AML_MEM_WRITE_COMBINING = 2,
	AML_MEM_PREFETCHABLE = 3,
};

/* IO(Decode16, min, max, align, len) */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* FixedIO(base, len): 10-bit decode */
void aml_res_fixed_io(struct aml *a, uint16_t base, uint8_t len);
/* IRQNoFlags() { irq }: ISA IRQ 0-15, edge, active high */
void aml_res_irq_noflags(struct aml *a, unsigned int irq);
/* Interrupt(flags) { gsis } */
void aml_res_interrupt(struct aml *a, unsigned int flags, const uint32_t *gsis, unsigned int n);
/* Memory32Fixed(ReadWrite or ReadOnly, base, len) */
void aml_res_memory32_fixed(struct aml *a, bool rw, uint32_t base, uint32_t len);
/*
 * Address space descriptors as a bridge produces them (ResourceProducer, MinFixed,
 * MaxFixed, PosDecode, granularity 0, no translation, length max - min + 1).
 */
void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max); /* EntireRange */
void aml_res_dword_memory(struct aml *a, enum aml_mem_cache cache, bool rw, uint32_t min,
			  uint32_t max);
void aml_res_qword_memory(struct aml *a, enum aml_mem_cache cache, bool rw, uint64_t min,
			  uint64_t max);

#endif
