// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk against a fake transport (records notify / needs-reset), a fake
 * event loop (the test waits on the backend's eventfd itself) and fake guest
 * RAM; the image is a real file, checked with pread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "virtio/blk.h"

#define RAM_GPA 0x100000ULL
#define RAM_SIZE (2 * MiB)
#define QSZ 16
#define DESC_GPA (RAM_GPA + 0x0000)
#define AVAIL_GPA (RAM_GPA + 0x1000)
#define USED_GPA (RAM_GPA + 0x2000)
#define HDR_GPA (RAM_GPA + 0x3000) /* 16 headers, 64 bytes apart */
#define ST_GPA (RAM_GPA + 0x4000)  /* status bytes, 16 apart */
#define DATA_GPA (RAM_GPA + 0x10000)
#define IMG_SIZE (1 * MiB)
#define IMG_SECTORS (IMG_SIZE / 512)

#define W VQ_DESC_F_WRITE

/* ---- fake event loop: ev_add/ev_del are all the device uses ---- */

struct fake_watch {
	int fd;
	ev_fn fn;
	void *opaque;
};

static struct fake_watch watches[4];

int ev_add(struct ev_loop *loop, int fd, uint32_t events, ev_fn fn, void *opaque)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(watches); i++) {
		if (!watches[i].fn) {
			watches[i] = (struct fake_watch){fd, fn, opaque};
			return 0;
		}
	}
	return -ENOSPC;
}

