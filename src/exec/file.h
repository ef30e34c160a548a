/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_EXEC_FILE_H
#define KVMRUN_EXEC_FILE_H

#include <stddef.h>
#include <sys/stat.h>
#include "kvmrun/compiler.h"

/*
 * Opens the regular file @path read-only (close-on-exec) and fills *st: the
 * descriptor, or -EISDIR for a directory, -EINVAL for another non-regular file,
 * or the open's -errno.
 */
int exec_open_regular(const char *path, struct stat *st) WARN_UNUSED;

/*
 * All of the regular file @path, if it has at most @max bytes, in a new buffer (one
 * byte larger than *len; free() it). -EISDIR for a directory, -EINVAL for another
 * non-regular file, -EFBIG over max, -EIO when the file changed size while read.
 */
int exec_read_file(const char *path, size_t max, void **out, size_t *len) WARN_UNUSED;

#endif
