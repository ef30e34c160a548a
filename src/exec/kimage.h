/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The release of a Linux kernel file, whatever its architecture's format: a bzImage's
 * setup header (x86-64, bzimage.h), or the banner inside an uncompressed arm64 Image
 * ("Linux version 6.1.0-57-cloud-arm64 (debian-kernel@...) ...", the string the kernel
 * prints first and /proc/version shows), which has no header field for it.
 */
#ifndef KVMRUN_EXEC_KIMAGE_H
#define KVMRUN_EXEC_KIMAGE_H

#include <stddef.h>

#include "exec/bzimage.h"
#include "kvmrun/compiler.h"

#define KIMAGE_BANNER "Linux version "
/* Bytes of a banner looked at: its prefix, a release and the space after it. */
#define KIMAGE_BANNER_MAX (sizeof(KIMAGE_BANNER) - 1 + BZIMAGE_RELEASE_MAX)

/*
 * The release in the first well-formed banner of @buf (@len bytes): KIMAGE_BANNER,
 * then 1 to BZIMAGE_RELEASE_MAX - 1 bytes of letters, digits and ".-_+~" (not "." or
 * ".."), then " (". Writes it, NUL-terminated, to @out (@size bytes). Returns 0,
 * -ENODATA (no such banner) or -ENOSPC (@out too small).
 */
int kimage_release_from_banner(const void *buf, size_t len, char *out, size_t size) WARN_UNUSED;

/*
 * The release of the kernel file at @path: a bzImage's (bzimage_release_from_buf()), or an
 * uncompressed arm64 Image's banner, read through the whole file. Returns 0, -ENOEXEC
 * (neither; -EPROTONOSUPPORT for a gzip-compressed file, which kvmrun does not boot),
 * -ENODATA (an Image without a banner), the errors of bzimage_release_from_buf(), or
 * -errno of open/read.
 */
int kimage_release(const char *path, char *out, size_t size) WARN_UNUSED;

#endif
