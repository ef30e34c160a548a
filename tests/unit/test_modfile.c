// SPDX-License-Identifier: Apache-2.0
/*
 * Module files decompressed on the host: .ko.xz and .ko.zst made here by the xz
 * and zstd commands come back byte-equal; corrupt, truncated and oversized ones
 * are refused, the size bound holding to the byte.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec_fixture.h"

#include "exec/modfile.h"

#define SAMPLE_SIZE (300 * 1024 + 17)

static char dir[4096];

static int setup(void **state)
{
	test_need_program("xz");
	test_need_program("zstd");
	test_mkdtemp(dir, sizeof(dir), "modfile");
	return 0;
}

static int teardown(void **state)
{
	test_rm_tree(dir);
	return 0;
}

/* Module-like bytes: an ELF magic, then a mix of runs and noise. */
static unsigned char *sample(size_t len, unsigned int seed)
{
	unsigned char *buf = malloc(len);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (i / 512) % 2 ? (unsigned char)(seed >> 16) : (unsigned char)(i / 512);
	}
	memcpy(buf, "\177ELF", 4);
	return buf;
}

static void path_of(char *buf, size_t size, const char *name)
{
	assert_true((size_t)snprintf(buf, size, "%s/%s", dir, name) < size);
}

/* Reads @name and expects exactly @want back. */
static void expect_content(const char *name, const unsigned char *want, size_t len)
{
	char path[4200];
	size_t got_len = 0;
	void *got = NULL;

	path_of(path, sizeof(path), name);
	assert_int_equal(modfile_read(path, MODFILE_MAX, &got, &got_len), 0);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, want, len);
	free(got);
}

static void expect_read_error(const char *name, size_t max, int err)
{
	char path[4200];
	void *got = (void *)1;
	size_t got_len = 7;

	path_of(path, sizeof(path), name);
	assert_int_equal(modfile_read(path, max, &got, &got_len), err);
	/* Nothing handed out on failure. */
	assert_ptr_equal(got, (void *)1);
	assert_int_equal(got_len, 7);
}

static void test_plain(void **state)
{
	unsigned char *data = sample(SAMPLE_SIZE, 1);

	test_write_file(dir, "plain.ko", data, SAMPLE_SIZE);
	expect_content("plain.ko", data, SAMPLE_SIZE);
	test_write_file(dir, "empty.ko", data, 0);
	expect_content("empty.ko", data, 0);
	free(data);
}

static void test_xz(void **state)
{
	unsigned char *data = sample(SAMPLE_SIZE, 2);

	test_write_file(dir, "a.ko", data, SAMPLE_SIZE);
	/* As the kernel's build compresses modules. */
	test_sh("xz -q -k -f --check=crc32 --lzma2=dict=1MiB '%s/a.ko'", dir);
	expect_content("a.ko.xz", data, SAMPLE_SIZE);
	test_sh("xz -q -c -9e --check=sha256 '%s/a.ko' > '%s/b.ko.xz'", dir, dir);
	expect_content("b.ko.xz", data, SAMPLE_SIZE);
	free(data);
}

static void test_zstd(void **state)
{
	unsigned char *data = sample(SAMPLE_SIZE, 3);

	test_write_file(dir, "c.ko", data, SAMPLE_SIZE);
	test_sh("zstd -q -f -T1 '%s/c.ko' -o '%s/c.ko.zst'", dir, dir);
	expect_content("c.ko.zst", data, SAMPLE_SIZE);
	test_sh("zstd -q -f -19 --no-check '%s/c.ko' -o '%s/d.ko.zst'", dir, dir);
	expect_content("d.ko.zst", data, SAMPLE_SIZE);
	free(data);
}

/* Two streams (frames) one after the other decompress to both contents. */
static void test_concatenated(void **state)
{
	unsigned char *data = sample(2 * 4096, 4);

	test_write_file(dir, "e1", data, 4096);
	test_write_file(dir, "e2", data + 4096, 4096);
	test_sh("cd '%s' && xz -q -c e1 > e.ko.xz && xz -q -c e2 >> e.ko.xz", dir);
	expect_content("e.ko.xz", data, 2 * 4096);
	test_sh("cd '%s' && zstd -q -c e1 > e.ko.zst && zstd -q -c e2 >> e.ko.zst", dir);
	expect_content("e.ko.zst", data, 2 * 4096);
	free(data);
}

/* A sample piped through @cmd ("xz -q -c", ...) into @name, then changed by @sh. */
static void make_broken(const char *cmd, const char *name, const char *sh)
{
	unsigned char *data = sample(SAMPLE_SIZE, 5);

	test_write_file(dir, "src", data, SAMPLE_SIZE);
	test_sh("cd '%s' && %s src > '%s' && %s", dir, cmd, name, sh);
	free(data);
}

