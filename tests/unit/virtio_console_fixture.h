/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_TEST_VIRTIO_CONSOLE_FIXTURE_H
#define KVMRUN_TEST_VIRTIO_CONSOLE_FIXTURE_H

/*
 * virtio-console against a fake transport and an in-test guest driver that
 * lays out both queues in fake guest RAM. The console backend is the real
 * one: stdin is a pipe the test writes, output goes to a log file the test
 * reads (stdout is /dev/null). The event loop runs on its own thread, and
 * every device call is made on that thread through loop_call(), as the
 * contract in virtio.h asks.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "loop_thread.h"
#include "test_stdio.h"

#include "backend/console.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "kvmrun/virtio.h"
#include "virtio/devices.h"

#include "vring_driver.h"

#include "fake_transport.h"

#define RAM_GPA 0x100000ULL
#define RAM_SIZE (8 * MiB)
#define QSZ 8
#define RXQ 0
#define TXQ 1
/* Queue q's rings at RAM_GPA + q * 0x4000; data buffers from DATA_GPA. */
#define DESC_GPA(q) (RAM_GPA + (q)*0x4000ULL)
#define AVAIL_GPA(q) (DESC_GPA(q) + 0x1000)
#define USED_GPA(q) (DESC_GPA(q) + 0x2000)
#define IND_GPA (RAM_GPA + 0x10000)
#define DATA_GPA (RAM_GPA + 0x20000)

#define NEXT VQ_DESC_F_NEXT
#define WRITE VQ_DESC_F_WRITE
#define INDIRECT VQ_DESC_F_INDIRECT

#define FEATURES (VIRTIO_BIT(VIRTIO_F_VERSION_1))
#define F_EVENT_IDX VIRTIO_BIT(VQ_F_EVENT_IDX)
#define F_INDIRECT VIRTIO_BIT(VQ_F_INDIRECT_DESC)

struct fx {
	struct guest_mem gm;
	struct drv_ram ram;
	struct vq vqs[2];
	uint16_t avail_idx[2]; /* the driver's own copies */

	struct loop_thread lt;
	struct console *con;
	struct virtio_dev *vdev;
	struct fake_transport ft; /* what the device asked of the transport */

	int call_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void (*call_fn)(struct fx *f, uintptr_t arg);
	uintptr_t call_arg;
	bool call_done;

	struct test_stdio io; /* io.out_r: stdout's read end when it is a pipe, else -1 */
	int requeue_fd;	      /* the fake transport's requeue: the loop serves the queue again */
	bool requeue_ok;      /* a test that expects passes to leave chains */
	char log_path[64];
};

/* ---- the fake transport ---- */

static inline void ft_notify_queue(struct fake_transport *t, struct virtio_dev *vdev, uint16_t q)
{
	assert_true(q < 2);
}

/*
 * A pass that left chains: most tests post less than a pass takes; those that
 * do not have the loop serve the queue again, as the real transport does.
 */
static inline void ft_requeue(struct fake_transport *t, struct virtio_dev *vdev, uint16_t q)
{
	struct fx *f = container_of(t, struct fx, ft);
	uint64_t one = 1;

	if (!f->requeue_ok)
		fail_msg("queue %u requeued", q);
	assert_int_equal(write(f->requeue_fd, &one, sizeof(one)), sizeof(one));
}

static inline void requeue_event(void *opaque, uint32_t events)
{
	struct fx *f = opaque;
	uint64_t v;

	assert_int_equal(read(f->requeue_fd, &v, sizeof(v)), sizeof(v));
	f->vdev->ops->queue_notify(f->vdev, TXQ);
}

/* ---- running things on the loop thread ---- */

