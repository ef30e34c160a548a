// SPDX-License-Identifier: Apache-2.0
/* Whole small files read into memory, for exec's initramfs writer. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/file.h"

int exec_open_regular(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	if (fstat(fd, st))
		ret = -errno;
	else if (!S_ISREG(st->st_mode))
		ret = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	else
		return fd;
	close(fd);
	return ret;
}

int exec_read_file(const char *path, size_t max, void **out, size_t *len)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd, ret;

	fd = exec_open_regular(path, &st);
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > max) {
		ret = -EFBIG;
		goto err;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto err;
	}
	while (got <= (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != (size_t)st.st_size) {
		ret = -EIO;
		goto err;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
err:
	free(buf);
	close(fd);
	return ret;
}

