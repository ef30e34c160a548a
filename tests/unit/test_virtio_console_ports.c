// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console's named ports (MULTIPORT): the control handshake as a Linux
 * driver does it, data both ways on a named port with back-pressure both
 * ways, opening and closing, resets, and every malformed control message a
 * guest can send. The guest driver is this test, on fake guest RAM, with a
 * recording transport and loop; every device call is made on the test's
 * thread (it plays the event loop).
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

static size_t hp_from_guest(void *opaque, const uint8_t *buf, size_t len)
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

static void hp_writable(void *opaque)
{
	((struct host_port *)opaque)->writable_calls++;
}

static void hp_open_changed(void *opaque, bool open)
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

static struct drv_ring ring(struct fx *f, int q)
{
	return (struct drv_ring){drv_hva(&f->ram, DESC_GPA(q)), drv_hva(&f->ram, AVAIL_GPA(q)), QSZ,
				 &f->next_desc[q], &f->avail_idx[q]};
}

static uint64_t next_gpa(struct fx *f, int q)
{
	return DATA_GPA(q, f->next_desc[q] % QSZ);
}

/* Posts one device-readable buffer holding len bytes of data on queue q; returns the head. */
static uint16_t post_out(struct fx *f, int q, const void *data, uint32_t len)
{
	struct drv_ring r = ring(f, q);
	struct seg s = {next_gpa(f, q), len, 0};

	memcpy(drv_hva(&f->ram, s.gpa), data, len);
	return drv_post(&r, &s, 1);
}

/* Posts one device-writable buffer of len bytes (filled with '.') on queue q. */
static uint16_t post_in(struct fx *f, int q, uint32_t len)
{
	struct drv_ring r = ring(f, q);
	struct seg s = {next_gpa(f, q), len, VQ_DESC_F_WRITE};

	memset(drv_hva(&f->ram, s.gpa), '.', len);
	return drv_post(&r, &s, 1);
}

static void kick(struct fx *f, int q)
{
	f->vdev->ops->queue_notify(f->vdev, (uint16_t)q);
}

static uint16_t used_idx(struct fx *f, int q)
{
	return drv_used_idx(drv_hva(&f->ram, USED_GPA(q)));
}

/* The next used entry of queue q the driver has not looked at: false when none. */
static bool next_used(struct fx *f, int q, uint32_t *id, uint32_t *len)
{
	if (used_idx(f, q) == f->used_seen[q])
		return false;
	drv_used_elem(drv_hva(&f->ram, USED_GPA(q)), QSZ, f->used_seen[q]++, id, len);
	return true;
}

static void put_msg(uint8_t *m, uint32_t id, uint16_t event, uint16_t value)
{
	memcpy(m, &id, 4);
	memcpy(m + 4, &event, 2);
	memcpy(m + 6, &value, 2);
}

