/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The arm64 Linux boot protocol (Documentation/arch/arm64/booting.rst): the Image
 * header, and where the kernel, the initramfs and the device tree go in RAM.
 */
#ifndef KVMRUN_ARM64_IMAGE_H
#define KVMRUN_ARM64_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

#define A64_IMAGE_HDR_LEN 64
#define A64_IMAGE_MAGIC 0x644d5241U /* "ARM\x64", little endian */
#define A64_IMAGE_FLAG_BE 0x1ULL
#define A64_KERNEL_ALIGN 0x200000ULL /* the kernel's base: 2 MiB aligned */
#define A64_DTB_MAX 0x200000ULL	     /* a device tree is at most 2 MiB */

struct a64_image {
	uint64_t text_offset;
	uint64_t image_size; /* what the kernel occupies from its start, bss included */
	uint64_t flags;
};

/* Where the boot files go in RAM. */
struct a64_boot_layout {
	uint64_t kernel;	     /* text_offset from a 2 MiB aligned base */
	uint64_t initrd, initrd_len; /* len 0: none */
	uint64_t dtb;		     /* 8-byte aligned, A64_DTB_MAX bytes reserved */
};

/* Parses and checks an Image header against the file's length; -EINVAL and *why on failure. */
int a64_image_parse(const uint8_t *img, size_t len, struct a64_image *out,
		    const char **why) WARN_UNUSED;

/*
 * Checks that an initramfs looks like one: a newc cpio archive, or one compressed with a
 * method the kernel knows. -EINVAL and *why otherwise.
 */
int a64_initrd_check(const uint8_t *data, size_t len, const char **why) WARN_UNUSED;

/*
 * Places the kernel at the start of RAM (@ram, @ram_size bytes), the device tree in its
 * last 2 MiB and the initramfs (@initrd_len bytes, 0: none) below it. -ENOSPC and *why,
 * naming the file that does not fit (*initrd), when they do not all fit.
 */
int a64_boot_layout(const struct a64_image *im, uint64_t ram, uint64_t ram_size,
		    uint64_t initrd_len, struct a64_boot_layout *out, bool *initrd,
		    const char **why) WARN_UNUSED;

#endif
