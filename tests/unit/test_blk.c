// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk data path: bytes reach the image file and come back, with page
 * cache and O_DIRECT, aligned and bounced; read-only disks, discard and
 * write-zeroes, reset with I/O in flight, full file systems, open errors.
 * The fixture (fake transport, event loop and guest driver) is blk_fixture.h.
 */
#include <libaio.h>
#include <linux/capability.h>
#include <sys/syscall.h>

#include "backend/disk.h"
#include "blk_fixture.h"

/*
 * Fault injection for flush: this definition stands in for libc's in the test
 * program (the backend calls it when the kernel takes no fsync through AIO).
 * fdatasync_errno 0 passes the call through to the kernel.
 */
static int fdatasync_errno;
static unsigned int fdatasync_calls;

int fdatasync(int fd)
{
	fdatasync_calls++;
	if (fdatasync_errno) {
		errno = fdatasync_errno;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

/*
 * io_submit stands in for libaio's too: it counts the calls and the flushes
 * (IO_CMD_FDSYNC) among the requests; with submit_refuse = N the kernel takes
 * the next N requests and refuses the one after them (-EIO), as io_submit
 * does when it stops part-way; with fdsync_refuse = E it refuses the first
 * flush with -E, as a kernel before 4.18 does with -EINVAL.
 */
static unsigned int submit_calls, fdsync_submitted;
static long submit_refuse = -1;
static int fdsync_refuse;

int io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
	long ret, k = nr;

	submit_calls++;
	if (submit_refuse == 0) {
		submit_refuse = -1;
		return -EIO;
	}
	for (long i = 0; fdsync_refuse && i < nr; i++) {
		if (ios[i]->aio_lio_opcode == IO_CMD_FDSYNC) {
			k = i;
			break;
		}
	}
	if (k == 0)
		return -fdsync_refuse;
	if (submit_refuse > 0)
		k = MIN(k, submit_refuse);
	ret = syscall(SYS_io_submit, ctx, k, ios);
	if (ret < 0)
		return -errno;
	if (submit_refuse > 0)
		submit_refuse -= ret;
	for (long i = 0; i < ret; i++)
		fdsync_submitted += ios[i]->aio_lio_opcode == IO_CMD_FDSYNC;
	return (int)ret;
}

/* And io_getevents: with fdsync_fail = E, every flush the kernel ran ends with -E. */
static int fdsync_fail;

int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
		 struct timespec *timeout)
{
	long n = syscall(SYS_io_getevents, ctx, min_nr, nr, events, timeout);

	if (n < 0)
		return -errno;
	for (long i = 0; fdsync_fail && i < n; i++)
		if (events[i].obj->aio_lio_opcode == IO_CMD_FDSYNC)
			events[i].res = (unsigned long)-fdsync_fail;
	return (int)n;
}

/* ---- the counters the exec report shows ---- */

static void test_stats(void **state)
{
	struct fx *f = *state;
	const struct blk_stats *st = virtio_blk_stats(f->vdev);

	assert_int_equal(st->reads + st->writes + st->flushes + st->errors, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 8, DATA_GPA, 8192), VIRTIO_BLK_S_OK);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 8, DATA_GPA, 4096), VIRTIO_BLK_S_OK);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, DATA_GPA, 512), VIRTIO_BLK_S_OK);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	/* beyond the end: an error, not a read */
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, ~0ULL >> 10, DATA_GPA, 512),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_simple(f, 99, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(st->writes, 1);
	assert_int_equal(st->write_bytes, 8192);
	assert_int_equal(st->reads, 2);
	assert_int_equal(st->read_bytes, 4096 + 512);
	assert_int_equal(st->flushes, 1);
	assert_int_equal(st->discards, 0);
	assert_int_equal(st->errors, 2);
}

/* ---- data reaches the file ---- */