int ev_del(struct ev_loop *loop, int fd)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(watches); i++) {
		if (watches[i].fn && watches[i].fd == fd) {
			watches[i].fn = NULL;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- fixture ---- */

struct fx {
	struct guest_mem gm;
	uint8_t *ram;
	struct vq vq;
	struct virtio_dev *vdev;
	struct virtio_transport_ops tops;
	unsigned int notifies, resets;
	char path[64];
	int fd; /* the test's own view of the image */
	uint16_t avail_idx;
	uint16_t next_desc;
	struct disk_config cfg;
};

static struct fx *cur; /* the transport callbacks find the fixture here */

static void fake_notify(struct virtio_dev *vdev, uint16_t q)
{
	cur->notifies++;
}

static void fake_config_changed(struct virtio_dev *vdev)
{
}

static void fake_needs_reset(struct virtio_dev *vdev)
{
	cur->resets++;
}

static void *hva(struct fx *f, uint64_t gpa)
{
	assert_true(gpa >= RAM_GPA && gpa < RAM_GPA + RAM_SIZE);
	return f->ram + (gpa - RAM_GPA);
}

static void make_image(struct fx *f)
{
	uint8_t *buf = malloc(IMG_SIZE);

	assert_non_null(buf);
	for (size_t i = 0; i < IMG_SIZE; i++)
		buf[i] = (uint8_t)(i * 7 + i / 512);
	snprintf(f->path, sizeof(f->path), "/tmp/kvmrun-blk-XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(pwrite(f->fd, buf, IMG_SIZE, 0), IMG_SIZE);
	free(buf);
}

static int create_dev(struct fx *f, char *err, size_t errlen)
{
	return virtio_blk_create(&f->vdev, &f->cfg, NULL, &f->gm, err, errlen);
}

static void start(struct fx *f)
{
	char err[256] = "";

	assert_int_equal(create_dev(f, err, sizeof(err)), 0);
	f->tops = (struct virtio_transport_ops){fake_notify, fake_config_changed, fake_needs_reset};
	f->vdev->transport = &f->tops;
	f->vdev->features = f->vdev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	f->vdev->features &= ~VIRTIO_BIT(VQ_F_EVENT_IDX);
	assert_int_equal(
	    vq_setup(&f->vq, &f->gm, QSZ, DESC_GPA, AVAIL_GPA, USED_GPA, f->vdev->features), 0);
	f->vdev->vqs = &f->vq;
	f->vdev->active = true;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
}

static int fx_setup_opts(void **state, enum disk_cache cache, bool ro)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cur = f;
	assert_int_equal(posix_memalign((void **)&f->ram, 4096, RAM_SIZE), 0);
	memset(f->ram, 0, RAM_SIZE);
	assert_int_equal(gm_add_region(&f->gm, RAM_GPA, RAM_SIZE, f->ram), 0);
	make_image(f);
	snprintf(f->cfg.path, sizeof(f->cfg.path), "%s", f->path);
	f->cfg.cache = cache;
	f->cfg.readonly = ro;
	*state = f;
	return 0;
}

static int fx_setup_wb(void **state)
{
	int ret = fx_setup_opts(state, DISK_CACHE_WRITEBACK, false);

	start(*state);
	return ret;
}

static int fx_setup_direct(void **state)
{
	int ret = fx_setup_opts(state, DISK_CACHE_NONE, false);

	start(*state);
	return ret;
}

static int fx_setup_ro(void **state)
{
	int ret = fx_setup_opts(state, DISK_CACHE_WRITEBACK, true);

	start(*state);
	return ret;
}

/* A fixture with no device yet: the test creates it. */
static int fx_setup_nodev(void **state)
{
	return fx_setup_opts(state, DISK_CACHE_WRITEBACK, false);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f->vdev) {
		if (f->vdev->active)
			f->vdev->ops->reset(f->vdev);
		f->vdev->ops->destroy(f->vdev);
	}
	vq_cleanup(&f->vq);
	close(f->fd);
	unlink(f->path);
	free(f->ram);
	free(f);
	cur = NULL;
	return 0;
}

/* ---- the guest driver ---- */

static uint16_t desc(struct fx *f, uint64_t addr, uint32_t len, uint16_t flags)
{
	uint16_t i = f->next_desc++ % QSZ;
	uint8_t *p = hva(f, DESC_GPA + 16ULL * i);

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memset(p + 14, 0, 2);
	return i;
}

/* Link descriptors [first, first + n) into a chain and post it. */
struct seg {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

static uint16_t post(struct fx *f, const struct seg *s, unsigned int n)
{
	uint16_t head = 0, prev = 0;

	for (unsigned int k = 0; k < n; k++) {
		uint16_t i = desc(f, s[k].gpa, s[k].len, s[k].flags);

		if (k == 0) {
			head = i;
		} else {
			uint8_t *p = hva(f, DESC_GPA + 16ULL * prev);
			uint16_t fl = VQ_DESC_F_NEXT;

			fl |= s[k - 1].flags;
			memcpy(p + 12, &fl, 2);
			memcpy(p + 14, &i, 2);
		}
		prev = i;
	}
	memcpy(hva(f, AVAIL_GPA + 4 + 2ULL * (f->avail_idx % QSZ)), &head, 2);
	f->avail_idx++;
	__atomic_store_n((uint16_t *)hva(f, AVAIL_GPA + 2), f->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static uint16_t used_idx(struct fx *f)
{
	return __atomic_load_n((uint16_t *)hva(f, USED_GPA + 2), __ATOMIC_ACQUIRE);
}

static uint32_t used_len(struct fx *f, uint16_t slot)
{
	uint32_t len;

	memcpy(&len, hva(f, USED_GPA + 4 + 8ULL * (slot % QSZ) + 4), 4);
	return len;
}

/* Wait (no time limit) until the device has used `want` chains in all. */
static void wait_used(struct fx *f, uint16_t want)
{
	while (used_idx(f) != want) {
		struct pollfd pfd = {.fd = watches[0].fd, .events = POLLIN};

		assert_non_null(watches[0].fn);
		assert_int_equal(poll(&pfd, 1, -1), 1);
		watches[0].fn(watches[0].opaque, POLLIN);
	}
}

static void kick(struct fx *f)
{
	f->vdev->ops->queue_notify(f->vdev, 0);
}

static uint64_t hdr(struct fx *f, unsigned int slot, uint32_t type, uint64_t sector)
{
	uint64_t gpa = HDR_GPA + 64ULL * slot;
	uint32_t zero = 0;

	memcpy(hva(f, gpa), &type, 4);
	memcpy(hva(f, gpa + 4), &zero, 4);
	memcpy(hva(f, gpa + 8), &sector, 8);
	return gpa;
}

static uint64_t st(unsigned int slot)
{
	return ST_GPA + 16ULL * slot;
}

/* One request: header, one data buffer, status; returns the status byte. */
static uint8_t do_rw(struct fx *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len)
{
	uint16_t want = (uint16_t)(used_idx(f) + 1);
	struct seg s[3] = {
	    {hdr(f, 0, type, sector), 16, 0},
	    {data, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID ? W : 0},
	    {st(0), 1, W},
	};

	*(uint8_t *)hva(f, st(0)) = 0xee;
	post(f, s, 3);
	kick(f);
	wait_used(f, want);
	return *(uint8_t *)hva(f, st(0));
}

static uint8_t do_simple(struct fx *f, uint32_t type, uint64_t sector)
{
	uint16_t want = (uint16_t)(used_idx(f) + 1);
	struct seg s[2] = {{hdr(f, 0, type, sector), 16, 0}, {st(0), 1, W}};

	*(uint8_t *)hva(f, st(0)) = 0xee;
	post(f, s, 2);
	kick(f);
	wait_used(f, want);
	return *(uint8_t *)hva(f, st(0));
}

static void file_read(struct fx *f, void *buf, size_t len, uint64_t off)
{
	assert_int_equal(pread(f->fd, buf, len, (off_t)off), (ssize_t)len);
}

static void fill(void *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)p)[i] = (uint8_t)(seed + i * 13);
}

/* ---- data reaches the file ---- */

static void check_write_then_pread(struct fx *f, uint64_t data, uint32_t len, uint64_t sector)
{
	uint8_t *back = malloc(len);

	fill(hva(f, data), len, 0x31);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, sector, data, len), VIRTIO_BLK_S_OK);
	file_read(f, back, len, sector * 512);
	assert_memory_equal(back, hva(f, data), len);
	free(back);
}

