/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_TEST_VIRTIO_CONSOLE_PORTS_FIXTURE_H
#define KVMRUN_TEST_VIRTIO_CONSOLE_PORTS_FIXTURE_H

/*
 * virtio-console with two named ports (and port 0 the console, or none)
 * against the recording transport and loop. The guest driver is the test, on
 * fake guest RAM; every device call is made on the test's thread (it plays
 * the event loop). The host side of each named port records what it gets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "backend/console.h"
#include "kvmrun/guest_mem.h"
#include "kvmrun/virtio.h"
#include "virtio/console_ports.h"
#include "virtio/devices.h"

#include "fake_loop.h"
#include "fake_transport.h"
#include "vring_driver.h"

#define RAM_GPA 0x100000ULL
#define RAM_SIZE (2 * MiB)
#define QSZ 8
#define NQ 8 /* port 0, control, two named ports */
#define DESC_GPA(q) (RAM_GPA + (q)*0x4000ULL)
#define AVAIL_GPA(q) (DESC_GPA(q) + 0x1000)
#define USED_GPA(q) (DESC_GPA(q) + 0x2000)
/* The buffer of descriptor i of queue q (one page each). */
#define DATA_GPA(q, i) (RAM_GPA + 0x40000 + (q)*0x10000ULL + (i)*0x1000ULL)

#define RXQ0 0
#define TXQ0 1
#define CRXQ 2
#define CTXQ 3
#define RXQ(port) (2 * (port) + 4) /* named port index port: guest id port + 1 */
#define TXQ(port) (RXQ(port) + 1)

#define F_MULTIPORT VIRTIO_BIT(1)
#define FEATURES (VIRTIO_BIT(VIRTIO_F_VERSION_1) | F_MULTIPORT)

/* Control events. */
#define DEVICE_READY 0
#define DEVICE_ADD 1
#define DEVICE_REMOVE 2
#define PORT_READY 3
#define CONSOLE_PORT 4
#define RESIZE 5
#define PORT_OPEN 6
#define PORT_NAME 7
#define NO_ID 0xffffffffu

/* The host side of a named port. */
struct host_port {
	uint8_t got[4096];
	size_t got_len;
	size_t budget; /* bytes from_guest takes from now on (SIZE_MAX: all) */
	size_t claim;  /* nonzero: from_guest claims this much, whatever it took */
	unsigned int from_calls, writable_calls, open_calls, close_calls;
	bool open;
};

struct fx {
	struct guest_mem gm;
	struct drv_ram ram;
	struct vq vqs[NQ];
	uint16_t avail_idx[NQ], next_desc[NQ];
	uint16_t used_seen[NQ]; /* used entries the driver has looked at */
	struct virtio_dev *vdev;
	struct fake_transport ft;
	struct console *con;
	char log_path[64];
	struct host_port hp[2];
};

struct ctrl_msg {
	uint32_t id;
	uint16_t event, value;
	char name[128];
};

/* ---- the host side of the named ports ---- */

static inline size_t hp_from_guest(void *opaque, const uint8_t *buf, size_t len)
{
	struct host_port *h = opaque;
	size_t n = MIN(len, h->budget);

	h->from_calls++;
	if (h->got_len < sizeof(h->got)) /* the first bytes kept, all counted */
		memcpy(h->got + h->got_len, buf, MIN(n, sizeof(h->got) - h->got_len));
	h->got_len += n;
	if (h->budget != SIZE_MAX)
		h->budget -= n;
	return h->claim ? h->claim : n;
}

static inline void hp_writable(void *opaque)
{
	((struct host_port *)opaque)->writable_calls++;
}

static inline void hp_open_changed(void *opaque, bool open)
{
	struct host_port *h = opaque;

	assert_true(h->open != open); /* called on changes only */
	h->open = open;
	if (open)
		h->open_calls++;
	else
		h->close_calls++;
}

static const struct virtio_console_port_ops hp_ops = {
    .from_guest = hp_from_guest,
    .writable = hp_writable,
    .open_changed = hp_open_changed,
};

/* ---- the guest driver ---- */