static void test_rw_aligned(void **state)
{
	struct fx *f = *state;

	check_write_then_pread(f, DATA_GPA, 8192, 16);
	check_read_file_bytes(f, DATA_GPA + 0x4000, 4096, 3);
	check_read_file_bytes(f, DATA_GPA + 0x4000, 8192, 16);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_rw_unaligned_buffers(void **state)
{
	struct fx *f = *state;

	/* Guest buffers at odd addresses: O_DIRECT needs the bounce buffer. */
	check_write_then_pread(f, DATA_GPA + 1, 1024, 5);
	check_read_file_bytes(f, DATA_GPA + 0x4003, 1536, 7);
	check_read_file_bytes(f, DATA_GPA + 0x4003, 1536, 5);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* Data spread over several descriptors, aligned and not, in both directions. */
static void test_rw_scatter(void **state)
{
	struct fx *f = *state;
	uint8_t want[2048], back[2048];
	struct seg w[5] = {
	    {hdr(f, 0, VIRTIO_BLK_T_OUT, 40), 16, 0},
	    {DATA_GPA, 512, 0},
	    {DATA_GPA + 0x1003, 1024, 0},
	    {DATA_GPA + 0x2000, 512, 0},
	    {st(0), 1, W},
	};
	struct seg r[3] = {
	    {hdr(f, 1, VIRTIO_BLK_T_IN, 40), 16, 0},
	    {DATA_GPA + 0x4000, 1536, W},
	    {DATA_GPA + 0x5001, 513, W}, /* 512 bytes of data, then the status */
	};

	fill(hva(f, DATA_GPA), 512, 1);
	fill(hva(f, DATA_GPA + 0x1003), 1024, 2);
	fill(hva(f, DATA_GPA + 0x2000), 512, 3);
	memcpy(want, hva(f, DATA_GPA), 512);
	memcpy(want + 512, hva(f, DATA_GPA + 0x1003), 1024);
	memcpy(want + 1536, hva(f, DATA_GPA + 0x2000), 512);
	post(f, w, 5);
	kick(f);
	wait_used(f, 1);
	assert_int_equal(*(uint8_t *)hva(f, st(0)), VIRTIO_BLK_S_OK);
	file_read(f, back, sizeof(back), 40 * 512);
	assert_memory_equal(back, want, sizeof(want));

	post(f, r, 3);
	kick(f);
	wait_used(f, 2);
	assert_int_equal(*(uint8_t *)hva(f, DATA_GPA + 0x5001 + 512), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, DATA_GPA + 0x4000), want, 1536);
	assert_memory_equal(hva(f, DATA_GPA + 0x5001), want + 1536, 512);
	assert_int_equal(used_len(f, 1), 2049);
}

/* open(2) flags of the device's own descriptor for the image (from fdinfo). */
static int image_flags(struct fx *f)
{
	int flags = -1;

	for (int fd = 3; fd < 256; fd++) {
		char p[64], link[256] = "";
		ssize_t n;
		FILE *fi;

		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n = readlink(p, link, sizeof(link) - 1);
		if (n <= 0 || strcmp(link, f->path) || fd == f->fd)
			continue;
		snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
		fi = fopen(p, "r");
		assert_non_null(fi);
		assert_int_equal(fscanf(fi, "pos: %*d flags: %o", &flags), 1);
		fclose(fi);
	}
	assert_true(flags != -1);
	return flags;
}

static void test_cache_modes(void **state)
{
	struct fx *f = *state;

	/* cache=none on a file system that takes O_DIRECT really uses it. */
	if (f->cfg.cache == DISK_CACHE_NONE)
		assert_true(image_flags(f) & O_DIRECT);
	else
		assert_false(image_flags(f) & O_DIRECT);
}

static void test_many_in_flight(void **state)
{
	struct fx *f = *state;
	uint16_t want = (uint16_t)(used_idx(f) + 5);
	uint8_t buf[4096];

	for (unsigned int i = 0; i < 5; i++) {
		struct seg s[3] = {
		    {hdr(f, i, VIRTIO_BLK_T_IN, 8 * i), 16, 0},
		    {DATA_GPA + 4096ULL * i, 4096, W},
		    {st(i), 1, W},
		};

		*(uint8_t *)hva(f, st(i)) = 0xee;
		post(f, s, 3);
	}
	submit_calls = 0;
	kick(f);
	/* The scheduling policy is told that one pass served five requests... */
	assert_int_equal(fake_loop.served_calls, 1);
	assert_int_equal(fake_loop.reported.count, 5);
	/*
	 * ...and the kernel got them in one call, with O_DIRECT; through the page
	 * cache, where io_submit would do the copying itself, the workers did.
	 */
	assert_int_equal(submit_calls, f->cfg.cache == DISK_CACHE_NONE ? 1 : 0);
	wait_used(f, want);
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(*(uint8_t *)hva(f, st(i)), VIRTIO_BLK_S_OK);
		file_read(f, buf, sizeof(buf), 4096ULL * i);
		assert_memory_equal(hva(f, DATA_GPA + 4096ULL * i), buf, sizeof(buf));
	}
	/* At least one interrupt, and at most one per batch of completions. */
	assert_true(f->ft.notifies >= 1);
	assert_true(f->ft.notifies <= f->pumps);

	/* The driver asks for no interrupts: none comes. */
	uint16_t no_int = VQ_AVAIL_F_NO_INTERRUPT;
	unsigned int before = f->ft.notifies;

	memcpy(hva(f, AVAIL_GPA), &no_int, 2);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, DATA_GPA, 4096), VIRTIO_BLK_S_OK);
	assert_int_equal(f->ft.notifies, before);
}

/*
 * Five writes in one pass; the kernel takes two and refuses the third: that
 * one ends with IOERR and none of its bytes in the file, the other four are
 * submitted and written, and the guest is told.
 */
