// SPDX-License-Identifier: Apache-2.0
/* The arm64 Image header, the initramfs's first bytes, and where the boot files go. */
#include <errno.h>
#include <string.h>

#include "arch/arm64/image.h"

#define A64_INITRD_ALIGN 0x1000ULL

static uint64_t a64_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int a64_image_parse(const uint8_t *img, size_t len, struct a64_image *out, const char **why)
{
	if (!img || len < A64_IMAGE_HDR_LEN) {
		*why = "too short to be an arm64 Image";
		return -EINVAL;
	}
	if ((uint32_t)a64_le64(img + 56) != A64_IMAGE_MAGIC) {
		*why = "not an arm64 Image (no \"ARM\\x64\" magic at offset 56)";
		return -EINVAL;
	}
	out->text_offset = a64_le64(img + 8);
	out->image_size = a64_le64(img + 16);
	out->flags = a64_le64(img + 24);
	if (!out->image_size) {
		*why = "Image header without image_size (a kernel older than 3.17)";
		return -EINVAL;
	}
	if (out->image_size < len) {
		*why = "Image header's image_size is smaller than the file";
		return -EINVAL;
	}
	if (out->text_offset >= A64_KERNEL_ALIGN || out->text_offset % 4096) {
		*why = "Image header's text_offset is not a 4 KiB multiple below 2 MiB";
		return -EINVAL;
	}
	if (out->flags & A64_IMAGE_FLAG_BE) {
		*why = "a big-endian Image";
		return -EINVAL;
	}
	return 0;
}

int a64_initrd_check(const uint8_t *d, size_t len, const char **why)
{
	static const struct {
		const char *magic;
		size_t len;
	} kinds[] = {
	    {"070701", 6},		     /* newc cpio */
	    {"070702", 6},		     /* newc cpio with checksums */
	    {"\x1f\x8b", 2},		     /* gzip */
	    {"\x1f\x9e", 2},		     /* old gzip */
	    {"\xfd\x37\x7a\x58\x5a\x00", 6}, /* xz */
	    {"\x28\xb5\x2f\xfd", 4},	     /* zstd */
	    {"\x02\x21\x4c\x18", 4},	     /* lz4 legacy */
	    {"BZh", 3},			     /* bzip2 */
	    {"\x5d\x00\x00", 3},	     /* lzma */
	    {"\x89LZO", 4},		     /* lzo */
	};
	size_t i;

	*why = "not an initramfs (neither a newc cpio archive nor a compressed one)";
	if (!d || len < 6)
		return -EINVAL;
	/* Padding before an archive: the kernel skips NUL bytes in steps of 4. */
	for (i = 0; i + 4 <= len && !memcmp(d + i, "\0\0\0\0", 4); i += 4)
		;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (len - i >= kinds[k].len && !memcmp(d + i, kinds[k].magic, kinds[k].len))
			return 0;
	return -EINVAL;
}

int a64_boot_layout(const struct a64_image *im, uint64_t ram, uint64_t ram_size,
		    uint64_t initrd_len, struct a64_boot_layout *out, bool *initrd,
		    const char **why)
{
	uint64_t end = ram + ram_size, kernel_end;

	*initrd = false;
	memset(out, 0, sizeof(*out));
	out->kernel = ALIGN_UP(ram, A64_KERNEL_ALIGN) + im->text_offset;
	if (ram_size < A64_DTB_MAX || out->kernel > end - A64_DTB_MAX ||
	    im->image_size > end - A64_DTB_MAX - out->kernel) {
		*why = "kernel does not fit in guest RAM (see --memory)";
		return -ENOSPC;
	}
	kernel_end = out->kernel + im->image_size;
	out->dtb = (end - A64_DTB_MAX) & ~7ULL;
	if (initrd_len) {
		out->initrd_len = initrd_len;
		if (initrd_len > out->dtb - kernel_end) {
			*initrd = true;
			*why = "initrd does not fit in guest RAM (see --memory)";
			return -ENOSPC;
		}
		out->initrd = (out->dtb - initrd_len) & ~(A64_INITRD_ALIGN - 1);
		if (out->initrd < kernel_end) {
			*initrd = true;
			*why = "initrd does not fit in guest RAM (see --memory)";
			return -ENOSPC;
		}
	}
	return 0;
}
