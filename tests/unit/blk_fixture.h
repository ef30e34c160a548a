/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_TEST_BLK_FIXTURE_H
#define KVMRUN_TEST_BLK_FIXTURE_H

/*
 * virtio-blk against a fake transport (records notify / needs-reset), a fake
 * event loop (the test waits on the backend's eventfd itself) and fake guest
 * RAM; the image is a real file, checked with pread. The event loop and
 * policy calls the device makes are fake_loop's (linked in place of the
 * library's).
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

#include "test_util.h"
#include "vring_driver.h"

#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "kvmrun/sched_policy.h"
#include "virtio/blk.h"

#include "fake_loop.h"
#include "fake_ram.h"
#include "fake_transport.h"

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

/*
 * The event loop and policy are fake_loop's: the device watches the backend's
 * completion eventfd, reports each pass of requests, and never asks the policy
 * before an interrupt (only virtio-net holds them) nor stops the loop.
 */
static inline void fake_report(const struct sp_pass *pass, void *opaque)
{
	assert_int_equal(pass->kind, SP_REQUESTS);
}

static inline void fake_before_notify(const struct sp_pass *pass, void *opaque)
{
	fail_msg("virtio-blk asked the policy before an interrupt");
}

/* Only a disk worker that cannot install its seccomp filter stops the loop. */
static inline void fake_stop(int status, void *opaque)
{
	fail_msg("the disk backend stopped the event loop (status %d)", status);
}

/* ---- fixture ---- */

struct fx {
	struct guest_mem gm;
	struct drv_ram ram;
	struct vq vq;
	struct virtio_dev *vdev;
	/* requeued bit q: the device asked to have queue q served again */
	struct fake_transport ft;
	unsigned int pumps; /* completion batches delivered by wait_used() */
	char path[64];
	int fd; /* the test's own view of the image */
	uint16_t avail_idx;
	uint16_t next_desc;
	struct disk_config cfg;
};

static inline void *hva(struct fx *f, uint64_t gpa)
{
	return drv_hva(&f->ram, gpa);
}

static inline void make_image(struct fx *f)
{
	uint8_t *buf = malloc(IMG_SIZE);

	assert_non_null(buf);
	for (size_t i = 0; i < IMG_SIZE; i++)
		buf[i] = (uint8_t)(i * 7 + i / 512);
	test_tmp_path(f->path, sizeof(f->path), "kvmrun-blk-XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(pwrite(f->fd, buf, IMG_SIZE, 0), IMG_SIZE);
	free(buf);
}

static inline int create_dev(struct fx *f, char *err, size_t errlen)
{
	return virtio_blk_create(&f->vdev, &f->cfg, 1, NULL, &f->gm, err, errlen);
}

static inline void start(struct fx *f)
{
	char err[256] = "";

	assert_int_equal(create_dev(f, err, sizeof(err)), 0);
	fake_transport_attach(&f->ft, f->vdev);
	f->vdev->features = f->vdev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	f->vdev->features &= ~VIRTIO_BIT(VQ_F_EVENT_IDX);
	assert_int_equal(
	    vq_setup(&f->vq, &f->gm, QSZ, DESC_GPA, AVAIL_GPA, USED_GPA, f->vdev->features), 0);
	f->vdev->vqs = &f->vq;
	f->vdev->active = true;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
}

static inline int fx_setup_opts(void **state, enum disk_cache cache, bool ro)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_loop_reset();
	fake_loop.on_report = fake_report;
	fake_loop.on_before_notify = fake_before_notify;
	fake_loop.on_stop = fake_stop;
	f->ram = drv_ram_map(&f->gm, RAM_GPA, RAM_SIZE);
	make_image(f);
	snprintf(f->cfg.path, sizeof(f->cfg.path), "%s", f->path);
	f->cfg.cache = cache;
	f->cfg.readonly = ro;
	*state = f;
	return 0;
}

static inline int fx_setup_wb(void **state)
{
	int ret = fx_setup_opts(state, DISK_CACHE_WRITEBACK, false);

	start(*state);
	return ret;
}

static inline int fx_setup_direct(void **state)
{
	int ret = fx_setup_opts(state, DISK_CACHE_NONE, false);

	start(*state);
	return ret;
}

static inline int fx_setup_ro(void **state)
{
	int ret = fx_setup_opts(state, DISK_CACHE_WRITEBACK, true);

	start(*state);
	return ret;
}

