// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net device, receive side: frames to the guest, merged receive
 * buffers, bad receive buffers, receive stopping and resuming, and the backend
 * failing.
 */
#include "net_fixture.h"

static uint16_t used_flags(struct fx *f, int q)
{
	return *(uint16_t *)hva(f, f->gq[q].base + 0x2000);
}

static void test_rx_roundtrip(void **state)
{
	struct fx *f = *state;
	uint8_t want[1514];
	uint8_t *buf = hva(f, BUF_GPA);
	uint32_t id, len;

	/* Header and frame across two descriptors of one chain. */
	struct seg s[2] = {{BUF_GPA, 100, W}, {BUF_GPA + 0x1000, 2000, W}};
	uint16_t head = post(f, 0, s, 2);

	kick(f, 0); /* nothing to read yet: the buffers wait */
	assert_int_equal(used_idx(f, 0), 0);
	peer_send(f, 1514, 9);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 1);
	used_elem(f, 0, 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, NET_HDR_LEN + 1514);
	assert_int_equal(buf[10] | buf[11] << 8, 1); /* num_buffers */
	assert_int_equal(buf[0], 0);		     /* header from the tap */
	fill(want, sizeof(want), 9);
	assert_memory_equal(buf + NET_HDR_LEN, want, 100 - NET_HDR_LEN);
	assert_memory_equal(hva(f, BUF_GPA + 0x1000), want + 100 - NET_HDR_LEN,
			    1514 - (100 - NET_HDR_LEN));
	assert_int_equal(f->ft.notified[0], 1);
	assert_int_equal(f->after_yield[0], 0); /* the guest waits on received frames */
	assert_int_equal(stats(f)->rx_frames, 1);
	assert_int_equal(stats(f)->rx_bytes, 1514);
}

/* With MRG_RXBUF a frame spreads over chains, all returned at once. */
static void test_rx_mergeable(void **state)
{
	struct fx *f = *state;
	uint8_t want[3000];
	uint32_t id, len, total = 0;

	for (int i = 0; i < 4; i++)
		post(f, 0, &(struct seg){BUF_GPA + 0x1000ULL * i, 1024, W}, 1);
	kick(f, 0);
	peer_send(f, 3000, 3);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 3);
	for (uint16_t i = 0; i < 3; i++) {
		used_elem(f, 0, i, &id, &len);
		assert_int_equal(id, i);
		total += len;
	}
	assert_int_equal(total, NET_HDR_LEN + 3000);
	assert_int_equal(*(uint8_t *)hva(f, BUF_GPA + 10), 3);
	assert_int_equal(*(uint8_t *)hva(f, BUF_GPA + 11), 0);
	fill(want, sizeof(want), 3);
	assert_memory_equal(hva(f, BUF_GPA + NET_HDR_LEN), want, 1024 - NET_HDR_LEN);
	assert_memory_equal(hva(f, BUF_GPA + 0x1000), want + 1024 - NET_HDR_LEN, 1024);
	assert_memory_equal(hva(f, BUF_GPA + 0x2000), want + 2048 - NET_HDR_LEN,
			    3000 - (2048 - NET_HDR_LEN));

	/* A frame larger than what is left: part now, the rest when buffers come. */
	peer_send(f, 2000, 4);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 3);   /* one chain filled, held back */
	assert_int_equal(tap_watch()->events, 0);     /* the tap waits */
	assert_int_equal(used_flags(f, 0), 0); /* and the guest is asked for a kick */
	post(f, 0, &(struct seg){BUF_GPA + 0x5000, 1024, W}, 1);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 5); /* both chains of the frame at once */
	assert_int_equal(*(uint8_t *)hva(f, BUF_GPA + 0x3000 + 10), 2);
	fill(want, 2000, 4);
	assert_memory_equal(hva(f, BUF_GPA + 0x5000), want + 1024 - NET_HDR_LEN,
			    2000 - (1024 - NET_HDR_LEN));
	assert_int_equal(tap_watch()->events, EPOLLIN);
	assert_int_equal(stats(f)->rx_frames, 2);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* No receive buffers: the tap leaves the loop (no busy loop) until the guest kicks. */
