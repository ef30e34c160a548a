// SPDX-License-Identifier: Apache-2.0
/* The cpio "newc" writer: 110-byte ASCII headers, names and data padded to 4. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/cpio.h"
#include "exec/file.h"

#define CPIO_MAGIC "070701"
#define CPIO_TRAILER "TRAILER!!!"
#define CPIO_COPY_CHUNK (64 * KiB)

static int cpio_write_all(struct cpio_writer *w, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		w->offset += (uint64_t)n;
	}
	return 0;
}

static int cpio_pad(struct cpio_writer *w)
{
	static const char zeros[4];
	size_t pad = (size_t)(ALIGN_UP(w->offset, 4) - w->offset);

	return pad ? cpio_write_all(w, zeros, pad) : 0;
}

/* Remembers the first error, so that a half-written archive is never finished. */
static int cpio_fail(struct cpio_writer *w, int err)
{
	if (err && !w->error)
		w->error = err;
	return err;
}

void cpio_init(struct cpio_writer *w, int fd)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->next_ino = 1;
}

int cpio_check_name(const char *name)
{
	size_t len = strnlen(name, CPIO_NAME_MAX + 1);
	const char *c = name;

	if (len > CPIO_NAME_MAX)
		return -ENAMETOOLONG;
	if (!len || name[0] == '/' || name[len - 1] == '/')
		return -EINVAL;
	while (*c) {
		size_t n = strcspn(c, "/");

		if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		c += n;
		if (*c)
			c++;
	}
	return 0;
}

/* Header and name of one entry; the caller writes @size bytes of data and the padding. */
static int cpio_header(struct cpio_writer *w, const char *name, unsigned int mode, uint32_t ino,
		       uint32_t nlink, uint64_t size)
{
	char hdr[CPIO_HEADER_SIZE + 1];
	size_t namesize = strlen(name) + 1;
	int n, ret;

	n = snprintf(hdr, sizeof(hdr),
		     CPIO_MAGIC "%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode,
		     0u, 0u, nlink, 0u, (unsigned int)size, 0u, 0u, 0u, 0u, (unsigned int)namesize,
		     0u);
	if (n != CPIO_HEADER_SIZE)
		return -EINVAL;
	ret = cpio_write_all(w, hdr, CPIO_HEADER_SIZE);
	if (!ret)
		ret = cpio_write_all(w, name, namesize);
	if (!ret)
		ret = cpio_pad(w);
	return ret;
}

static int cpio_begin(struct cpio_writer *w, const char *name, unsigned int mode, uint64_t size)
{
	int ret;

	if (w->error)
		return w->error;
	if (w->finished)
		return -EINVAL;
	ret = cpio_check_name(name);
	if (ret)
		return ret;
	if (mode & ~07777u)
		return -EINVAL;
	if (size > CPIO_FILE_MAX)
		return -EFBIG;
	if (w->next_ino == UINT32_MAX)
		return cpio_fail(w, -EOVERFLOW);
	return 0;
}

static int cpio_entry(struct cpio_writer *w, const char *name, unsigned int mode, uint32_t nlink,
		      const void *data, size_t len)
{
	int ret;

	ret = cpio_header(w, name, mode, w->next_ino++, nlink, len);
	if (!ret && len)
		ret = cpio_write_all(w, data, len);
	if (!ret)
		ret = cpio_pad(w);
	return cpio_fail(w, ret);
}

int cpio_add_dir(struct cpio_writer *w, const char *name, unsigned int mode)
{
	int ret = cpio_begin(w, name, mode, 0);

	return ret ? ret : cpio_entry(w, name, S_IFDIR | mode, 2, NULL, 0);
}

int cpio_add_file(struct cpio_writer *w, const char *name, unsigned int mode, const void *data,
		  size_t len)
{
	int ret = cpio_begin(w, name, mode, len);

	if (!ret && len && !data)
		ret = -EINVAL;
	return ret ? ret : cpio_entry(w, name, S_IFREG | mode, 1, data, len);
}

int cpio_add_symlink(struct cpio_writer *w, const char *name, const char *target)
{
	size_t len = strnlen(target, CPIO_NAME_MAX + 1);
	int ret = cpio_begin(w, name, 0777, len);

	if (ret)
		return ret;
	if (!len)
		return -EINVAL;
	if (len > CPIO_NAME_MAX)
		return -ENAMETOOLONG;
	return cpio_entry(w, name, S_IFLNK | 0777, 1, target, len);
}

/* Copies exactly @size bytes from @fd; a file that grew or shrank meanwhile is -EIO. */
static int cpio_copy_fd(struct cpio_writer *w, int fd, uint64_t size)
{
	char buf[CPIO_COPY_CHUNK];
	uint64_t left = size;
	int ret;

	for (;;) {
		ssize_t n = read(fd, buf, left ? MIN((uint64_t)sizeof(buf), left) : 1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!left)
			return n ? -EIO : 0;
		if (n == 0)
			return -EIO;
		ret = cpio_write_all(w, buf, (size_t)n);
		if (ret)
			return ret;
		left -= (uint64_t)n;
	}
}

int cpio_add_host_file(struct cpio_writer *w, const char *name, unsigned int mode,
		       const char *host_path)
{
	struct stat st;
	int fd, ret;

	ret = cpio_begin(w, name, mode, 0);
	if (ret)
		return ret;
	fd = exec_open_regular(host_path, &st);
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > CPIO_FILE_MAX) {
		ret = -EFBIG;
		goto out;
	}
	ret = cpio_header(w, name, S_IFREG | mode, w->next_ino++, 1, (uint64_t)st.st_size);
	if (!ret)
		ret = cpio_copy_fd(w, fd, (uint64_t)st.st_size);
	if (!ret)
		ret = cpio_pad(w);
	cpio_fail(w, ret);
out:
	close(fd);
	return ret;
}

int cpio_finish(struct cpio_writer *w)
{
	int ret;

	if (w->error)
		return w->error;
	if (w->finished)
		return -EINVAL;
	ret = cpio_header(w, CPIO_TRAILER, 0, 0, 1, 0);
	if (ret)
		return cpio_fail(w, ret);
	w->finished = 1;
	return 0;
}
