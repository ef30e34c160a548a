// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk against hostile requests: every guest-controlled field of a
 * request with bad values. The fixture is blk_fixture.h.
 */
#include "blk_fixture.h"

static void test_sector_beyond_capacity(void **state)
{
	struct fx *f = *state;
	uint8_t before[512], after[512];

	file_read(f, before, 512, IMG_SIZE - 512);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, IMG_SECTORS, DATA_GPA, 512),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, DATA_GPA, 1024),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, IMG_SECTORS + 100, DATA_GPA, 512),
			 VIRTIO_BLK_S_IOERR);
	/* The last sector itself is fine. */
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, DATA_GPA, 512),
			 VIRTIO_BLK_S_OK);
	file_read(f, after, 512, IMG_SIZE - 512);
	assert_memory_equal(before, after, 512);
	struct stat sb;
	assert_int_equal(fstat(f->fd, &sb), 0);
	assert_int_equal(sb.st_size, IMG_SIZE);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_sector_overflow(void **state)
{
	struct fx *f = *state;

	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, UINT64_MAX, DATA_GPA, 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, DATA_GPA, 1024),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, DATA_GPA, 512),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_len_not_sector_multiple(void **state)
{
	struct fx *f = *state;
	uint8_t before[1024], after[1024];

	file_read(f, before, sizeof(before), 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 513), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, DATA_GPA, 100), VIRTIO_BLK_S_IOERR);
	file_read(f, after, sizeof(after), 0);
	assert_memory_equal(before, after, sizeof(before));
}

static void test_no_status_byte_needs_reset(void **state)
{
	struct fx *f = *state;
	struct seg s[2] = {{hdr(f, 0, VIRTIO_BLK_T_IN, 0), 16, 0}, {DATA_GPA, 512, 0}};

	post(f, s, 2);
	kick(f);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_true(f->vq.broken);
	assert_int_equal(used_idx(f), 0);
}

static void test_status_is_last_writable_byte(void **state)
{
	struct fx *f = *state;
	struct seg s[2] = {{hdr(f, 0, VIRTIO_BLK_T_FLUSH, 0), 16, 0}, {st(0), 4, W}};
	uint8_t *p = hva(f, st(0));

	memset(p, 0xee, 4);
	post(f, s, 2);
	kick(f);
	wait_used(f, 1);
	assert_int_equal(p[3], VIRTIO_BLK_S_OK);
	assert_int_equal(p[0], 0xee);
	assert_int_equal(p[2], 0xee);
	assert_int_equal(used_len(f, 0), 1);
	/* Data and status sharing one writable descriptor: the status is its last byte. */
	uint8_t want[512];
	struct seg s2[2] = {{hdr(f, 0, VIRTIO_BLK_T_IN, 4), 16, 0}, {DATA_GPA, 513, W}};

	memset(hva(f, DATA_GPA), 0xee, 513);
	post(f, s2, 2);
	kick(f);
	wait_used(f, 2);
	file_read(f, want, 512, 4 * 512);
	assert_memory_equal(hva(f, DATA_GPA), want, 512);
	assert_int_equal(*(uint8_t *)hva(f, DATA_GPA + 512), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len(f, 1), 513);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_header_split(void **state)
{
	struct fx *f = *state;
	uint64_t h = hdr(f, 0, VIRTIO_BLK_T_OUT, 24);
	uint8_t back[1024];
	/* Header in 3 pieces, the last one also carrying the first data bytes. */
	uint8_t *d = hva(f, DATA_GPA);

	memcpy(d, hva(f, h + 10), 6);
	fill(d + 6, 1024, 0x77);
	struct seg s[4] = {{h, 4, 0}, {h + 4, 6, 0}, {DATA_GPA, 6 + 1024, 0}, {st(0), 1, W}};
	post(f, s, 4);
	kick(f);
	wait_used(f, 1);
	assert_int_equal(*(uint8_t *)hva(f, st(0)), VIRTIO_BLK_S_OK);
	file_read(f, back, sizeof(back), 24 * 512);
	assert_memory_equal(back, d + 6, sizeof(back));
}

static void test_header_short(void **state)
{
	struct fx *f = *state;
	uint8_t before[512], after[512];
	struct seg s[2] = {{hdr(f, 0, VIRTIO_BLK_T_OUT, 0), 15, 0}, {st(0), 1, W}};

	file_read(f, before, 512, 0);
	*(uint8_t *)hva(f, st(0)) = 0xee;
	post(f, s, 2);
	kick(f);
	wait_used(f, 1);
	assert_int_equal(*(uint8_t *)hva(f, st(0)), VIRTIO_BLK_S_IOERR);
	file_read(f, after, 512, 0);
	assert_memory_equal(before, after, 512);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_unknown_type(void **state)
{
	struct fx *f = *state;

	assert_int_equal(do_simple(f, 2, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_simple(f, 0xffffffff, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_get_id(void **state)
{
	struct fx *f = *state;
	const char *base = strrchr(f->path, '/') + 1;
	char id[21] = "";

	memset(hva(f, DATA_GPA), 0xaa, 32);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 20), VIRTIO_BLK_S_OK);
	memcpy(id, hva(f, DATA_GPA), 20);
	assert_string_equal(id, base); /* default: the file name, NUL-padded */
	assert_int_equal(used_len(f, 0), 21);
	/* A buffer under 20 bytes: IOERR, nothing written. */
	memset(hva(f, DATA_GPA), 0xaa, 32);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 19), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*(uint8_t *)hva(f, DATA_GPA), 0xaa);
}

static void test_get_id_serial(void **state)
{
	struct fx *f = *state;

	f->cfg.has_serial = true;
	snprintf(f->cfg.serial, sizeof(f->cfg.serial), "%s", "ABCDEFGHIJ0123456789");
	start(f);
	memset(hva(f, DATA_GPA), 0xaa, 32);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 32), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, DATA_GPA), "ABCDEFGHIJ0123456789", 20);
	assert_int_equal(*(uint8_t *)hva(f, DATA_GPA + 20), 0xaa);
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_sector_beyond_capacity, fx_setup_wb),
	    T(test_sector_overflow, fx_setup_direct),
	    T(test_len_not_sector_multiple, fx_setup_direct),
	    T(test_no_status_byte_needs_reset, fx_setup_wb),
	    T(test_status_is_last_writable_byte, fx_setup_wb),
	    T(test_header_split, fx_setup_direct),
	    T(test_header_short, fx_setup_wb),
	    T(test_unknown_type, fx_setup_wb),
	    T(test_get_id, fx_setup_wb),
	    T(test_get_id_serial, fx_setup_nodev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
