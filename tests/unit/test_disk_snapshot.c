// SPDX-License-Identifier: Apache-2.0
/*
 * Snapshot disks (--disk PATH,snapshot): the guest reads PATH and its own
 * writes, discards and write-zeroes, which go to the overlay and never reach
 * PATH; overlay-max refuses writes beyond it, counted. Through virtio-blk on
 * the fake transport, and on the disk backend directly where requests must
 * be in flight together. After every test the image holds its first bytes.
 */
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "backend/disk.h"
#include "blk_fixture.h"
#include "kvmrun/compiler.h"

/* The image's byte at offset i, as make_image() wrote it. */
static uint8_t img_byte(size_t i)
{
	return (uint8_t)(i * 7 + i / 512);
}

/* PATH still holds exactly what make_image() wrote, and its size. */
static void check_image_unchanged(struct fx *f)
{
	uint8_t *buf = malloc(IMG_SIZE);
	struct stat sb;
	size_t bad = 0;

	assert_non_null(buf);
	assert_int_equal(fstat(f->fd, &sb), 0);
	assert_int_equal(sb.st_size, IMG_SIZE);
	file_read(f, buf, IMG_SIZE, 0);
	for (size_t i = 0; i < IMG_SIZE; i++)
		bad += buf[i] != img_byte(i);
	free(buf);
	assert_int_equal(bad, 0);
}

static int snap_teardown(void **state)
{
	check_image_unchanged(*state);
	return fx_teardown(state);
}

static int setup_snap_max(void **state, uint64_t max)
{
	struct fx *f;
	int ret = fx_setup_opts(state, DISK_CACHE_WRITEBACK, false);

	f = *state;
	f->cfg.snapshot = true;
	f->cfg.overlay_max = max;
	start(f);
	return ret;
}

static int setup_snap(void **state)
{
	return setup_snap_max(state, 0);
}

static int setup_snap_small(void **state)
{
	return setup_snap_max(state, 8 * KiB);
}

static int setup_snap_nodev(void **state)
{
	int ret = fx_setup_nodev(state);

	((struct fx *)*state)->cfg.snapshot = true;
	return ret;
}

/* The guest reads len bytes at sector into DATA_GPA; fails the test unless OK. */
static uint8_t *guest_read(struct fx *f, uint64_t sector, uint32_t len)
{
	memset(hva(f, DATA_GPA), 0xa5, len);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, sector, DATA_GPA, len), VIRTIO_BLK_S_OK);
	return hva(f, DATA_GPA);
}

/* Checks that buf holds the image's own bytes from offset on. */
static void check_base_bytes(const uint8_t *buf, size_t len, uint64_t offset)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != img_byte(offset + i))
			fail_msg("byte %zu of a read at %llu is %u, the image has %u", i,
				 (unsigned long long)offset, buf[i], img_byte(offset + i));
}

static void check_zeroes(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			fail_msg("byte %zu is %u, expected 0", i, buf[i]);
}

static void test_read_through(void **state)
{
	struct fx *f = *state;

	assert_false(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	check_base_bytes(guest_read(f, 10, 64 * KiB), 64 * KiB, 10 * 512);
	check_base_bytes(guest_read(f, IMG_SECTORS - 1, 512), 512, IMG_SIZE - 512);
}

/* A write reads back; a read across it splits into base, overlay, base. */
static void test_write_read_back(void **state)
{
	struct fx *f = *state;
	uint8_t want[8192];
	const uint8_t *got;

	fill(hva(f, DATA_GPA), sizeof(want), 0x42);
	memcpy(want, hva(f, DATA_GPA), sizeof(want));
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 3, DATA_GPA, sizeof(want)), VIRTIO_BLK_S_OK);
	got = guest_read(f, 1, 32 * 512);
	check_base_bytes(got, 2 * 512, 512);
	assert_memory_equal(got + 2 * 512, want, sizeof(want));
	check_base_bytes(got + 18 * 512, 14 * 512, 19 * 512);
	/* A second write over part of the first, and one sector alone further on. */
	fill(hva(f, DATA_GPA), 512, 0x77);
	memcpy(want + 512, hva(f, DATA_GPA), 512);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 4, DATA_GPA, 512), VIRTIO_BLK_S_OK);
	got = guest_read(f, 3, 16 * 512);
	assert_memory_equal(got, want, sizeof(want));
}

