// SPDX-License-Identifier: Apache-2.0
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

#include "backend/console.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "kvmrun/virtio.h"
#include "virtio/devices.h"

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

/* The fake transport's record of what the device asked of it. */
struct fake_transport {
	unsigned int notified[2];
	unsigned int config_changed;
	unsigned int needs_reset;
};

struct fx {
	struct guest_mem gm;
	uint8_t *ram;
	struct vq vqs[2];
	uint16_t avail_idx[2]; /* the driver's own copies */

	struct ev_loop *loop;
	struct console *con;
	struct virtio_dev *vdev;
	struct fake_transport ft;
	struct virtio_transport_ops tops;

	pthread_t thread;
	int call_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void (*call_fn)(struct fx *f, uintptr_t arg);
	uintptr_t call_arg;
	bool call_done;

	int saved_in, saved_out;
	int in_w;
	int out_r;	   /* read end of stdout when it is a pipe, else -1 */
	size_t out_fill;   /* bytes that filled that pipe before the console started */
	int requeue_fd;	   /* the fake transport's requeue: the loop serves the queue again */
	bool requeue_ok;   /* a test that expects passes to leave chains */
	unsigned int requeues;
	bool stopped;	   /* the loop thread has been joined */
	char log_path[64];
};

/* ---- the fake transport ---- */

static struct fake_transport *ft_of(struct virtio_dev *vdev)
{
	return vdev->transport_data;
}

static void ft_notify_queue(struct virtio_dev *vdev, uint16_t q)
{
	assert_true(q < 2);
	ft_of(vdev)->notified[q]++;
}

static void ft_config_changed(struct virtio_dev *vdev)
{
	ft_of(vdev)->config_changed++;
}

static void ft_needs_reset(struct virtio_dev *vdev)
{
	ft_of(vdev)->needs_reset++;
}

/*
 * A pass that left chains: most tests post less than a pass takes; those that
 * do not have the loop serve the queue again, as the real transport does.
 */
static void ft_requeue(struct virtio_dev *vdev, uint16_t q)
{
	struct fx *f = container_of(ft_of(vdev), struct fx, ft);
	uint64_t one = 1;

	if (!f->requeue_ok)
		fail_msg("queue %u requeued", q);
	f->requeues++;
	assert_int_equal(write(f->requeue_fd, &one, sizeof(one)), sizeof(one));
}

static void requeue_event(void *opaque, uint32_t events)
{
	struct fx *f = opaque;
	uint64_t v;

	assert_int_equal(read(f->requeue_fd, &v, sizeof(v)), sizeof(v));
	f->vdev->ops->queue_notify(f->vdev, TXQ);
}

/* ---- running things on the loop thread ---- */

static void call_event(void *opaque, uint32_t events)
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
static void loop_call(struct fx *f, void (*fn)(struct fx *f, uintptr_t arg), uintptr_t arg)
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
static void loop_sync(struct fx *f)
{
	for (int i = 0; i < 4; i++)
		loop_call(f, NULL, 0);
}

static void do_activate(struct fx *f, uintptr_t arg)
{
	f->vdev->active = true;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
}

static void do_notify(struct fx *f, uintptr_t q)
{
	f->vdev->ops->queue_notify(f->vdev, (uint16_t)q);
}

/* What the transport does on a reset: the device first, then the queues. */
static void do_reset(struct fx *f, uintptr_t arg)
{
	f->vdev->ops->reset(f->vdev);
	f->vdev->active = false;
	for (int q = 0; q < 2; q++)
		vq_cleanup(&f->vqs[q]);
}

static void *loop_thread(void *opaque)
{
	struct fx *f = opaque;

	ev_run(f->loop);
	return NULL;
}

/* ---- the guest driver ---- */

static void *hva(struct fx *f, uint64_t gpa)
{
	assert_true(gpa >= RAM_GPA && gpa < RAM_GPA + RAM_SIZE);
	return f->ram + (gpa - RAM_GPA);
}