static void check_read_file_bytes(struct fx *f, uint64_t data, uint32_t len, uint64_t sector)
{
	uint8_t *want = malloc(len);

	memset(hva(f, data), 0, len);
	file_read(f, want, len, sector * 512);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, sector, data, len), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, data), want, len);
	assert_int_equal(used_len(f, (uint16_t)(used_idx(f) - 1)), len + 1);
	free(want);
}

static void test_rw_aligned(void **state)
{
	struct fx *f = *state;

	check_write_then_pread(f, DATA_GPA, 8192, 16);
	check_read_file_bytes(f, DATA_GPA + 0x4000, 4096, 3);
	check_read_file_bytes(f, DATA_GPA + 0x4000, 8192, 16);
	assert_int_equal(f->resets, 0);
}

static void test_rw_unaligned_buffers(void **state)
{
	struct fx *f = *state;

	/* Guest buffers at odd addresses: O_DIRECT needs the bounce buffer. */
	check_write_then_pread(f, DATA_GPA + 1, 1024, 5);
	check_read_file_bytes(f, DATA_GPA + 0x4003, 1536, 7);
	check_read_file_bytes(f, DATA_GPA + 0x4003, 1536, 5);
	assert_int_equal(f->resets, 0);
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
	kick(f);
	wait_used(f, want);
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(*(uint8_t *)hva(f, st(i)), VIRTIO_BLK_S_OK);
		file_read(f, buf, sizeof(buf), 4096ULL * i);
		assert_memory_equal(hva(f, DATA_GPA + 4096ULL * i), buf, sizeof(buf));
	}
	assert_true(f->notifies >= 1);
}

/* ---- hostile requests ---- */

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
	assert_int_equal(f->resets, 0);
}

static void test_sector_overflow(void **state)
{
	struct fx *f = *state;

	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, UINT64_MAX, DATA_GPA, 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, DATA_GPA, 1024),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, DATA_GPA, 512),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->resets, 0);
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
	assert_int_equal(f->resets, 1);
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
	assert_int_equal(f->resets, 0);
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
	assert_int_equal(f->resets, 0);
}