/*
 * Every other sector written, then one read over them through buffers whose
 * edges fall inside sectors: each run crosses buffer edges and the reverse.
 */
static void test_runs_across_buffers(void **state)
{
	struct fx *f = *state;
	uint8_t want[32 * 512], sec[512];
	struct seg r[5] = {
	    {hdr(f, 1, VIRTIO_BLK_T_IN, 64), 16, 0},
	    {DATA_GPA + 0x10000, 700, W},
	    {DATA_GPA + 0x20003, 9000, W},
	    {DATA_GPA + 0x30000, 32 * 512 - 9700, W},
	    {st(1), 1, W},
	};
	uint8_t got[32 * 512];

	for (unsigned int i = 0; i < 32; i++) {
		if (i % 2 || i == 12) {
			for (size_t k = 0; k < 512; k++)
				want[i * 512 + k] = img_byte((64 + i) * 512 + k);
			continue;
		}
		fill(sec, sizeof(sec), (uint8_t)(i + 1));
		memcpy(hva(f, DATA_GPA), sec, sizeof(sec));
		memcpy(want + i * 512, sec, sizeof(sec));
		assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 64 + i, DATA_GPA, 512),
				 VIRTIO_BLK_S_OK);
	}
	post(f, r, 5);
	kick(f);
	wait_used(f, (uint16_t)(used_idx(f) + 1));
	assert_int_equal(*(uint8_t *)hva(f, st(1)), VIRTIO_BLK_S_OK);
	memcpy(got, hva(f, DATA_GPA + 0x10000), 700);
	memcpy(got + 700, hva(f, DATA_GPA + 0x20003), 9000);
	memcpy(got + 9700, hva(f, DATA_GPA + 0x30000), sizeof(got) - 9700);
	assert_memory_equal(got, want, sizeof(want));
}

static void test_flush(void **state)
{
	struct fx *f = *state;

	fill(hva(f, DATA_GPA), 4096, 9);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 4096), VIRTIO_BLK_S_OK);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
}

/*
 * Discard and write-zeroes (with and without unmap) over sectors the guest
 * wrote and sectors it did not: all read back as zeroes; what lies around them
 * does not change; a write over zeroed sectors reads back again. A whole MiB
 * (a chunk of the map) too.
 */
static void test_discard_write_zeroes(void **state)
{
	struct fx *f = *state;
	static const uint32_t types[3] = {VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES,
					  VIRTIO_BLK_T_WRITE_ZEROES};
	uint8_t want[512];
	const uint8_t *got;

	for (unsigned int t = 0; t < 3; t++) {
		uint64_t base = 200 + 100 * t;

		fill(hva(f, DATA_GPA), 8 * 512, (uint8_t)t);
		assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, base, DATA_GPA, 8 * 512),
				 VIRTIO_BLK_S_OK);
		/* sectors base+4 .. base+19: 4 written, 12 from the image */
		put_seg(f, DATA_GPA + 0x8000, base + 4, 16, t == 2 ? VIRTIO_BLK_WZ_F_UNMAP : 0);
		assert_int_equal(do_rw(f, types[t], 0, DATA_GPA + 0x8000, 16), VIRTIO_BLK_S_OK);
		got = guest_read(f, base + 4, 16 * 512);
		check_zeroes(got, 16 * 512);
		got = guest_read(f, base + 20, 4 * 512);
		check_base_bytes(got, 4 * 512, (base + 20) * 512);
		got = guest_read(f, base, 4 * 512);
		fill(want, sizeof(want), (uint8_t)t);
		assert_memory_equal(got, want, 512);
	}
	/* One whole MiB of the disk, then a write of one sector in its middle. */
	put_seg(f, DATA_GPA + 0x8000, 0, IMG_SECTORS, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA + 0x8000, 16), VIRTIO_BLK_S_OK);
	check_zeroes(guest_read(f, 0, 256 * KiB), 256 * KiB);
	check_zeroes(guest_read(f, IMG_SECTORS - 512, 256 * KiB), 256 * KiB);
	fill(hva(f, DATA_GPA), 512, 0x99);
	memcpy(want, hva(f, DATA_GPA), 512);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 1000, DATA_GPA, 512), VIRTIO_BLK_S_OK);
	got = guest_read(f, 999, 3 * 512);
	check_zeroes(got, 512);
	assert_memory_equal(got + 512, want, 512);
	check_zeroes(got + 1024, 512);
}

