// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net device, transmit side: config and features, frames from the guest
 * to the tap, every malformed frame the guest can send, the passes reported to
 * the policy and the held transmit completion.
 */
#include "net_fixture.h"

static ssize_t peer_recv(struct fx *f, uint8_t *buf, size_t len)
{
	ssize_t n = read(f->peer, buf, len);

	return n < 0 ? -errno : n;
}

/* ---- the device ---- */

static void test_config_and_features(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[VIRTIO_NET_CFG_SIZE], mac[6];
	uint64_t hf = f->vdev->host_features;

	f->vdev->ops->config_read(f->vdev, 0, cfg, sizeof(cfg));
	net_default_mac("testtap", 0, mac);
	assert_memory_equal(cfg + VIRTIO_NET_CFG_MAC, mac, 6);
	assert_int_equal(cfg[VIRTIO_NET_CFG_STATUS], VIRTIO_NET_S_LINK_UP);
	assert_int_equal(cfg[VIRTIO_NET_CFG_MTU] | cfg[VIRTIO_NET_CFG_MTU + 1] << 8, 1500);
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_MAC));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_STATUS));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_MTU));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO));
	assert_true(hf & VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO6));
	assert_true(hf & VIRTIO_BIT(VQ_F_EVENT_IDX));
	assert_true(hf & VIRTIO_BIT(VQ_F_INDIRECT_DESC));
	/* Activation told the tap what the guest takes: everything offered here. */
	assert_int_equal(tap_offload_set(f->tap), ALL_OFFLOADS);
	/* A reset takes it back, and takes the tap out of the loop. */
	f->vdev->ops->reset(f->vdev);
	assert_int_equal(tap_offload_set(f->tap), 0);
	assert_int_equal(tap_watch()->events, 0);
	/* A guest that takes only checksums: only that. */
	f->vdev->features &=
	    ~(VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |
	      VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO4) |
	      VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO6));
	assert_int_equal(f->vdev->ops->activate(f->vdev), 0);
	assert_int_equal(tap_offload_set(f->tap), TUN_F_CSUM);
	assert_int_equal(tap_watch()->events, EPOLLIN);
}

/* A tap that takes no offloads and has no MTU: none of those features. */
static void test_features_plain_tap(void **state)
{
	struct fx *f = *state;
	struct tap *tap;
	struct virtio_dev *vdev;
	uint8_t mac[6] = {0x52, 0x54, 0, 1, 2, 3}, cfg[6];
	int sv[2];

	fake_loop_reset();
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(tap_open_fd(&tap, sv[0], "plain", 0), 0);
	assert_int_equal(virtio_net_create_backend(&vdev, tap_backend(tap), mac, 0, 3, NULL, &f->gm), 0);
	assert_false(vdev->host_features & VIRTIO_BIT(VIRTIO_NET_F_CSUM));
	assert_false(vdev->host_features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM));
	assert_false(vdev->host_features & VIRTIO_BIT(VIRTIO_NET_F_MTU));
	assert_true(vdev->host_features & VIRTIO_BIT(VIRTIO_NET_F_MAC));
	vdev->ops->config_read(vdev, 0, cfg, 6);
	assert_memory_equal(cfg, mac, 6);
	assert_string_equal(vdev->id, "net3");
	vdev->ops->destroy(vdev);
}