static inline void call_event(void *opaque, uint32_t events)
{
	struct fx *f = opaque;
	uint64_t v;

	assert_int_equal(read(f->call_fd, &v, sizeof(v)), sizeof(v));
	pthread_mutex_lock(&f->lock);
	if (f->call_fn)
		f->call_fn(f, f->call_arg);
	f->call_done = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Runs fn(f, arg) on the loop thread and waits for it (fn NULL: a round trip). */
static inline void loop_call(struct fx *f, void (*fn)(struct fx *f, uintptr_t arg), uintptr_t arg)
{
	uint64_t one = 1;

	pthread_mutex_lock(&f->lock);
	f->call_fn = fn;
	f->call_arg = arg;
	f->call_done = false;
	pthread_mutex_unlock(&f->lock);
	struct timespec deadline;
	int ret = 0;

	assert_int_equal(write(f->call_fd, &one, sizeof(one)), sizeof(one));
	/* A loop stuck in one long pass fails the test rather than hang it. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&f->lock);
	while (!f->call_done && ret == 0)
		ret = pthread_cond_timedwait(&f->cond, &f->lock, &deadline);
	pthread_mutex_unlock(&f->lock);
	if (ret)
		fail_msg("the loop did not come round within 10 s");
}

/*
 * Returns once every event the loop had pending, and whatever those events
 * set off in turn (a kick wakes the console's ready event, which watches
 * stdin again, which reads held input): an event made pending before round
 * trip i is written is handled before round trip i + 1 completes, so each
 * link of such a chain costs one round trip. The longest chain here has two.
 */
static inline void loop_sync(struct fx *f)
{
	for (int i = 0; i < 4; i++)
		loop_call(f, NULL, 0);
}

static inline void do_activate(struct fx *f, uintptr_t arg)
{
	f->vdev->active = true;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
}

static inline void do_notify(struct fx *f, uintptr_t q)
{
	f->vdev->ops->queue_notify(f->vdev, (uint16_t)q);
}

/* What the transport does on a reset: the device first, then the queues. */
static inline void do_reset(struct fx *f, uintptr_t arg)
{
	f->vdev->ops->reset(f->vdev);
	f->vdev->active = false;
	for (int q = 0; q < 2; q++)
		vq_cleanup(&f->vqs[q]);
}

/* ---- the guest driver ---- */

static inline void *hva(struct fx *f, uint64_t gpa)
{
	return drv_hva(&f->ram, gpa);
}

static inline void desc(struct fx *f, int q, uint16_t i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	drv_desc_gpa(&f->ram, DESC_GPA(q), i, addr, len, flags, next);
}

static inline void set_avail_idx(struct fx *f, int q, uint16_t idx)
{
	f->avail_idx[q] = idx;
	__atomic_store_n((uint16_t *)hva(f, AVAIL_GPA(q) + 2), idx, __ATOMIC_RELEASE);
}

static inline void post(struct fx *f, int q, uint16_t head)
{
	drv_avail_put(hva(f, AVAIL_GPA(q)), QSZ, &f->avail_idx[q], head);
}

static inline uint16_t used_idx(struct fx *f, int q)
{
	return drv_used_idx(hva(f, USED_GPA(q)));
}

static inline uint16_t used_flags(struct fx *f, int q)
{
	return *(uint16_t *)hva(f, USED_GPA(q));
}

static inline void used_elem(struct fx *f, int q, uint16_t slot, uint32_t *id, uint32_t *len)
{
	drv_used_elem(hva(f, USED_GPA(q)), QSZ, slot, id, len);
}

static inline void assert_used(struct fx *f, int q, uint16_t slot, uint32_t want_id,
			       uint32_t want_len)
{
	uint32_t id, len;

	used_elem(f, q, slot, &id, &len);
	assert_int_equal(id, want_id);
	assert_int_equal(len, want_len);
}

/* Post one readable buffer holding s on the transmitq, as descriptor i. */
static inline void post_tx(struct fx *f, uint16_t i, uint64_t gpa, const char *s)
{
	memcpy(hva(f, gpa), s, strlen(s));
	desc(f, TXQ, i, gpa, (uint32_t)strlen(s), 0, 0);
	post(f, TXQ, i);
}

/* Post one writable buffer of len bytes (filled with '.') on the receiveq. */
static inline void post_rx(struct fx *f, uint16_t i, uint64_t gpa, uint32_t len)
{
	memset(hva(f, gpa), '.', len);
	desc(f, RXQ, i, gpa, len, WRITE, 0);
	post(f, RXQ, i);
}

/* Both queues set up with zeroed rings, as a driver does before DRIVER_OK. */
static inline void setup_queues(struct fx *f, uint64_t features)
{
	for (int q = 0; q < 2; q++) {
		memset(hva(f, DESC_GPA(q)), 0, 0x4000);
		f->avail_idx[q] = 0;
		assert_int_equal(vq_setup(&f->vqs[q], &f->gm, QSZ, DESC_GPA(q), AVAIL_GPA(q),
					  USED_GPA(q), features),
				 0);
	}
	f->vdev->features = features;
}

static inline void start(struct fx *f, uint64_t features)
{
	setup_queues(f, features);
	loop_call(f, do_activate, 0);
}

/* Console input: what a user types. Returns once the console has offered it. */
static inline void type(struct fx *f, const char *s)
{
	assert_int_equal(write(f->io.in_w, s, strlen(s)), (ssize_t)strlen(s));
	loop_sync(f);
}

/* Bytes typed that the console has not read yet (it stops reading while it holds input). */
static inline int unread(struct fx *f)
{
	int n = -1;

	assert_int_equal(ioctl(f->io.in_w, FIONREAD, &n), 0);
	return n;
}

static inline size_t read_log(struct fx *f, char *buf, size_t size)
{
	size_t n = test_read_file(f->log_path, buf, size - 1);

	buf[n] = '\0';
	return n;
}

static inline void assert_log(struct fx *f, const char *want)
{
	char buf[256];

	read_log(f, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

/* ---- fixture ---- */

/*
 * log_max: the console's log bound. full_stdout: stdout is a pipe, full and
 * non-blocking (as a launcher may hand it over), read through f->io.out_r.
 */
static inline int setup_with(void **state, uint64_t log_max, bool full_stdout)
{
	struct fx *f = calloc(1, sizeof(*f));
	int null_fd;

	assert_non_null(f);
	f->ram = drv_ram_map(&f->gm, RAM_GPA, RAM_SIZE);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);

	test_stdio_init(&f->io);
	test_stdio_save(&f->io);
	test_stdin_pipe(&f->io);
	if (full_stdout) {
		test_stdout_full_pipe(&f->io);
	} else {
		null_fd = open("/dev/null", O_WRONLY);
		assert_true(null_fd >= 0);
		assert_int_equal(dup2(null_fd, STDOUT_FILENO), STDOUT_FILENO);
		close(null_fd);
	}
	test_log_path(f->log_path, sizeof(f->log_path), "vcon");

	loop_thread_create(&f->lt);
	f->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(f->call_fd >= 0);
	assert_int_equal(ev_add(f->lt.loop, f->call_fd, EPOLLIN, call_event, f), 0);
	f->requeue_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(f->requeue_fd >= 0);
	assert_int_equal(ev_add(f->lt.loop, f->requeue_fd, EPOLLIN, requeue_event, f), 0);
	assert_int_equal(
	    console_create(&f->con, f->lt.loop, true, f->log_path, log_max, NULL, NULL), 0);
	assert_int_equal(virtio_console_create(&f->vdev, f->con, f->lt.loop, &f->gm), 0);

	fake_transport_attach(&f->ft, f->vdev);
	f->ft.on_notify = ft_notify_queue;
	f->ft.on_requeue = ft_requeue;
	f->vdev->vqs = f->vqs;
	loop_thread_start(&f->lt);
	*state = f;
	return 0;
}

static inline int setup(void **state)
{
	return setup_with(state, UINT64_MAX, false);
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	loop_thread_stop(&f->lt);
	f->vdev->ops->destroy(f->vdev);
	for (int q = 0; q < 2; q++)
		vq_cleanup(&f->vqs[q]);
	console_destroy(f->con);
	ev_del(f->lt.loop, f->call_fd);
	close(f->call_fd);
	ev_del(f->lt.loop, f->requeue_fd);
	close(f->requeue_fd);
	ev_loop_destroy(f->lt.loop);
	test_stdio_restore(&f->io);
	unlink(f->log_path);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	fake_ram_free(f->ram.host);
	free(f);
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#endif