/* overlay-max=8K: a write past it is an I/O error to the guest, and the device goes on. */
static void test_overlay_max_blk(void **state)
{
	struct fx *f = *state;

	fill(hva(f, DATA_GPA), 8 * KiB, 5);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 8 * KiB), VIRTIO_BLK_S_OK);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 16, DATA_GPA, 512), VIRTIO_BLK_S_IOERR);
	/* The same sectors again take no more room. */
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 8 * KiB), VIRTIO_BLK_S_OK);
	/* What was refused never reached the overlay: it reads from the image. */
	check_base_bytes(guest_read(f, 16, 512), 512, 16 * 512);
	/* Discarding gives room back. */
	put_seg(f, DATA_GPA + 0x8000, 0, 2, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA + 0x8000, 16), VIRTIO_BLK_S_OK);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 16, DATA_GPA, 1024), VIRTIO_BLK_S_OK);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* ---- the backend directly ---- */

struct op {
	struct disk_io io;
	int res;
	bool done;
};

static void op_done(struct disk_io *io, int res)
{
	struct op *o = container_of(io, struct op, io);

	o->res = res;
	o->done = true;
}

/* Serve the disk's completions until every op of n is done (10 s per wait at most). */
static void pump(struct op *ops, unsigned int n)
{
	for (;;) {
		struct pollfd pfd = {.fd = fake_loop.w[0].fd, .events = POLLIN};
		bool all = true;

		for (unsigned int i = 0; i < n; i++)
			all = all && ops[i].done;
		if (all)
			return;
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		fake_loop.w[0].fn(fake_loop.w[0].opaque, POLLIN);
	}
}

static int rw(struct disk *d, bool write, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = {buf, len};
	struct op o = {.io.done = op_done};
	int ret = disk_submit(d, &o.io, write, off, &iov, 1);

	if (ret)
		return ret;
	pump(&o, 1);
	return o.res;
}

static struct disk *open_disk(struct fx *f)
{
	struct disk *d;
	char err[256] = "";

	if (disk_open(&d, &f->cfg, NULL, err, sizeof(err)))
		fail_msg("disk_open: %s", err);
	return d;
}

/*
 * Two writes that overlap and a read over both, all in flight at once: each
 * sector ends as one of the writes left it, the read sees old or new bytes per
 * sector, and the overlay counts each sector once.
 */