static void test_submit_refused(void **state)
{
	struct fx *f = *state;
	uint16_t want = (uint16_t)(used_idx(f) + 5);
	unsigned int before = f->ft.notifies;
	uint8_t buf[4096], orig[4096];

	for (unsigned int i = 0; i < 5; i++) {
		struct seg s[3] = {
		    {hdr(f, i, VIRTIO_BLK_T_OUT, 8 * i), 16, 0},
		    {DATA_GPA + 4096ULL * i, 4096, 0},
		    {st(i), 1, W},
		};

		fill(hva(f, DATA_GPA + 4096ULL * i), 4096, (uint8_t)(i + 1));
		*(uint8_t *)hva(f, st(i)) = 0xee;
		post(f, s, 3);
	}
	file_read(f, orig, sizeof(orig), 4096ULL * 2);
	submit_calls = 0;
	submit_refuse = 2;
	kick(f);
	assert_int_equal(submit_calls, 3); /* two taken, one refused, the last two */
	wait_used(f, want);
	for (unsigned int i = 0; i < 5; i++) {
		file_read(f, buf, sizeof(buf), 4096ULL * i);
		if (i == 2) {
			assert_int_equal(*(uint8_t *)hva(f, st(i)), VIRTIO_BLK_S_IOERR);
			assert_memory_equal(buf, orig, sizeof(buf));
		} else {
			assert_int_equal(*(uint8_t *)hva(f, st(i)), VIRTIO_BLK_S_OK);
			assert_memory_equal(buf, hva(f, DATA_GPA + 4096ULL * i), sizeof(buf));
		}
	}
	assert_true(f->ft.notifies > before);
	assert_int_equal(f->ft.needs_reset, 0);
	/* The device goes on. */
	check_write_then_pread(f, DATA_GPA, 4096, 16);
}

/* ---- read-only disks, discard, reset, full file systems, config ---- */

static void test_readonly(void **state)
{
	struct fx *f = *state;
	uint8_t before[4096], after[4096];
	uint8_t cfg[VIRTIO_BLK_CFG_SIZE];
	uint8_t seg[16] = {0};

	assert_true(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_false(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	f->vdev->ops->config_read(f->vdev, 0, cfg, sizeof(cfg));
	file_read(f, before, sizeof(before), 0);
	fill(hva(f, DATA_GPA), 4096, 1);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 4096), VIRTIO_BLK_S_IOERR);
	/* A write-zeroes that ignores the negotiated features is refused too. */
	seg[8] = 8;
	memcpy(hva(f, DATA_GPA), seg, 16);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA, 16), VIRTIO_BLK_S_UNSUPP);
	f->vdev->features |= VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA, 16), VIRTIO_BLK_S_IOERR);
	file_read(f, after, sizeof(after), 0);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, DATA_GPA, 4096), VIRTIO_BLK_S_OK);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
}

