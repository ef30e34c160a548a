// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net with an egress policy: what the policy refuses never reaches the
 * tap, its chain comes back as sent and its reason is counted; what it allows
 * reaches the tap byte for byte, however the guest split it into buffers.
 */
#include "net_fixture.h"

#include "backend/egress.h"
#include "egress_frames.h"

static const char HOST[4] = {10, 0, 2, 1};

static ssize_t peer_recv(struct fx *f, uint8_t *buf, size_t len)
{
	ssize_t n = read(f->peer, buf, len);

	return n < 0 ? -errno : n;
}

/* The guest sends frame fr behind a zero header, in pieces of at most `piece` bytes. */
static void guest_send(struct fx *f, const struct frame *fr, size_t piece)
{
	uint8_t *p = hva(f, BUF_GPA);
	struct seg s[QSZ];
	size_t len = NET_HDR_LEN + fr->len;
	unsigned int n = 0;

	put_hdr(p, 0, 0, 0, 0, 0, 0);
	memcpy(p + NET_HDR_LEN, fr->b, fr->len);
	/* Each piece in a buffer of its own, 256 bytes apart. */
	for (size_t off = 0; off < len; off += piece) {
		size_t l = MIN(piece, len - off);

		assert_true(n < QSZ);
		memmove(hva(f, BUF_GPA + 0x2000 + n * 0x400ULL), p + off, l);
		s[n] = (struct seg){BUF_GPA + 0x2000 + n * 0x400ULL, (uint32_t)l, 0};
		n++;
	}
	post(f, 1, s, n);
	kick(f, 1);
}

static void tcp_frame(struct frame *fr, const char dst[4], uint16_t dport, size_t payload)
{
	f_eth(fr);
	f_type(fr, 0x0800);
	f_ipv4(fr, 6, dst, 20 + payload, 0);
	f_tcp(fr, 40000, dport);
	fill(fr->b + fr->len, payload, 9);
	fr->len += payload;
}

/* The frame reached the tap, byte for byte, behind the header. */
static void expect_sent(struct fx *f, const struct frame *fr)
{
	uint8_t got[4096 + NET_HDR_LEN];

	assert_int_equal(peer_recv(f, got, sizeof(got)), (ssize_t)(NET_HDR_LEN + fr->len));
	assert_memory_equal(got + NET_HDR_LEN, fr->b, fr->len);
}

static void test_egress_drops(void **state)
{
	struct fx *f = *state;
	struct egress_policy *p = calloc(1, sizeof(*p));
	uint64_t want[NET_DROP_MAX] = {0};
	uint8_t got[64];
	const char *why;
	struct frame fr;
	uint32_t id, len;
	uint16_t used = 0;

	assert_non_null(p);
	p->deny = true;
	assert_int_equal(egress_parse_rule("10.0.2.1:8080/tcp", &p->rules[0], &why), 0);
	p->nr_rules = 1;
	virtio_net_set_egress(f->vdev, p);

	tcp_frame(&fr, HOST, 8080, 100);
	guest_send(f, &fr, 4096);
	expect_sent(f, &fr);
	assert_int_equal(used_idx(f, 1), ++used);
	assert_int_equal(stats(f)->tx_frames, 1);

	/* Refused: not at the tap, the chain back as sent (length 0), the reason counted. */
	static const enum net_drop bad[] = {
	    NET_DROP_TX_EGRESS_DENIED,
	    NET_DROP_TX_EGRESS_MALFORMED,
	    NET_DROP_TX_EGRESS_FRAGMENT,
	    NET_DROP_TX_EGRESS_ETHERTYPE,
	};
	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
		tcp_frame(&fr, HOST, 8081, 20);
		if (bad[i] == NET_DROP_TX_EGRESS_MALFORMED)
			fr.b[14] = 0x44; /* IHL 4 */
		if (bad[i] == NET_DROP_TX_EGRESS_FRAGMENT)
			fr.b[14 + 7] = 8; /* offset 64 bytes */
		if (bad[i] == NET_DROP_TX_EGRESS_ETHERTYPE)
			fr.b[12] = 0x88;
		guest_send(f, &fr, 4096);
		assert_int_equal(peer_recv(f, got, sizeof(got)), -EAGAIN);
		assert_int_equal(used_idx(f, 1), ++used);
		used_elem(f, 1, (uint16_t)(used - 1), &id, &len);
		assert_int_equal(len, 0);
		want[bad[i]]++;
		assert_memory_equal(stats(f)->drops, want, sizeof(want));
	}
	assert_int_equal(stats(f)->tx_frames, 1);
	assert_int_equal(f->ft.needs_reset, 0);

	/* No policy (egress=allow): nothing looked at, the malformed frame goes. */
	virtio_net_set_egress(f->vdev, NULL);
	tcp_frame(&fr, HOST, 8081, 20);
	fr.b[14] = 0x44;
	guest_send(f, &fr, 4096);
	expect_sent(f, &fr);
	free(p);
}

/*
 * Headers split over buffers of a few bytes, and a frame longer than the bytes
 * the policy looks at: checked as a whole, sent as a whole.
 */
static void test_egress_scattered(void **state)
{
	struct fx *f = *state;
	struct egress_policy *p = calloc(1, sizeof(*p));
	uint8_t got[64];
	const char *why;
	struct frame fr;

	assert_non_null(p);
	p->deny = true;
	assert_int_equal(egress_parse_rule("10.0.2.0/24:8080/tcp", &p->rules[0], &why), 0);
	p->nr_rules = 1;
	virtio_net_set_egress(f->vdev, p);

	tcp_frame(&fr, HOST, 8080, 0);
	guest_send(f, &fr, 5); /* 66 bytes in 14 buffers */
	expect_sent(f, &fr);
	tcp_frame(&fr, HOST, 8081, 0);
	guest_send(f, &fr, 5);
	assert_int_equal(peer_recv(f, got, sizeof(got)), -EAGAIN);
	assert_int_equal(stats(f)->drops[NET_DROP_TX_EGRESS_DENIED], 1);
	/* 3000 bytes: the first EGRESS_HDR_MAX from the checked copy, the rest after them. */
	tcp_frame(&fr, HOST, 8080, 3000 - 54);
	guest_send(f, &fr, 300);
	expect_sent(f, &fr);
	tcp_frame(&fr, HOST, 8080, 3000 - 54);
	guest_send(f, &fr, EGRESS_HDR_MAX + NET_HDR_LEN);
	expect_sent(f, &fr);
	assert_int_equal(stats(f)->tx_frames, 3);
	assert_int_equal(stats(f)->tx_bytes, 54 + 2 * 3000);
	virtio_net_set_egress(f->vdev, NULL);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_egress_drops, fx_setup_plain, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_egress_scattered, fx_setup_plain, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
