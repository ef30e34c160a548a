/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the tests of exec's initramfs writer (include after cmocka.h): a
 * strict reader of cpio "newc" archives, and temporary directories and files.
 */
#ifndef KVMRUN_TEST_EXEC_FIXTURE_H
#define KVMRUN_TEST_EXEC_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvmrun/compiler.h"
#include "test_util.h"

struct cpio_entry {
	char *name;
	unsigned char *data;
	size_t size;
	unsigned long ino, mode, uid, gid, nlink, mtime;
};

struct cpio_archive {
	struct cpio_entry *e;
	size_t n;
};

static inline unsigned long cpio_test_hex(const unsigned char *p)
{
	unsigned long v = 0;

	for (int i = 0; i < 8; i++) {
		char c = (char)p[i];

		/* The writer uses upper-case hex digits only. */
		assert_true((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'));
		v = v * 16 + (unsigned long)(c <= '9' ? c - '0' : c - 'A' + 10);
	}
	return v;
}

static inline void cpio_test_zero_pad(const unsigned char *buf, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		assert_int_equal(buf[i], 0);
}

/*
 * Parses a whole archive and fails the test on anything a newc archive should not
 * have: a wrong magic, non-hex fields, a name without its NUL, padding that is not
 * zeros, no trailer, or bytes after the trailer. The trailer is not in the list.
 */
static inline void cpio_test_parse(const unsigned char *buf, size_t len, struct cpio_archive *a)
{
	size_t off = 0;

	memset(a, 0, sizeof(*a));
	for (;;) {
		struct cpio_entry e;
		unsigned long namesize, check;
		size_t name_end, data_end;

		assert_true(off % 4 == 0);
		assert_true(len - off >= 110);
		assert_memory_equal(buf + off, "070701", 6);
		e.ino = cpio_test_hex(buf + off + 6);
		e.mode = cpio_test_hex(buf + off + 14);
		e.uid = cpio_test_hex(buf + off + 22);
		e.gid = cpio_test_hex(buf + off + 30);
		e.nlink = cpio_test_hex(buf + off + 38);
		e.mtime = cpio_test_hex(buf + off + 46);
		e.size = cpio_test_hex(buf + off + 54);
		for (int f = 0; f < 4; f++) /* devmajor, devminor, rdevmajor, rdevminor */
			assert_int_equal(cpio_test_hex(buf + off + 62 + 8 * f), 0);
		namesize = cpio_test_hex(buf + off + 94);
		check = cpio_test_hex(buf + off + 102);
		assert_int_equal(check, 0);
		assert_true(namesize >= 2 && namesize <= len - off - 110);
		name_end = off + 110 + namesize;
		assert_int_equal(buf[name_end - 1], '\0');
		assert_int_equal(strlen((const char *)buf + off + 110), namesize - 1);
		assert_true(ALIGN_UP(name_end, 4) <= len);
		cpio_test_zero_pad(buf, name_end, ALIGN_UP(name_end, 4));
		off = ALIGN_UP(name_end, 4);
		if (!strcmp((const char *)buf + name_end - namesize, "TRAILER!!!")) {
			assert_int_equal(e.size, 0);
			assert_int_equal(off, len);
			return;
		}
		assert_true(e.size <= len - off);
		data_end = off + e.size;
		assert_true(ALIGN_UP(data_end, 4) <= len);
		cpio_test_zero_pad(buf, data_end, ALIGN_UP(data_end, 4));
		e.name = strdup((const char *)buf + name_end - namesize);
		e.data = malloc(e.size + 1);
		assert_non_null(e.name);
		assert_non_null(e.data);
		memcpy(e.data, buf + off, e.size);
		e.data[e.size] = '\0';
		off = ALIGN_UP(data_end, 4);
		a->e = realloc(a->e, (a->n + 1) * sizeof(*a->e));
		assert_non_null(a->e);
		a->e[a->n++] = e;
	}
}

static inline void cpio_test_free(struct cpio_archive *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->e[i].name);
		free(a->e[i].data);
	}
	free(a->e);
	memset(a, 0, sizeof(*a));
}