static void test_discard_and_write_zeroes(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8192], zero[8192] = {0}, before[8192];

	/* Write zeroes over sectors 32..47, then discard 64..79: both read back zero. */
	put_seg(f, DATA_GPA, 32, 16, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA, 16), VIRTIO_BLK_S_OK);
	file_read(f, buf, 8192, 32 * 512);
	assert_memory_equal(buf, zero, 8192);
	put_seg(f, DATA_GPA, 64, 16, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 16), VIRTIO_BLK_S_OK);
	file_read(f, buf, 8192, 64 * 512);
	assert_memory_equal(buf, zero, 8192);
	put_seg(f, DATA_GPA, 96, 16, VIRTIO_BLK_WZ_F_UNMAP);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA, 16), VIRTIO_BLK_S_OK);
	file_read(f, buf, 8192, 96 * 512);
	assert_memory_equal(buf, zero, 8192);

	/* Malformed: nothing may change. */
	file_read(f, before, 8192, 128 * 512);
	put_seg(f, DATA_GPA, 128, 16, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 15), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 20), VIRTIO_BLK_S_IOERR);
	put_seg(f, DATA_GPA, 128, 16, VIRTIO_BLK_WZ_F_UNMAP);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 16), VIRTIO_BLK_S_UNSUPP);
	put_seg(f, DATA_GPA, 128, 16, 0x80);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA, 16), VIRTIO_BLK_S_UNSUPP);
	put_seg(f, DATA_GPA, IMG_SECTORS - 8, 16, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 16), VIRTIO_BLK_S_IOERR);
	put_seg(f, DATA_GPA, UINT64_MAX - 4, 16, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA, 16), VIRTIO_BLK_S_IOERR);
	put_seg(f, DATA_GPA, 128, UINT32_MAX, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 16), VIRTIO_BLK_S_IOERR);
	/* A valid segment followed by a bad one: the whole request fails, nothing done. */
	put_seg(f, DATA_GPA, 128, 16, 0);
	put_seg(f, DATA_GPA + 16, IMG_SECTORS, 1, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA, 32), VIRTIO_BLK_S_IOERR);
	/* Too many segments. */
	for (unsigned int i = 0; i <= VIRTIO_BLK_MAX_DISCARD_SEG; i++)
		put_seg(f, DATA_GPA + 16ULL * i, 128, 1, 0);
	assert_int_equal(
	    do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 16 * (VIRTIO_BLK_MAX_DISCARD_SEG + 1)),
	    VIRTIO_BLK_S_IOERR);
	file_read(f, buf, 8192, 128 * 512);
	assert_memory_equal(buf, before, 8192);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_reset_in_flight(void **state)
{
	struct fx *f = *state;
	uint8_t before[4096];

	for (unsigned int i = 0; i < 4; i++) {
		struct seg s[3] = {
		    {hdr(f, i, i % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, 8 * i), 16, 0},
		    {DATA_GPA + 1 + 4096ULL * i, 4096, i % 2 ? 0 : W},
		    {st(i), 1, W},
		};

		*(uint8_t *)hva(f, st(i)) = 0xee;
		post(f, s, 3);
	}
	memset(hva(f, DATA_GPA + 1), 0x5a, 4096);
	memcpy(before, hva(f, DATA_GPA + 1), 4096);
	kick(f);
	f->vdev->ops->reset(f->vdev);
	vq_reset(&f->vq);
	/* Whatever the eventfd still says, nothing reaches the guest now. */
	for (unsigned int i = 0; i < FAKE_LOOP_WATCHES; i++)
		if (fake_loop.w[i].fn)
			fake_loop.w[i].fn(fake_loop.w[i].opaque, POLLIN);
	assert_int_equal(used_idx(f), 0);
	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(*(uint8_t *)hva(f, st(i)), 0xee);
	/* The bounced read was not copied out. */
	assert_memory_equal(hva(f, DATA_GPA + 1), before, 4096);
	/* And the device works again after the reset. */
	f->avail_idx = 0;
	__atomic_store_n((uint16_t *)hva(f, AVAIL_GPA + 2), 0, __ATOMIC_RELEASE);
	check_read_file_bytes(f, DATA_GPA, 4096, 8);
}

static void test_full_file_system(void **state)
{
	struct fx *f = *state;
	struct rlimit old, small;
	uint8_t back[4096];

	/*
	 * RLIMIT_FSIZE stands in for a full file system: a write past it fails
	 * with EFBIG (the VMM ignores SIGXFSZ), as a write fails with ENOSPC.
	 */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 64 * KiB;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	fill(hva(f, DATA_GPA), 4096, 9);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 512, DATA_GPA, 4096), VIRTIO_BLK_S_IOERR);
	/* Below the limit the device goes on. */
	check_write_then_pread(f, DATA_GPA, 4096, 8);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	fill(hva(f, DATA_GPA), 4096, 10);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 512, DATA_GPA, 4096), VIRTIO_BLK_S_OK);
	file_read(f, back, sizeof(back), 512 * 512);
	assert_memory_equal(back, hva(f, DATA_GPA), sizeof(back));
	assert_int_equal(f->ft.needs_reset, 0);
}

/*
 * A real full file system: a 256 KiB tmpfs in a private mount namespace (needs
 * CAP_SYS_ADMIN; skipped without it). Writes fail with IOERR once it is full,
 * the VM goes on, and a discard from the guest gives the space back.
 */
static void test_enospc_tmpfs(void **state)
{
	struct fx *f = *state;
	char dir[256];
	unsigned int ok = 0, failed = 0, i;
	uint8_t back[4096];
	int fd;

	test_tmp_path(dir, sizeof(dir), "kvmrun-blk-fs-XXXXXX");
	assert_non_null(mkdtemp(dir));
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=256k") < 0) {
		rmdir(dir);
		skip();
	}
	snprintf(f->cfg.path, sizeof(f->cfg.path), "%s/img", dir);
	fd = open(f->cfg.path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0); /* sparse: 1 MiB on a 256 KiB fs */
	close(fd);
	start(f);
	for (i = 0; i < IMG_SECTORS / 8 && !failed; i++) {
		fill(hva(f, DATA_GPA), 4096, (uint8_t)i);
		if (do_rw(f, VIRTIO_BLK_T_OUT, 8ULL * i, DATA_GPA, 4096) == VIRTIO_BLK_S_OK)
			ok++;
		else
			failed++;
	}
	assert_int_equal(failed, 1);
	assert_in_range(ok, 16, 64); /* 256 KiB: at most 64 pages */
	assert_int_equal(f->ft.needs_reset, 0);
	/* The guest discards its first 64 KiB: the same write now succeeds. */
	put_seg(f, DATA_GPA + 0x8000, 0, 128, 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA + 0x8000, 16), VIRTIO_BLK_S_OK);
	fill(hva(f, DATA_GPA), 4096, 0xab);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 8ULL * ok, DATA_GPA, 4096), VIRTIO_BLK_S_OK);
	fd = open(f->cfg.path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, sizeof(back), 4096 * ok), sizeof(back));
	close(fd);
	assert_memory_equal(back, hva(f, DATA_GPA), sizeof(back));
	f->vdev->ops->destroy(f->vdev);
	f->vdev = NULL;
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