static void test_corrupt(void **state)
{
	static const char *const edits[] = {
		/* truncated in the middle, and by its last byte */
		"truncate -s 1000 \"$f\"",
		"truncate -s -1 \"$f\"",
		/* a flipped byte in the middle of the data */
		"printf '\\377' | dd of=\"$f\" bs=1 seek=5000 conv=notrunc status=none",
		/* garbage after the end */
		"printf 'garbage!' >> \"$f\"",
		/* nothing at all */
		"truncate -s 0 \"$f\"",
		/* the magic alone */
		"truncate -s 6 \"$f\"",
	};
	char sh[256];

	for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
		snprintf(sh, sizeof(sh), "f=bad.ko.xz; %s", edits[i]);
		make_broken("xz -q -c", "bad.ko.xz", sh);
		expect_read_error("bad.ko.xz", MODFILE_MAX, -EBADMSG);
		snprintf(sh, sizeof(sh), "f=bad.ko.zst; %s", edits[i]);
		make_broken("zstd -q -c", "bad.ko.zst", sh);
		expect_read_error("bad.ko.zst", MODFILE_MAX, -EBADMSG);
	}
	/* A plain module in a compressed name. */
	make_broken("cat", "plain.ko.xz", "true");
	expect_read_error("plain.ko.xz", MODFILE_MAX, -EBADMSG);
	make_broken("cat", "plain.ko.zst", "true");
	expect_read_error("plain.ko.zst", MODFILE_MAX, -EBADMSG);
	/* The other format under the name. */
	make_broken("zstd -q -c", "swapped.ko.xz", "true");
	expect_read_error("swapped.ko.xz", MODFILE_MAX, -EBADMSG);
	make_broken("xz -q -c", "swapped.ko.zst", "true");
	expect_read_error("swapped.ko.zst", MODFILE_MAX, -EBADMSG);
}

/* The bound holds to the byte, in each format and for plain files. */
static void test_bound(void **state)
{
	unsigned char *data = sample(100000, 6);
	char path[4200];
	size_t len;
	void *out;

	test_write_file(dir, "f.ko", data, 100000);
	test_sh("cd '%s' && xz -q -k -f f.ko && zstd -q -f f.ko", dir);
	for (int fmt = 0; fmt < 3; fmt++) {
		static const char *const names[] = { "f.ko", "f.ko.xz", "f.ko.zst" };

		path_of(path, sizeof(path), names[fmt]);
		assert_int_equal(modfile_read(path, 100000, &out, &len), 0);
		assert_int_equal(len, 100000);
		free(out);
		expect_read_error(names[fmt], 99999, -EFBIG);
		expect_read_error(names[fmt], 0, -EFBIG);
	}
	free(data);
}

/* Decompression bombs: a few KiB that would become more than MODFILE_MAX bytes. */
static void test_bomb(void **state)
{
	struct stat st;
	char path[4200];

	test_sh("cd '%s' && head -c %llu /dev/zero > z && xz -q -0 -T1 -k z && zstd -q -f z && "
		"rm z",
		dir, MODFILE_MAX + 1);
	test_sh("cd '%s' && mv z.xz z.ko.xz && mv z.zst z.ko.zst", dir);
	path_of(path, sizeof(path), "z.ko.xz");
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size < 64 * 1024);
	expect_read_error("z.ko.xz", MODFILE_MAX, -EFBIG);
	expect_read_error("z.ko.zst", MODFILE_MAX, -EFBIG);
}

static void test_bad_files(void **state)
{
	unsigned char *data = sample(64, 7);
	void *out;
	size_t len;

	test_write_file(dir, "g.ko.gz", data, 64);
	expect_read_error("g.ko.gz", MODFILE_MAX, -EPROTONOSUPPORT);
	test_write_file(dir, "g.txt", data, 64);
	expect_read_error("g.txt", MODFILE_MAX, -EINVAL);
	expect_read_error("ko", MODFILE_MAX, -EINVAL);
	expect_read_error("missing.ko", MODFILE_MAX, -ENOENT);
	expect_read_error("missing.ko.zst", MODFILE_MAX, -ENOENT);
	test_sh("mkdir -p '%s/dir.ko'", dir);
	expect_read_error("dir.ko", MODFILE_MAX, -EISDIR);
	assert_int_equal(modfile_read("/dev/null/x.ko", MODFILE_MAX, &out, &len), -ENOTDIR);
	assert_int_equal(modfile_format_of("a.ko"), MODFILE_PLAIN);
	assert_int_equal(modfile_format_of("a.ko.xz"), MODFILE_XZ);
	assert_int_equal(modfile_format_of("a.ko.zst"), MODFILE_ZSTD);
	assert_int_equal(modfile_format_of(".ko"), -EINVAL);
	assert_int_equal(modfile_format_of("a.ko.bz2"), -EINVAL);
	assert_int_equal(modfile_decompress((enum modfile_format)7, data, 64, 100, &out, &len),
			 -EINVAL);
	assert_int_equal(modfile_decompress(MODFILE_PLAIN, data, 64, 63, &out, &len), -EFBIG);
	assert_int_equal(modfile_decompress(MODFILE_PLAIN, data, 64, 64, &out, &len), 0);
	assert_int_equal(len, 64);
	assert_memory_equal(out, data, 64);
	free(out);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),	      cmocka_unit_test(test_xz),
		cmocka_unit_test(test_zstd),	      cmocka_unit_test(test_concatenated),
		cmocka_unit_test(test_corrupt),	      cmocka_unit_test(test_bound),
		cmocka_unit_test(test_bomb),	      cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
