/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A writer of cpio archives in the "newc" format (the one the Linux kernel
 * unpacks as an initramfs). The output is a function of the calls alone: every
 * entry has mtime 0, uid and gid 0, and inode numbers counting up from 1, so the
 * same calls give the same bytes.
 */
#ifndef KVMRUN_EXEC_CPIO_H
#define KVMRUN_EXEC_CPIO_H

#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"

#define CPIO_NAME_MAX 4095 /* bytes of a name, without its NUL */
#define CPIO_FILE_MAX 0xffffffffULL /* the size field has 8 hex digits */
#define CPIO_HEADER_SIZE 110

struct cpio_writer {
	int fd;
	uint64_t offset; /* bytes written so far */
	uint32_t next_ino;
	int error; /* the first failure; every later call returns it */
	int finished;
};

/* Starts an archive written to @fd (from its current position). */
void cpio_init(struct cpio_writer *w, int fd);

/*
 * Each adds one entry. @name is relative ("lib/modules"), without "." or ".."
 * components, empty components or a trailing slash; @mode holds the permission
 * bits only (at most 07777). They return 0 or -errno: -EINVAL for a bad name or
 * mode, -ENAMETOOLONG, -EFBIG for data of more than CPIO_FILE_MAX bytes, the
 * error of write(2), or -EIO for a host file whose size changed while read.
 * After one failure the archive is unusable and every call returns that error.
 */
int cpio_add_dir(struct cpio_writer *w, const char *name, unsigned int mode) WARN_UNUSED;
int cpio_add_file(struct cpio_writer *w, const char *name, unsigned int mode, const void *data,
		  size_t len) WARN_UNUSED;
/* The contents of the regular file at @host_path, read while written. */
int cpio_add_host_file(struct cpio_writer *w, const char *name, unsigned int mode,
		       const char *host_path) WARN_UNUSED;
int cpio_add_symlink(struct cpio_writer *w, const char *name, const char *target) WARN_UNUSED;

/* Writes the trailer entry; no entry may follow. */
int cpio_finish(struct cpio_writer *w) WARN_UNUSED;

/* 0 if @name is acceptable as an entry's name, else -EINVAL or -ENAMETOOLONG. */
int cpio_check_name(const char *name);

#endif