static void desc_at(struct fx *f, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	uint8_t *p = hva(f, table + 16ULL * i);

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void desc(struct fx *f, int q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	desc_at(f, DESC_GPA(q), i, addr, len, flags, next);
}

static void set_avail_idx(struct fx *f, int q, uint16_t idx)
{
	f->avail_idx[q] = idx;
	__atomic_store_n((uint16_t *)hva(f, AVAIL_GPA(q) + 2), idx, __ATOMIC_RELEASE);
}

static void post(struct fx *f, int q, uint16_t head)
{
	uint16_t *ring = hva(f, AVAIL_GPA(q) + 4);

	ring[f->avail_idx[q] % QSZ] = head;
	set_avail_idx(f, q, f->avail_idx[q] + 1);
}

static uint16_t used_idx(struct fx *f, int q)
{
	return __atomic_load_n((uint16_t *)hva(f, USED_GPA(q) + 2), __ATOMIC_ACQUIRE);
}

static uint16_t used_flags(struct fx *f, int q)
{
	return *(uint16_t *)hva(f, USED_GPA(q));
}

static void set_used_event(struct fx *f, int q, uint16_t v)
{
	*(uint16_t *)hva(f, AVAIL_GPA(q) + 4 + 2ULL * QSZ) = v;
}

static uint16_t avail_event(struct fx *f, int q)
{
	return *(uint16_t *)hva(f, USED_GPA(q) + 4 + 8ULL * QSZ);
}

static void used_elem(struct fx *f, int q, uint16_t slot, uint32_t *id, uint32_t *len)
{
	uint32_t *e = hva(f, USED_GPA(q) + 4 + 8ULL * (slot % QSZ));

	*id = e[0];
	*len = e[1];
}

static void assert_used(struct fx *f, int q, uint16_t slot, uint32_t want_id, uint32_t want_len)
{
	uint32_t id, len;

	used_elem(f, q, slot, &id, &len);
	assert_int_equal(id, want_id);
	assert_int_equal(len, want_len);
}

/* Post one readable buffer holding s on the transmitq, as descriptor i. */
static void post_tx(struct fx *f, uint16_t i, uint64_t gpa, const char *s)
{
	memcpy(hva(f, gpa), s, strlen(s));
	desc(f, TXQ, i, gpa, (uint32_t)strlen(s), 0, 0);
	post(f, TXQ, i);
}

/* Post one writable buffer of len bytes (filled with '.') on the receiveq. */
static void post_rx(struct fx *f, uint16_t i, uint64_t gpa, uint32_t len)
{
	memset(hva(f, gpa), '.', len);
	desc(f, RXQ, i, gpa, len, WRITE, 0);
	post(f, RXQ, i);
}

/* Both queues set up with zeroed rings, as a driver does before DRIVER_OK. */
static void setup_queues(struct fx *f, uint64_t features)
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

static void start(struct fx *f, uint64_t features)
{
	setup_queues(f, features);
	loop_call(f, do_activate, 0);
}

/* Console input: what a user types. Returns once the console has offered it. */
static void type(struct fx *f, const char *s)
{
	assert_int_equal(write(f->in_w, s, strlen(s)), (ssize_t)strlen(s));
	loop_sync(f);
}

/* Bytes typed that the console has not read yet (it stops reading while it holds input). */
static int unread(struct fx *f)
{
	int n = -1;

	assert_int_equal(ioctl(f->in_w, FIONREAD, &n), 0);
	return n;
}

static size_t read_log(struct fx *f, char *buf, size_t size)
{
	size_t n = test_read_file(f->log_path, buf, size - 1);

	buf[n] = '\0';
	return n;
}

static void assert_log(struct fx *f, const char *want)
{
	char buf[256];

	read_log(f, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

/* ---- fixture ---- */

/*
 * log_max: the console's log bound. full_stdout: stdout is a pipe, full and
 * non-blocking (as a launcher may hand it over), read through f->out_r.
 */
static int setup_with(void **state, uint64_t log_max, bool full_stdout)
{
	struct fx *f = calloc(1, sizeof(*f));
	int p[2], null_fd;

	assert_non_null(f);
	f->ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(f->ram);
	memset(f->ram, 0, RAM_SIZE);
	assert_int_equal(gm_add_region(&f->gm, RAM_GPA, RAM_SIZE, f->ram), 0);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);

	f->saved_in = dup(STDIN_FILENO);
	f->saved_out = dup(STDOUT_FILENO);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
	close(p[0]);
	f->in_w = p[1];
	f->out_r = -1;
	if (full_stdout) {
		static const uint8_t junk[4096];
		ssize_t n;

		assert_int_equal(pipe(p), 0);
		assert_int_equal(dup2(p[1], STDOUT_FILENO), STDOUT_FILENO);
		close(p[1]);
		f->out_r = p[0];
		assert_int_equal(fcntl(STDOUT_FILENO, F_SETFL, O_WRONLY | O_NONBLOCK), 0);
		while ((n = write(STDOUT_FILENO, junk, sizeof(junk))) > 0)
			f->out_fill += (size_t)n;
	} else {
		null_fd = open("/dev/null", O_WRONLY);
		assert_true(null_fd >= 0);
		assert_int_equal(dup2(null_fd, STDOUT_FILENO), STDOUT_FILENO);
		close(null_fd);
	}
	snprintf(f->log_path, sizeof(f->log_path), "kvmrun-test-vcon-%d.log", getpid());
	test_tmp_path(f->log_path, sizeof(f->log_path), strdupa(f->log_path));
	unlink(f->log_path);

	assert_int_equal(ev_loop_create(&f->loop), 0);
	f->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(f->call_fd >= 0);
	assert_int_equal(ev_add(f->loop, f->call_fd, EPOLLIN, call_event, f), 0);
	f->requeue_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(f->requeue_fd >= 0);
	assert_int_equal(ev_add(f->loop, f->requeue_fd, EPOLLIN, requeue_event, f), 0);
	assert_int_equal(console_create(&f->con, f->loop, true, f->log_path, log_max, NULL, NULL),
			 0);
	assert_int_equal(virtio_console_create(&f->vdev, f->con, f->loop, &f->gm), 0);

	f->tops = (struct virtio_transport_ops){.notify_queue = ft_notify_queue,
						.config_changed = ft_config_changed,
						.needs_reset = ft_needs_reset,
						.requeue = ft_requeue};
	f->vdev->transport = &f->tops;
	f->vdev->transport_data = &f->ft;
	f->vdev->vqs = f->vqs;
	assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, UINT64_MAX, false);
}

/* The log holds 1 MiB at most: for tests that print far more. */
static int setup_bounded_log(void **state)
{
	return setup_with(state, 1 * MiB, false);
}

static int setup_full_stdout(void **state)
{
	return setup_with(state, UINT64_MAX, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f->stopped) {
		ev_stop(f->loop, 0);
		pthread_join(f->thread, NULL);
	}
	f->vdev->ops->destroy(f->vdev);
	for (int q = 0; q < 2; q++)
		vq_cleanup(&f->vqs[q]);
	console_destroy(f->con);
	ev_del(f->loop, f->call_fd);
	close(f->call_fd);
	ev_del(f->loop, f->requeue_fd);
	close(f->requeue_fd);
	if (f->out_r >= 0)
		close(f->out_r);
	ev_loop_destroy(f->loop);
	close(f->in_w);
	dup2(f->saved_in, STDIN_FILENO);
	dup2(f->saved_out, STDOUT_FILENO);
	close(f->saved_in);
	close(f->saved_out);
	unlink(f->log_path);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f->ram);
	free(f);
	return 0;
}

