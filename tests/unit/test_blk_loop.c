// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk on the real event loop, which runs in a thread of its own while
 * the test drives two disks as a guest would. One disk's backend blocks: a
 * 64 GiB discard stuck in fallocate (a stand-in that waits on a gate), or a
 * buffered write whose guest page is not there yet (userfaultfd holds it).
 * The other disk must go on answering meanwhile. Also: a reset in the middle
 * of a long discard stops it, and write-zeroes without fallocate support
 * writes the zeroes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "vring_driver.h"

#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "virtio/blk.h"

#include "fake_transport.h"

#define RAM_GPA 0x100000ULL
#define RAM_SIZE (4 * MiB)
#define QSZ 16
#define DEV_AREA(d) (RAM_GPA + 0x10000ULL * (d)) /* rings and buffers of disk d */
#define DESC(d) DEV_AREA(d)
#define AVAIL(d) (DEV_AREA(d) + 0x1000)
#define USED(d) (DEV_AREA(d) + 0x2000)
#define HDR(d) (DEV_AREA(d) + 0x3000)
#define STATUS(d) (DEV_AREA(d) + 0x3100)
#define DATA(d) (DEV_AREA(d) + 0x4000)
#define UFFD_GPA (RAM_GPA + 2 * MiB) /* never touched before the test registers it */
#define UFFD_LEN (64 * KiB)
#define BIG (64ULL << 30) /* 64 GiB: 32 segments of 2 GiB, the most one request asks */
#define SMALL_IMG (1 * MiB)
#define W VQ_DESC_F_WRITE

/* How long a test waits for what must happen. */
#define DEADLINE_MS 20000

/*
 * fallocate stands in for libc's in this program: every call is counted (and
 * its length summed) and waits while the gate is closed (30 s at most, so that
 * a backend that calls it on the loop thread cannot hang the test), then
 * fails with fa_errno or reaches the kernel.
 */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static unsigned int fa_calls;
static uint64_t fa_bytes;
static int fa_errno;

int fallocate(int fd, int mode, off_t offset, off_t len)
{
	struct timespec dl;
	int err;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 30;
	pthread_mutex_lock(&gate_lock);
	fa_calls++;
	fa_bytes += (uint64_t)len;
	pthread_cond_broadcast(&gate_cond);
	while (gate_closed && pthread_cond_timedwait(&gate_cond, &gate_lock, &dl) != ETIMEDOUT)
		;
	err = fa_errno;
	pthread_mutex_unlock(&gate_lock);
	if (err) {
		errno = err;
		return -1;
	}
	return (int)syscall(SYS_fallocate, fd, mode, offset, len);
}

