// SPDX-License-Identifier: Apache-2.0
/*
 * The cpio "newc" writer: its archives read back with a strict parser and with
 * GNU cpio itself; the same calls give the same bytes; every bad input refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "exec_fixture.h"

#include "exec/cpio.h"

/* An archive written to a temporary file, read back by the strict parser. */
struct archive_file {
	char path[4096];
	int fd;
	struct cpio_writer w;
};

static void archive_open(struct archive_file *f)
{
	test_tmp_path(f->path, sizeof(f->path), "kvmrun-test-cpio-XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	cpio_init(&f->w, f->fd);
}

static void archive_close(struct archive_file *f)
{
	close(f->fd);
	unlink(f->path);
}

/* The entries of the round trip. */
static void write_sample(struct archive_file *f, const char *host_file)
{
	static const char hello[] = "hello, world\n";
	unsigned char bin[1021];

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7);
	assert_int_equal(cpio_add_dir(&f->w, "dir", 0755), 0);
	assert_int_equal(cpio_add_dir(&f->w, "dir/sub", 0700), 0);
	assert_int_equal(cpio_add_file(&f->w, "dir/hello", 0644, hello, strlen(hello)), 0);
	assert_int_equal(cpio_add_file(&f->w, "dir/sub/bin", 0600, bin, sizeof(bin)), 0);
	assert_int_equal(cpio_add_file(&f->w, "empty", 0444, NULL, 0), 0);
	assert_int_equal(cpio_add_host_file(&f->w, "dir/host", 0755, host_file), 0);
	assert_int_equal(cpio_add_symlink(&f->w, "link", "dir/hello"), 0);
	assert_int_equal(cpio_add_symlink(&f->w, "dir/abs", "/proc/self"), 0);
	assert_int_equal(cpio_finish(&f->w), 0);
}

