// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console's named ports (MULTIPORT): construction, the control
 * handshake as a Linux driver does it, data both ways on a named port with
 * back-pressure both ways, opening and closing, resets.
 */
#include "virtio_console_ports_fixture.h"

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
	uint32_t head = 0, len = 0;

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
	uint32_t head = 0, len = 0;

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
	uint32_t head = 0, len = 0;

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
	uint32_t head = 0, len = 0;

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
	uint32_t head = 0, len = 0;

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
	uint32_t head = 0, len = 0;

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
