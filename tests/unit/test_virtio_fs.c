// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-fs against a scripted vhost-user backend, the recording transport and the
 * recording event loop: the config space (tag, num_request_queues, writes ignored,
 * out-of-range reads), the features offered, the queues handed over at activation
 * (the messages, the doorbell and interrupt eventfds behind them, the doorbells left
 * to the backend), the rings stopped at reset, the backend's interrupts relayed as
 * queue interrupts, and a backend that hangs up or fails a request breaking only the
 * device.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_loop.h"
#include "fake_transport.h"
#include "fake_vhost_backend.h"
#include "kvmrun/config.h"
#include "kvmrun/virtio.h"
#include "vhost/vhost_user.h"
#include "virtio/devices.h"

#define BIT(n) (1ULL << (n))
#define RAM_GPA 0x100000ULL
#define RAM_SIZE (2u << 20)
#define QSZ 64
#define NQ 2
#define CFG_SIZE 40
#define F_VERSION_1 BIT(VIRTIO_F_VERSION_1)
#define F_RING (BIT(VQ_F_INDIRECT_DESC) | BIT(VQ_F_EVENT_IDX))
/* virtiofsd's offer: the ring features, protocol features, and bits kvmrun must not pass. */
#define BACKEND_FEATURES                                                                           \
	(F_VERSION_1 | F_RING | BIT(VU_F_PROTOCOL_FEATURES) | BIT(24) | BIT(34) | BIT(0))

struct fx {
	struct fake_vhost_backend *b;
	struct guest_mem gm;
	int memfd;
	uint8_t *ram;
	struct share_config cfg;
	struct virtio_dev *vdev;
	struct fake_transport ft;
	struct vq vqs[NQ];
	int kick[NQ];
	unsigned int created_msgs; /* requests the backend had when create returned */
};

static const uint64_t ring_base[NQ] = {0x0000, 0x10000};

static struct fx *fx_new(uint64_t features)
{
	struct fvb_config bc = {
	    .features = features,
	    .protocol_features = BIT(VU_PROTOCOL_F_REPLY_ACK) | BIT(VU_PROTOCOL_F_MQ),
	    .queue_num = NQ,
	};
	struct fx *f = calloc(1, sizeof(*f));
	char err[256] = "";
	int sock;

	assert_non_null(f);
	fake_loop_reset();
	f->b = fvb_start(&bc, &sock);
	assert_non_null(f->b);
	f->memfd = memfd_create("test-ram", MFD_CLOEXEC);
	assert_true(f->memfd >= 0);
	assert_int_equal(ftruncate(f->memfd, RAM_SIZE), 0);
	f->ram = fvb_ram_map(&f->gm, f->memfd, RAM_GPA, RAM_SIZE, 0);
	assert_non_null(f->ram);
	snprintf(f->cfg.path, sizeof(f->cfg.path), "/srv/docs");
	snprintf(f->cfg.tag, sizeof(f->cfg.tag), "docs");
	assert_int_equal(virtio_fs_create(&f->vdev, &f->cfg, sock, NULL, &f->gm, err, sizeof(err)),
			 0);
	assert_string_equal(err, "");
	f->created_msgs = fvb_count(f->b);
	fake_transport_attach(&f->ft, f->vdev);
	for (unsigned int q = 0; q < NQ; q++) {
		f->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(f->kick[q] >= 0);
		f->ft.kick_fds[q] = f->kick[q];
	}
	return f;
}

static void fx_free(struct fx *f)
{
	if (f->vdev->active && f->vdev->ops->reset)
		f->vdev->ops->reset(f->vdev);
	f->vdev->ops->destroy(f->vdev);
	for (unsigned int q = 0; q < NQ; q++) {
		vq_cleanup(&f->vqs[q]);
		close(f->kick[q]);
	}
	fvb_stop(f->b);
	fvb_ram_unmap(f->ram, RAM_SIZE);
	close(f->memfd);
	free(f);
}

