// SPDX-License-Identifier: Apache-2.0
/*
 * The passt backend's stream framing on a socket pair, the test playing passt:
 * frames split anywhere (length words too), several in one write, hostile
 * lengths, a peer that goes away; sending with the socket full (what waits, in
 * order, then sent on EPOLLOUT) and refused past the buffer. Then passt's
 * command line for a --net user.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/passt.h"
#include "backend/passt_daemon.h"
#include "cli_net.h"
#include "fake_loop.h"

#define RXBUF (NETBE_HDR_LEN + PASST_FRAME_MAX + 1)

struct fx {
	struct netbe *be;
	int peer;
	struct ev_loop *loop;
	uint8_t buf[RXBUF];
};

static int setup_with(void **state, bool with_loop)
{
	struct fx *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->peer = sv[1];
	if (with_loop)
		assert_int_equal(fake_loop_create(&f->loop), 0);
	assert_int_equal(passt_open_fd(&f->be, sv[0], 65520, f->loop), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false);
}

static int setup_loop(void **state)
{
	return setup_with(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	netbe_close(f->be);
	if (f->loop) {
		assert_int_equal(fake_loop_watched(f->loop), 0);
		fake_loop_destroy(f->loop);
	}
	close(f->peer);
	free(f);
	return 0;
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 13);
}

/* A frame on the wire: its length (big-endian) and len bytes from seed. */
static size_t wire(uint8_t *out, uint32_t len, uint8_t seed)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	fill(out + 4, len, seed);
	return 4 + len;
}

static void peer_write(struct fx *f, const void *p, size_t len)
{
	assert_int_equal(write(f->peer, p, len), (ssize_t)len);
}

/* One frame comes out whole, behind a zero header. */
static void expect_frame(struct fx *f, uint32_t len, uint8_t seed)
{
	uint8_t *want = malloc(len), zero[NETBE_HDR_LEN] = { 0 };

	assert_non_null(want);
	memset(f->buf, 0xaa, NETBE_HDR_LEN);
	assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), NETBE_HDR_LEN + len);
	assert_memory_equal(f->buf, zero, NETBE_HDR_LEN);
	fill(want, len, seed);
	assert_memory_equal(f->buf + NETBE_HDR_LEN, want, len);
	free(want);
}

static bool peer_has_bytes(struct fx *f, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_whole_frames(void **state)
{
	struct fx *f = *state;
	static uint8_t w[3 * (4 + 1514)];
	size_t n = 0;

	assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), -EAGAIN);
	n += wire(w + n, 60, 1);
	n += wire(w + n, 1514, 2);
	n += wire(w + n, 14, 3);
	peer_write(f, w, n);
	expect_frame(f, 60, 1);
	expect_frame(f, 1514, 2);
	expect_frame(f, 14, 3);
	assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), -EAGAIN);
	assert_int_equal(netbe_offloads(f->be), 0);
	assert_int_equal(netbe_set_offload(f->be, 0), 0);
	assert_int_equal(netbe_set_offload(f->be, 1), -EINVAL);
	assert_int_equal(netbe_mtu(f->be), 65520);
	assert_string_equal(netbe_name(f->be), "passt");
}

/*
 * A read takes the rest of its frame and the next length word at most: the
 * next frame stays in the socket, so the loop still sees it readable.
 */
static void test_no_frame_left_behind(void **state)
{
	struct fx *f = *state;
	static uint8_t w[2 * (4 + 100)];
	size_t n = wire(w, 100, 7);

	n += wire(w + n, 100, 8);
	peer_write(f, w, n);
	expect_frame(f, 100, 7);
	assert_true(peer_has_bytes(f, netbe_fd(f->be)));
	expect_frame(f, 100, 8);
	assert_false(peer_has_bytes(f, netbe_fd(f->be)));
}

/* Every split of two frames into two writes, the length words included. */
static void test_partial_everywhere(void **state)
{
	struct fx *f = *state;
	static uint8_t w[(4 + 70) + (4 + 300)];
	size_t n = wire(w, 70, 21);

	n += wire(w + n, 300, 22);
	for (size_t cut = 1; cut < n; cut++) {
		bool first_done;

		peer_write(f, w, cut);
		first_done = cut >= 4 + 70;
		if (first_done)
			expect_frame(f, 70, 21);
		assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), -EAGAIN);
		/* The caller keeps its buffer, which holds the part read (netbe.h). */
		peer_write(f, w + cut, n - cut);
		if (!first_done)
			expect_frame(f, 70, 21);
		expect_frame(f, 300, 22);
		assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), -EAGAIN);
	}
}