/* ---- what the device tells the transport ---- */

static void test_identity(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[12];

	assert_int_equal(f->vdev->ops->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(f->vdev->nr_queues, 2);
	assert_true(f->vdev->queue_max >= QSZ);
	assert_int_equal(f->vdev->queue_max & (f->vdev->queue_max - 1), 0);
	/* No F_SIZE (0), F_MULTIPORT (1) or F_EMERG_WRITE (2): a plain single port. */
	assert_int_equal(f->vdev->host_features & 7, 0);
	assert_true(f->vdev->host_features & F_EVENT_IDX);
	assert_true(f->vdev->host_features & F_INDIRECT);
	assert_int_equal(f->vdev->ops->config_size, sizeof(cfg));
	memset(cfg, 0xaa, sizeof(cfg));
	f->vdev->ops->config_read(f->vdev, 0, cfg, sizeof(cfg));
	for (size_t i = 0; i < sizeof(cfg); i++)
		assert_int_equal(cfg[i], 0);
	/* A write to emerg_wr without its feature prints nothing. */
	f->vdev->ops->config_write(f->vdev, 8, "X", 1);
	assert_log(f, "");
}

/* ---- transmitq: guest -> console ---- */

static void test_tx_reaches_console(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* One chain of two buffers, then a chain of one. */
	memcpy(hva(f, DATA_GPA), "hello ", 6);
	memcpy(hva(f, DATA_GPA + 0x100), "world", 5);
	desc(f, TXQ, 3, DATA_GPA, 6, NEXT, 5);
	desc(f, TXQ, 5, DATA_GPA + 0x100, 5, 0, 0);
	post(f, TXQ, 3);
	post_tx(f, 0, DATA_GPA + 0x200, "!\n");
	loop_call(f, do_notify, TXQ);

	assert_log(f, "hello world!\n");
	assert_int_equal(used_idx(f, TXQ), 2);
	assert_used(f, TXQ, 0, 3, 0); /* nothing written into a transmit buffer */
	assert_used(f, TXQ, 1, 0, 0);
	assert_int_equal(f->ft.notified[TXQ], 1);
	assert_int_equal(f->ft.needs_reset, 0);

	/* And again: the queue goes on. */
	post_tx(f, 1, DATA_GPA + 0x300, "more");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "hello world!\nmore");
	assert_int_equal(used_idx(f, TXQ), 3);
}