/* Device state after a reset by the driver, as the fixture's driver sees it. */
static void driver_reset(struct fx *f)
{
	f->vdev->ops->reset(f->vdev);
	vq_reset(&f->vq);
	f->avail_idx = 0;
	__atomic_store_n((uint16_t *)hva(f, AVAIL_GPA + 2), 0, __ATOMIC_RELEASE);
	__atomic_store_n((uint16_t *)hva(f, USED_GPA + 2), 0, __ATOMIC_RELEASE);
}

/* Flushes that reached the host: through AIO (O_DIRECT) or the workers' fdatasync. */
static unsigned int flushes_started(void)
{
	return fdsync_submitted + fdatasync_calls;
}

static void test_flush_error_sticks(void **state)
{
	struct fx *f = *state;

	fdsync_submitted = fdatasync_calls = 0;
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(flushes_started(), 1);
	fdsync_fail = fdatasync_errno = EIO;
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_IOERR);
	fdsync_fail = fdatasync_errno = 0;
	/* The kernel may have dropped the dirty pages: later flushes fail too. */
	fdsync_submitted = fdatasync_calls = 0;
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(flushes_started(), 0);
	/* Reads and writes go on meanwhile. */
	check_write_then_pread(f, DATA_GPA, 4096, 8);
	assert_int_equal(f->ft.needs_reset, 0);
	/* Even after the driver resets the device. */
	driver_reset(f);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(flushes_started(), 0);
	check_write_then_pread(f, DATA_GPA, 4096, 9);
}

/* A flush that io_submit refused never ran: it fails alone, and the next one works. */
static void test_flush_refused_not_sticky(void **state)
{
	struct fx *f = *state;

	submit_refuse = 0;
	fdsync_submitted = 0;
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(fdsync_submitted, 0);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(fdsync_submitted, 1);
	assert_int_equal(f->ft.needs_reset, 0);
}

/*
 * A flush runs in the kernel's AIO workers (O_DIRECT) or in the disk's own
 * (page cache) and completes from the loop, like a write: the queue pass that
 * takes it returns with it in flight.
 */
