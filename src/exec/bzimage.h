/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The release of a Linux kernel image (bzImage), read from its setup header:
 * the string kernel_version points to starts with it ("6.1.0-28-cloud-amd64 (...)").
 */
#ifndef KVMRUN_EXEC_BZIMAGE_H
#define KVMRUN_EXEC_BZIMAGE_H

#include <stddef.h>

#include "kvmrun/compiler.h"

#define BZIMAGE_RELEASE_MAX 64 /* bytes of a release, with its NUL */
#define BZIMAGE_SETUP_MAX ((255 + 1) * 512) /* the setup area: setup_sects is one byte */

/*
 * @buf holds the first @len bytes of the image. Writes the release, NUL-terminated,
 * to @out (@size bytes). Returns 0 or -ENOEXEC (too short to hold the setup header,
 * or not a bzImage), -ENODATA (no version string), -ERANGE (the pointer leaves the
 * setup area or the image), -EBADMSG (no NUL inside the setup area, or a release
 * that is empty, longer than BZIMAGE_RELEASE_MAX - 1 or not usable as a directory
 * name) or -ENOSPC (@out too small).
 */
int bzimage_release_from_buf(const void *buf, size_t len, char *out, size_t size) WARN_UNUSED;

#endif