static inline const struct cpio_entry *cpio_test_find(const struct cpio_archive *a,
						      const char *name)
{
	for (size_t i = 0; i < a->n; i++) {
		if (!strcmp(a->e[i].name, name))
			return &a->e[i];
	}
	return NULL;
}

/* All of the file at @path, NUL-terminated (free() it). */
static inline unsigned char *test_slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static inline void cpio_test_parse_file(const char *path, struct cpio_archive *a)
{
	size_t len;
	unsigned char *buf = test_slurp(path, &len);

	cpio_test_parse(buf, len, a);
	free(buf);
}

/* A new empty directory "$TMPDIR/kvmrun-test-<what>-XXXXXX" into @buf. */
static inline void test_mkdtemp(char *buf, size_t size, const char *what)
{
	char name[64];

	snprintf(name, sizeof(name), "kvmrun-test-%s-XXXXXX", what);
	test_tmp_path(buf, size, name);
	assert_non_null(mkdtemp(buf));
}

static inline int test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static inline void test_rm_tree(const char *path)
{
	nftw(path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes @len bytes to "@dir/@rel", making the directories on the way. */
static inline void test_write_file(const char *dir, const char *rel, const void *data,
				   size_t len)
{
	char path[4096];
	int fd;

	assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) < sizeof(path));
	for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static inline void test_write_str(const char *dir, const char *rel, const char *s)
{
	test_write_file(dir, rel, s, strlen(s));
}

/* Runs a shell command, which must exit 0. */
PRINTF_FMT(1, 2) static inline void test_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int st;

	va_start(ap, fmt);
	assert_true((size_t)vsnprintf(cmd, sizeof(cmd), fmt, ap) < sizeof(cmd));
	va_end(ap);
	st = system(cmd);
	if (st != 0)
		fail_msg("'%s' failed: status %d", cmd, st);
}

/* Fails the test if the program @name is not on PATH (scripts/install-deps has it). */
static inline void test_need_program(const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	if (system(cmd) != 0)
		fail_msg("%s is not installed (scripts/install-deps installs it)", name);
}

/*
 * A Debian kernel that scripts/fetch-guest-kernel cached: @base becomes
 * ${KVMRUN_CACHE:-$HOME/.cache/kvmrun}/@flavour. Returns 1 if its version file
 * is there, else 0.
 */
static inline int test_cached_kernel(const char *flavour, char *base, size_t size)
{
	const char *cache = getenv("KVMRUN_CACHE"), *home = getenv("HOME");
	char path[4200];

	if (cache && *cache)
		snprintf(base, size, "%s/%s", cache, flavour);
	else if (home && *home)
		snprintf(base, size, "%s/.cache/kvmrun/%s", home, flavour);
	else
		return 0;
	snprintf(path, sizeof(path), "%s/version", base);
	return access(path, R_OK) == 0;
}

/*
 * main() of a test with tests of a cached kernel: "cached-kernel" as the
 * argument runs those alone, and exits 77 (skipped) if no kernel is cached;
 * without it the others run.
 */
static inline int test_main_cached(int argc, char **argv, const struct CMUnitTest *tests,
				   size_t n, const struct CMUnitTest *cached, size_t ncached,
				   const char *flavour)
{
	char base[4096];

	if (argc > 1 && !strcmp(argv[1], "cached-kernel")) {
		if (!test_cached_kernel(flavour, base, sizeof(base))) {
			printf("no cached kernel (scripts/fetch-guest-kernel): skipped\n");
			return 77;
		}
		return _cmocka_run_group_tests("cached-kernel", cached, ncached, NULL, NULL);
	}
	return _cmocka_run_group_tests(argv[0], tests, n, NULL, NULL);
}

#endif