static void test_tx_indirect(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES | F_INDIRECT);
	memcpy(hva(f, DATA_GPA), "ab", 2);
	memcpy(hva(f, DATA_GPA + 0x100), "cd", 2);
	desc_at(f, IND_GPA, 0, DATA_GPA, 2, NEXT, 1);
	desc_at(f, IND_GPA, 1, DATA_GPA + 0x100, 2, 0, 0);
	desc(f, TXQ, 0, IND_GPA, 32, INDIRECT, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_log(f, "abcd");
	assert_int_equal(used_idx(f, TXQ), 1);
}

static void test_tx_posted_before_driver_ok(void **state)
{
	struct fx *f = *state;

	setup_queues(f, FEATURES);
	post_tx(f, 0, DATA_GPA, "early");
	loop_call(f, do_activate, 0);
	assert_log(f, "early");
	assert_int_equal(used_idx(f, TXQ), 1);
}

/* ---- receiveq: console -> guest ---- */

static void test_rx_delivers_input(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	post_rx(f, 0, DATA_GPA, 16);
	type(f, "abc");
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, 3);
	assert_memory_equal(hva(f, DATA_GPA), "abc....", 7);
	assert_int_equal(f->ft.notified[RXQ], 1);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_rx_input_spans_buffers(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* A chain of 2 + 3 bytes, then a 4-byte buffer, then one left over. */
	memset(hva(f, DATA_GPA), '.', 0x400);
	desc(f, RXQ, 0, DATA_GPA, 2, WRITE | NEXT, 1);
	desc(f, RXQ, 1, DATA_GPA + 0x100, 3, WRITE, 0);
	post(f, RXQ, 0);
	post_rx(f, 4, DATA_GPA + 0x200, 4);
	post_rx(f, 5, DATA_GPA + 0x300, 4);
	type(f, "abcdefgh");
	assert_int_equal(used_idx(f, RXQ), 2);
	assert_used(f, RXQ, 0, 0, 5);
	assert_used(f, RXQ, 1, 4, 3);
	assert_memory_equal(hva(f, DATA_GPA), "ab.", 3);
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "cde.", 4);
	assert_memory_equal(hva(f, DATA_GPA + 0x200), "fgh.", 4);
	assert_memory_equal(hva(f, DATA_GPA + 0x300), "....", 4);
}

static void test_rx_held_until_buffer_posted(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* Kicks on the receiveq are not wanted while nothing waits for a buffer. */
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	type(f, "xyz");
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(f->ft.needs_reset, 0);
	/* Input waits: now the device wants to hear about new buffers. */
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);
	/* More typing is held by the console too, in order: it stopped reading. */
	type(f, "12");
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(unread(f), 2);

	post_rx(f, 0, DATA_GPA, 2);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	/* Two bytes fit; the rest waits for the next buffer. */
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, 2);
	assert_memory_equal(hva(f, DATA_GPA), "xy", 2);
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);

	post_rx(f, 1, DATA_GPA + 0x100, 16);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 2);
	assert_used(f, RXQ, 1, 1, 1);
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "z.", 2);

	/*
	 * The console then read "12" from stdin and found no buffer: held
	 * again, with a kick asked for.
	 */
	assert_int_equal(used_idx(f, RXQ), 2);
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);
	post_rx(f, 2, DATA_GPA + 0x200, 16);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 3);
	assert_used(f, RXQ, 2, 2, 2);
	assert_memory_equal(hva(f, DATA_GPA + 0x200), "12.", 3);
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_rx_held_event_idx(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES | F_EVENT_IDX);
	post_rx(f, 0, DATA_GPA, 8);
	type(f, "p");
	assert_int_equal(used_idx(f, RXQ), 1);
	/* The first used buffer always interrupts with EVENT_IDX. */
	assert_int_equal(f->ft.notified[RXQ], 1);
	assert_int_equal(avail_event(f, RXQ), 0);

	type(f, "q");
	assert_int_equal(used_idx(f, RXQ), 1);
	/* The driver is asked to kick once it posts past what was taken. */
	assert_int_equal(avail_event(f, RXQ), 1);
	post_rx(f, 1, DATA_GPA + 0x100, 8);
	set_used_event(f, RXQ, 1);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 2);
	assert_used(f, RXQ, 1, 1, 1);
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "q.", 2);
	/* used_event 1: the driver wants to hear when used idx passes 1. */
	assert_int_equal(f->ft.notified[RXQ], 2);
}