static void test_overlapping_in_flight(void **state)
{
	struct fx *f = *state;
	struct disk *d = open_disk(f);
	uint8_t a[8 * 512], b[8 * 512], r[16 * 512], after[16 * 512];
	struct iovec va = {a, sizeof(a)}, vb = {b, sizeof(b)}, vr = {r, sizeof(r)};
	struct op ops[3] = {{.io.done = op_done}, {.io.done = op_done}, {.io.done = op_done}};
	uint8_t prev[16] = {0}, after_first[16];
	struct disk_stats st;

	for (unsigned int round = 0; round < 20; round++) {
		memset(a, 0xa0 + round % 8, sizeof(a));
		memset(b, 0xb0 + round % 8, sizeof(b));
		for (unsigned int i = 0; i < 3; i++)
			ops[i].done = false;
		disk_plug(d);
		assert_int_equal(disk_submit(d, &ops[0].io, true, 0, &va, 1), 0);
		assert_int_equal(disk_submit(d, &ops[1].io, true, 4 * 512, &vb, 1), 0);
		assert_int_equal(disk_submit(d, &ops[2].io, false, 0, &vr, 1), 0);
		disk_unplug(d);
		pump(ops, 3);
		for (unsigned int i = 0; i < 3; i++)
			assert_int_equal(ops[i].res, 0);
		assert_int_equal(rw(d, false, 0, after, sizeof(after)), 0);
		for (unsigned int s = 0; s < 16; s++)
			after_first[s] = after[s * 512];
		for (unsigned int s = 0; s < 16; s++) {
			uint8_t x = after[s * 512], y = r[s * 512];

			/* whole sectors, never torn within one */
			for (unsigned int k = 1; k < 512 && s < 12; k++)
				assert_int_equal(after[s * 512 + k], x);
			if (s < 4)
				assert_int_equal(x, a[0]);
			else if (s < 8)
				assert_true(x == a[0] || x == b[0]);
			else if (s < 12)
				assert_int_equal(x, b[0]);
			else
				check_base_bytes(after + s * 512, 512, s * 512);
			/*
			 * The read, concurrent with the writes: per byte the old
			 * (the image's, or last round's) or the new.
			 */
			if (s >= 12) {
				check_base_bytes(r + s * 512, 512, s * 512);
				continue;
			}
			for (unsigned int k = 0; k < 512; k++) {
				y = r[s * 512 + k];
				if (y != a[0] && y != b[0] &&
				    y != (round ? prev[s] : img_byte(s * 512 + k)))
					fail_msg("round %u: byte %u of sector %u read %#x", round,
						 k, s, y);
			}
		}
		memcpy(prev, after_first, sizeof(prev));
		disk_get_stats(d, &st);
		assert_true(st.snapshot);
		assert_int_equal(st.overlay_bytes, 12 * 512);
	}
	disk_close(d);
}

/* overlay-max on the backend: -ENOSPC at submit, counted; reservations come back. */
static void test_overlay_max_counts(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8192] = {1};
	struct iovec iov[2] = {{buf, 4096}, {buf, 4096}};
	struct op ops[2] = {{.io.done = op_done}, {.io.done = op_done}};
	struct disk_stats st;
	struct disk *d;

	f->cfg.overlay_max = 8192;
	d = open_disk(f);
	disk_get_stats(d, &st);
	assert_int_equal(st.overlay_max, 8192);
	assert_int_equal(st.overlay_bytes, 0);
	/* Two 4 KiB writes in flight reserve the whole room: a third one is refused. */
	disk_plug(d);
	assert_int_equal(disk_submit(d, &ops[0].io, true, 0, &iov[0], 1), 0);
	assert_int_equal(disk_submit(d, &ops[1].io, true, 64 * KiB, &iov[1], 1), 0);
	assert_int_equal(rw(d, true, 128 * KiB, buf, 512), -ENOSPC);
	disk_unplug(d);
	pump(ops, 2);
	assert_int_equal(ops[0].res, 0);
	assert_int_equal(ops[1].res, 0);
	assert_int_equal(rw(d, true, 128 * KiB, buf, 512), -ENOSPC);
	assert_int_equal(rw(d, true, 0, buf, 4096), 0); /* rewriting takes nothing */
	disk_get_stats(d, &st);
	assert_int_equal(st.overlay_bytes, 8192);
	assert_int_equal(st.overlay_refused, 2);
	disk_close(d);
}

/* The disk's size bounds the overlay by default; reads past nothing change. */
static void test_default_max_is_size(void **state)
{
	struct fx *f = *state;
	struct disk *d = open_disk(f);
	uint8_t *buf = malloc(IMG_SIZE);
	struct disk_stats st;

	assert_non_null(buf);
	memset(buf, 0x3c, IMG_SIZE);
	assert_int_equal(rw(d, true, 0, buf, IMG_SIZE), 0);
	disk_get_stats(d, &st);
	assert_int_equal(st.overlay_bytes, IMG_SIZE);
	assert_int_equal(st.overlay_max, IMG_SIZE);
	memset(buf, 0, IMG_SIZE);
	assert_int_equal(rw(d, false, 0, buf, IMG_SIZE), 0);
	for (size_t i = 0; i < IMG_SIZE; i++)
		if (buf[i] != 0x3c)
			fail_msg("byte %zu", i);
	free(buf);
	disk_close(d);
}