/* One frame out: header (checked copy) and frame in one write to the tap. */
static void test_tx_roundtrip(void **state)
{
	struct fx *f = *state;
	uint8_t *hdr = hva(f, BUF_GPA), *b = hva(f, BUF_GPA + 0x1000);
	struct seg s[2] = {{BUF_GPA, NET_HDR_LEN + 20, 0}, {BUF_GPA + 0x1000, 1000, 0}};
	uint8_t got[4096];
	uint32_t id, len;

	/* Header and the first 20 frame bytes in one buffer, the rest in another. */
	put_hdr(hdr, 1, 0, 0, 0, 34, 16);
	fill(hdr + NET_HDR_LEN, 20, 1);
	fill(b, 1000, 2);

	post(f, 1, s, 2);
	kick(f, 1);
	assert_int_equal(used_idx(f, 1), 1);
	used_elem(f, 1, 0, &id, &len);
	assert_int_equal(len, 0);
	assert_int_equal(f->ft.notified[1], 1);
	/* The loop yielded once, after the frame went out and before the interrupt. */
	assert_int_equal(f->after_yield[1], 1);
	assert_int_equal(f->yields_sent, 1);
	assert_int_equal(peer_recv(f, got, sizeof(got)), NET_HDR_LEN + 1020);
	/* num_buffers is zeroed on the way out; the rest of the header passes. */
	assert_int_equal(got[0], 1);
	assert_int_equal(got[6] | got[7] << 8, 34);
	assert_int_equal(got[8] | got[9] << 8, 16);
	assert_int_equal(got[10] | got[11] << 8, 0);
	assert_memory_equal(got + NET_HDR_LEN, hdr + NET_HDR_LEN, 20);
	assert_memory_equal(got + NET_HDR_LEN + 20, b, 1000);
	assert_int_equal(stats(f)->tx_frames, 1);
	assert_int_equal(stats(f)->tx_bytes, 1020);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* The guest sends one frame of len bytes (header and frame in one buffer) and kicks. */
static void send_frame(struct fx *f, size_t len)
{
	uint8_t *p = hva(f, BUF_GPA + 0x8000);
	struct seg s = {BUF_GPA + 0x8000, (uint32_t)(NET_HDR_LEN + len), 0};

	put_hdr(p, 0, 0, 0, 0, 0, 0);
	fill(p + NET_HDR_LEN, len, 3);
	post(f, 1, &s, 1);
	kick(f, 1);
}

/* Nanoseconds left on the device's hold timer (0: disarmed). */
static long hold_left(void)
{
	struct itimerspec its;

	assert_non_null(timer_watch()->fn);
	assert_int_equal(timerfd_gettime(timer_watch()->fd, &its), 0);
	return its.it_value.tv_sec * 1000000000L + its.it_value.tv_nsec;
}

/* The hold timer expired: wait for it and call the handler as ev_run would. */
static void hold_expire(void)
{
	struct pollfd pfd = {timer_watch()->fd, POLLIN, 0};

	assert_int_equal(poll(&pfd, 1, -1), 1);
	timer_watch()->fn(timer_watch()->opaque, EPOLLIN);
}

/* The last pass reported was of kind, count frames, the longest len bytes. */
static void assert_reported(enum sp_kind kind, unsigned int count, size_t len)
{
	assert_int_equal(fake_loop.reported.kind, kind);
	assert_int_equal(fake_loop.reported.count, count);
	assert_int_equal(fake_loop.reported.largest, len);
}

/*
 * Each pass is reported to the policy: its direction, its frames, the longest
 * one's length without the header (the policy tells requests from a stream by
 * it, test_sched_policy.c). A pass starts counting from nothing.
 */
static void test_passes_reported(void **state)
{
	struct fx *f = *state;
	uint8_t got[2048];
	struct seg rx[4];

	send_frame(f, 98);
	assert_int_equal(fake_loop.served_calls, 1);
	assert_reported(SP_TX_FRAMES, 1, 98);
	send_frame(f, 257);
	assert_reported(SP_TX_FRAMES, 1, 257);
	send_frame(f, 256);
	assert_int_equal(fake_loop.served_calls, 3);
	assert_reported(SP_TX_FRAMES, 1, 256);
	for (int i = 0; i < 3; i++)
		assert_true(peer_recv(f, got, sizeof(got)) > 0);

	for (int i = 0; i < 4; i++) {
		rx[i] = (struct seg){BUF_GPA + 0x1000 * (uint64_t)i, 2048, W};
		post(f, 0, &rx[i], 1);
	}
	kick(f, 0);
	peer_send(f, 98, 1);
	peer_send(f, 60, 2);
	peer_send(f, 98, 3);
	memset(&fake_loop.reported, 0, sizeof(fake_loop.reported));
	tap_ready(f, EPOLLIN);
	assert_int_equal(used_idx(f, 0), 3);
	assert_reported(SP_RX_FRAMES, 3, 98);
	peer_send(f, 1514, 4);
	tap_ready(f, EPOLLIN);
	assert_reported(SP_RX_FRAMES, 1, 1514);
	assert_int_equal(stats(f)->rx_frames, 4);
	/* Only transmit passes ask before they notify. */
	assert_int_equal(fake_loop.asked_calls, 3);
}

/*
 * When the policy says so, the completion of a transmit pass is held for as
 * long as it says: the frame is out at once, the interrupt comes when the
 * timer fires, once for all the completions held meanwhile. When it says 0,
 * the interrupt comes at once.
 */
static void test_tx_hold(void **state)
{
	struct fx *f = *state;
	uint8_t got[2048];
	long left;

	fake_loop.hold_ns = 4000000;
	send_frame(f, 98);
	/* Asked about the pass before it was fake_loop.reported. */
	assert_int_equal(fake_loop.asked.kind, SP_TX_FRAMES);
	assert_int_equal(fake_loop.asked.count, 1);
	assert_int_equal(fake_loop.asked.largest, 98);
	assert_int_equal(used_idx(f, 1), 1);
	assert_int_equal(peer_recv(f, got, sizeof(got)), NET_HDR_LEN + 98);
	assert_int_equal(f->ft.notified[1], 0);
	assert_int_equal(f->yields_sent, 0); /* held: no yield */
	left = hold_left();
	assert_true(left > 0 && left <= 4000000);
	send_frame(f, 60);
	assert_int_equal(used_idx(f, 1), 2);
	assert_int_equal(f->ft.notified[1], 0);
	hold_expire();
	assert_int_equal(f->ft.notified[1], 1);
	assert_int_equal(hold_left(), 0);
	/* Nothing held: a stray wake-up of the timer sends nothing. */
	timer_watch()->fn(timer_watch()->opaque, EPOLLIN);
	assert_int_equal(f->ft.notified[1], 1);

	fake_loop.hold_ns = 0;
	send_frame(f, 1000); /* at once, after the policy's turn */
	assert_int_equal(f->ft.notified[1], 2);
	assert_int_equal(f->after_yield[1], 1);
	assert_int_equal(fake_loop.asked.largest, 1000);
	assert_int_equal(hold_left(), 0);

	/* A hold of more than a second is armed as such. */
	fake_loop.hold_ns = 1500000000L;
	send_frame(f, 98);
	assert_int_equal(f->ft.notified[1], 2);
	assert_true(hold_left() > 1000000000L);
	assert_int_equal(stats(f)->tx_frames, 4);
	assert_int_equal(f->ft.needs_reset, 0);
}

/* A reset drops a held completion: the timer is disarmed and sends nothing. */
static void test_tx_hold_reset(void **state)
{
	struct fx *f = *state;

	fake_loop.hold_ns = 4000000;
	send_frame(f, 98);
	assert_int_equal(f->ft.notified[1], 0);
	assert_true(hold_left() > 0);
	f->vdev->ops->reset(f->vdev);
	f->vdev->active = false;
	assert_int_equal(hold_left(), 0);
	timer_watch()->fn(timer_watch()->opaque, EPOLLIN);
	assert_int_equal(f->ft.notified[1], 0);
}

/* Every malformed frame: dropped, counted, chain returned, device still good. */
static void test_tx_malformed(void **state)
{
	struct fx *f = *state;
	struct {
		uint8_t flags, gso;
		uint16_t hdr_len, gso_size, cstart, coff;
		uint32_t len; /* the whole chain */
		enum net_drop why;
	} bad[] = {
	    {0, 0, 0, 0, 0, 0, 6, NET_DROP_TX_SHORT},
	    {0, 0, 0, 0, 0, 0, NET_HDR_LEN, NET_DROP_TX_SHORT},
	    {0, 0, 0, 0, 0, 0, NET_HDR_LEN + NET_MAX_FRAME + 1, NET_DROP_TX_OVERSIZE},
	    {0x10, 0, 0, 0, 0, 0, 200, NET_DROP_TX_FLAGS},
	    {1, 0, 0, 0, 180, 8, 200, NET_DROP_TX_CSUM},
	    {1, 7, 54, 1448, 34, 16, 200, NET_DROP_TX_GSO},
	    {1, 1, 54, 0, 34, 16, 200, NET_DROP_TX_GSO_SIZE},
	    {1, 1, 250, 1448, 34, 16, 200, NET_DROP_TX_GSO_SIZE},
	    /* 64 KiB of TCP payload with an MSS of 1 byte: some 64K segments. */
	    {1, 1, 54, 1, 34, 16, NET_HDR_LEN + 54 + 0xffff - 40, NET_DROP_TX_GSO_SIZE},
	    {1, 4, 74, NET_GSO_MIN_SIZE - 1, 54, 16, 200, NET_DROP_TX_GSO_SIZE},
	};
	uint64_t want[NET_DROP_MAX] = {0};
	uint8_t got[256];
	uint16_t used = 0;

	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t *p = hva(f, BUF_GPA);

		memset(p, 0, 0x20000);
		if (bad[i].len >= NET_HDR_LEN)
			put_hdr(p, bad[i].flags, bad[i].gso, bad[i].hdr_len, bad[i].gso_size,
				bad[i].cstart, bad[i].coff);
		/* The oversize one is spread over two buffers. */
		if (bad[i].len > 0x10000) {
			struct seg s[2] = {{BUF_GPA, 0x10000, 0},
					   {BUF_GPA + 0x10000, bad[i].len - 0x10000, 0}};

			post(f, 1, s, 2);
		} else {
			struct seg s = {BUF_GPA, bad[i].len, 0};

			post(f, 1, &s, 1);
		}
		kick(f, 1);
		assert_int_equal(used_idx(f, 1), ++used);
		want[bad[i].why]++;
		assert_memory_equal(stats(f)->drops, want, sizeof(want));
		assert_int_equal(peer_recv(f, got, sizeof(got)), -EAGAIN);
	}
	assert_int_equal(stats(f)->tx_frames, 0);
	assert_int_equal(f->ft.needs_reset, 0);
	/* And a good frame still goes through. */
	put_hdr(hva(f, BUF_GPA), 0, 0, 0, 0, 0, 0);
	post(f, 1, &(struct seg){BUF_GPA, NET_HDR_LEN + 60, 0}, 1);
	kick(f, 1);
	assert_int_equal(peer_recv(f, got, sizeof(got)), NET_HDR_LEN + 60);
	assert_int_equal(stats(f)->tx_frames, 1);
}

/* Host -> guest without MRG_RXBUF: the whole frame in one chain, num_buffers 1. */

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_and_features, fx_setup_event_idx,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_features_plain_tap, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_roundtrip, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_malformed, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_passes_reported, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_hold, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_hold_reset, fx_setup_plain, fx_teardown),
	};

	log_set_level(LOG_ERROR);
	signal(SIGPIPE, SIG_IGN); /* a closed peer is EPIPE, as for a program with a tap */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