static void test_rx_spurious_kick(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	type(f, "k");
	/* A kick with no buffer behind it: the input is offered, refused, still held. */
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);
	post_rx(f, 0, DATA_GPA, 8);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_memory_equal(hva(f, DATA_GPA), "k.", 2);
}

static void test_rx_dropped_before_driver_ok(void **state)
{
	struct fx *f = *state;

	/*
	 * Typed before the driver is up: dropped, so that the console goes on
	 * reading (and sees Ctrl-A x) however long the guest takes.
	 */
	type(f, "early");
	assert_int_equal(unread(f), 0);
	setup_queues(f, FEATURES);
	post_rx(f, 0, DATA_GPA, 16);
	loop_call(f, do_activate, 0);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	type(f, "late");
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, 4);
	assert_memory_equal(hva(f, DATA_GPA), "late.", 5);
}

static void test_rx_queue_not_enabled(void **state)
{
	struct fx *f = *state;

	/* The driver enabled the transmitq only. */
	setup_queues(f, FEATURES);
	vq_cleanup(&f->vqs[RXQ]);
	loop_call(f, do_activate, 0);
	type(f, "lost?");
	type(f, "more");
	assert_int_equal(unread(f), 0);
	loop_call(f, do_notify, TXQ);
	post_tx(f, 0, DATA_GPA, "out");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "out");
	assert_int_equal(f->ft.needs_reset, 0);
}

/* ---- hostile buffers ---- */

static void test_tx_writable_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* A readable buffer then a writable one: forbidden on the transmitq (5.3.6.1). */
	memcpy(hva(f, DATA_GPA), "leak", 4);
	desc(f, TXQ, 0, DATA_GPA, 4, NEXT, 1);
	desc(f, TXQ, 1, DATA_GPA + 0x100, 16, WRITE, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_true(f->vqs[TXQ].broken);
	assert_string_equal(f->vqs[TXQ].broken_why, "device-writable buffer in the transmitq");
	assert_log(f, "");
	assert_int_equal(used_idx(f, TXQ), 0);

	/* Broken: nothing more is served, on either queue, and no second report. */
	post_tx(f, 2, DATA_GPA + 0x200, "after");
	loop_call(f, do_notify, TXQ);
	post_rx(f, 3, DATA_GPA + 0x300, 8);
	type(f, "in");
	assert_log(f, "");
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(f->ft.needs_reset, 1);
}

static void test_tx_only_writable_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	desc(f, TXQ, 0, DATA_GPA, 16, WRITE, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_int_equal(used_idx(f, TXQ), 0);
}

static void test_rx_readable_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	memset(hva(f, DATA_GPA), '.', 16);
	desc(f, RXQ, 0, DATA_GPA, 16, 0, 0);
	post(f, RXQ, 0);
	type(f, "secret");
	assert_int_equal(f->ft.needs_reset, 1);
	assert_true(f->vqs[RXQ].broken);
	assert_string_equal(f->vqs[RXQ].broken_why, "device-readable buffer in the receiveq");
	assert_memory_equal(hva(f, DATA_GPA), "......", 6);
	assert_int_equal(used_idx(f, RXQ), 0);

	/* The transmitq stops too. */
	post_tx(f, 0, DATA_GPA + 0x100, "x");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "");

	/* Input to a broken device is dropped: the console keeps reading. */
	type(f, "more");
	assert_int_equal(unread(f), 0);

	/* After a reset only new input reaches a good buffer. */
	loop_call(f, do_reset, 0);
	start(f, FEATURES);
	post_rx(f, 0, DATA_GPA + 0x200, 16);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	type(f, "next");
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, 4);
	assert_memory_equal(hva(f, DATA_GPA + 0x200), "next.", 5);
	assert_int_equal(f->ft.needs_reset, 1);
}

