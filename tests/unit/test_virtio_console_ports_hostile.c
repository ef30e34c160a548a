// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console's named ports (MULTIPORT): every malformed control message
 * and control buffer a guest can post, and the well-formed ones the device
 * has no use for.
 */
#include "virtio_console_ports_fixture.h"

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
	post_in(f, CRXQ, 8);	  /* the PORT_OPEN fits */
	post_in(f, CRXQ, 8 + 11); /* one byte short of "kvmrun.agent" */
	kick(f, CRXQ);
	ctrl_send(f, 1, PORT_READY, 1);
	assert_int_equal(f->ft.needs_reset, 1);
	expect_ctrl(f, 1, PORT_OPEN, 1, NULL);
	assert_false(ctrl_recv(f, &m));
}

/* Well-formed messages the device has no use for are ignored, the device runs on. */
static void test_ignored_messages(void **state)
{
	struct fx *f = *state;
	uint8_t big[64] = {0};
	uint32_t head = 0, len = 0;

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