/* One byte at a time, the largest frame. */
static void test_byte_by_byte(void **state)
{
	struct fx *f = *state;
	static uint8_t w[4 + PASST_FRAME_MAX];
	size_t n = wire(w, PASST_FRAME_MAX, 9);

	for (size_t i = 0; i < n - 1; i++) {
		/* Read after each byte: unread one-byte writes would fill the socket. */
		peer_write(f, w + i, 1);
		assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), -EAGAIN);
	}
	peer_write(f, w + n - 1, 1);
	expect_frame(f, PASST_FRAME_MAX, 9);
	assert_int_equal(passt_stats(f->be)->rx_frames, 1);
	assert_int_equal(passt_stats(f->be)->rx_split, 1);
}

/* A length passt never sends: the backend is dead, reads and writes fail from then on. */
static void hostile(void **state, uint32_t len)
{
	struct fx *f;
	uint8_t w[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			 (uint8_t)len };
	uint8_t frame[NETBE_HDR_LEN + 60] = { 0 };
	struct iovec iov = { frame, sizeof(frame) };

	setup(state);
	f = *state;
	peer_write(f, w, sizeof(w));
	peer_write(f, frame, sizeof(frame)); /* something behind it */
	assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), -EBADMSG);
	assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), -EPIPE);
	assert_int_equal(netbe_writev(f->be, &iov, 1), -EPIPE);
	teardown(state);
}

static void test_hostile_lengths(void **state)
{
	hostile(state, 0);
	hostile(state, 13);
	hostile(state, PASST_FRAME_MAX + 1);
	hostile(state, 0x80000000u);
	hostile(state, 0xffffffffu);
}

/* A frame longer than the reader's buffer is refused the same way. */
static void test_longer_than_buffer(void **state)
{
	struct fx *f = *state;
	static uint8_t w[4 + 2000];

	peer_write(f, w, wire(w, 2000, 1));
	assert_int_equal(netbe_read(f->be, f->buf, NETBE_HDR_LEN + 1999), -EBADMSG);
}

static void test_peer_gone_mid_frame(void **state)
{
	struct fx *f = *state;
	static uint8_t w[4 + 500];

	wire(w, 500, 4);
	peer_write(f, w, 100);
	assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), -EAGAIN);
	close(f->peer);
	f->peer = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(netbe_read(f->be, f->buf, sizeof(f->buf)), 0);
}

/* Reads exactly one frame of len bytes from the peer (blocking), and checks it. */
static void peer_expect(struct fx *f, uint32_t len, uint8_t seed)
{
	uint8_t word[4], *got = malloc(len ? len : 1), *want = malloc(len ? len : 1);
	size_t have = 0;

	assert_non_null(got);
	assert_non_null(want);
	assert_int_equal(recv(f->peer, word, 4, MSG_WAITALL), 4);
	assert_int_equal((uint32_t)word[0] << 24 | word[1] << 16 | word[2] << 8 | word[3], len);
	while (have < len) {
		ssize_t n = recv(f->peer, got + have, len - have, MSG_WAITALL);

		assert_true(n > 0);
		have += (size_t)n;
	}
	fill(want, len, seed);
	assert_memory_equal(got, want, len);
	free(got);
	free(want);
}

/*
 * The same while the backend still holds bytes: read what is there, and let the
 * loop send more (EPOLLOUT) whenever the socket is empty.
 */
static void peer_expect_pumped(struct fx *f, uint32_t len, uint8_t seed)
{
	size_t total = 4 + len, have = 0;
	uint8_t *got = malloc(total), *want = malloc(len);

	assert_non_null(got);
	assert_non_null(want);
	while (have < total) {
		ssize_t n = recv(f->peer, got + have, total - have, MSG_DONTWAIT);

		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN);
		assert_true(fake_loop_dispatch(f->loop, 1) > 0); /* it had to send more */
	}
	assert_int_equal((uint32_t)got[0] << 24 | got[1] << 16 | got[2] << 8 | got[3], len);
	fill(want, len, seed);
	assert_memory_equal(got + 4, want, len);
	free(got);
	free(want);
}

/* The guest's frame behind a header, split over several buffers (as a chain is). */
static ssize_t send_frame(struct fx *f, uint32_t len, uint8_t seed)
{
	uint8_t *p = malloc(NETBE_HDR_LEN + len);
	struct iovec iov[3];
	ssize_t r;

	assert_non_null(p);
	memset(p, 0x77, NETBE_HDR_LEN); /* the header is not passt's: it never arrives */
	fill(p + NETBE_HDR_LEN, len, seed);
	iov[0] = (struct iovec){ p, 5 };
	iov[1] = (struct iovec){ p + 5, NETBE_HDR_LEN + 3 - 5 };
	iov[2] = (struct iovec){ p + NETBE_HDR_LEN + 3, len - 3 };
	r = netbe_writev(f->be, iov, 3);
	free(p);
	return r;
}

