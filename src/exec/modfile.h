/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A kernel module's contents, decompressed on the host: .ko as it is, .ko.xz
 * through liblzma, .ko.zst through libzstd. The guest then loads plain .ko files
 * whatever its kernel was built to decompress.
 */
#ifndef KVMRUN_EXEC_MODFILE_H
#define KVMRUN_EXEC_MODFILE_H

#include <stddef.h>

#include "kvmrun/compiler.h"

#define MODFILE_MAX (64 * MiB) /* bytes of one module, decompressed */

enum modfile_format { MODFILE_PLAIN, MODFILE_XZ, MODFILE_ZSTD };

/* The format by @path's suffix; -EINVAL for no module suffix, -EPROTONOSUPPORT for .ko.gz. */
int modfile_format_of(const char *path);

/*
 * Decompresses @len bytes at @in into a new buffer (*@out, free() it) of *@out_len
 * bytes. Returns 0 or -EFBIG (more than @max bytes out), -EBADMSG (corrupt or
 * truncated data, or bytes after the end), -ENOMEM.
 */
int modfile_decompress(enum modfile_format fmt, const void *in, size_t len, size_t max,
		       void **out, size_t *out_len) WARN_UNUSED;

/* The same for the file at @path, the format by its suffix; also -errno of reading it. */
int modfile_read(const char *path, size_t max, void **out, size_t *out_len) WARN_UNUSED;

#endif