/* What the transport does at DRIVER_OK: rings set up, features final, then activate. */
static int fx_activate(struct fx *f, uint64_t features)
{
	int ret;

	f->vdev->features = features;
	f->vdev->vqs = f->vqs;
	for (unsigned int q = 0; q < NQ; q++)
		assert_int_equal(vq_setup(&f->vqs[q], &f->gm, QSZ, RAM_GPA + ring_base[q],
					  RAM_GPA + ring_base[q] + 0x4000,
					  RAM_GPA + ring_base[q] + 0x8000, features),
				 0);
	ret = f->vdev->ops->activate(f->vdev);
	f->vdev->active = ret == 0;
	return ret;
}

static void fx_reset(struct fx *f)
{
	f->vdev->ops->reset(f->vdev);
	f->vdev->active = false;
}

/* The watch that is not an eventfd of the device: the backend's socket. */
static struct fake_watch *socket_watch(void)
{
	for (unsigned int i = 0; i < FAKE_LOOP_WATCHES; i++)
		if (fake_loop.w[i].fn && (fake_loop.w[i].events & EPOLLRDHUP))
			return &fake_loop.w[i];
	return NULL;
}

/* The loop's watch on the device's end of eventfd backend_copy (written once here). */
static struct fake_watch *watch_behind(int backend_copy)
{
	uint64_t one = 1, v;

	assert_int_equal(write(backend_copy, &one, sizeof(one)), sizeof(one));
	for (unsigned int i = 0; i < FAKE_LOOP_WATCHES; i++) {
		struct fake_watch *w = &fake_loop.w[i];

		if (w->fn && !(w->events & EPOLLRDHUP) && read(w->fd, &v, sizeof(v)) == sizeof(v))
			return w;
	}
	return NULL;
}