static void test_rx_readable_then_writable(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	memset(hva(f, DATA_GPA), '.', 0x200);
	desc(f, RXQ, 0, DATA_GPA, 8, NEXT, 1);
	desc(f, RXQ, 1, DATA_GPA + 0x100, 8, WRITE, 0);
	post(f, RXQ, 0);
	type(f, "abc");
	assert_int_equal(f->ft.needs_reset, 1);
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "...", 3);
	assert_int_equal(used_idx(f, RXQ), 0);
}

static void test_tx_zero_length_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	memcpy(hva(f, DATA_GPA), "zz", 2);
	desc(f, TXQ, 0, DATA_GPA, 2, NEXT, 1);
	desc(f, TXQ, 1, DATA_GPA + 0x100, 0, 0, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_string_equal(f->vqs[TXQ].broken_why, "zero-length buffer");
	assert_log(f, "");
}

static void test_rx_zero_length_buffer(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	desc(f, RXQ, 0, DATA_GPA, 0, WRITE, 0);
	post(f, RXQ, 0);
	type(f, "a");
	assert_int_equal(f->ft.needs_reset, 1);
	assert_string_equal(f->vqs[RXQ].broken_why, "zero-length buffer");
	assert_int_equal(used_idx(f, RXQ), 0);
}

static void test_tx_chain_loop(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* 0 -> 1 -> 0 ...: longer than the queue. */
	memcpy(hva(f, DATA_GPA), "loop", 4);
	desc(f, TXQ, 0, DATA_GPA, 4, NEXT, 1);
	desc(f, TXQ, 1, DATA_GPA, 4, NEXT, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_string_equal(f->vqs[TXQ].broken_why, "chain longer than the queue");
	assert_log(f, "");
}

static void test_tx_indirect_too_long(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES | F_INDIRECT);
	/* An indirect table of VQ_MAX_CHAIN + 1 entries. */
	desc(f, TXQ, 0, IND_GPA, 16 * (VQ_MAX_CHAIN + 1), INDIRECT, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_string_equal(f->vqs[TXQ].broken_why, "indirect table longer than VQ_MAX_CHAIN");
}

static void test_tx_buffer_outside_ram(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	desc(f, TXQ, 0, RAM_GPA + RAM_SIZE - 2, 4, 0, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_log(f, "");
}

static void test_rx_avail_index_too_far(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	set_avail_idx(f, RXQ, QSZ + 1);
	type(f, "a");
	assert_int_equal(f->ft.needs_reset, 1);
	assert_string_equal(f->vqs[RXQ].broken_why, "avail index more than a queue ahead");
	assert_int_equal(used_idx(f, RXQ), 0);
}

static void test_rx_head_out_of_range(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	post(f, RXQ, QSZ);
	type(f, "a");
	assert_int_equal(f->ft.needs_reset, 1);
	assert_int_equal(used_idx(f, RXQ), 0);
}

/* ---- reset ---- */

static void test_reset_drops_state(void **state)
{
	struct fx *f = *state;
	uint8_t old_rx[0x4000];

	start(f, FEATURES);
	/* Input waiting for a buffer when the driver resets the device. */
	type(f, "held");
	assert_int_equal(used_flags(f, RXQ) & VQ_USED_F_NO_NOTIFY, 0);
	loop_call(f, do_reset, 0);
	loop_sync(f);

	/* The old rings are not the device's any more: nothing touches them. */
	post_rx(f, 0, DATA_GPA + 0x100, 16);
	memcpy(old_rx, hva(f, DESC_GPA(RXQ)), sizeof(old_rx));
	type(f, "x");
	assert_int_equal(unread(f), 0);
	assert_memory_equal(old_rx, hva(f, DESC_GPA(RXQ)), sizeof(old_rx));
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "....", 4);

	/* Set up again: the held input and what came while down are gone, new input flows. */
	start(f, FEATURES);
	post_rx(f, 0, DATA_GPA + 0x200, 16);
	loop_call(f, do_notify, RXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, RXQ), 0);
	type(f, "new");
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, 3);
	assert_memory_equal(hva(f, DATA_GPA + 0x200), "new.", 4);
	post_tx(f, 0, DATA_GPA, "back");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "back");
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_reset_after_break(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	/* Input waits for a buffer, then the guest breaks the transmitq. */
	type(f, "held");
	desc(f, TXQ, 0, DATA_GPA, 0, 0, 0);
	post(f, TXQ, 0);
	loop_call(f, do_notify, TXQ);
	assert_int_equal(f->ft.needs_reset, 1);
	/* The held input is dropped: the console reads again (and drops) while broken. */
	loop_sync(f);
	type(f, "y");
	assert_int_equal(unread(f), 0);

	loop_call(f, do_reset, 0);
	start(f, FEATURES);
	post_tx(f, 0, DATA_GPA, "ok");
	loop_call(f, do_notify, TXQ);
	assert_log(f, "ok");
	post_rx(f, 0, DATA_GPA + 0x100, 16);
	type(f, "z");
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_used(f, RXQ, 0, 0, 1);
	assert_memory_equal(hva(f, DATA_GPA + 0x100), "z.", 2);
	assert_int_equal(f->ft.needs_reset, 1);
}