static void test_rx_stop_resume(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;

	assert_int_equal(tap_watch()->events, EPOLLIN);
	assert_int_equal(used_flags(f, 0), VQ_USED_F_NO_NOTIFY); /* no kicks while it has room */
	peer_send(f, 100, 1);
	peer_send(f, 200, 2);
	tap_ready(f, EPOLLIN);
	assert_int_equal(tap_watch()->events, 0);
	assert_int_equal(used_flags(f, 0), 0);
	assert_int_equal(stats(f)->rx_frames, 0);
	assert_int_equal(stats(f)->rx_waits, 1);
	/* A kick with still nothing posted changes nothing (but for one more wait). */
	kick(f, 0);
	assert_int_equal(tap_watch()->events, 0);
	assert_int_equal(stats(f)->rx_waits, 2);
	/* One buffer: the first frame; out again for the second. */
	post(f, 0, &(struct seg){BUF_GPA, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 1);
	used_elem(f, 0, 0, &id, &len);
	assert_int_equal(len, NET_HDR_LEN + 100);
	assert_int_equal(tap_watch()->events, 0);
	post(f, 0, &(struct seg){BUF_GPA + 0x1000, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 2);
	used_elem(f, 0, 1, &id, &len);
	assert_int_equal(len, NET_HDR_LEN + 200);
	assert_int_equal(stats(f)->rx_frames, 2);
	assert_int_equal(stats(f)->rx_waits, 3); /* the second frame waited once more */
	/* Still a buffer: back in the loop, kicks off again. */
	post(f, 0, &(struct seg){BUF_GPA + 0x2000, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(tap_watch()->events, EPOLLIN);
	assert_int_equal(used_flags(f, 0), VQ_USED_F_NO_NOTIFY);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* The same with EVENT_IDX: avail_event is where the device stopped. */
static void test_rx_stop_resume_event_idx(void **state)
{
	struct fx *f = *state;
	uint16_t avail_event;

	post(f, 0, &(struct seg){BUF_GPA, 2048, W}, 1);
	kick(f, 0);
	peer_send(f, 100, 1);
	peer_send(f, 100, 2);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(tap_watch()->events, 0);
	memcpy(&avail_event, hva(f, RXQ_GPA + 0x2000 + 4 + 8 * QSZ), 2);
	assert_int_equal(avail_event, 1);
	post(f, 0, &(struct seg){BUF_GPA + 0x1000, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 2);
	assert_int_equal(stats(f)->rx_frames, 2);
}

/* Without MRG_RXBUF a frame larger than the chain is dropped; the chain takes the next. */
static void test_rx_no_room(void **state)
{
	struct fx *f = *state;
	uint32_t id, len;
	uint16_t head = post(f, 0, &(struct seg){BUF_GPA, 1000, W}, 1);

	kick(f, 0);
	peer_send(f, 1500, 1);
	peer_send(f, 500, 2);
	tap_ready(f, EPOLLIN);
	assert_int_equal(stats(f)->drops[NET_DROP_RX_NO_ROOM], 1);
	assert_int_equal(used_idx(f, 0), 1);
	used_elem(f, 0, 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, NET_HDR_LEN + 500);
	assert_int_equal(f->ft.needs_reset, 0);
}

static void check_bad_rx(struct fx *f, const struct seg *s, unsigned int n)
{
	post(f, 0, s, n);
	kick(f, 0);
	peer_send(f, 100, 1);
	tap_ready(f, EPOLLIN);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(tap_watch()->events, 0); /* a broken device does not read the tap */
	/* Nothing more until the reset: kicks and TX are ignored. */
	kick(f, 0);
	post(f, 1, &(struct seg){BUF_GPA + 0x8000, 100, 0}, 1);
	kick(f, 1);
	assert_int_equal(used_idx(f, 1), 0);
	assert_int_equal(f->ft.needs_reset, 1);
	/* The driver resets the device: it serves again. */
	f->vdev->ops->reset(f->vdev);
	vq_reset(&f->vqs[0]);
	vq_reset(&f->vqs[1]);
	f->gq[0].avail_idx = f->gq[1].avail_idx = 0;
	f->gq[0].next_desc = f->gq[1].next_desc = 0;
	*(uint16_t *)hva(f, RXQ_GPA + 0x1000 + 2) = 0;
	*(uint16_t *)hva(f, TXQ_GPA + 0x1000 + 2) = 0;
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
	assert_int_equal(stats(f)->drops[NET_DROP_RX_RESET], 1); /* the frame that waited */
	post(f, 0, &(struct seg){BUF_GPA, 2048, W}, 1);
	kick(f, 0);
	peer_send(f, 100, 2);
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(stats(f)->rx_frames, 1);
}

static void test_rx_buffer_read_only(void **state)
{
	check_bad_rx(*state, &(struct seg){BUF_GPA, 2048, 0}, 1);
}

static void test_rx_buffer_partly_read_only(void **state)
{
	struct seg s[2] = {{BUF_GPA, 12, 0}, {BUF_GPA + 0x1000, 2048, W}};

	check_bad_rx(*state, s, 2);
}

static void test_rx_buffer_too_short(void **state)
{
	check_bad_rx(*state, &(struct seg){BUF_GPA, NET_HDR_LEN - 1, W}, 1);
}

static void test_rx_buffer_empty(void **state)
{
	check_bad_rx(*state, &(struct seg){BUF_GPA, 0, W}, 1);
}

/* Merged: every chain, not just the first, must be writable and hold a header. */
static void test_rx_mergeable_bad_second(void **state)
{
	struct fx *f = *state;

	post(f, 0, &(struct seg){BUF_GPA, 1024, W}, 1);
	post(f, 0, &(struct seg){BUF_GPA + 0x1000, 8, W}, 1);
	kick(f, 0);
	peer_send(f, 1500, 1);
	tap_ready(f, EPOLLIN);
	assert_int_equal(f->ft.needs_reset, 1);
	assert_int_equal(used_idx(f, 0), 0);
}

/* The backend fails: drops counted, the tap out of the loop, the queues still served. */
static void test_tap_gone(void **state)
{
	struct fx *f = *state;
	uint8_t *hdr = hva(f, BUF_GPA);

	put_hdr(hdr, 0, 0, 0, 0, 0, 0);
	close(f->peer);
	f->peer = -1;
	post(f, 1, &(struct seg){BUF_GPA, NET_HDR_LEN + 60, 0}, 1);
	kick(f, 1);
	assert_int_equal(used_idx(f, 1), 1);
	assert_int_equal(stats(f)->drops[NET_DROP_TX_TAP_ERROR], 1);
	assert_int_equal(stats(f)->tx_tap_errors, 1);
	assert_int_equal(tap_watch()->events, 0);
	/* Later frames are dropped without trying the tap. */
	post(f, 1, &(struct seg){BUF_GPA, NET_HDR_LEN + 60, 0}, 1);
	kick(f, 1);
	assert_int_equal(used_idx(f, 1), 2);
	assert_int_equal(stats(f)->drops[NET_DROP_TX_TAP_ERROR], 2);
	assert_int_equal(stats(f)->tx_tap_errors, 1);
	/* Receive kicks do nothing and do not bring the tap back. */
	post(f, 0, &(struct seg){BUF_GPA + 0x1000, 2048, W}, 1);
	kick(f, 0);
	assert_int_equal(tap_watch()->events, 0);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* A hang-up seen by poll with nothing to read stops the tap (no busy loop). */
static void test_tap_hangup_rx(void **state)
{
	struct fx *f = *state;

	post(f, 0, &(struct seg){BUF_GPA, 2048, W}, 1);
	kick(f, 0);
	peer_send(f, 100, 1);
	shutdown(f->peer, SHUT_WR);
	tap_ready(f, EPOLLIN | EPOLLHUP);
	assert_int_equal(used_idx(f, 0), 1); /* what was there still arrives */
	assert_int_equal(tap_watch()->events, 0);
	assert_int_equal(stats(f)->rx_tap_errors, 1);
	assert_int_equal(f->ft.needs_reset, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rx_roundtrip, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_mergeable, fx_setup_mrg, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_stop_resume, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_stop_resume_event_idx, fx_setup_event_idx,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_no_room, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_buffer_read_only, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_buffer_partly_read_only, fx_setup_mrg,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_buffer_too_short, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_buffer_empty, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rx_mergeable_bad_second, fx_setup_mrg,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tap_gone, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tap_hangup_rx, fx_setup_plain, fx_teardown),
	};

	log_set_level(LOG_ERROR);
	signal(SIGPIPE, SIG_IGN); /* a closed peer is EPIPE, as for a program with a tap */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