static void test_send(void **state)
{
	struct fx *f = *state;

	assert_int_equal(send_frame(f, 60, 1), NETBE_HDR_LEN + 60);
	assert_int_equal(send_frame(f, 65520 + 14, 2), NETBE_HDR_LEN + 65520 + 14);
	peer_expect(f, 60, 1);
	peer_expect(f, 65520 + 14, 2);
	assert_int_equal(send_frame(f, 13, 3), -EMSGSIZE);
	assert_int_equal(send_frame(f, PASST_FRAME_MAX + 1, 3), -EMSGSIZE);
	assert_int_equal(passt_stats(f->be)->tx_queued, 0);
}

/*
 * passt does not read for a while: what the socket does not take waits, in
 * order, sent when the socket takes it again (EPOLLOUT on the loop); past the
 * buffer, frames are dropped and counted. Nothing is cut or reordered.
 */
static void test_send_full_socket(void **state)
{
	struct fx *f = *state;
	unsigned int sent = 0, refused = 0, got = 0;
	int small = 4096;

	assert_int_equal(setsockopt(netbe_fd(f->be), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
			 0);
	assert_int_equal(fake_loop_dispatch(f->loop, 4), 0); /* no EPOLLOUT watch while idle */
	for (unsigned int i = 0; i < 64; i++) {
		uint64_t before = passt_stats(f->be)->tx_refused;

		/* Taken, or dropped and counted (a full tap queue drops too). */
		assert_int_equal(send_frame(f, 40000, (uint8_t)(i - refused)), NETBE_HDR_LEN + 40000);
		if (passt_stats(f->be)->tx_refused != before) {
			refused++;
			continue;
		}
		assert_int_equal(refused, 0); /* dropped only once the buffer is full */
		sent++;
	}
	assert_true(passt_stats(f->be)->tx_queued > 0);
	assert_true(refused > 0);
	assert_int_equal(passt_stats(f->be)->tx_refused, refused);
	assert_true(sent >= PASST_TX_BUF / (40000 + 4) - 1);
	/* The peer reads; the loop sends the rest as room comes (it had nothing else to do). */
	for (; got < sent; got++)
		peer_expect_pumped(f, 40000, (uint8_t)got);
	assert_false(peer_has_bytes(f, f->peer));
	/* All sent: the EPOLLOUT watch is off again. */
	assert_int_equal(fake_loop_dispatch(f->loop, 4), 0);
	assert_int_equal(send_frame(f, 60, 99), NETBE_HDR_LEN + 60);
	peer_expect(f, 60, 99);
}

/* passt's command line for a --net user. */
static void test_argv(void **state)
{
	struct net_config nc = { .fd = -1 };
	struct passt_argv *a = calloc(1, sizeof(*a));
	const char *why = NULL;
	char line[1024] = "";

	(void)state;
	assert_non_null(a);
	cli_net_user_defaults(&nc);
	assert_int_equal(cli_net_item("hostfwd=tcp:127.0.0.1:8022-:22", &nc, &why), 1);
	assert_int_equal(cli_net_item("hostfwd=tcp::8080-:80", &nc, &why), 1);
	passt_build_argv(a, "/usr/bin/passt", &nc);
	for (unsigned int i = 0; a->argv[i]; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s", i ? " " : "",
			 a->argv[i]);
	assert_string_equal(line, "/usr/bin/passt -f -q --fd 3 -a 10.0.2.15 -n 24 -g 10.0.2.2 "
				  "--dns-forward 10.0.2.3 -m 65520 "
				  "-t 127.0.0.1/8022:22 -t 8080:80 -u none");
	/* A UDP forward: no "-u none". */
	assert_int_equal(cli_net_item("hostfwd=udp::5353-:53", &nc, &why), 1);
	nc.mtu = 1500;
	passt_build_argv(a, "p", &nc);
	line[0] = '\0';
	for (unsigned int i = 0; a->argv[i]; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s", i ? " " : "",
			 a->argv[i]);
	assert_non_null(strstr(line, "-m 1500 -t 127.0.0.1/8022:22 -t 8080:80 -u 5353:53"));
	assert_null(strstr(line, "none"));
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whole_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_frame_left_behind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_by_byte, setup, teardown),
		cmocka_unit_test(test_hostile_lengths),
		cmocka_unit_test_setup_teardown(test_longer_than_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_gone_mid_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_full_socket, setup_loop, teardown),
		cmocka_unit_test(test_argv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