static void test_unknown_type(void **state)
{
	struct fx *f = *state;

	assert_int_equal(do_simple(f, 2, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_simple(f, 0xffffffff, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_simple(f, VIRTIO_BLK_T_FLUSH, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(f->resets, 0);
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

static void put_seg(struct fx *f, uint64_t gpa, uint64_t sector, uint32_t num, uint32_t flags)
{
	memcpy(hva(f, gpa), &sector, 8);
	memcpy(hva(f, gpa + 8), &num, 4);
	memcpy(hva(f, gpa + 12), &flags, 4);
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
	assert_int_equal(f->resets, 0);
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
	for (unsigned int i = 0; i < ARRAY_SIZE(watches); i++)
		if (watches[i].fn)
			watches[i].fn(watches[i].opaque, POLLIN);
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
	assert_int_equal(f->resets, 0);
}

/*
 * A real full file system: a 256 KiB tmpfs in a private mount namespace (needs
 * CAP_SYS_ADMIN; skipped without it). Writes fail with IOERR once it is full,
 * the VM goes on, and a discard from the guest gives the space back.
 */
static void test_enospc_tmpfs(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/kvmrun-blk-fs-XXXXXX";
	unsigned int ok = 0, failed = 0, i;
	uint8_t back[4096];
	int fd;

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
	assert_int_equal(f->resets, 0);
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

static void test_config_space(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[VIRTIO_BLK_CFG_SIZE];
	uint64_t cap;
	uint32_t v;

	assert_int_equal(f->vdev->ops->config_size, VIRTIO_BLK_CFG_SIZE);
	assert_int_equal(f->vdev->ops->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(f->vdev->queue_max, 256);
	f->vdev->ops->config_read(f->vdev, 0, cfg, sizeof(cfg));
	memcpy(&cap, cfg + VIRTIO_BLK_CFG_CAPACITY, 8);
	assert_int_equal(cap, IMG_SECTORS);
	memcpy(&v, cfg + VIRTIO_BLK_CFG_SEG_MAX, 4);
	assert_int_equal(v, 254);
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

	snprintf(f->cfg.path, sizeof(f->cfg.path), "%s", "/tmp");
	assert_int_equal(create_dev(f, err, sizeof(err)), -EISDIR);
	f->cfg.readonly = true;
	assert_int_equal(create_dev(f, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "/tmp"));

	/* A second writer, or a reader next to a writer, is refused; two readers are fine. */
	snprintf(f->cfg.path, sizeof(f->cfg.path), "%s", f->path);
	f->cfg.readonly = false;
	assert_int_equal(virtio_blk_create(&a, &f->cfg, NULL, &f->gm, err, sizeof(err)), 0);
	assert_int_equal(virtio_blk_create(&b, &f->cfg, NULL, &f->gm, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, f->path));
	assert_non_null(strstr(err, "locked"));
	f->cfg.readonly = true;
	assert_int_equal(virtio_blk_create(&b, &f->cfg, NULL, &f->gm, err, sizeof(err)), -EBUSY);
	a->ops->destroy(a);
	assert_int_equal(virtio_blk_create(&a, &f->cfg, NULL, &f->gm, err, sizeof(err)), 0);
	assert_int_equal(virtio_blk_create(&b, &f->cfg, NULL, &f->gm, err, sizeof(err)), 0);
	f->cfg.readonly = false;
	assert_int_equal(create_dev(f, err, sizeof(err)), -EBUSY);
	f->vdev = NULL;
	b->ops->destroy(b);
	a->ops->destroy(a);
	/* Every watch was removed again. */
	for (unsigned int i = 0; i < ARRAY_SIZE(watches); i++)
		assert_null(watches[i].fn);
}

static void test_no_permission(void **state)
{
	struct fx *f = *state;
	char err[256];

	if (geteuid() == 0)
		skip(); /* root opens any file */
	assert_int_equal(fchmod(f->fd, 0), 0);
	assert_int_equal(create_dev(f, err, sizeof(err)), -EACCES);
	f->vdev = NULL;
	assert_non_null(strstr(err, f->path));
}

static void test_readonly_file_gives_ro_disk(void **state)
{
	struct fx *f = *state;
	char err[256];

	if (geteuid() == 0)
		skip(); /* root may write a mode 0444 file */
	assert_int_equal(fchmod(f->fd, 0444), 0);
	assert_int_equal(create_dev(f, err, sizeof(err)), 0);
	assert_true(f->vdev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_rw_aligned, fx_setup_wb),
	    T(test_rw_aligned, fx_setup_direct),
	    T(test_rw_unaligned_buffers, fx_setup_wb),
	    T(test_rw_unaligned_buffers, fx_setup_direct),
	    T(test_rw_scatter, fx_setup_wb),
	    T(test_rw_scatter, fx_setup_direct),
	    T(test_cache_modes, fx_setup_wb),
	    T(test_cache_modes, fx_setup_direct),
	    T(test_many_in_flight, fx_setup_direct),
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
	    T(test_readonly, fx_setup_ro),
	    T(test_discard_and_write_zeroes, fx_setup_wb),
	    T(test_reset_in_flight, fx_setup_direct),
	    T(test_full_file_system, fx_setup_wb),
	    T(test_enospc_tmpfs, fx_setup_nodev),
	    T(test_config_space, fx_setup_wb),
	    T(test_open_errors, fx_setup_nodev),
	    T(test_no_permission, fx_setup_nodev),
	    T(test_readonly_file_gives_ro_disk, fx_setup_nodev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