static uint32_t payload_u32(const struct fvb_msg *m, size_t off)
{
	uint32_t v;

	memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

static uint64_t payload_u64(const struct fvb_msg *m, size_t off)
{
	uint64_t v;

	memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

/* ---- config space ---- */

static void read_cfg(struct fx *f, uint32_t off, void *buf, uint32_t len)
{
	f->vdev->ops->config_read(f->vdev, off, buf, len);
}

static void test_config_space(void **state)
{
	struct fx *f = fx_new(BACKEND_FEATURES);
	const struct virtio_dev_ops *ops = f->vdev->ops;
	uint8_t cfg[CFG_SIZE], junk[CFG_SIZE], want[CFG_SIZE] = "docs";
	uint32_t nrq;
	uint16_t half;

	(void)state;
	assert_int_equal(ops->device_id, VIRTIO_ID_FS);
	assert_int_equal(ops->config_size, CFG_SIZE);
	assert_true(ops->external_queues);
	assert_int_equal(f->vdev->nr_queues, NQ);
	want[36] = 1; /* num_request_queues, little endian */
	read_cfg(f, 0, cfg, CFG_SIZE);
	assert_memory_equal(cfg, want, CFG_SIZE);
	read_cfg(f, 36, &nrq, 4);
	assert_int_equal(nrq, 1);
	read_cfg(f, 36, &half, 2);
	assert_int_equal(half, 1);
	read_cfg(f, 2, &half, 2);
	assert_memory_equal(&half, "cs", 2);
	/* Every field is read-only: a write changes nothing. */
	memset(junk, 0x5a, sizeof(junk));
	ops->config_write(f->vdev, 0, junk, CFG_SIZE);
	ops->config_write(f->vdev, 36, junk, 4);
	ops->config_write(f->vdev, 0, junk, 1);
	read_cfg(f, 0, cfg, CFG_SIZE);
	assert_memory_equal(cfg, want, CFG_SIZE);
	/* Out of range (the transport checks too): zeroes, nothing read past the end. */
	memset(cfg, 0xff, sizeof(cfg));
	read_cfg(f, 38, cfg, 4);
	assert_memory_equal(cfg, "\0\0\0\0", 4);
	memset(cfg, 0xff, sizeof(cfg));
	read_cfg(f, 0xffffffffu, cfg, 2);
	assert_memory_equal(cfg, "\0\0", 2);
	assert_int_equal(f->ft.needs_reset, 0);
	fx_free(f);
}

/* A tag of all 36 bytes fills the field with no NUL. */
static void test_config_long_tag(void **state)
{
	struct fvb_config bc = {.features = BACKEND_FEATURES};
	struct share_config cfg = {.socket = "/run/fs.sock"};
	struct fake_vhost_backend *b;
	struct virtio_dev *vdev;
	struct guest_mem gm = {0};
	uint8_t buf[CFG_SIZE];
	char err[256];
	int sock;

	(void)state;
	fake_loop_reset();
	memset(cfg.tag, 't', SHARE_TAG_MAX);
	b = fvb_start(&bc, &sock);
	assert_non_null(b);
	assert_int_equal(virtio_fs_create(&vdev, &cfg, sock, NULL, &gm, err, sizeof(err)), 0);
	vdev->ops->config_read(vdev, 0, buf, CFG_SIZE);
	for (unsigned int i = 0; i < SHARE_TAG_MAX; i++)
		assert_int_equal(buf[i], 't');
	assert_int_equal(buf[36], 1);
	vdev->ops->destroy(vdev);
	fvb_stop(b);
}

/* ---- features and the handshake ---- */

static void test_features_offered(void **state)
{
	struct fx *f = fx_new(BACKEND_FEATURES);

	(void)state;
	/* The backend's ring features, nothing else (the transport adds VERSION_1). */
	assert_int_equal(f->vdev->host_features, F_RING);
	assert_int_equal(f->vdev->host_features & BIT(VU_F_PROTOCOL_FEATURES), 0);
	fx_free(f);
	/* What the backend does not offer, the guest is not offered either. */
	f = fx_new(F_VERSION_1 | BIT(VQ_F_INDIRECT_DESC));
	assert_int_equal(f->vdev->host_features, BIT(VQ_F_INDIRECT_DESC));
	fx_free(f);
}

static void expect_create_fails(uint64_t features, uint32_t fault_req, enum fvb_fault fault,
				const char *says)
{
	struct fvb_config bc = {.features = features};
	struct share_config cfg = {.path = "/srv/docs", .tag = "docs"};
	struct fake_vhost_backend *b;
	struct virtio_dev *vdev = NULL;
	struct guest_mem gm = {0};
	char err[256] = "";
	int sock;

	fake_loop_reset();
	b = fvb_start(&bc, &sock);
	assert_non_null(b);
	if (fault_req)
		fvb_fault(b, fault_req, fault);
	assert_true(virtio_fs_create(&vdev, &cfg, sock, NULL, &gm, err, sizeof(err)) < 0);
	assert_null(vdev);
	if (!strstr(err, "--share /srv/docs") || !strstr(err, says))
		fail_msg("error line: %s", err);
	/* Nothing left watched. */
	for (unsigned int i = 0; i < FAKE_LOOP_WATCHES; i++)
		assert_null(fake_loop.w[i].fn);
	fvb_stop(b);
}

static void test_create_fails(void **state)
{
	(void)state;
	expect_create_fails(F_RING, 0, FVB_OK, "virtio 1.0");
	expect_create_fails(BACKEND_FEATURES, FVB_GET_FEATURES, FVB_CLOSE, "did not answer");
	expect_create_fails(BACKEND_FEATURES, FVB_GET_FEATURES, FVB_WRONG_CODE, "did not answer");
}

/* ---- activation ---- */

static void test_activate_starts_queues(void **state)
{
	static const uint32_t per_queue[] = {FVB_SET_VRING_NUM,	 FVB_SET_VRING_ADDR,
					     FVB_SET_VRING_BASE, FVB_SET_VRING_KICK,
					     FVB_SET_VRING_CALL, FVB_SET_VRING_ENABLE};
	struct fx *f = fx_new(BACKEND_FEATURES);
	const uint64_t feat = F_VERSION_1 | BIT(VQ_F_EVENT_IDX);
	unsigned int n = f->created_msgs, want = n + 2 + NQ * ARRAY_SIZE(per_queue);
	const struct fvb_msg *m;

	(void)state;
	assert_int_equal(fx_activate(f, feat), 0);
	assert_int_equal(fvb_wait(f->b, want), want);
	assert_string_equal(fvb_violation(f->b), "");
	m = fvb_msg(f->b, n++);
	assert_int_equal(m->request, FVB_SET_FEATURES);
	assert_int_equal(payload_u64(m, 0), feat | BIT(VU_F_PROTOCOL_FEATURES));
	m = fvb_msg(f->b, n++);
	assert_int_equal(m->request, FVB_SET_MEM_TABLE);
	assert_int_equal(m->nfds, 1);
	for (unsigned int q = 0; q < NQ; q++) {
		for (unsigned int i = 0; i < ARRAY_SIZE(per_queue); i++) {
			m = fvb_msg(f->b, n++);
			assert_int_equal(m->request, per_queue[i]);
			assert_int_equal(payload_u32(m, 0) & 0xff, q);
		}
		/* The rings at kvmrun's addresses of the driver's guest addresses. */
		m = fvb_msg(f->b, n - 5);
		assert_int_equal(payload_u64(m, 8), (uintptr_t)(f->ram + ring_base[q]));
		assert_int_equal(payload_u64(m, 16), (uintptr_t)(f->ram + ring_base[q] + 0x8000));
		assert_int_equal(payload_u64(m, 24), (uintptr_t)(f->ram + ring_base[q] + 0x4000));
		assert_int_equal(payload_u32(fvb_msg(f->b, n - 6), 4), QSZ);
		/* The doorbell handed over is the transport's, and the loop leaves it alone. */
		m = fvb_msg(f->b, n - 3);
		assert_int_equal(m->nfds, 1);
		{
			uint64_t one = 1, v = 0;

			assert_int_equal(write(m->fds[0], &one, sizeof(one)), sizeof(one));
			assert_int_equal(read(f->kick[q], &v, sizeof(v)), sizeof(v));
			assert_int_equal(v, 1);
		}
		assert_null(fake_loop_find(NULL, f->kick[q]));
		/* The backend's interrupt reaches the driver as queue q's. */
		m = fvb_msg(f->b, n - 2);
		assert_int_equal(m->nfds, 1);
		{
			struct fake_watch *w = watch_behind(m->fds[0]);

			assert_non_null(w);
			assert_int_equal(f->ft.notified[q], 0);
			w->fn(w->opaque, EPOLLIN);
			assert_int_equal(f->ft.notified[q], 1);
			assert_int_equal(f->ft.notifies, 1 + q);
		}
	}
	assert_int_equal(f->ft.needs_reset, 0);
	fx_free(f);
}

/* A queue the driver did not enable is not handed over. */
static void test_activate_enabled_only(void **state)
{
	struct fx *f = fx_new(BACKEND_FEATURES);
	unsigned int n = f->created_msgs;

	(void)state;
	f->vdev->features = F_VERSION_1;
	f->vdev->vqs = f->vqs;
	assert_int_equal(vq_setup(&f->vqs[1], &f->gm, QSZ, RAM_GPA + ring_base[1],
				  RAM_GPA + ring_base[1] + 0x4000, RAM_GPA + ring_base[1] + 0x8000,
				  F_VERSION_1),
			 0);
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
	f->vdev->active = true;
	assert_int_equal(fvb_wait(f->b, n + 8), n + 8);
	for (unsigned int i = n + 2; i < fvb_count(f->b); i++)
		assert_int_equal(payload_u32(fvb_msg(f->b, i), 0) & 0xff, 1);
	fx_reset(f);
	assert_int_equal(fvb_wait(f->b, n + 9), n + 9);
	assert_int_equal(fvb_msg(f->b, n + 8)->request, FVB_GET_VRING_BASE);
	assert_int_equal(payload_u32(fvb_msg(f->b, n + 8), 0), 1);
	fx_free(f);
}

/* ---- reset ---- */

static void test_reset_stops_rings(void **state)
{
	struct fx *f = fx_new(BACKEND_FEATURES);
	const struct fvb_msg *call;
	struct fake_watch *w;
	unsigned int n;

	(void)state;
	assert_int_equal(fx_activate(f, F_VERSION_1), 0);
	n = fvb_wait(f->b, f->created_msgs + 14);
	call = fvb_msg(f->b, n - 2); /* queue 1's SET_VRING_CALL */
	assert_int_equal(call->request, FVB_SET_VRING_CALL);
	fx_reset(f);
	assert_int_equal(fvb_wait(f->b, n + NQ), n + NQ);
	for (unsigned int q = 0; q < NQ; q++) {
		assert_int_equal(fvb_msg(f->b, n + q)->request, FVB_GET_VRING_BASE);
		assert_int_equal(payload_u32(fvb_msg(f->b, n + q), 0), q);
	}
	/* A late interrupt of the stopped backend does not reach the driver. */
	w = watch_behind(call->fds[0]);
	assert_non_null(w);
	w->fn(w->opaque, EPOLLIN);
	assert_int_equal(f->ft.notifies, 0);
	/* And the next activation hands the queues over again. */
	assert_int_equal(fx_activate(f, F_VERSION_1), 0);
	assert_int_equal(fvb_wait(f->b, n + NQ + 14), n + NQ + 14);
	assert_int_equal(fvb_msg(f->b, n + NQ)->request, FVB_SET_FEATURES);
	assert_int_equal(f->ft.needs_reset, 0);
	fx_free(f);
}

/* ---- the backend goes wrong ---- */

static void test_backend_hangs_up(void **state)
{
	struct fx *f = fx_new(BACKEND_FEATURES);
	struct fake_watch *w = socket_watch();
	struct pollfd pfd;
	int fd;

	(void)state;
	assert_non_null(w);
	fd = w->fd;
	assert_int_equal(fx_activate(f, F_VERSION_1), 0);
	fvb_wait(f->b, f->created_msgs + 14);
	fvb_stop(f->b);
	f->b = NULL;
	/* What epoll reports on the socket now. */
	pfd = (struct pollfd){.fd = fd, .events = POLLIN | POLLRDHUP};
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	w->fn(w->opaque, (uint32_t)pfd.revents);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_null(fake_loop_find(NULL, fd));
	/* The driver resets and tries again: refused at once, the device stays broken. */
	fx_reset(f);
	assert_true(fx_activate(f, F_VERSION_1) < 0);
	fx_free(f);
}

static void expect_activate_fails(uint32_t req, enum fvb_fault fault)
{
	struct fx *f = fx_new(BACKEND_FEATURES);

	fvb_fault(f->b, req, fault);
	assert_true(fx_activate(f, F_VERSION_1) < 0);
	assert_false(f->vdev->active);
	/* The transport marks the device; here nothing else is broken, nothing crashes. */
	fx_free(f);
}

static void test_activate_fails(void **state)
{
	(void)state;
	expect_activate_fails(FVB_SET_FEATURES, FVB_NACK);
	expect_activate_fails(FVB_SET_MEM_TABLE, FVB_CLOSE);
	expect_activate_fails(FVB_SET_VRING_CALL, FVB_NACK);
	expect_activate_fails(FVB_SET_VRING_ENABLE, FVB_WRONG_CODE);
}

/* Guest RAM without a descriptor cannot be shared: activation fails, nothing sent for it. */
static void test_activate_anonymous_ram(void **state)
{
	struct fx *f = fx_new(BACKEND_FEATURES);
	unsigned int n = f->created_msgs;

	(void)state;
	f->gm.regions[0].fd = -1;
	assert_true(fx_activate(f, F_VERSION_1) < 0);
	fvb_wait(f->b, n + 1);
	for (unsigned int i = n; i < fvb_count(f->b); i++)
		assert_int_not_equal(fvb_msg(f->b, i)->request, FVB_SET_MEM_TABLE);
	f->gm.regions[0].fd = f->memfd;
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_space),
	    cmocka_unit_test(test_config_long_tag),
	    cmocka_unit_test(test_features_offered),
	    cmocka_unit_test(test_create_fails),
	    cmocka_unit_test(test_activate_starts_queues),
	    cmocka_unit_test(test_activate_enabled_only),
	    cmocka_unit_test(test_reset_stops_rings),
	    cmocka_unit_test(test_backend_hangs_up),
	    cmocka_unit_test(test_activate_fails),
	    cmocka_unit_test(test_activate_anonymous_ram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