static inline struct drv_ring ring(struct fx *f, int q)
{
	return (struct drv_ring){drv_hva(&f->ram, DESC_GPA(q)), drv_hva(&f->ram, AVAIL_GPA(q)), QSZ,
				 &f->next_desc[q], &f->avail_idx[q]};
}

static inline uint64_t next_gpa(struct fx *f, int q)
{
	return DATA_GPA(q, f->next_desc[q] % QSZ);
}

/* Posts one device-readable buffer holding len bytes of data on queue q; returns the head. */
static inline uint16_t post_out(struct fx *f, int q, const void *data, uint32_t len)
{
	struct drv_ring r = ring(f, q);
	struct seg s = {next_gpa(f, q), len, 0};

	memcpy(drv_hva(&f->ram, s.gpa), data, len);
	return drv_post(&r, &s, 1);
}

/* Posts one device-writable buffer of len bytes (filled with '.') on queue q. */
static inline uint16_t post_in(struct fx *f, int q, uint32_t len)
{
	struct drv_ring r = ring(f, q);
	struct seg s = {next_gpa(f, q), len, VQ_DESC_F_WRITE};

	memset(drv_hva(&f->ram, s.gpa), '.', len);
	return drv_post(&r, &s, 1);
}

static inline void kick(struct fx *f, int q)
{
	f->vdev->ops->queue_notify(f->vdev, (uint16_t)q);
}

static inline uint16_t used_idx(struct fx *f, int q)
{
	return drv_used_idx(drv_hva(&f->ram, USED_GPA(q)));
}

/* The next used entry of queue q the driver has not looked at: false when none. */
static inline bool next_used(struct fx *f, int q, uint32_t *id, uint32_t *len)
{
	if (used_idx(f, q) == f->used_seen[q])
		return false;
	drv_used_elem(drv_hva(&f->ram, USED_GPA(q)), QSZ, f->used_seen[q]++, id, len);
	return true;
}

static inline void put_msg(uint8_t *m, uint32_t id, uint16_t event, uint16_t value)
{
	memcpy(m, &id, 4);
	memcpy(m + 4, &event, 2);
	memcpy(m + 6, &value, 2);
}

/* The driver sends a control message (one buffer of 8 bytes) and kicks. */
static inline void ctrl_send(struct fx *f, uint32_t id, uint16_t event, uint16_t value)
{
	uint8_t m[8];

	put_msg(m, id, event, value);
	post_out(f, CTXQ, m, sizeof(m));
	kick(f, CTXQ);
}

/*
 * The next control message from the device, if any; the driver posts its
 * buffer again (as Linux does) and kicks.
 */
static inline bool ctrl_recv(struct fx *f, struct ctrl_msg *m)
{
	uint32_t head = 0, len = 0;
	const uint8_t *p;

	if (!next_used(f, CRXQ, &head, &len))
		return false;
	assert_true(head < QSZ);
	assert_true(len >= 8 && len < 8 + sizeof(m->name));
	p = drv_hva(&f->ram, DATA_GPA(CRXQ, head));
	memset(m, 0, sizeof(*m));
	memcpy(&m->id, p, 4);
	memcpy(&m->event, p + 4, 2);
	memcpy(&m->value, p + 6, 2);
	memcpy(m->name, p + 8, len - 8);
	post_in(f, CRXQ, 256);
	kick(f, CRXQ);
	return true;
}

static inline void expect_ctrl(struct fx *f, uint32_t id, uint16_t event, uint16_t value,
			       const char *name)
{
	struct ctrl_msg m;

	assert_true(ctrl_recv(f, &m));
	assert_int_equal(m.id, id);
	assert_int_equal(m.event, event);
	assert_int_equal(m.value, value);
	if (name)
		assert_string_equal(m.name, name);
}

static inline void expect_no_ctrl(struct fx *f)
{
	struct ctrl_msg m;

	assert_false(ctrl_recv(f, &m));
}

/* The queues set up as a driver does, the device activated (transport's part). */
static inline void start(struct fx *f, uint64_t features)
{
	for (int q = 0; q < f->vdev->nr_queues; q++) {
		memset(drv_hva(&f->ram, DESC_GPA(q)), 0, 0x4000);
		f->avail_idx[q] = f->next_desc[q] = f->used_seen[q] = 0;
		assert_int_equal(vq_setup(&f->vqs[q], &f->gm, QSZ, DESC_GPA(q), AVAIL_GPA(q),
					  USED_GPA(q), features),
				 0);
	}
	f->vdev->features = features;
	f->vdev->active = true;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
	for (int q = 0; q < f->vdev->nr_queues; q++)
		kick(f, q);
}