/* The driver sends a control message (one buffer of 8 bytes) and kicks. */
static void ctrl_send(struct fx *f, uint32_t id, uint16_t event, uint16_t value)
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
static bool ctrl_recv(struct fx *f, struct ctrl_msg *m)
{
	uint32_t head, len;
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

static void expect_ctrl(struct fx *f, uint32_t id, uint16_t event, uint16_t value, const char *name)
{
	struct ctrl_msg m;

	assert_true(ctrl_recv(f, &m));
	assert_int_equal(m.id, id);
	assert_int_equal(m.event, event);
	assert_int_equal(m.value, value);
	if (name)
		assert_string_equal(m.name, name);
}

static void expect_no_ctrl(struct fx *f)
{
	struct ctrl_msg m;

	assert_false(ctrl_recv(f, &m));
}

/* The queues set up as a driver does, the device activated (transport's part). */
static void start(struct fx *f, uint64_t features)
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
static void reset(struct fx *f)
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
static void handshake(struct fx *f)
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
	expect_ctrl(f, 1, PORT_NAME, 0, "kvmrun.agent");
	expect_ctrl(f, 1, PORT_OPEN, 1, NULL);
	ctrl_send(f, 2, PORT_READY, 1);
	expect_ctrl(f, 2, PORT_NAME, 0, "second");
	expect_ctrl(f, 2, PORT_OPEN, 1, NULL);
	expect_no_ctrl(f);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* The handshake, and the guest opens named port index port. */
static void open_port(struct fx *f, unsigned int port)
{
	ctrl_send(f, port + 1, PORT_OPEN, 1);
	assert_true(f->hp[port].open);
	assert_true(virtio_console_port_is_open(f->vdev, port));
}

/* ---- fixture ---- */

static int setup_with(void **state, bool with_console)
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

static int setup(void **state)
{
	return setup_with(state, false);
}

static int setup_console(void **state)
{
	return setup_with(state, true);
}

static int teardown(void **state)
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

/* ---- construction and config ---- */

static uint32_t config_le32(struct fx *f, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	f->vdev->ops->config_read(f->vdev, off, &v, 4);
	return v;
}

static void test_config_and_features(void **state)
{
	struct fx *f = *state;
	uint16_t cols = 0xffff;

	assert_true(f->vdev->host_features & F_MULTIPORT);
	assert_int_equal(config_le32(f, 4), 3); /* port 0 and the two named ones */
	f->vdev->ops->config_read(f->vdev, 0, &cols, 2);
	assert_int_equal(cols, 0);
	assert_int_equal(config_le32(f, 8), 0);
}

/* Without named ports the device is the single-port one: no MULTIPORT, two queues. */
static void test_single_port_unchanged(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vdev;
	uint32_t v = 0xdeadbeef;

	assert_int_equal(virtio_console_create_ports(&vdev, f->con, NULL, 0, NULL, &f->gm), 0);
	assert_false(vdev->host_features & F_MULTIPORT);
	assert_int_equal(vdev->nr_queues, 2);
	vdev->ops->config_read(vdev, 4, &v, 4);
	assert_int_equal(v, 0);
	vdev->ops->destroy(vdev);
	assert_int_equal(virtio_console_create(&vdev, f->con, NULL, &f->gm), 0);
	assert_false(vdev->host_features & F_MULTIPORT);
	assert_int_equal(vdev->nr_queues, 2);
	vdev->ops->destroy(vdev);
}

static void test_constructor_refuses(void **state)
{
	struct fx *f = *state;
	static const struct virtio_console_port_ops no_writable = {.from_guest = hp_from_guest};
	char long_name[VIRTIO_CONSOLE_NAME_MAX + 2];
	struct virtio_console_port p[VIRTIO_CONSOLE_MAX_PORTS + 1];
	const char *bad[] = {"", "a/b", "a b", "..", "tab\t", long_name};
	struct virtio_dev *vdev = NULL;

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	for (unsigned int i = 0; i < VIRTIO_CONSOLE_MAX_PORTS + 1; i++)
		p[i] = (struct virtio_console_port){"p", &hp_ops, NULL};
	/* No port 0 and no named port; a NULL console for the single-port device. */
	assert_int_equal(virtio_console_create_ports(&vdev, NULL, NULL, 0, NULL, &f->gm), -EINVAL);
	assert_int_equal(virtio_console_create(&vdev, NULL, NULL, &f->gm), -EINVAL);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p[0].name = bad[i];
		assert_int_equal(virtio_console_create_ports(&vdev, NULL, p, 1, NULL, &f->gm),
				 -EINVAL);
	}
	p[0].name = NULL;
	assert_int_equal(virtio_console_create_ports(&vdev, NULL, p, 1, NULL, &f->gm), -EINVAL);
	/* The same name twice. */
	p[0].name = "p";
	assert_int_equal(virtio_console_create_ports(&vdev, NULL, p, 2, NULL, &f->gm), -EINVAL);
	p[1].name = "q";
	p[1].ops = &no_writable;
	assert_int_equal(virtio_console_create_ports(&vdev, NULL, p, 2, NULL, &f->gm), -EINVAL);
	/* Too many. */
	for (unsigned int i = 0; i < VIRTIO_CONSOLE_MAX_PORTS + 1; i++) {
		static char names[VIRTIO_CONSOLE_MAX_PORTS + 1][8];

		snprintf(names[i], sizeof(names[i]), "p%u", i);
		p[i] = (struct virtio_console_port){names[i], &hp_ops, NULL};
	}
	assert_int_equal(
	    virtio_console_create_ports(&vdev, NULL, p, VIRTIO_CONSOLE_MAX_PORTS + 1, NULL, &f->gm),
	    -EINVAL);
	assert_null(vdev);
	/* As many as allowed, the longest name. */
	long_name[VIRTIO_CONSOLE_NAME_MAX] = '\0';
	p[0].name = long_name;
	assert_int_equal(
	    virtio_console_create_ports(&vdev, NULL, p, VIRTIO_CONSOLE_MAX_PORTS, NULL, &f->gm), 0);
	assert_int_equal(vdev->nr_queues, 2 * (VIRTIO_CONSOLE_MAX_PORTS + 2));
	vdev->ops->destroy(vdev);
}