static void make_host_file(char *path, size_t size)
{
	char buf[70000];
	int fd;

	test_tmp_path(path, size, "kvmrun-test-cpio-host-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i % 251);
	assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
}

static void test_round_trip_parser(void **state)
{
	struct archive_file f;
	struct cpio_archive a;
	char host[4096];
	const struct cpio_entry *e;
	size_t host_len;
	unsigned char *host_data;

	make_host_file(host, sizeof(host));
	host_data = test_slurp(host, &host_len);
	archive_open(&f);
	write_sample(&f, host);
	cpio_test_parse_file(f.path, &a);
	assert_int_equal(a.n, 8);
	for (size_t i = 0; i < a.n; i++) {
		/* Deterministic: inodes in order, no times or owners. */
		assert_int_equal(a.e[i].ino, i + 1);
		assert_int_equal(a.e[i].mtime, 0);
		assert_int_equal(a.e[i].uid, 0);
		assert_int_equal(a.e[i].gid, 0);
	}
	e = cpio_test_find(&a, "dir");
	assert_int_equal(e->mode, S_IFDIR | 0755);
	assert_int_equal(e->nlink, 2);
	assert_int_equal(e->size, 0);
	assert_int_equal(cpio_test_find(&a, "dir/sub")->mode, S_IFDIR | 0700);
	e = cpio_test_find(&a, "dir/hello");
	assert_int_equal(e->mode, S_IFREG | 0644);
	assert_int_equal(e->nlink, 1);
	assert_string_equal((char *)e->data, "hello, world\n");
	e = cpio_test_find(&a, "dir/sub/bin");
	assert_int_equal(e->size, 1021);
	for (size_t i = 0; i < 1021; i++)
		assert_int_equal(e->data[i], (unsigned char)(i * 7));
	assert_int_equal(cpio_test_find(&a, "empty")->size, 0);
	assert_int_equal(cpio_test_find(&a, "empty")->mode, S_IFREG | 0444);
	e = cpio_test_find(&a, "dir/host");
	assert_int_equal(e->mode, S_IFREG | 0755);
	assert_int_equal(e->size, host_len);
	assert_memory_equal(e->data, host_data, host_len);
	e = cpio_test_find(&a, "link");
	assert_int_equal(e->mode, S_IFLNK | 0777);
	assert_string_equal((char *)e->data, "dir/hello");
	assert_string_equal((char *)cpio_test_find(&a, "dir/abs")->data, "/proc/self");
	cpio_test_free(&a);
	archive_close(&f);
	free(host_data);
	unlink(host);
}

/* GNU cpio unpacks the archive into the same files, modes and links. */
static void test_round_trip_gnu_cpio(void **state)
{
	char host[4096], dir[4096], path[4200], link[64];
	struct archive_file f;
	struct stat st;
	unsigned char *a, *b;
	size_t alen, blen;
	ssize_t n;

	test_need_program("cpio");
	make_host_file(host, sizeof(host));
	archive_open(&f);
	write_sample(&f, host);
	test_mkdtemp(dir, sizeof(dir), "cpio-out");
	test_sh("cd '%s' && cpio -i --quiet --no-absolute-filenames --preserve-modification-time "
		"< '%s'", dir, f.path);

	snprintf(path, sizeof(path), "%s/dir", dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	snprintf(path, sizeof(path), "%s/dir/sub", dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/dir/hello", dir);
	a = test_slurp(path, &alen);
	assert_string_equal((char *)a, "hello, world\n");
	free(a);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mtime, 0);
	snprintf(path, sizeof(path), "%s/dir/sub/bin", dir);
	a = test_slurp(path, &alen);
	assert_int_equal(alen, 1021);
	for (size_t i = 0; i < alen; i++)
		assert_int_equal(a[i], (unsigned char)(i * 7));
	free(a);
	snprintf(path, sizeof(path), "%s/dir/host", dir);
	a = test_slurp(path, &alen);
	b = test_slurp(host, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	snprintf(path, sizeof(path), "%s/empty", dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 0);
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	n = readlink(path, link, sizeof(link));
	assert_int_equal(n, 9);
	assert_memory_equal(link, "dir/hello", 9);
	snprintf(path, sizeof(path), "%s/dir/abs", dir);
	n = readlink(path, link, sizeof(link));
	assert_int_equal(n, 10);
	assert_memory_equal(link, "/proc/self", 10);

	/* And GNU cpio's own listing agrees on the names and finds nothing more. */
	test_sh("cpio -t --quiet < '%s' | LC_ALL=C sort | tr '\\n' ' ' | "
		"grep -qx 'dir dir/abs dir/hello dir/host dir/sub dir/sub/bin empty link '",
		f.path);
	test_rm_tree(dir);
	archive_close(&f);
	unlink(host);
}

/* The same calls give the same bytes. */
static void test_deterministic(void **state)
{
	struct archive_file f1, f2;
	char host[4096];
	unsigned char *a, *b;
	size_t alen, blen;

	make_host_file(host, sizeof(host));
	archive_open(&f1);
	write_sample(&f1, host);
	archive_open(&f2);
	write_sample(&f2, host);
	a = test_slurp(f1.path, &alen);
	b = test_slurp(f2.path, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_int_equal(alen % 4, 0);
	assert_int_equal(f1.w.offset, alen);
	free(a);
	free(b);
	archive_close(&f1);
	archive_close(&f2);
	unlink(host);
}

/* Every name length and data length modulo 4 pads right. */
static void test_padding(void **state)
{
	static const char data[] = "0123456789";
	struct archive_file f;
	struct cpio_archive a;
	char name[16];
	size_t k = 0;

	archive_open(&f);
	for (size_t nl = 1; nl <= 8; nl++) {
		for (size_t dl = 0; dl <= 7; dl++) {
			snprintf(name, sizeof(name), "%c%.*s", (int)('a' + dl), (int)nl - 1,
				 "xxxxxxxx");
			assert_int_equal(cpio_add_file(&f.w, name, 0644, data, dl), 0);
		}
	}
	assert_int_equal(cpio_finish(&f.w), 0);
	cpio_test_parse_file(f.path, &a);
	assert_int_equal(a.n, 64);
	for (size_t nl = 1; nl <= 8; nl++) {
		for (size_t dl = 0; dl <= 7; dl++, k++) {
			assert_int_equal(strlen(a.e[k].name), nl);
			assert_int_equal(a.e[k].size, dl);
			assert_memory_equal(a.e[k].data, data, dl);
		}
	}
	cpio_test_free(&a);
	archive_close(&f);
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = { "", "/abs", "a/../b", "..", ".", "./a", "a/.", "a//b",
					   "a/", "/", "a/b/.." };
	char long_name[CPIO_NAME_MAX + 2];
	struct archive_file f;
	struct cpio_archive a;

	archive_open(&f);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(cpio_check_name(bad[i]), -EINVAL);
		assert_int_equal(cpio_add_dir(&f.w, bad[i], 0755), -EINVAL);
		assert_int_equal(cpio_add_file(&f.w, bad[i], 0644, "x", 1), -EINVAL);
		assert_int_equal(cpio_add_symlink(&f.w, bad[i], "x"), -EINVAL);
		assert_int_equal(cpio_add_host_file(&f.w, bad[i], 0644, "/dev/null"), -EINVAL);
	}
	/* Names with dots that are not "." or "..": fine. */
	assert_int_equal(cpio_check_name("a/.b/..c/...d"), 0);
	memset(long_name, 'n', sizeof(long_name));
	long_name[CPIO_NAME_MAX + 1] = '\0';
	assert_int_equal(cpio_add_file(&f.w, long_name, 0644, "x", 1), -ENAMETOOLONG);
	long_name[CPIO_NAME_MAX] = '\0';
	assert_int_equal(cpio_add_file(&f.w, long_name, 0644, "x", 1), 0);
	/* A refused name leaves the archive usable. */
	assert_int_equal(cpio_finish(&f.w), 0);
	cpio_test_parse_file(f.path, &a);
	assert_int_equal(a.n, 1);
	assert_int_equal(strlen(a.e[0].name), CPIO_NAME_MAX);
	cpio_test_free(&a);
	archive_close(&f);
}

static void test_bad_values(void **state)
{
	char long_target[CPIO_NAME_MAX + 2];
	struct archive_file f;
	struct cpio_archive a;

	archive_open(&f);
	/* Mode: permission bits only. */
	assert_int_equal(cpio_add_dir(&f.w, "d", 010000), -EINVAL);
	assert_int_equal(cpio_add_file(&f.w, "f", S_IFREG | 0644, "x", 1), -EINVAL);
	assert_int_equal(cpio_add_host_file(&f.w, "f", 0100644, "/dev/null"), -EINVAL);
	/* Data: none with a length; more than the size field holds. */
	assert_int_equal(cpio_add_file(&f.w, "f", 0644, NULL, 1), -EINVAL);
	assert_int_equal(cpio_add_file(&f.w, "f", 0644, "x", (size_t)CPIO_FILE_MAX + 1), -EFBIG);
	/* Symlink targets: empty, too long. */
	assert_int_equal(cpio_add_symlink(&f.w, "l", ""), -EINVAL);
	memset(long_target, 't', sizeof(long_target));
	long_target[CPIO_NAME_MAX + 1] = '\0';
	assert_int_equal(cpio_add_symlink(&f.w, "l", long_target), -ENAMETOOLONG);
	/* Host files: missing, a directory, not a regular file. */
	assert_int_equal(cpio_add_host_file(&f.w, "h", 0644, "/nonexistent/file"), -ENOENT);
	assert_int_equal(cpio_add_host_file(&f.w, "h", 0644, "/"), -EISDIR);
	assert_int_equal(cpio_add_host_file(&f.w, "h", 0644, "/dev/null"), -EINVAL);
	/* Nothing above was written. */
	assert_int_equal(f.w.offset, 0);
	assert_int_equal(cpio_finish(&f.w), 0);
	/* Nothing after the trailer, and one trailer. */
	assert_int_equal(cpio_add_dir(&f.w, "d", 0755), -EINVAL);
	assert_int_equal(cpio_finish(&f.w), -EINVAL);
	cpio_test_parse_file(f.path, &a);
	assert_int_equal(a.n, 0);
	cpio_test_free(&a);
	archive_close(&f);
}

/* A host file whose size differs from what stat said (here: /proc reports 0). */
static void test_host_file_changed(void **state)
{
	struct archive_file f;

	archive_open(&f);
	assert_int_equal(cpio_add_host_file(&f.w, "status", 0644, "/proc/self/status"), -EIO);
	/* The archive is broken now: every later call says so. */
	assert_int_equal(cpio_add_dir(&f.w, "d", 0755), -EIO);
	assert_int_equal(cpio_finish(&f.w), -EIO);
	archive_close(&f);
}

/* A failed write makes the archive unusable, and the error sticks. */
static void test_write_error(void **state)
{
	struct cpio_writer w;
	int fd = open("/dev/null", O_RDONLY);

	assert_true(fd >= 0);
	cpio_init(&w, fd);
	assert_int_equal(cpio_add_dir(&w, "d", 0755), -EBADF);
	assert_int_equal(cpio_add_file(&w, "f", 0644, "x", 1), -EBADF);
	assert_int_equal(cpio_add_symlink(&w, "l", "x"), -EBADF);
	assert_int_equal(cpio_finish(&w), -EBADF);
	close(fd);

	/* A full device, after the first entry. */
	fd = open("/dev/full", O_WRONLY);
	assert_true(fd >= 0);
	cpio_init(&w, fd);
	assert_int_equal(cpio_add_dir(&w, "d", 0755), -ENOSPC);
	assert_int_equal(cpio_finish(&w), -ENOSPC);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_parser), cmocka_unit_test(test_round_trip_gnu_cpio),
		cmocka_unit_test(test_deterministic),	  cmocka_unit_test(test_padding),
		cmocka_unit_test(test_bad_names),	  cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_host_file_changed), cmocka_unit_test(test_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
