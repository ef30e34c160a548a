// SPDX-License-Identifier: Apache-2.0
/* The release of a kernel file: a bzImage's header, or an arm64 Image's banner. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/kimage.h"

#define KIMAGE_CHUNK (1024 * 1024) /* bytes read at a time while looking for the banner */
#define KIMAGE_HEAD 4096	   /* bytes that tell the formats apart */
#define KIMAGE_ARM64_MAGIC_AT 56   /* "ARM\x64" in an arm64 Image header */
#define KIMAGE_ARM64_HDR 64
_Static_assert(KIMAGE_HEAD <= BZIMAGE_SETUP_MAX && BZIMAGE_SETUP_MAX <= KIMAGE_CHUNK,
	       "a bzImage's setup area fits the buffer");

/* Letters, digits and ".-_+~": what a release is made of, and safe as a path component. */
static int kimage_release_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr(".-_+~", c));
}

/* The release at @p (@avail bytes from it) if a well-formed one is there: its length, or 0. */
static size_t kimage_release_at(const unsigned char *p, size_t avail)
{
	size_t n;

	for (n = 0; n < avail && n < BZIMAGE_RELEASE_MAX && kimage_release_char(p[n]); n++)
		;
	if (!n || n >= BZIMAGE_RELEASE_MAX || avail - n < 2 || p[n] != ' ' || p[n + 1] != '(')
		return 0;
	if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return 0;
	return n;
}

int kimage_release_from_banner(const void *buf, size_t len, char *out, size_t size)
{
	static const char banner[] = KIMAGE_BANNER;
	const size_t blen = sizeof(banner) - 1;
	const unsigned char *b = buf, *p = b, *end = b + len;

	while (p && (size_t)(end - p) >= blen) {
		const unsigned char *hit = memmem(p, (size_t)(end - p), banner, blen);
		size_t n;

		if (!hit)
			break;
		n = kimage_release_at(hit + blen, (size_t)(end - hit) - blen);
		if (n) {
			if (n >= size)
				return -ENOSPC;
			memcpy(out, hit + blen, n);
			out[n] = '\0';
			return 0;
		}
		p = hit + 1;
	}
	return -ENODATA;
}

/* Reads up to @want bytes at the file's current offset; returns how many, or -errno. */
static ssize_t kimage_read(int fd, unsigned char *buf, size_t want)
{
	size_t got = 0;

	while (got < want) {
		ssize_t n = read(fd, buf + got, want - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * The banner anywhere in the file: chunk by chunk, each searched with the last
 * KIMAGE_BANNER_MAX bytes of the one before in front, so a banner across two chunks
 * is found. @buf holds KIMAGE_BANNER_MAX + KIMAGE_CHUNK bytes.
 */
static int kimage_scan(int fd, unsigned char *buf, char *out, size_t size)
{
	const size_t keep = KIMAGE_BANNER_MAX + 1;
	size_t have = 0;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	for (;;) {
		ssize_t n = kimage_read(fd, buf + have, KIMAGE_CHUNK);
		int ret;

		if (n < 0)
			return (int)n;
		have += (size_t)n;
		ret = kimage_release_from_banner(buf, have, out, size);
		/* A banner cut at the chunk's end may still complete in the next one. */
		if (ret != -ENODATA || n == 0)
			return ret;
		if (have > keep) {
			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
}

int kimage_release(const char *path, char *out, size_t size)
{
	unsigned char *buf;
	ssize_t got;
	int fd, ret;

	buf = malloc(KIMAGE_BANNER_MAX + 1 + KIMAGE_CHUNK);
	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out_free;
	}
	got = kimage_read(fd, buf, KIMAGE_HEAD);
	if (got < 0) {
		ret = (int)got;
		goto out_close;
	}
	if (got >= KIMAGE_ARM64_HDR && !memcmp(buf + KIMAGE_ARM64_MAGIC_AT, "ARM\x64", 4)) {
		ret = kimage_scan(fd, buf, out, size);
	} else if (got >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
		ret = -EPROTONOSUPPORT;
	} else {
		ssize_t more = got < KIMAGE_HEAD ? 0 : kimage_read(fd, buf + got, BZIMAGE_SETUP_MAX - got);

		ret = more < 0 ? (int)more : bzimage_release_from_buf(buf, (size_t)(got + more), out, size);
	}
out_close:
	close(fd);
out_free:
	free(buf);
	return ret;
}