/* ---- the handshake ---- */

static void test_handshake_with_console(void **state)
{
	struct fx *f = *state;
	char log[64];

	handshake(f);
	/* Port 0 is the console: its output reaches the console's log. */
	post_out(f, TXQ0, "boot\n", 5);
	kick(f, TXQ0);
	assert_int_equal(test_read_file(f->log_path, log, sizeof(log)), 5);
	assert_memory_equal(log, "boot\n", 5);
	assert_int_equal(f->hp[0].got_len + f->hp[1].got_len, 0);
	/* Opening port 0 is no named port's business. */
	assert_int_equal(f->hp[0].open_calls + f->hp[1].open_calls, 0);
}

static void test_handshake_without_console(void **state)
{
	struct fx *f = *state;

	handshake(f); /* no DEVICE_ADD for port 0 */
	assert_false(virtio_console_port_is_open(f->vdev, 0));
	open_port(f, 0);
	assert_int_equal(f->hp[0].open_calls, 1);
	assert_false(f->hp[1].open);
	/* A PORT_READY for port 0, which does not exist, is ignored. */
	ctrl_send(f, 0, PORT_READY, 1);
	expect_no_ctrl(f);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* Messages owed while the driver has no control buffer posted wait for one. */
static void test_control_waits_for_buffers(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	ctrl_send(f, NO_ID, DEVICE_READY, 1);
	ctrl_send(f, NO_ID, DEVICE_READY, 1); /* asked twice: still one DEVICE_ADD a port */
	assert_int_equal(used_idx(f, CRXQ), 0);
	assert_int_equal(used_idx(f, CTXQ), 2); /* both messages taken */
	post_in(f, CRXQ, 256);
	kick(f, CRXQ);
	expect_ctrl(f, 1, DEVICE_ADD, 0, NULL); /* posts the next buffer */
	expect_ctrl(f, 2, DEVICE_ADD, 0, NULL);
	expect_no_ctrl(f);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* ---- data ---- */

static void test_data_both_ways(void **state)
{
	struct fx *f = *state;
	uint32_t head, len;

	handshake(f);
	open_port(f, 0);
	open_port(f, 1);
	/* Guest to host, on each port its own. */
	head = post_out(f, TXQ(0), "hello", 5);
	kick(f, TXQ(0));
	post_out(f, TXQ(1), "other", 5);
	kick(f, TXQ(1));
	assert_int_equal(f->hp[0].got_len, 5);
	assert_memory_equal(f->hp[0].got, "hello", 5);
	assert_int_equal(f->hp[1].got_len, 5);
	assert_memory_equal(f->hp[1].got, "other", 5);
	assert_true(next_used(f, TXQ(0), &head, &len));
	assert_int_equal(len, 0);
	/* Host to guest. */
	head = post_in(f, RXQ(0), 64);
	kick(f, RXQ(0));
	assert_int_equal(virtio_console_port_send(f->vdev, 0, (const uint8_t *)"abc", 3), 3);
	assert_true(next_used(f, RXQ(0), &head, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(drv_hva(&f->ram, DATA_GPA(RXQ(0), head)), "abc", 3);
	assert_int_equal(used_idx(f, RXQ(1)), 0);
	assert_int_equal(f->ft.needs_reset, 0);
	/* Out of range. */
	assert_int_equal(virtio_console_port_send(f->vdev, 2, (const uint8_t *)"abc", 3), 0);
	assert_false(virtio_console_port_is_open(f->vdev, 2));
	virtio_console_port_resume(f->vdev, 7);
}

/* from_guest taking fewer holds the chain, with its offset, until resume. */
static void test_guest_to_host_backpressure(void **state)
{
	struct fx *f = *state;
	struct drv_ring r;
	struct seg s[2];
	uint32_t head, len;

	handshake(f);
	open_port(f, 0);
	r = ring(f, TXQ(0));
	s[0] = (struct seg){DATA_GPA(TXQ(0), 0), 3, 0};
	s[1] = (struct seg){DATA_GPA(TXQ(0), 1), 5, 0};
	memcpy(drv_hva(&f->ram, s[0].gpa), "abc", 3);
	memcpy(drv_hva(&f->ram, s[1].gpa), "defgh", 5);
	drv_post(&r, s, 2);
	post_out(f, TXQ(0), "ij", 2);
	f->hp[0].budget = 2;
	kick(f, TXQ(0));
	assert_int_equal(f->hp[0].got_len, 2);
	assert_int_equal(used_idx(f, TXQ(0)), 0); /* held, not used */
	/* Kicks stay off while the device holds the chain. */
	assert_true(*(uint16_t *)drv_hva(&f->ram, USED_GPA(TXQ(0))) & VQ_USED_F_NO_NOTIFY);
	kick(f, TXQ(0)); /* a kick changes nothing */
	assert_int_equal(f->hp[0].got_len, 2);
	f->hp[0].budget = 4;
	virtio_console_port_resume(f->vdev, 0);
	assert_int_equal(f->hp[0].got_len, 6);
	assert_int_equal(used_idx(f, TXQ(0)), 0);
	f->hp[0].budget = SIZE_MAX;
	virtio_console_port_resume(f->vdev, 0);
	assert_int_equal(f->hp[0].got_len, 10);
	assert_memory_equal(f->hp[0].got, "abcdefghij", 10);
	assert_true(next_used(f, TXQ(0), &head, &len));
	assert_int_equal(head, 0);
	assert_true(next_used(f, TXQ(0), &head, &len));
	assert_int_equal(head, 2);
	/* Kicks are wanted again. */
	assert_false(*(uint16_t *)drv_hva(&f->ram, USED_GPA(TXQ(0))) & VQ_USED_F_NO_NOTIFY);
	/* A resume with nothing held does nothing. */
	virtio_console_port_resume(f->vdev, 0);
	assert_int_equal(f->hp[0].got_len, 10);
}

/* A pass writes at most 64 KiB, then the queue is served again later. */
static void test_pass_bound(void **state)
{
	struct fx *f = *state;
	struct drv_ring r;
	struct seg s;
	uint32_t head, len;

	handshake(f);
	r = ring(f, TXQ(0));
	for (int i = 0; i < 2; i++) {
		s = (struct seg){RAM_GPA + 0x100000 + i * 0x10000ULL, 40 << 10, 0};
		memset(drv_hva(&f->ram, s.gpa), 'a' + i, s.len);
		drv_post(&r, &s, 1);
	}
	kick(f, TXQ(0));
	assert_int_equal(f->hp[0].got_len, 64 << 10);
	assert_true(f->ft.requeued & (1u << TXQ(0)));
	assert_true(next_used(f, TXQ(0), &head, &len));
	assert_false(next_used(f, TXQ(0), &head, &len)); /* the second one is held */
	kick(f, TXQ(0));				 /* what the transport does for a requeue */
	assert_int_equal(f->hp[0].got_len, 80 << 10);
	assert_true(next_used(f, TXQ(0), &head, &len));
	assert_int_equal(head, 1);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* A host side that claims more than offered takes what was offered. */
static void test_from_guest_claims_too_much(void **state)
{
	struct fx *f = *state;
	struct drv_ring r;
	struct seg s[2];
	uint32_t head, len;

	handshake(f);
	f->hp[0].claim = 1000;
	r = ring(f, TXQ(0));
	s[0] = (struct seg){DATA_GPA(TXQ(0), 0), 3, 0};
	s[1] = (struct seg){DATA_GPA(TXQ(0), 1), 2, 0};
	memcpy(drv_hva(&f->ram, s[0].gpa), "abc", 3);
	memcpy(drv_hva(&f->ram, s[1].gpa), "de", 2);
	drv_post(&r, s, 2);
	post_out(f, TXQ(0), "fg", 2);
	kick(f, TXQ(0));
	/* Every byte offered, once, in order. */
	assert_int_equal(f->hp[0].got_len, 7);
	assert_memory_equal(f->hp[0].got, "abcdefg", 7);
	assert_int_equal(f->hp[0].from_calls, 3);
	assert_true(next_used(f, TXQ(0), &head, &len));
	assert_true(next_used(f, TXQ(0), &head, &len));
	assert_int_equal(f->ft.needs_reset, 0);
}

/* send with no buffer returns 0, and writable fires when the driver posts. */
static void test_host_to_guest_backpressure(void **state)
{
	struct fx *f = *state;
	const uint8_t *data = (const uint8_t *)"0123456789";
	uint32_t head, len;

	handshake(f);
	open_port(f, 0);
	assert_int_equal(virtio_console_port_send(f->vdev, 0, data, 10), 0);
	assert_int_equal(f->hp[0].writable_calls, 0);
	/* The device asked for a kick on the receiveq. */
	assert_false(*(uint16_t *)drv_hva(&f->ram, USED_GPA(RXQ(0))) & VQ_USED_F_NO_NOTIFY);
	post_in(f, RXQ(0), 4);
	kick(f, RXQ(0));
	assert_int_equal(f->hp[0].writable_calls, 1);
	kick(f, RXQ(0)); /* once */
	assert_int_equal(f->hp[0].writable_calls, 1);
	assert_int_equal(virtio_console_port_send(f->vdev, 0, data, 10), 4);
	assert_true(next_used(f, RXQ(0), &head, &len));
	assert_int_equal(len, 4);
	assert_memory_equal(drv_hva(&f->ram, DATA_GPA(RXQ(0), head)), "0123", 4);
	post_in(f, RXQ(0), 2);
	post_in(f, RXQ(0), 100);
	kick(f, RXQ(0));
	assert_int_equal(f->hp[0].writable_calls, 2);
	assert_int_equal(virtio_console_port_send(f->vdev, 0, data + 4, 6), 6);
	assert_true(next_used(f, RXQ(0), &head, &len));
	assert_int_equal(len, 2);
	assert_true(next_used(f, RXQ(0), &head, &len));
	assert_int_equal(len, 4);
	assert_memory_equal(drv_hva(&f->ram, DATA_GPA(RXQ(0), head)), "6789", 4);
	/* All taken: no kicks wanted, no writable. */
	post_in(f, RXQ(0), 100);
	kick(f, RXQ(0));
	assert_int_equal(f->hp[0].writable_calls, 2);
}

/* ---- open and close ---- */

static void test_send_waits_for_open(void **state)
{
	struct fx *f = *state;
	uint32_t head, len;

	handshake(f);
	post_in(f, RXQ(0), 64);
	kick(f, RXQ(0));
	assert_int_equal(virtio_console_port_send(f->vdev, 0, (const uint8_t *)"x", 1), 0);
	assert_int_equal(used_idx(f, RXQ(0)), 0);
	open_port(f, 0);
	assert_int_equal(virtio_console_port_send(f->vdev, 0, (const uint8_t *)"x", 1), 1);
	assert_true(next_used(f, RXQ(0), &head, &len));
	/* The guest closes the port: PORT_OPEN(0). */
	post_in(f, RXQ(0), 64);
	ctrl_send(f, 1, PORT_OPEN, 0);
	assert_false(f->hp[0].open);
	assert_int_equal(f->hp[0].close_calls, 1);
	assert_false(virtio_console_port_is_open(f->vdev, 0));
	assert_int_equal(virtio_console_port_send(f->vdev, 0, (const uint8_t *)"y", 1), 0);
	/* The same again is no change. */
	ctrl_send(f, 1, PORT_OPEN, 0);
	assert_int_equal(f->hp[0].close_calls, 1);
	/* Any nonzero value opens. */
	ctrl_send(f, 1, PORT_OPEN, 7);
	assert_int_equal(f->hp[0].open_calls, 2);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void test_host_open_close(void **state)
{
	struct fx *f = *state;

	/* Closed on the host side before the port is ready: PORT_READY sends no PORT_OPEN. */
	virtio_console_port_set_host_open(f->vdev, 1, false);
	start(f, FEATURES);
	post_in(f, CRXQ, 256);
	kick(f, CRXQ);
	ctrl_send(f, NO_ID, DEVICE_READY, 1);
	expect_ctrl(f, 1, DEVICE_ADD, 0, NULL);
	expect_ctrl(f, 2, DEVICE_ADD, 0, NULL);
	ctrl_send(f, 2, PORT_READY, 1);
	expect_ctrl(f, 2, PORT_NAME, 0, "second");
	expect_no_ctrl(f);
	virtio_console_port_set_host_open(f->vdev, 1, true);
	expect_ctrl(f, 2, PORT_OPEN, 1, NULL);
	virtio_console_port_set_host_open(f->vdev, 0, false); /* not ready yet: later */
	expect_no_ctrl(f);
	ctrl_send(f, 1, PORT_READY, 1);
	expect_ctrl(f, 1, PORT_NAME, 0, "kvmrun.agent");
	expect_no_ctrl(f);
	virtio_console_port_set_host_open(f->vdev, 0, true);
	expect_ctrl(f, 1, PORT_OPEN, 1, NULL);
	virtio_console_port_set_host_open(f->vdev, 0, false);
	expect_ctrl(f, 1, PORT_OPEN, 0, NULL);
	virtio_console_port_set_host_open(f->vdev, 0, false);
	expect_no_ctrl(f);
}

/* A reset closes the open ports; a new driver does the handshake again. */
static void test_reset_closes_ports(void **state)
{
	struct fx *f = *state;

	handshake(f);
	open_port(f, 0);
	f->hp[0].budget = 1;
	post_out(f, TXQ(0), "abc", 3);
	kick(f, TXQ(0));
	reset(f);
	assert_false(f->hp[0].open);
	assert_int_equal(f->hp[0].close_calls, 1);
	assert_int_equal(virtio_console_port_send(f->vdev, 0, (const uint8_t *)"x", 1), 0);
	f->hp[0].budget = SIZE_MAX;
	virtio_console_port_resume(f->vdev, 0); /* the held chain is forgotten */
	assert_int_equal(f->hp[0].got_len, 1);
	handshake(f);
	open_port(f, 0);
	assert_int_equal(f->hp[0].open_calls, 2);
}

/* A driver that does not take MULTIPORT has port 0 only. */
static void test_no_multiport_negotiated(void **state)
{
	struct fx *f = *state;
	char log[64];

	start(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	ctrl_send(f, NO_ID, DEVICE_READY, 1);
	assert_int_equal(used_idx(f, CTXQ), 0); /* not served */
	ctrl_send(f, 1, PORT_OPEN, 1);
	assert_false(f->hp[0].open);
	post_out(f, TXQ(0), "abc", 3);
	kick(f, TXQ(0));
	assert_int_equal(f->hp[0].got_len, 0);
	assert_int_equal(virtio_console_port_send(f->vdev, 0, (const uint8_t *)"x", 1), 0);
	post_out(f, TXQ0, "con", 3);
	kick(f, TXQ0);
	assert_int_equal(test_read_file(f->log_path, log, sizeof(log)), 3);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* ---- malformed control messages ---- */

/* The device is broken: NEEDS_RESET once, the named ports closed, nothing served. */
static void assert_broken(struct fx *f)
{
	assert_int_equal(f->ft.needs_reset, 1);
	assert_false(f->hp[0].open);
	assert_int_equal(virtio_console_port_send(f->vdev, 0, (const uint8_t *)"x", 1), 0);
	ctrl_send(f, NO_ID, DEVICE_READY, 1);
	expect_no_ctrl(f);
	assert_int_equal(f->ft.needs_reset, 1);
}

static void test_short_message(void **state)
{
	struct fx *f = *state;

	handshake(f);
	open_port(f, 0);
	post_out(f, CTXQ, "\x01\0\0\0", 4);
	kick(f, CTXQ);
	assert_broken(f);
	/* A reset makes it work again. */
	reset(f);
	handshake(f);
}

/* A message spread over the buffers of one chain is fine. */
static void test_message_split_in_chain(void **state)
{
	struct fx *f = *state;
	struct drv_ring r;
	struct seg s[3];
	uint8_t m[8];

	start(f, FEATURES);
	post_in(f, CRXQ, 256);
	kick(f, CRXQ);
	put_msg(m, NO_ID, DEVICE_READY, 1);
	r = ring(f, CTXQ);
	s[0] = (struct seg){DATA_GPA(CTXQ, 0), 3, 0};
	s[1] = (struct seg){DATA_GPA(CTXQ, 1), 4, 0};
	s[2] = (struct seg){DATA_GPA(CTXQ, 2), 9, 0}; /* bytes past the message: ignored */
	memcpy(drv_hva(&f->ram, s[0].gpa), m, 3);
	memcpy(drv_hva(&f->ram, s[1].gpa), m + 3, 4);
	memcpy(drv_hva(&f->ram, s[2].gpa), m + 7, 1);
	drv_post(&r, s, 3);
	kick(f, CTXQ);
	expect_ctrl(f, 1, DEVICE_ADD, 0, NULL);
	expect_ctrl(f, 2, DEVICE_ADD, 0, NULL);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* A message spread over two chains is two short messages. */
static void test_message_split_over_chains(void **state)
{
	struct fx *f = *state;
	uint8_t m[8];

	handshake(f);
	open_port(f, 0);
	put_msg(m, 1, PORT_OPEN, 0);
	post_out(f, CTXQ, m, 4);
	post_out(f, CTXQ, m + 4, 4);
	kick(f, CTXQ);
	assert_int_equal(f->hp[0].close_calls, 1); /* closed by the break, not the message */
	assert_broken(f);
}

static void test_writable_buffer_in_control_transmitq(void **state)
{
	struct fx *f = *state;

	handshake(f);
	open_port(f, 0);
	post_in(f, CTXQ, 8);
	kick(f, CTXQ);
	assert_broken(f);
}

static void test_readable_buffer_in_control_receiveq(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	post_out(f, CRXQ, "12345678", 8);
	kick(f, CRXQ);
	assert_int_equal(f->ft.needs_reset, 0); /* nothing owed yet */
	ctrl_send(f, NO_ID, DEVICE_READY, 1);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_int_equal(used_idx(f, CRXQ), 0);
}

static void test_control_receive_buffer_too_short(void **state)
{
	struct fx *f = *state;

	start(f, FEATURES);
	post_in(f, CRXQ, 7);
	kick(f, CRXQ);
	ctrl_send(f, NO_ID, DEVICE_READY, 1);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_int_equal(used_idx(f, CRXQ), 0);
}

/* 8 bytes hold a DEVICE_ADD, not a PORT_NAME with its name. */
static void test_control_receive_buffer_too_short_for_name(void **state)
{
	struct fx *f = *state;
	struct ctrl_msg m;

	start(f, FEATURES);
	post_in(f, CRXQ, 8);
	post_in(f, CRXQ, 8);
	kick(f, CRXQ);
	ctrl_send(f, NO_ID, DEVICE_READY, 1);
	assert_int_equal(used_idx(f, CRXQ), 2);
	f->used_seen[CRXQ] = 2;	  /* read without posting again */
	post_in(f, CRXQ, 8 + 11); /* one byte short of "kvmrun.agent" */
	kick(f, CRXQ);
	ctrl_send(f, 1, PORT_READY, 1);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_false(ctrl_recv(f, &m));
}

/* Well-formed messages the device has no use for are ignored, the device runs on. */
static void test_ignored_messages(void **state)
{
	struct fx *f = *state;
	uint8_t big[64] = {0};
	uint32_t head, len;

	start(f, FEATURES);
	for (int i = 0; i < 4; i++)
		post_in(f, CRXQ, 256);
	kick(f, CRXQ);
	ctrl_send(f, NO_ID, DEVICE_READY, 0); /* the driver failed */
	expect_no_ctrl(f);
	ctrl_send(f, 7, PORT_READY, 1); /* no such port */
	ctrl_send(f, NO_ID, PORT_READY, 1);
	ctrl_send(f, 0, PORT_READY, 1); /* no console: no port 0 */
	ctrl_send(f, 1, PORT_READY, 0); /* the driver could not add it */
	ctrl_send(f, 99, PORT_OPEN, 1);
	ctrl_send(f, 1, DEVICE_ADD, 1); /* events only a device sends */
	ctrl_send(f, 1, DEVICE_REMOVE, 1);
	ctrl_send(f, 1, CONSOLE_PORT, 1);
	ctrl_send(f, 1, RESIZE, 1);
	ctrl_send(f, 1, PORT_NAME, 1);
	expect_no_ctrl(f);
	/* Queue full of the unknown: each taken, none answered. */
	for (int i = 0; i < QSZ; i++) {
		uint8_t m[8];

		put_msg(m, (uint32_t)i, (uint16_t)(8 + i * 1000), 0xffff);
		post_out(f, CTXQ, m, 8);
	}
	kick(f, CTXQ);
	expect_no_ctrl(f);
	while (next_used(f, CTXQ, &head, &len))
		assert_int_equal(len, 0);
	assert_int_equal(used_idx(f, CTXQ), 11 + QSZ);
	/* A longer message: its first 8 bytes count. */
	put_msg(big, NO_ID, DEVICE_READY, 1);
	post_out(f, CTXQ, big, sizeof(big));
	kick(f, CTXQ);
	expect_ctrl(f, 1, DEVICE_ADD, 0, NULL);
	expect_ctrl(f, 2, DEVICE_ADD, 0, NULL);
	assert_false(f->hp[0].open);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* A driver that posts every control buffer it has and asks over and over. */
static void test_control_flood(void **state)
{
	struct fx *f = *state;
	unsigned int adds = 0, n = 0;
	struct ctrl_msg m;

	start(f, FEATURES);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < QSZ; i++) {
			uint8_t b[8];

			put_msg(b, (uint32_t)(i % 3), (uint16_t)(i & 1 ? PORT_READY : DEVICE_READY),
				1);
			post_out(f, CTXQ, b, 8);
		}
		kick(f, CTXQ);
		f->used_seen[CTXQ] = used_idx(f, CTXQ);
	}
	/* What is owed is bounded: at most four messages a port. */
	for (int i = 0; i < QSZ; i++)
		post_in(f, CRXQ, 256);
	kick(f, CRXQ);
	while (n < 100 && ctrl_recv(f, &m)) {
		n++;
		adds += m.event == DEVICE_ADD;
	}
	/* Ports 1 and 2: added, named, opened; port 0 does not exist. */
	assert_int_equal(n, 6);
	assert_int_equal(adds, 2);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* A bad buffer in a named port's receiveq breaks the device and closes the ports. */
static void test_bad_port_receive_buffer(void **state)
{
	struct fx *f = *state;

	handshake(f);
	open_port(f, 0);
	post_out(f, RXQ(0), "x", 1);
	assert_int_equal(virtio_console_port_send(f->vdev, 0, (const uint8_t *)"abc", 3), 0);
	assert_broken(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_and_features, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_single_port_unchanged, setup_console, teardown),
	    cmocka_unit_test_setup_teardown(test_constructor_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handshake_with_console, setup_console, teardown),
	    cmocka_unit_test_setup_teardown(test_handshake_without_console, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_control_waits_for_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guest_to_host_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pass_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_from_guest_claims_too_much, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_to_guest_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_waits_for_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_open_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_closes_ports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_multiport_negotiated, setup_console, teardown),
	    cmocka_unit_test_setup_teardown(test_short_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_message_split_in_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_message_split_over_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writable_buffer_in_control_transmitq, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_readable_buffer_in_control_receiveq, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_control_receive_buffer_too_short, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_control_receive_buffer_too_short_for_name, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ignored_messages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_control_flood, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_port_receive_buffer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