static void test_flush_in_flight(void **state)
{
	struct fx *f = *state;
	struct seg s[2] = {{HDR_GPA, 16, 0}, {st(0), 1, W}};
	uint16_t used;

	bool direct = f->cfg.cache == DISK_CACHE_NONE;

	check_write_then_pread(f, DATA_GPA, 8192, 3); /* dirty pages to write back */
	hdr(f, 0, VIRTIO_BLK_T_FLUSH, 0);
	used = used_idx(f);
	fdatasync_calls = fdsync_submitted = 0;
	*(uint8_t *)hva(f, st(0)) = 0xee;
	post(f, s, 2);
	kick(f);
	assert_int_equal(used_idx(f), used);
	assert_int_equal(*(uint8_t *)hva(f, st(0)), 0xee);
	assert_int_equal(fdsync_submitted, direct ? 1 : 0);
	wait_used(f, (uint16_t)(used + 1));
	assert_int_equal(*(uint8_t *)hva(f, st(0)), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len(f, used), 1);
	assert_int_equal(fdatasync_calls, direct ? 0 : 1);
	/* A reset with a flush in flight waits for it and completes nothing. */
	post(f, s, 2);
	kick(f);
	driver_reset(f);
	for (unsigned int i = 0; i < FAKE_LOOP_WATCHES; i++)
		if (fake_loop.w[i].fn)
			fake_loop.w[i].fn(fake_loop.w[i].opaque, POLLIN);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* A kernel that refuses fsync through AIO: the backend calls fdatasync instead, from then on. */
static void test_flush_without_aio(void **state)
{
	struct fx *f = *state;

	fdatasync_calls = fdsync_submitted = 0;
	fdsync_refuse = EINVAL;
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(fdatasync_calls, 1);
	fdsync_refuse = 0;
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(fdatasync_calls, 2);
	assert_int_equal(fdsync_submitted, 0);
	/* Its errors stick as well. */
	fdatasync_errno = EIO;
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_IOERR);
	fdatasync_errno = 0;
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(fdatasync_calls, 3);
	check_write_then_pread(f, DATA_GPA, 4096, 9);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_config_space(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[VIRTIO_BLK_CFG_SIZE];
	uint64_t cap;
	uint32_t v;

	assert_int_equal(f->vdev->ops->config_size, VIRTIO_BLK_CFG_SIZE);
	assert_int_equal(f->vdev->ops->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(f->vdev->queue_max, 1024);
	f->vdev->ops->config_read(f->vdev, 0, cfg, sizeof(cfg));
	memcpy(&cap, cfg + VIRTIO_BLK_CFG_CAPACITY, 8);
	assert_int_equal(cap, IMG_SECTORS);
	memcpy(&v, cfg + VIRTIO_BLK_CFG_SEG_MAX, 4);
	assert_int_equal(v, 1022);
	memcpy(&v, cfg + VIRTIO_BLK_CFG_BLK_SIZE, 4);
	assert_true(v >= 512 && !(v & (v - 1)));
	memcpy(&v, cfg + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4);
	assert_int_equal(v, VIRTIO_BLK_MAX_DISCARD_SEG);
	assert_int_equal(cfg[VIRTIO_BLK_CFG_WZ_MAY_UNMAP], 1);
	/* Writes change nothing. */
	f->vdev->ops->config_write(f->vdev, 0, "\xff\xff\xff\xff", 4);
	f->vdev->ops->config_read(f->vdev, 0, &cap, 8);
	assert_int_equal(cap, IMG_SECTORS);
	assert_true(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	assert_true(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX));
	assert_true(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	assert_false(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_false(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	assert_int_equal(f->vdev->nr_queues, 1);
}

/* More than one queue is offered as VIRTIO_BLK_F_MQ with num_queues; 0 or too many fail. */
static void test_queue_count(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[VIRTIO_BLK_CFG_SIZE];
	struct virtio_dev *d;
	char err[256];
	uint16_t n;

	assert_int_equal(virtio_blk_create(&d, &f->cfg, 0, NULL, &f->gm, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(virtio_blk_create(&d, &f->cfg, VIRTIO_BLK_MAX_QUEUES + 1, NULL, &f->gm,
					   err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, f->cfg.path));
	assert_int_equal(virtio_blk_create(&d, &f->cfg, 4, NULL, &f->gm, err, sizeof(err)), 0);
	assert_int_equal(d->nr_queues, 4);
	assert_true(d->host_features & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	d->ops->config_read(d, 0, cfg, sizeof(cfg));
	memcpy(&n, cfg + VIRTIO_BLK_CFG_NUM_QUEUES, 2);
	assert_int_equal(le16toh(n), 4);
	d->ops->destroy(d);
}

/*
 * Three queues hold more requests than the backend takes in flight (1024):
 * the rest wait in the ring, not failed, and go in as completions make room.
 * Each request is a 512-byte write (header and data in one buffer, then the
 * status), 512 per queue of 1024 descriptors.
 */
#define MQ_N 3
#define MQ_SIZE 1024
#define MQ_PER_Q (MQ_SIZE / 2)
#define MQ_RING(q) (RAM_GPA + 0x8000ULL * (q)) /* desc; avail +0x4000, used +0x5000 */
#define MQ_ST (RAM_GPA + 0x18000)
#define MQ_BUF(i) (RAM_GPA + 0x20000 + 1024ULL * (i))

static uint16_t mq_used_idx(struct fx *f, uint16_t q)
{
	return drv_used_idx(hva(f, MQ_RING(q) + 0x5000));
}

static void mq_desc(struct fx *f, uint16_t q, uint16_t i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	uint8_t *p = hva(f, MQ_RING(q) + 16ULL * i);

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void test_more_requests_than_room(void **state)
{
	struct fx *f = *state;
	struct vq vqs[MQ_N] = {0};
	char err[256] = "";
	uint8_t back[512];
	unsigned int done = 0, passes = 0;

	assert_int_equal(virtio_blk_create(&f->vdev, &f->cfg, MQ_N, NULL, &f->gm, err, sizeof(err)),
			 0);
	fake_transport_attach(&f->ft, f->vdev);
	f->vdev->features = f->vdev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	f->vdev->features &= ~VIRTIO_BIT(VQ_F_EVENT_IDX);
	for (uint16_t q = 0; q < MQ_N; q++)
		assert_int_equal(vq_setup(&vqs[q], &f->gm, MQ_SIZE, MQ_RING(q), MQ_RING(q) + 0x4000,
					  MQ_RING(q) + 0x5000, f->vdev->features),
				 0);
	f->vdev->vqs = vqs;
	f->vdev->active = true;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);

	for (uint16_t q = 0; q < MQ_N; q++) {
		for (uint16_t k = 0; k < MQ_PER_Q; k++) {
			unsigned int i = q * MQ_PER_Q + k;
			uint8_t *b = hva(f, MQ_BUF(i));
			uint32_t type = VIRTIO_BLK_T_OUT, zero = 0;
			uint64_t sector = i;

			memcpy(b, &type, 4);
			memcpy(b + 4, &zero, 4);
			memcpy(b + 8, &sector, 8);
			fill(b + 16, 512, (uint8_t)i);
			*(uint8_t *)hva(f, MQ_ST + i) = 0xee;
			mq_desc(f, q, (uint16_t)(2 * k), MQ_BUF(i), 16 + 512, VQ_DESC_F_NEXT,
				(uint16_t)(2 * k + 1));
			mq_desc(f, q, (uint16_t)(2 * k + 1), MQ_ST + i, 1, W, 0);
			memcpy(hva(f, MQ_RING(q) + 0x4000 + 4 + 2ULL * k), &(uint16_t){2 * k}, 2);
		}
		__atomic_store_n((uint16_t *)hva(f, MQ_RING(q) + 0x4000 + 2), (uint16_t)MQ_PER_Q,
				 __ATOMIC_RELEASE);
	}
	for (uint16_t q = 0; q < MQ_N; q++)
		f->vdev->ops->queue_notify(f->vdev, q);
	/* The first two queues filled the backend; the third waits, untouched. */
	assert_int_equal(mq_used_idx(f, 2), 0);
	assert_int_equal(vqs[2].last_avail, 0);
	assert_int_equal(f->ft.requeued, 0);

	while (done < MQ_N * MQ_PER_Q) {
		struct pollfd pfd = {.fd = fake_loop.w[0].fd, .events = POLLIN};

		assert_int_equal(poll(&pfd, 1, -1), 1);
		fake_loop.w[0].fn(fake_loop.w[0].opaque, POLLIN);
		while (f->ft.requeued) { /* the event loop serves requeued queues */
			uint16_t q = (uint16_t)__builtin_ctzll(f->ft.requeued);

			f->ft.requeued &= ~(1ULL << q);
			f->vdev->ops->queue_notify(f->vdev, q);
			passes++;
		}
		done = 0;
		for (uint16_t q = 0; q < MQ_N; q++)
			done += mq_used_idx(f, q);
	}
	assert_true(passes >= 1);
	assert_int_equal(f->ft.needs_reset, 0);
	for (unsigned int i = 0; i < MQ_N * MQ_PER_Q; i++) {
		assert_int_equal(*(uint8_t *)hva(f, MQ_ST + i), VIRTIO_BLK_S_OK);
		file_read(f, back, sizeof(back), 512ULL * i);
		assert_memory_equal(back, hva(f, MQ_BUF(i) + 16), sizeof(back));
	}
	f->vdev->ops->reset(f->vdev);
	f->vdev->active = false;
	for (uint16_t q = 0; q < MQ_N; q++)
		vq_cleanup(&vqs[q]);
}

/*
 * Unaligned requests with O_DIRECT are bounced, and the bounce buffers in
 * flight stop at DISK_BOUNCE_MAX per disk: one more is refused (-ENOMEM, so
 * the guest gets IOERR), and once they complete there is room again.
 */
static unsigned int bounce_done_calls;

static void bounce_done(struct disk_io *io, int res)
{
	assert_int_equal(res, -ECANCELED);
	bounce_done_calls++;
}

static void test_bounce_budget(void **state)
{
	struct fx *f = *state;
	const size_t req = 16 * MiB;
	const unsigned int n = DISK_BOUNCE_MAX / req;
	struct disk_io io[DISK_BOUNCE_MAX / (16 * MiB) + 1];
	struct iovec iov[16];
	uint8_t *buf = malloc(MiB + 1);
	struct disk *d;
	char err[256];

	assert_non_null(buf);
	f->cfg.cache = DISK_CACHE_NONE;
	assert_int_equal(ftruncate(f->fd, (off_t)(req * (n + 1))), 0);
	assert_int_equal(disk_open(&d, &f->cfg, NULL, err, sizeof(err)), 0);
	for (unsigned int i = 0; i < 16; i++) /* 1 MiB each, the same odd address */
		iov[i] = (struct iovec){buf + 1, MiB};
	bounce_done_calls = 0;
	disk_plug(d); /* held back: all in flight at once */
	for (unsigned int k = 0; k <= n; k++) {
		io[k].done = bounce_done;
		assert_int_equal(disk_submit(d, &io[k], false, req * k, iov, 16),
				 k < n ? 0 : -ENOMEM);
	}
	disk_unplug(d);
	disk_drain(d);
	assert_int_equal(bounce_done_calls, n);
	assert_int_equal(disk_submit(d, &io[n], false, 0, iov, 16), 0);
	disk_drain(d);
	assert_int_equal(bounce_done_calls, n + 1);
	disk_close(d);
	free(buf);
}

/* ---- open errors ---- */

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *a, *b;
	char err[256];

	snprintf(f->cfg.path, sizeof(f->cfg.path), "%s", "/nonexistent/kvmrun-disk.img");
	assert_int_equal(create_dev(f, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/kvmrun-disk.img"));
	assert_null(strchr(err, '\n'));

	/* A directory: the temp directory. */
	test_tmp_path(f->cfg.path, sizeof(f->cfg.path), ".");
	assert_int_equal(create_dev(f, err, sizeof(err)), -EISDIR);
	f->cfg.readonly = true;
	assert_int_equal(create_dev(f, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, f->cfg.path));

	/* A second writer, or a reader next to a writer, is refused; two readers are fine. */
	snprintf(f->cfg.path, sizeof(f->cfg.path), "%s", f->path);
	f->cfg.readonly = false;
	assert_int_equal(virtio_blk_create(&a, &f->cfg, 1, NULL, &f->gm, err, sizeof(err)), 0);
	assert_int_equal(virtio_blk_create(&b, &f->cfg, 1, NULL, &f->gm, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, f->path));
	assert_non_null(strstr(err, "locked"));
	f->cfg.readonly = true;
	assert_int_equal(virtio_blk_create(&b, &f->cfg, 1, NULL, &f->gm, err, sizeof(err)), -EBUSY);
	a->ops->destroy(a);
	assert_int_equal(virtio_blk_create(&a, &f->cfg, 1, NULL, &f->gm, err, sizeof(err)), 0);
	assert_int_equal(virtio_blk_create(&b, &f->cfg, 1, NULL, &f->gm, err, sizeof(err)), 0);
	f->cfg.readonly = false;
	assert_int_equal(create_dev(f, err, sizeof(err)), -EBUSY);
	f->vdev = NULL;
	b->ops->destroy(b);
	a->ops->destroy(a);
	/* Every watch was removed again. */
	for (unsigned int i = 0; i < FAKE_LOOP_WATCHES; i++)
		assert_null(fake_loop.w[i].fn);
}

/*
 * Root opens any file: drop (on = false) or restore the capabilities that
 * override file modes, so that root sees permissions as their owner would.
 */
static void file_caps(bool on)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	uint32_t mask = (1U << CAP_DAC_OVERRIDE) | (1U << CAP_DAC_READ_SEARCH);

	assert_int_equal(syscall(SYS_capget, &hdr, data), 0);
	data[0].effective = on ? data[0].effective | (data[0].permitted & mask)
			       : data[0].effective & ~mask;
	assert_int_equal(syscall(SYS_capset, &hdr, data), 0);
}

/* Creates the device on the image with the given mode, without the file capabilities. */
static int create_dev_mode(struct fx *f, mode_t mode, char *err, size_t errlen)
{
	int ret;

	assert_int_equal(fchmod(f->fd, mode), 0);
	file_caps(false);
	ret = create_dev(f, err, errlen);
	file_caps(true);
	return ret;
}

static void test_no_permission(void **state)
{
	struct fx *f = *state;
	char err[256];

	assert_int_equal(create_dev_mode(f, 0, err, sizeof(err)), -EACCES);
	f->vdev = NULL;
	assert_non_null(strstr(err, f->path));
}

static void test_readonly_file_gives_ro_disk(void **state)
{
	struct fx *f = *state;
	char err[256];

	assert_int_equal(create_dev_mode(f, 0444, err, sizeof(err)), 0);
	assert_true(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_rw_aligned, fx_setup_wb),
	    T(test_queue_count, fx_setup_nodev),
	    T(test_more_requests_than_room, fx_setup_nodev),
	    T(test_bounce_budget, fx_setup_nodev),
	    T(test_rw_aligned, fx_setup_direct),
	    T(test_rw_unaligned_buffers, fx_setup_wb),
	    T(test_rw_unaligned_buffers, fx_setup_direct),
	    T(test_rw_scatter, fx_setup_wb),
	    T(test_rw_scatter, fx_setup_direct),
	    T(test_stats, fx_setup_wb),
	    T(test_stats, fx_setup_direct),
	    T(test_cache_modes, fx_setup_wb),
	    T(test_cache_modes, fx_setup_direct),
	    T(test_many_in_flight, fx_setup_direct),
	    T(test_many_in_flight, fx_setup_wb),
	    T(test_submit_refused, fx_setup_direct),
	    T(test_readonly, fx_setup_ro),
	    T(test_discard_and_write_zeroes, fx_setup_wb),
	    T(test_reset_in_flight, fx_setup_direct),
	    T(test_full_file_system, fx_setup_wb),
	    T(test_enospc_tmpfs, fx_setup_nodev),
	    T(test_flush_error_sticks, fx_setup_wb),
	    T(test_flush_error_sticks, fx_setup_direct),
	    T(test_flush_refused_not_sticky, fx_setup_direct),
	    T(test_flush_in_flight, fx_setup_wb),
	    T(test_flush_in_flight, fx_setup_direct),
	    T(test_flush_without_aio, fx_setup_direct),
	    T(test_config_space, fx_setup_wb),
	    T(test_open_errors, fx_setup_nodev),
	    T(test_no_permission, fx_setup_nodev),
	    T(test_readonly_file_gives_ro_disk, fx_setup_nodev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
