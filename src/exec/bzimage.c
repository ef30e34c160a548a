// SPDX-License-Identifier: Apache-2.0
/* The kernel release in a bzImage's setup header (boot protocol 2.00 and later). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/bzimage.h"

#define BZ_SETUP_SECTS 0x1f1
#define BZ_BOOT_FLAG 0x1fe
#define BZ_HEADER_MAGIC 0x202
#define BZ_PROTOCOL 0x206
#define BZ_KERNEL_VERSION 0x20e
#define BZ_HEADER_END 0x210 /* the header bytes read here end before this */
#define BZ_VERSION_BASE 0x200 /* kernel_version counts from here */

static unsigned int bz_le16(const unsigned char *p)
{
	return (unsigned int)p[0] | (unsigned int)p[1] << 8;
}

/* Letters, digits and ".-_+~": what a release is made of, and safe as a path component. */
static int bz_release_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr(".-_+~", c));
}

int bzimage_release_from_buf(const void *buf, size_t len, char *out, size_t size)
{
	const unsigned char *b = buf;
	size_t setup_size, start, end, n;
	const unsigned char *nul;
	unsigned int sects, ptr;

	if (len < BZ_HEADER_END)
		return -ENOEXEC;
	if (bz_le16(b + BZ_BOOT_FLAG) != 0xaa55 || memcmp(b + BZ_HEADER_MAGIC, "HdrS", 4) ||
	    bz_le16(b + BZ_PROTOCOL) < 0x200)
		return -ENOEXEC;
	ptr = bz_le16(b + BZ_KERNEL_VERSION);
	if (!ptr)
		return -ENODATA;
	sects = b[BZ_SETUP_SECTS] ? b[BZ_SETUP_SECTS] : 4;
	setup_size = ((size_t)sects + 1) * 512;
	start = (size_t)ptr + BZ_VERSION_BASE;
	/* The string lies in the setup code, after the header. */
	if (start < BZ_HEADER_END || start >= setup_size || start >= len)
		return -ERANGE;
	end = MIN(setup_size, len);
	nul = memchr(b + start, '\0', end - start);
	if (!nul)
		return -EBADMSG;
	for (n = 0; b + start + n < nul && b[start + n] != ' '; n++) {
		if (!bz_release_char((char)b[start + n]))
			return -EBADMSG;
	}
	if (!n || n >= BZIMAGE_RELEASE_MAX || (n == 1 && b[start] == '.') ||
	    (n == 2 && b[start] == '.' && b[start + 1] == '.'))
		return -EBADMSG;
	if (n >= size)
		return -ENOSPC;
	memcpy(out, b + start, n);
	out[n] = '\0';
	return 0;
}
