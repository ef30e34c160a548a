// SPDX-License-Identifier: Apache-2.0
/* Reading and decompressing module files, each bounded in size. */
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "exec/file.h"
#include "exec/modfile.h"

#define MODFILE_XZ_MEMLIMIT (256 * MiB) /* the decoder's own memory */
#define MODFILE_ZSTD_WINDOW_LOG 27 /* a window of at most 128 MiB */

static int modfile_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

int modfile_format_of(const char *path)
{
	if (modfile_has_suffix(path, ".ko"))
		return MODFILE_PLAIN;
	if (modfile_has_suffix(path, ".ko.xz"))
		return MODFILE_XZ;
	if (modfile_has_suffix(path, ".ko.zst"))
		return MODFILE_ZSTD;
	if (modfile_has_suffix(path, ".ko.gz"))
		return -EPROTONOSUPPORT;
	return -EINVAL;
}

/* Makes room for at least one more byte in *@buf (capacity *@cap), up to @max + 1. */
static int modfile_grow(unsigned char **buf, size_t *cap, size_t max)
{
	size_t ncap = *cap ? *cap * 2 : 256 * KiB;
	unsigned char *p;

	if (*cap > max)
		return -EFBIG;
	/* One byte past @max tells "exactly max" from "more". */
	if (ncap > max + 1)
		ncap = max + 1;
	p = realloc(*buf, ncap);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = ncap;
	return 0;
}

static int modfile_xz(const void *in, size_t len, size_t max, unsigned char **buf, size_t *used)
{
	lzma_stream s = LZMA_STREAM_INIT;
	size_t cap = 0;
	lzma_ret lr;
	int ret;

	if (lzma_stream_decoder(&s, MODFILE_XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK)
		return -ENOMEM;
	s.next_in = in;
	s.avail_in = len;
	do {
		if (s.avail_out == 0) {
			ret = modfile_grow(buf, &cap, max);
			if (ret)
				goto out;
			s.next_out = *buf + s.total_out;
			s.avail_out = cap - s.total_out;
		}
		lr = lzma_code(&s, LZMA_FINISH);
	} while (lr == LZMA_OK);
	if (lr == LZMA_MEM_ERROR)
		ret = -ENOMEM;
	else if (lr == LZMA_MEMLIMIT_ERROR)
		ret = -EFBIG;
	else if (lr != LZMA_STREAM_END)
		ret = -EBADMSG;
	else if (s.total_out > max)
		ret = -EFBIG;
	else
		ret = 0;
	*used = s.total_out;
out:
	lzma_end(&s);
	return ret;
}

static int modfile_zstd(const void *in, size_t len, size_t max, unsigned char **buf, size_t *used)
{
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_outBuffer ob = { NULL, 0, 0 };
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	size_t cap = 0, r = 1;
	int ret = 0;

	if (!dctx)
		return -ENOMEM;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax,
						MODFILE_ZSTD_WINDOW_LOG))) {
		ret = -ENOMEM;
		goto out;
	}
	/* r == 0 at the end of a frame; more input may start another. */
	while (ib.pos < ib.size || r != 0) {
		if (ob.pos == ob.size) {
			ret = modfile_grow(buf, &cap, max);
			if (ret)
				goto out;
			ob.dst = *buf;
			ob.size = cap;
		}
		r = ZSTD_decompressStream(dctx, &ob, &ib);
		if (ZSTD_isError(r)) {
			ret = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? -ENOMEM
										    : -EBADMSG;
			goto out;
		}
		/* Not at a frame's end, all input used and room left: it was cut short. */
		if (r != 0 && ib.pos == ib.size && ob.pos < ob.size) {
			ret = -EBADMSG;
			goto out;
		}
	}
	if (ob.pos > max)
		ret = -EFBIG;
	*used = ob.pos;
out:
	ZSTD_freeDCtx(dctx);
	return ret;
}

int modfile_decompress(enum modfile_format fmt, const void *in, size_t len, size_t max,
		       void **out, size_t *out_len)
{
	unsigned char *buf = NULL;
	size_t used = 0;
	int ret;

	switch (fmt) {
	case MODFILE_PLAIN:
		if (len > max)
			return -EFBIG;
		buf = malloc(len ? len : 1);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, in, len);
		used = len;
		ret = 0;
		break;
	case MODFILE_XZ:
		ret = modfile_xz(in, len, max, &buf, &used);
		break;
	case MODFILE_ZSTD:
		ret = modfile_zstd(in, len, max, &buf, &used);
		break;
	default:
		return -EINVAL;
	}
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	*out_len = used;
	return 0;
}

int modfile_read(const char *path, size_t max, void **out, size_t *out_len)
{
	int fmt = modfile_format_of(path);
	unsigned char *raw = NULL;
	size_t len = 0;
	int ret;

	if (fmt < 0)
		return fmt;
	ret = exec_read_file(path, max, (void **)&raw, &len);
	if (ret)
		return ret;
	if (fmt == MODFILE_PLAIN) {
		*out = raw;
		*out_len = len;
		return 0;
	}
	ret = modfile_decompress((enum modfile_format)fmt, raw, len, max, out, out_len);
	free(raw);
	return ret;
}