static void gate_set(bool closed)
{
	pthread_mutex_lock(&gate_lock);
	gate_closed = closed;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static unsigned int fa_count(uint64_t *bytes)
{
	unsigned int n;

	pthread_mutex_lock(&gate_lock);
	n = fa_calls;
	if (bytes)
		*bytes = fa_bytes;
	pthread_mutex_unlock(&gate_lock);
	return n;
}

/* ---- two disks on one event loop ---- */

struct tdisk {
	struct virtio_dev *vdev;
	struct vq vq;
	int kick;  /* eventfd: the guest's notify, served by the loop */
	int reset; /* eventfd: the driver's reset, served by the loop */
	bool reset_started, reset_done;
	uint16_t avail_idx, next_desc;
	char path[64];
	int fd;
	struct disk_config cfg;
};

struct fx {
	struct ev_loop *loop;
	pthread_t loop_thread;
	bool running;
	struct guest_mem gm;
	struct drv_ram ram;
	struct fake_transport ft[2]; /* of each disk */
	struct tdisk d[2];
	bool sandbox; /* disk 0's workers install their seccomp filter */
};

/* The transport (fake_transport's) has the loop serve a requeued queue at once. */
static void t_requeue(struct fake_transport *ft, struct virtio_dev *vdev, uint16_t q)
{
	vdev->ops->queue_notify(vdev, q);
}

/* needs-reset calls, of both disks */
static unsigned int resets(struct fx *f)
{
	return f->ft[0].needs_reset + f->ft[1].needs_reset;
}

static void *hva(struct fx *f, uint64_t gpa)
{
	return drv_hva(&f->ram, gpa);
}

/* The loop thread: a kick on the eventfd is a queue notify, as an ioeventfd is. */
static void kick_event(void *opaque, uint32_t events)
{
	struct tdisk *t = opaque;
	uint64_t n;

	if (read(t->kick, &n, sizeof(n)) == sizeof(n))
		t->vdev->ops->queue_notify(t->vdev, 0);
}

/* The loop thread: the driver resets the device, as the transport would. */
static void reset_event(void *opaque, uint32_t events)
{
	struct tdisk *t = opaque;
	uint64_t n;

	if (read(t->reset, &n, sizeof(n)) != sizeof(n))
		return;
	__atomic_store_n(&t->reset_started, true, __ATOMIC_RELEASE);
	t->vdev->ops->reset(t->vdev);
	vq_reset(&t->vq);
	__atomic_store_n(&t->reset_done, true, __ATOMIC_RELEASE);
}

static void *loop_main(void *arg)
{
	return (void *)(intptr_t)ev_run(arg);
}

static void make_image(struct tdisk *t, uint64_t size)
{
	uint8_t buf[4096];

	test_tmp_path(t->path, sizeof(t->path), "kvmrun-blkloop-XXXXXX");
	t->fd = mkstemp(t->path);
	assert_true(t->fd >= 0);
	assert_int_equal(ftruncate(t->fd, (off_t)size), 0); /* sparse */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (uint64_t off = 0; off < SMALL_IMG; off += sizeof(buf))
		assert_int_equal(pwrite(t->fd, buf, sizeof(buf), (off_t)off), sizeof(buf));
	snprintf(t->cfg.path, sizeof(t->cfg.path), "%s", t->path);
}

static void start_disk(struct fx *f, unsigned int i, uint64_t size, enum disk_cache cache)
{
	struct tdisk *t = &f->d[i];
	char err[256] = "";

	make_image(t, size);
	t->cfg.cache = cache;
	t->cfg.sandbox = i == 0 && f->sandbox;
	assert_int_equal(virtio_blk_create(&t->vdev, &t->cfg, 1, f->loop, &f->gm, err, sizeof(err)),
			 0);
	fake_transport_attach(&f->ft[i], t->vdev);
	f->ft[i].on_requeue = t_requeue;
	t->vdev->features = t->vdev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	t->vdev->features &= ~VIRTIO_BIT(VQ_F_EVENT_IDX);
	assert_int_equal(
	    vq_setup(&t->vq, &f->gm, QSZ, DESC(i), AVAIL(i), USED(i), t->vdev->features), 0);
	t->vdev->vqs = &t->vq;
	t->vdev->active = true;
	assert_int_equal(t->vdev->ops->activate(t->vdev), 0);
	t->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(t->kick >= 0);
	assert_int_equal(ev_add(f->loop, t->kick, EPOLLIN, kick_event, t), 0);
	t->reset = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(t->reset >= 0);
	assert_int_equal(ev_add(f->loop, t->reset, EPOLLIN, reset_event, t), 0);
}

/* Disk 0 of `size` bytes with cache mode `cache`, disk 1 a small one; the loop runs. */
static void start(struct fx *f, uint64_t size, enum disk_cache cache)
{
	start_disk(f, 0, size, cache);
	start_disk(f, 1, SMALL_IMG, DISK_CACHE_WRITEBACK);
	assert_int_equal(pthread_create(&f->loop_thread, NULL, loop_main, f->loop), 0);
	f->running = true;
}

static void stop_loop(struct fx *f)
{
	void *ret;

	if (!f->running)
		return;
	ev_stop(f->loop, 0);
	assert_int_equal(pthread_join(f->loop_thread, &ret), 0);
	f->running = false;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	/* Mapped, not from fake_ram: a page the test has not touched can be left to userfaultfd. */
	f->ram = (struct drv_ram){.gpa = RAM_GPA, .size = RAM_SIZE};
	f->ram.host =
	    mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->ram.host != MAP_FAILED);
	assert_int_equal(gm_add_region(&f->gm, RAM_GPA, RAM_SIZE, f->ram.host), 0);
	assert_int_equal(ev_loop_create(&f->loop), 0);
	for (unsigned int i = 0; i < 2; i++)
		f->d[i].fd = f->d[i].kick = f->d[i].reset = -1;
	gate_set(false);
	pthread_mutex_lock(&gate_lock);
	fa_calls = 0;
	fa_bytes = 0;
	fa_errno = 0;
	pthread_mutex_unlock(&gate_lock);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	gate_set(false); /* whatever a test left blocked may finish */
	stop_loop(f);
	for (unsigned int i = 0; i < 2; i++) {
		struct tdisk *t = &f->d[i];

		if (t->vdev) {
			drv_dev_destroy(t->vdev);
			vq_cleanup(&t->vq);
		}
		if (t->kick >= 0) {
			ev_del(f->loop, t->kick);
			close(t->kick);
		}
		if (t->reset >= 0) {
			ev_del(f->loop, t->reset);
			close(t->reset);
		}
		if (t->fd >= 0) {
			close(t->fd);
			unlink(t->path);
		}
	}
	ev_loop_destroy(f->loop);
	munmap(f->ram.host, RAM_SIZE);
	free(f);
	return 0;
}