/* What the transport does on a reset: the device first, then the queues. */
static inline void reset(struct fx *f)
{
	f->vdev->ops->reset(f->vdev);
	f->vdev->active = false;
	for (int q = 0; q < NQ; q++)
		vq_cleanup(&f->vqs[q]);
	f->ft.needs_reset = 0; /* the status is cleared with the reset */
}

/*
 * A Linux driver's probe: control buffers posted, DEVICE_READY; then for each
 * DEVICE_ADD the port's receive buffers and PORT_READY. Checks the device's
 * answers up to the last port's messages; the ports are not opened.
 */
static inline void handshake(struct fx *f)
{
	start(f, FEATURES);
	for (int i = 0; i < 4; i++)
		post_in(f, CRXQ, 256);
	kick(f, CRXQ);
	ctrl_send(f, NO_ID, DEVICE_READY, 1);
	if (f->con)
		expect_ctrl(f, 0, DEVICE_ADD, 0, NULL);
	expect_ctrl(f, 1, DEVICE_ADD, 0, NULL);
	expect_ctrl(f, 2, DEVICE_ADD, 0, NULL);
	expect_no_ctrl(f);
	if (f->con) {
		ctrl_send(f, 0, PORT_READY, 1);
		expect_ctrl(f, 0, CONSOLE_PORT, 1, NULL);
		expect_ctrl(f, 0, PORT_OPEN, 1, NULL);
		ctrl_send(f, 0, PORT_OPEN, 1); /* as Linux does for a console port */
	}
	ctrl_send(f, 1, PORT_READY, 1);
	expect_ctrl(f, 1, PORT_OPEN, 1, NULL); /* before the name: see console_ports.c */
	expect_ctrl(f, 1, PORT_NAME, 0, "kvmrun.agent");
	ctrl_send(f, 2, PORT_READY, 1);
	expect_ctrl(f, 2, PORT_OPEN, 1, NULL); /* before the name: see console_ports.c */
	expect_ctrl(f, 2, PORT_NAME, 0, "second");
	expect_no_ctrl(f);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* The handshake, and the guest opens named port index port. */
static inline void open_port(struct fx *f, unsigned int port)
{
	ctrl_send(f, port + 1, PORT_OPEN, 1);
	assert_true(f->hp[port].open);
	assert_true(virtio_console_port_is_open(f->vdev, port));
}

/* ---- fixture ---- */

static inline int setup_with(void **state, bool with_console)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct virtio_console_port ports[2] = {
	    {"kvmrun.agent", &hp_ops, &f->hp[0]},
	    {"second", &hp_ops, &f->hp[1]},
	};

	assert_non_null(f);
	fake_loop_reset();
	f->ram = drv_ram_map(&f->gm, RAM_GPA, RAM_SIZE);
	for (int i = 0; i < 2; i++)
		f->hp[i].budget = SIZE_MAX;
	if (with_console) {
		test_log_path(f->log_path, sizeof(f->log_path), "vcon-ports");
		assert_int_equal(
		    console_create(&f->con, NULL, false, f->log_path, UINT64_MAX, NULL, NULL), 0);
	}
	assert_int_equal(virtio_console_create_ports(&f->vdev, f->con, ports, 2, NULL, &f->gm), 0);
	assert_int_equal(f->vdev->nr_queues, NQ);
	fake_transport_attach(&f->ft, f->vdev);
	f->vdev->vqs = f->vqs;
	*state = f;
	return 0;
}

static inline int setup(void **state)
{
	return setup_with(state, false);
}

static inline int setup_console(void **state)
{
	return setup_with(state, true);
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	drv_dev_destroy(f->vdev);
	for (int q = 0; q < NQ; q++)
		vq_cleanup(&f->vqs[q]);
	if (f->con) {
		console_destroy(f->con);
		unlink(f->log_path);
	}
	fake_ram_free(f->ram.host);
	free(f);
	return 0;
}

#endif