/* A fixture with no device yet: the test creates it. */
static inline int fx_setup_nodev(void **state)
{
	return fx_setup_opts(state, DISK_CACHE_WRITEBACK, false);
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;

	drv_dev_destroy(f->vdev);
	vq_cleanup(&f->vq);
	close(f->fd);
	unlink(f->path);
	fake_ram_free(f->ram.host);
	free(f);
	return 0;
}

/* ---- the guest driver ---- */

static inline struct drv_ring guest_ring(struct fx *f)
{
	return (struct drv_ring){hva(f, DESC_GPA), hva(f, AVAIL_GPA), QSZ, &f->next_desc,
				 &f->avail_idx};
}

static inline uint16_t desc(struct fx *f, uint64_t addr, uint32_t len, uint16_t flags)
{
	struct drv_ring r = guest_ring(f);

	return drv_desc(&r, addr, len, flags);
}

/* Link the buffers into a chain on fresh descriptors and post it. */
static inline uint16_t post(struct fx *f, const struct seg *s, unsigned int n)
{
	struct drv_ring r = guest_ring(f);

	return drv_post(&r, s, n);
}

static inline uint16_t used_idx(struct fx *f)
{
	return drv_used_idx(hva(f, USED_GPA));
}

static inline uint32_t used_len(struct fx *f, uint16_t slot)
{
	uint32_t id, len;

	drv_used_elem(hva(f, USED_GPA), QSZ, slot, &id, &len);
	return len;
}

/* Wait (no time limit) until the device has used `want` chains in all. */
static inline void wait_used(struct fx *f, uint16_t want)
{
	while (used_idx(f) != want) {
		struct pollfd pfd = {.fd = fake_loop.w[0].fd, .events = POLLIN};

		assert_non_null(fake_loop.w[0].fn);
		assert_int_equal(poll(&pfd, 1, -1), 1);
		fake_loop.w[0].fn(fake_loop.w[0].opaque, POLLIN);
		f->pumps++;
	}
}

static inline void kick(struct fx *f)
{
	f->vdev->ops->queue_notify(f->vdev, 0);
}

static inline uint64_t hdr(struct fx *f, unsigned int slot, uint32_t type, uint64_t sector)
{
	uint64_t gpa = HDR_GPA + 64ULL * slot;
	uint32_t zero = 0;

	memcpy(hva(f, gpa), &type, 4);
	memcpy(hva(f, gpa + 4), &zero, 4);
	memcpy(hva(f, gpa + 8), &sector, 8);
	return gpa;
}

static inline uint64_t st(unsigned int slot)
{
	return ST_GPA + 16ULL * slot;
}

/* One request: header, one data buffer, status; returns the status byte. */
static inline uint8_t do_rw(struct fx *f, uint32_t type, uint64_t sector, uint64_t data,
			    uint32_t len)
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

static inline uint8_t do_simple(struct fx *f, uint32_t type, uint64_t sector)
{
	uint16_t want = (uint16_t)(used_idx(f) + 1);
	struct seg s[2] = {{hdr(f, 0, type, sector), 16, 0}, {st(0), 1, W}};

	*(uint8_t *)hva(f, st(0)) = 0xee;
	post(f, s, 2);
	kick(f);
	wait_used(f, want);
	return *(uint8_t *)hva(f, st(0));
}

static inline void file_read(struct fx *f, void *buf, size_t len, uint64_t off)
{
	assert_int_equal(pread(f->fd, buf, len, (off_t)off), (ssize_t)len);
}

static inline void fill(void *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)p)[i] = (uint8_t)(seed + i * 13);
}

/* ---- checks shared by the tests ---- */

static inline void check_write_then_pread(struct fx *f, uint64_t data, uint32_t len,
					  uint64_t sector)
{
	uint8_t *back = malloc(len);

	fill(hva(f, data), len, 0x31);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, sector, data, len), VIRTIO_BLK_S_OK);
	file_read(f, back, len, sector * 512);
	assert_memory_equal(back, hva(f, data), len);
	free(back);
}

static inline void check_read_file_bytes(struct fx *f, uint64_t data, uint32_t len, uint64_t sector)
{
	uint8_t *want = malloc(len);

	memset(hva(f, data), 0, len);
	file_read(f, want, len, sector * 512);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, sector, data, len), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, data), want, len);
	assert_int_equal(used_len(f, (uint16_t)(used_idx(f) - 1)), len + 1);
	free(want);
}

static inline void put_seg(struct fx *f, uint64_t gpa, uint64_t sector, uint32_t num,
			   uint32_t flags)
{
	memcpy(hva(f, gpa), &sector, 8);
	memcpy(hva(f, gpa + 8), &num, 4);
	memcpy(hva(f, gpa + 12), &flags, 4);
}

#endif