/* Root opens any file: drop (on = false) or restore the file-mode overrides. */
static void file_caps(bool on)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	uint32_t mask = (1U << CAP_DAC_OVERRIDE) | (1U << CAP_DAC_READ_SEARCH);

	assert_int_equal(syscall(SYS_capget, &hdr, data), 0);
	data[0].effective =
	    on ? data[0].effective | (data[0].permitted & mask) : data[0].effective & ~mask;
	assert_int_equal(syscall(SYS_capset, &hdr, data), 0);
}

/* A file the user may only read is a writable snapshot disk all the same. */
static void test_readonly_file(void **state)
{
	struct fx *f = *state;
	uint8_t buf[1024], back[1024];
	struct disk *d;

	assert_int_equal(fchmod(f->fd, 0444), 0);
	file_caps(false);
	d = open_disk(f);
	file_caps(true);
	assert_false(disk_readonly(d));
	fill(buf, sizeof(buf), 3);
	assert_int_equal(rw(d, true, 4096, buf, sizeof(buf)), 0);
	assert_int_equal(rw(d, false, 4096, back, sizeof(back)), 0);
	assert_memory_equal(back, buf, sizeof(buf));
	disk_close(d);
}

/* A missing file fails to open, naming it; nothing is left behind. */
static void test_missing_file(void **state)
{
	struct fx *f = *state;
	struct disk *d;
	char err[256] = "";

	snprintf(f->cfg.path, sizeof(f->cfg.path), "%s", "/nonexistent/kvmrun-snap.img");
	assert_int_equal(disk_open(&d, &f->cfg, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/kvmrun-snap.img"));
	for (unsigned int i = 0; i < FAKE_LOOP_WATCHES; i++)
		assert_null(fake_loop.w[i].fn);
}

/* A second writer of the image is refused; readers and snapshots share it. */
static void test_shared_lock(void **state)
{
	struct fx *f = *state;
	struct disk *a = open_disk(f), *b = open_disk(f), *w;
	char err[256];

	f->cfg.snapshot = false;
	assert_int_equal(disk_open(&w, &f->cfg, NULL, err, sizeof(err)), -EBUSY);
	f->cfg.readonly = true;
	disk_close(open_disk(f));
	disk_close(b);
	disk_close(a);
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(fp);
	return kib;
}

/*
 * A 1 TiB image (sparse) costs next to nothing when opened; writes at both
 * ends read back, and the rest still reads from the image.
 */
static void test_huge_image(void **state)
{
	struct fx *f = *state;
	const uint64_t size = 1ULL << 40;
	uint8_t buf[4096], back[4096];
	struct disk_stats st;
	struct disk *d;
	long before;

	assert_int_equal(ftruncate(f->fd, (off_t)size), 0);
	before = rss_kib();
	d = open_disk(f);
	assert_true(rss_kib() - before < 4096);
	fill(buf, sizeof(buf), 7);
	assert_int_equal(rw(d, true, 0, buf, sizeof(buf)), 0);
	assert_int_equal(rw(d, true, size - sizeof(buf), buf, sizeof(buf)), 0);
	assert_int_equal(rw(d, false, size - sizeof(buf), back, sizeof(back)), 0);
	assert_memory_equal(back, buf, sizeof(buf));
	assert_int_equal(rw(d, false, 4096, back, sizeof(back)), 0);
	check_base_bytes(back, sizeof(back), 4096);
	disk_get_stats(d, &st);
	assert_int_equal(st.overlay_bytes, 2 * sizeof(buf));
	assert_true(rss_kib() - before < 8192);
	disk_close(d);
	assert_int_equal(ftruncate(f->fd, IMG_SIZE), 0);
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, snap_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_read_through, setup_snap),
	    T(test_write_read_back, setup_snap),
	    T(test_runs_across_buffers, setup_snap),
	    T(test_flush, setup_snap),
	    T(test_discard_write_zeroes, setup_snap),
	    T(test_overlay_max_blk, setup_snap_small),
	    T(test_overlapping_in_flight, setup_snap_nodev),
	    T(test_overlay_max_counts, setup_snap_nodev),
	    T(test_default_max_is_size, setup_snap_nodev),
	    T(test_readonly_file, setup_snap_nodev),
	    T(test_missing_file, setup_snap_nodev),
	    T(test_shared_lock, setup_snap_nodev),
	    T(test_huge_image, setup_snap_nodev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