/* ---- output bounds and back-pressure ---- */

#define BIG_QSZ 256
#define BIG_TABLE 1023
#define BIG_BUF_GPA (RAM_GPA + 0x100000)
#define BIG_BUF_LEN (4u << 20)
/* The device's bounds (console.c): bytes per pass and per chain. */
#define PASS_MAX (64u << 10)
#define CHAIN_MAX (1u << 20)

static struct console_stats pass_stats;
static uint16_t pass_used;

/* The kick and its one pass, and what they did, on the loop thread: nothing runs between. */
static void do_notify_and_count(struct fx *f, uintptr_t q)
{
	f->vdev->ops->queue_notify(f->vdev, (uint16_t)q);
	console_get_stats(f->con, &pass_stats);
	pass_used = used_idx(f, TXQ);
}

static void do_count(struct fx *f, uintptr_t arg)
{
	console_get_stats(f->con, &pass_stats);
}

static uint16_t big_used_idx(struct fx *f)
{
	return __atomic_load_n((uint16_t *)hva(f, USED_GPA(TXQ) + 2), __ATOMIC_ACQUIRE);
}

/*
 * 256 heads that all name one indirect table of 1023 entries, each the same
 * 4 MiB buffer: 1 TiB asked for with 4 MiB of RAM. A pass writes at most
 * PASS_MAX bytes and hands the queue back to the loop, which serves other
 * events and its stop in between; a chain is written up to CHAIN_MAX bytes
 * and then used; the log stops at its bound and counts the rest.
 */