/* ---- the guest driver ---- */

/* Post a chain on disk i's queue and kick it (from the test thread). */
static void post(struct fx *f, unsigned int i, const struct seg *s, unsigned int n)
{
	struct tdisk *t = &f->d[i];
	struct drv_ring r = {hva(f, DESC(i)), hva(f, AVAIL(i)), QSZ, &t->next_desc, &t->avail_idx};
	uint64_t one = 1;

	drv_post(&r, s, n);
	assert_int_equal(write(t->kick, &one, sizeof(one)), sizeof(one));
}

static uint16_t used_idx(struct fx *f, unsigned int i)
{
	return drv_used_idx(hva(f, USED(i)));
}

static uint8_t status(struct fx *f, unsigned int i)
{
	return __atomic_load_n((uint8_t *)hva(f, STATUS(i)), __ATOMIC_ACQUIRE);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether disk i has used `want` chains within ms milliseconds. */
static bool wait_used(struct fx *f, unsigned int i, uint16_t want, int ms)
{
	int64_t end = now_ms() + ms;

	while (used_idx(f, i) != want) {
		if (now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

/* Whether fallocate has been called at least n times within ms milliseconds. */
static bool wait_fallocate(unsigned int n, int ms)
{
	int64_t end = now_ms() + ms;

	while (fa_count(NULL) < n) {
		if (now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

static void put_hdr(struct fx *f, unsigned int i, uint32_t type, uint64_t sector)
{
	uint32_t zero = 0;

	memcpy(hva(f, HDR(i)), &type, 4);
	memcpy(hva(f, HDR(i) + 4), &zero, 4);
	memcpy(hva(f, HDR(i) + 8), &sector, 8);
	*(uint8_t *)hva(f, STATUS(i)) = 0xee;
}

/* A discard (or write-zeroes) of `bytes` from sector 0, in 2 GiB segments, on disk i. */
static void post_discard(struct fx *f, unsigned int i, uint32_t type, uint64_t bytes,
			 uint32_t flags)
{
	const uint32_t seg_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS;
	uint64_t sectors = bytes / 512;
	unsigned int n = 0;

	put_hdr(f, i, type, 0);
	for (uint64_t s = 0; s < sectors; s += seg_sectors, n++) {
		uint32_t num = (uint32_t)MIN(sectors - s, seg_sectors);
		uint8_t *p = hva(f, DATA(i) + 16ULL * n);

		memcpy(p, &s, 8);
		memcpy(p + 8, &num, 4);
		memcpy(p + 12, &flags, 4);
	}
	assert_true(n <= VIRTIO_BLK_MAX_DISCARD_SEG);
	post(f, i, (struct seg[]){{HDR(i), 16, 0}, {DATA(i), 16 * n, 0}, {STATUS(i), 1, W}}, 3);
}

/* A 4 KiB read of sector 8 on disk i; checks the bytes when it has completed. */
static void post_read(struct fx *f, unsigned int i)
{
	put_hdr(f, i, VIRTIO_BLK_T_IN, 8);
	memset(hva(f, DATA(i)), 0, 4096);
	post(f, i, (struct seg[]){{HDR(i), 16, 0}, {DATA(i), 4096, W}, {STATUS(i), 1, W}}, 3);
}

static void check_read(struct fx *f, unsigned int i)
{
	uint8_t want[4096];

	assert_int_equal(pread(f->d[i].fd, want, sizeof(want), 8 * 512), sizeof(want));
	assert_int_equal(status(f, i), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, DATA(i)), want, sizeof(want));
}

/* ---- tests ---- */

/*
 * A guest discards 64 GiB at once, and the host's fallocate takes its time
 * (here: until the gate opens). Meanwhile the other disk serves a read, and
 * the discard is still outstanding; once fallocate goes on, it completes with
 * the whole range handed to the host.
 */
static void test_slow_discard_other_disk_answers(void **state)
{
	struct fx *f = *state;
	uint64_t bytes = 0;
	bool other_answered, started;

	start(f, BIG + SMALL_IMG, DISK_CACHE_WRITEBACK);
	gate_set(true);
	post_discard(f, 0, VIRTIO_BLK_T_DISCARD, BIG, 0);
	started = wait_fallocate(1, DEADLINE_MS);
	post_read(f, 1);
	other_answered = wait_used(f, 1, 1, DEADLINE_MS / 4);
	if (!started || !other_answered)
		gate_set(false); /* let a blocked loop go before the test fails */
	assert_true(started);
	assert_true(other_answered);
	check_read(f, 1);
	/* The discard is still waiting on the host. */
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(status(f, 0), 0xee);
	/* And a second read on the other disk is served too. */
	post_read(f, 1);
	assert_true(wait_used(f, 1, 2, DEADLINE_MS));
	check_read(f, 1);
	gate_set(false);
	assert_true(wait_used(f, 0, 1, DEADLINE_MS));
	assert_int_equal(status(f, 0), VIRTIO_BLK_S_OK);
	fa_count(&bytes);
	assert_int_equal(bytes, BIG);
	assert_int_equal(resets(f), 0);
}

/* Opens the gate once disk 0's reset has begun, and a while after, from a thread of its own. */
static void *open_gate_later(void *arg)
{
	struct tdisk *t = arg;
	int64_t end = now_ms() + DEADLINE_MS;

	while (!__atomic_load_n(&t->reset_started, __ATOMIC_ACQUIRE) && now_ms() < end)
		usleep(1000);
	usleep(100 * 1000);
	gate_set(false);
	return NULL;
}

/*
 * The driver resets the disk while a 64 GiB discard is in its first piece:
 * the reset waits for that piece, the rest is never done, and nothing is
 * completed to the guest. The disk works again afterwards.
 */
static void test_reset_stops_long_discard(void **state)
{
	struct fx *f = *state;
	struct tdisk *t = &f->d[0];
	uint64_t one = 1, bytes;
	pthread_t opener;
	int64_t end;

	start(f, BIG + SMALL_IMG, DISK_CACHE_WRITEBACK);
	gate_set(true);
	post_discard(f, 0, VIRTIO_BLK_T_DISCARD, BIG, 0);
	if (!wait_fallocate(1, DEADLINE_MS))
		gate_set(false);
	assert_int_equal(fa_count(NULL), 1);
	assert_int_equal(pthread_create(&opener, NULL, open_gate_later, t), 0);
	assert_int_equal(write(t->reset, &one, sizeof(one)), sizeof(one));
	end = now_ms() + DEADLINE_MS;
	while (!__atomic_load_n(&t->reset_done, __ATOMIC_ACQUIRE) && now_ms() < end)
		usleep(1000);
	pthread_join(opener, NULL);
	assert_true(__atomic_load_n(&t->reset_done, __ATOMIC_ACQUIRE));
	assert_int_equal(fa_count(&bytes), 1);
	assert_true(bytes < BIG);
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(status(f, 0), 0xee);
	/* The device works again after the reset (a fresh ring). */
	t->avail_idx = 0;
	__atomic_store_n((uint16_t *)hva(f, AVAIL(0) + 2), 0, __ATOMIC_RELEASE);
	post_read(f, 0);
	assert_true(wait_used(f, 0, 1, DEADLINE_MS));
	check_read(f, 0);
}

/* ---- a buffered write whose guest page is missing ---- */

struct uffd_ctx {
	int uffd;
	uint64_t page; /* host address of the page to supply */
	uint8_t fill;
};

/*
 * With cache=writeback the kernel copies a write's data in the submitting
 * call. Its guest page is held by userfaultfd until the test supplies it: the
 * other disk must answer meanwhile, and the write completes with the bytes
 * supplied.
 */
static void test_buffered_write_off_loop(void **state)
{
	struct fx *f = *state;
	struct uffdio_api api = {.api = UFFD_API};
	struct uffdio_register reg = {0};
	struct uffdio_copy copy = {0};
	uint8_t *page, back[4096];
	struct pollfd pfd;
	bool faulted, other_answered;
	int uffd;

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) {
		print_message("userfaultfd: %s\n", strerror(errno));
		skip();
	}
	assert_int_equal(ioctl(uffd, UFFDIO_API, &api), 0);
	reg.range.start = (uint64_t)(uintptr_t)hva(f, UFFD_GPA);
	reg.range.len = UFFD_LEN;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	assert_int_equal(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);

	start(f, SMALL_IMG, DISK_CACHE_WRITEBACK);
	put_hdr(f, 0, VIRTIO_BLK_T_OUT, 16);
	post(f, 0, (struct seg[]){{HDR(0), 16, 0}, {UFFD_GPA, 4096, 0}, {STATUS(0), 1, W}}, 3);
	pfd = (struct pollfd){.fd = uffd, .events = POLLIN};
	faulted = poll(&pfd, 1, DEADLINE_MS) == 1;
	post_read(f, 1);
	other_answered = faulted && wait_used(f, 1, 1, DEADLINE_MS / 4);

	/* Supply the page whatever happened, so that nothing stays blocked. */
	page = aligned_alloc(4096, 4096);
	assert_non_null(page);
	memset(page, 0x6b, 4096);
	copy.dst = reg.range.start;
	copy.src = (uint64_t)(uintptr_t)page;
	copy.len = 4096;
	assert_int_equal(ioctl(uffd, UFFDIO_COPY, &copy), 0);
	assert_true(faulted);
	assert_true(other_answered);
	check_read(f, 1);
	assert_true(wait_used(f, 0, 1, DEADLINE_MS));
	assert_int_equal(status(f, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(pread(f->d[0].fd, back, sizeof(back), 16 * 512), sizeof(back));
	assert_memory_equal(back, page, sizeof(back));
	free(page);
	stop_loop(f);
	close(uffd);
}

/*
 * A file system without fallocate: write-zeroes writes the zeroes (in pieces,
 * off the loop), discard is a hint that does nothing, and both complete OK.
 */
static void test_write_zeroes_without_fallocate(void **state)
{
	struct fx *f = *state;
	const uint64_t len = 8 * MiB;
	uint8_t *buf = malloc(2 * len), *pattern = malloc(2 * len), *zero = calloc(1, len);

	assert_non_null(buf);
	assert_non_null(pattern);
	assert_non_null(zero);
	start(f, 2 * len, DISK_CACHE_NONE);
	memset(pattern, 0x5a, 2 * len);
	assert_int_equal(pwrite(f->d[0].fd, pattern, 2 * len, 0), (ssize_t)(2 * len));
	pthread_mutex_lock(&gate_lock);
	fa_errno = EOPNOTSUPP;
	pthread_mutex_unlock(&gate_lock);
	/* Discard is a hint: nothing changes. */
	post_discard(f, 0, VIRTIO_BLK_T_DISCARD, len, 0);
	assert_true(wait_used(f, 0, 1, DEADLINE_MS));
	assert_int_equal(status(f, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(pread(f->d[0].fd, buf, 2 * len, 0), (ssize_t)(2 * len));
	assert_memory_equal(buf, pattern, 2 * len);
	/* Write-zeroes writes them, and nothing past its range. */
	post_discard(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, len, VIRTIO_BLK_WZ_F_UNMAP);
	assert_true(wait_used(f, 0, 2, DEADLINE_MS));
	assert_int_equal(status(f, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(pread(f->d[0].fd, buf, 2 * len, 0), (ssize_t)(2 * len));
	assert_memory_equal(buf, zero, len);
	assert_memory_equal(buf + len, pattern + len, len);
	assert_true(fa_count(NULL) >= 2);
	free(buf);
	free(pattern);
	free(zero);
}

/* A 4 KiB write of `byte` at sector 8 on disk i. */
static void post_write(struct fx *f, unsigned int i, uint8_t byte)
{
	put_hdr(f, i, VIRTIO_BLK_T_OUT, 8);
	memset(hva(f, DATA(i)), byte, 4096);
	post(f, i, (struct seg[]){{HDR(i), 16, 0}, {DATA(i), 4096, 0}, {STATUS(i), 1, W}}, 3);
}

static void post_flush(struct fx *f, unsigned int i)
{
	put_hdr(f, i, VIRTIO_BLK_T_FLUSH, 0);
	post(f, i, (struct seg[]){{HDR(i), 16, 0}, {STATUS(i), 1, W}}, 2);
}

/*
 * The workers under their own seccomp filter, as kvmrun runs them: every kind
 * of request, the write-zeroes fallback, a reset and the threads' exit go
 * through it (a refused call would end this program with status 8).
 */
static void test_workers_sandboxed(void **state)
{
	struct fx *f = *state;
	uint8_t buf[4096], want[4096];
	uint16_t n = 0;

	f->sandbox = true;
	start(f, 16 * MiB, DISK_CACHE_WRITEBACK);
	post_write(f, 0, 0x42);
	assert_true(wait_used(f, 0, ++n, DEADLINE_MS));
	assert_int_equal(status(f, 0), VIRTIO_BLK_S_OK);
	post_flush(f, 0);
	assert_true(wait_used(f, 0, ++n, DEADLINE_MS));
	assert_int_equal(status(f, 0), VIRTIO_BLK_S_OK);
	post_read(f, 0);
	assert_true(wait_used(f, 0, ++n, DEADLINE_MS));
	check_read(f, 0);
	memset(want, 0x42, sizeof(want));
	assert_memory_equal(hva(f, DATA(0)), want, sizeof(want));
	post_discard(f, 0, VIRTIO_BLK_T_DISCARD, 1 * MiB, 0);
	assert_true(wait_used(f, 0, ++n, DEADLINE_MS));
	assert_int_equal(status(f, 0), VIRTIO_BLK_S_OK);
	pthread_mutex_lock(&gate_lock);
	fa_errno = EOPNOTSUPP;
	pthread_mutex_unlock(&gate_lock);
	post_discard(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, 2 * MiB, 0);
	assert_true(wait_used(f, 0, ++n, DEADLINE_MS));
	assert_int_equal(status(f, 0), VIRTIO_BLK_S_OK);
	memset(want, 0, sizeof(want));
	assert_int_equal(pread(f->d[0].fd, buf, sizeof(buf), MiB), sizeof(buf));
	assert_memory_equal(buf, want, sizeof(buf));
	assert_int_equal(resets(f), 0);
	/* The teardown resets the device and ends the workers. */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_slow_discard_other_disk_answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_stops_long_discard, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffered_write_off_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_zeroes_without_fallocate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_workers_sandboxed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