static void test_tx_amplification_bounded(void **state)
{
	struct fx *f = *state;
	struct timespec deadline;
	uint16_t *ring;
	uint32_t id, len;

	f->requeue_ok = true;
	setup_queues(f, FEATURES | F_INDIRECT);
	vq_cleanup(&f->vqs[TXQ]);
	memset(hva(f, DESC_GPA(TXQ)), 0, 0x4000);
	assert_int_equal(vq_setup(&f->vqs[TXQ], &f->gm, BIG_QSZ, DESC_GPA(TXQ), AVAIL_GPA(TXQ),
				  USED_GPA(TXQ), FEATURES | F_INDIRECT),
			 0);
	loop_call(f, do_activate, 0);
	memset(hva(f, BIG_BUF_GPA), 'A', BIG_BUF_LEN);
	for (uint16_t j = 0; j < BIG_TABLE; j++)
		desc_at(f, IND_GPA, j, BIG_BUF_GPA, BIG_BUF_LEN, j + 1 < BIG_TABLE ? NEXT : 0,
			(uint16_t)(j + 1));
	ring = hva(f, AVAIL_GPA(TXQ) + 4);
	for (uint16_t i = 0; i < BIG_QSZ; i++) {
		desc_at(f, DESC_GPA(TXQ), i, IND_GPA, 16 * BIG_TABLE, INDIRECT, 0);
		ring[i] = i;
	}
	__atomic_store_n((uint16_t *)hva(f, AVAIL_GPA(TXQ) + 2), BIG_QSZ, __ATOMIC_RELEASE);

	/* One pass, then back to the loop (before: one pass for all of it). */
	loop_call(f, do_notify_and_count, TXQ);
	assert_int_equal(pass_stats.log_bytes, PASS_MAX);
	assert_int_equal(pass_used, 0);

	/* The loop comes round between passes; the first chain is used after CHAIN_MAX. */
	for (unsigned int i = 0; i < 10000 && big_used_idx(f) < 2; i++)
		loop_call(f, NULL, 0);
	assert_true(big_used_idx(f) >= 2);
	used_elem(f, TXQ, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
	assert_int_equal(f->ft.needs_reset, 0);

	/* The log stopped at 1 MiB and counts what it cut. */
	loop_call(f, do_count, 0);
	assert_int_equal(pass_stats.log_bytes, 1 * MiB);
	assert_true(pass_stats.log_cut >= (uint64_t)CHAIN_MAX);
	{
		struct stat st;

		assert_int_equal(stat(f->log_path, &st), 0);
		assert_int_equal(st.st_size, 1 * MiB);
	}

	/* The loop's stop (what SIGTERM and Ctrl-A x do) is served in the middle of it. */
	ev_stop(f->loop, 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	assert_int_equal(pthread_timedjoin_np(f->thread, NULL, &deadline), 0);
	f->stopped = true;
	assert_true(big_used_idx(f) < BIG_QSZ);
}

/* Reads n bytes of stdout's pipe (blocking, with a deadline). */
static void read_out(struct fx *f, uint8_t *buf, size_t n)
{
	size_t got = 0;

	alarm(10);
	while (got < n) {
		ssize_t r = read(f->out_r, buf + got, n - got);

		assert_true(r > 0);
		got += (size_t)r;
	}
	alarm(0);
}

static void do_tx_flags(struct fx *f, uintptr_t arg)
{
	*(uint16_t *)arg = used_flags(f, TXQ);
}

/*
 * stdout is full: the console holds what it can and refuses the rest, the
 * chain stays in flight (not used, kicks off), and goes on once the reader
 * drains the pipe; all of it arrives, in order, and the driver is told.
 */
static void test_tx_waits_for_full_stdout(void **state)
{
	struct fx *f = *state;
	const size_t half = 40 << 10, total = 2 * half;
	uint8_t *out = malloc(f->out_fill + total + 4);
	uint16_t flags = 0;

	assert_non_null(out);
	f->requeue_ok = true; /* 64 KiB in a pass, then a second pass */
	start(f, FEATURES);
	for (size_t i = 0; i < total; i++)
		*(uint8_t *)hva(f, DATA_GPA + i) = (uint8_t)(i * 13 + i / 256);
	desc(f, TXQ, 0, DATA_GPA, (uint32_t)half, NEXT, 1);
	desc(f, TXQ, 1, DATA_GPA + half, (uint32_t)half, 0, 0);
	post(f, TXQ, 0);
	post_tx(f, 2, DATA_GPA + 0x40000, "next");
	loop_call(f, do_notify, TXQ);
	loop_sync(f);
	assert_int_equal(used_idx(f, TXQ), 0);
	assert_int_equal(f->ft.notified[TXQ], 0);
	loop_call(f, do_tx_flags, (uintptr_t)&flags);
	assert_int_equal(flags & VQ_USED_F_NO_NOTIFY, VQ_USED_F_NO_NOTIFY);
	/* A kick meanwhile changes nothing. */
	loop_call(f, do_notify, TXQ);
	assert_int_equal(used_idx(f, TXQ), 0);

	read_out(f, out, f->out_fill + total + 4);
	for (size_t i = 0; i < total; i++)
		if (out[f->out_fill + i] != (uint8_t)(i * 13 + i / 256))
			fail_msg("byte %zu of the output differs", i);
	assert_memory_equal(out + f->out_fill + total, "next", 4);
	loop_sync(f);
	assert_int_equal(used_idx(f, TXQ), 2);
	assert_used(f, TXQ, 0, 0, 0);
	assert_used(f, TXQ, 1, 2, 0);
	assert_true(f->ft.notified[TXQ] >= 1);
	assert_int_equal(f->ft.needs_reset, 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_identity),
		T(test_tx_reaches_console),
		T(test_tx_indirect),
		T(test_tx_posted_before_driver_ok),
		T(test_rx_delivers_input),
		T(test_rx_input_spans_buffers),
		T(test_rx_held_until_buffer_posted),
		T(test_rx_held_event_idx),
		T(test_rx_spurious_kick),
		T(test_rx_dropped_before_driver_ok),
		T(test_rx_queue_not_enabled),
		T(test_tx_writable_buffer),
		T(test_tx_only_writable_buffer),
		T(test_rx_readable_buffer),
		T(test_rx_readable_then_writable),
		T(test_tx_zero_length_buffer),
		T(test_rx_zero_length_buffer),
		T(test_tx_chain_loop),
		T(test_tx_indirect_too_long),
		T(test_tx_buffer_outside_ram),
		T(test_rx_avail_index_too_far),
		T(test_rx_head_out_of_range),
		T(test_reset_drops_state),
		T(test_reset_after_break),
#undef T
		cmocka_unit_test_setup_teardown(test_tx_amplification_bounded, setup_bounded_log,
						teardown),
		cmocka_unit_test_setup_teardown(test_tx_waits_for_full_stdout, setup_full_stdout,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
