// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net: the header checks and offload translation on their own, and the
 * tap ioctls, checked on descriptors that are not taps (and on real taps where
 * this process may create them).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/tap.h"
#include "virtio/net.h"

/* ---- the header on its own ---- */

static enum net_drop check(uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
			   uint16_t cstart, uint16_t coff, uint64_t features, uint64_t chain_len)
{
	struct net_hdr h = {flags, gso, hdr_len, gso_size, cstart, coff, 7};
	enum net_drop why = net_hdr_check_tx(&h, features, chain_len);

	if (why == NET_DROP_NONE)
		assert_int_equal(h.num_buffers, 0);
	return why;
}

static void test_hdr_check_tx(void **state)
{
	uint64_t all = VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
		       VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO) |
		       VIRTIO_BIT(VIRTIO_NET_F_HOST_USO);
	uint64_t none = 0, len = NET_HDR_LEN + 1514;

	/* Good frames. */
	assert_int_equal(check(0, 0, 0, 0, 0, 0, none, len), NET_DROP_NONE);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, none, NET_HDR_LEN + NET_ETH_HLEN), NET_DROP_NONE);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, none, NET_HDR_LEN + NET_MAX_FRAME), NET_DROP_NONE);
	assert_int_equal(check(1, 0, 0, 0, 34, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 0, 0, 0, 1512, 0, all, len), NET_DROP_NONE); /* last 2 bytes */
	assert_int_equal(check(2, 0, 0, 0, 0, 0, none, len), NET_DROP_NONE);   /* DATA_VALID */
	assert_int_equal(check(1, 1, 54, 1448, 34, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 4, 74, 1428, 54, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 3, 42, 1472, 34, 6, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 5, 42, 1472, 34, 6, all, len), NET_DROP_NONE);
	/* The smallest MSS taken, for each GSO type. */
	assert_int_equal(check(1, 1, 54, NET_GSO_MIN_SIZE, 34, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 4, 74, NET_GSO_MIN_SIZE, 54, 16, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 3, 42, NET_GSO_MIN_SIZE, 34, 6, all, len), NET_DROP_NONE);
	assert_int_equal(check(1, 5, 42, NET_GSO_MIN_SIZE, 34, 6, all, len), NET_DROP_NONE);
	/* gso_size means nothing without GSO: accepted (and cleared). */
	assert_int_equal(check(0, 0, 0, 999, 0, 0, none, len), NET_DROP_NONE);

	/* Too short, too long. */
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, 0), NET_DROP_TX_SHORT);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, NET_HDR_LEN - 1), NET_DROP_TX_SHORT);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, NET_HDR_LEN + NET_ETH_HLEN - 1),
			 NET_DROP_TX_SHORT);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, NET_HDR_LEN + NET_MAX_FRAME + 1),
			 NET_DROP_TX_OVERSIZE);
	assert_int_equal(check(0, 0, 0, 0, 0, 0, all, UINT32_MAX), NET_DROP_TX_OVERSIZE);
	/* Flags: unknown bits, NEEDS_CSUM without CSUM. */
	assert_int_equal(check(4, 0, 0, 0, 0, 0, all, len), NET_DROP_TX_FLAGS);
	assert_int_equal(check(0x80, 0, 0, 0, 0, 0, all, len), NET_DROP_TX_FLAGS);
	assert_int_equal(check(1, 0, 0, 0, 34, 16, none, len), NET_DROP_TX_FLAGS);
	/* Checksum position beyond the frame, including 16-bit extremes. */
	assert_int_equal(check(1, 0, 0, 0, 1513, 0, all, len), NET_DROP_TX_CSUM);
	assert_int_equal(check(1, 0, 0, 0, 1500, 13, all, len), NET_DROP_TX_CSUM);
	assert_int_equal(check(1, 0, 0, 0, 0xffff, 0xffff, all, len), NET_DROP_TX_CSUM);
	/* GSO types: unknown, not negotiated, ECN without HOST_ECN. */
	assert_int_equal(check(1, 2, 54, 1448, 34, 16, all, len), NET_DROP_TX_GSO);
	assert_int_equal(check(1, 6, 54, 1448, 34, 16, all, len), NET_DROP_TX_GSO);
	assert_int_equal(check(1, 0x7f, 54, 1448, 34, 16, all, len), NET_DROP_TX_GSO);
	assert_int_equal(check(1, 1, 54, 1448, 34, 16, VIRTIO_BIT(VIRTIO_NET_F_CSUM), len),
			 NET_DROP_TX_GSO);
	assert_int_equal(
	    check(1, 3, 42, 1472, 34, 6, all & ~VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO), len),
	    NET_DROP_TX_GSO);
	assert_int_equal(check(1, 0x81, 54, 1448, 34, 16, all, len), NET_DROP_TX_GSO);
	assert_int_equal(check(0, 0x80, 0, 0, 0, 0, all, len), NET_DROP_TX_GSO);
	/* hdr_len and gso_size: GSO without an MSS or NEEDS_CSUM, hdr_len past the end. */
	assert_int_equal(check(1, 1, 54, 0, 34, 16, all, len), NET_DROP_TX_GSO_SIZE);
	assert_int_equal(check(0, 1, 54, 1448, 0, 0, all, len), NET_DROP_TX_GSO_SIZE);
	/* An MSS below NET_GSO_MIN_SIZE would make thousands of segments of one frame. */
	for (uint8_t gso = 1; gso <= 5; gso++) {
		if (gso == 2)
			continue;
		assert_int_equal(check(1, gso, 54, 1, 34, 16, all, len), NET_DROP_TX_GSO_SIZE);
		assert_int_equal(check(1, gso, 54, NET_GSO_MIN_SIZE - 1, 34, 16, all, len),
				 NET_DROP_TX_GSO_SIZE);
	}
	assert_int_equal(check(1, 1, 1515, 1448, 34, 16, all, len), NET_DROP_TX_GSO_SIZE);
	assert_int_equal(check(0, 0, 1515, 0, 0, 0, all, len), NET_DROP_TX_GSO_SIZE);
}

static void test_hdr_fix_rx(void **state)
{
	uint64_t csum = VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	struct net_hdr h = {VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0, 0};

	/* Without GUEST_CSUM the flags go (the tap sets DATA_VALID regardless). */
	assert_int_equal(net_hdr_fix_rx(&h, 0, 60), NET_DROP_NONE);
	assert_int_equal(h.flags, 0);
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	assert_int_equal(net_hdr_fix_rx(&h, csum, 60), NET_DROP_NONE);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(net_hdr_fix_rx(&h, csum, 13), NET_DROP_RX_SHORT);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	assert_int_equal(net_hdr_fix_rx(&h, csum, 3000), NET_DROP_RX_BAD_HDR);
	assert_int_equal(net_hdr_fix_rx(&h, csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4), 3000),
			 NET_DROP_NONE);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	assert_int_equal(net_hdr_fix_rx(&h, csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4), 3000),
			 NET_DROP_RX_BAD_HDR);
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	assert_int_equal(net_hdr_fix_rx(&h, csum, 3000), NET_DROP_RX_BAD_HDR);
	assert_int_equal(net_hdr_fix_rx(&h, csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO6), 3000),
			 NET_DROP_NONE);
	h.gso_type = 9;
	assert_int_equal(net_hdr_fix_rx(&h, ~0ULL, 3000), NET_DROP_RX_BAD_HDR);
}

static void test_hdr_encode_layout(void **state)
{
	struct net_hdr h = {0x01, 0x04, 0x1234, 0x5678, 0x9abc, 0xdef0, 0x0102}, back;
	const uint8_t want[NET_HDR_LEN] = {0x01, 0x04, 0x34, 0x12, 0x78, 0x56,
					   0xbc, 0x9a, 0xf0, 0xde, 0x02, 0x01};
	uint8_t raw[NET_HDR_LEN];

	net_hdr_encode(&h, raw);
	assert_memory_equal(raw, want, NET_HDR_LEN);
	net_hdr_decode(&back, raw);
	assert_memory_equal(&back, &h, sizeof(h));
}

static void test_offload_translation(void **state)
{
	uint64_t csum = VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	uint64_t f;

	assert_int_equal(net_tun_offloads(0), 0);
	/* Segmentation without checksum offload is nothing. */
	assert_int_equal(net_tun_offloads(VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
					  VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO)),
			 0);
	assert_int_equal(net_tun_offloads(csum), TUN_F_CSUM);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4)),
			 TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |
					  VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN)),
			 TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN)), TUN_F_CSUM);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO)),
			 TUN_F_CSUM | TUN_F_UFO);
	assert_int_equal(net_tun_offloads(csum | VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO4) |
					  VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO6)),
			 TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6);
	/* Host-side features never ask the tap for anything. */
	assert_int_equal(
	    net_tun_offloads(VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4)),
	    0);

	/* What the device offers for what the tap takes. */
	assert_true(net_offload_features(0) == 0);
	assert_true(net_offload_features(TUN_F_CSUM) == 0);
	f = net_offload_features(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_CSUM));
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6));
	assert_false(f & VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO));
	assert_false(f & VIRTIO_BIT(VIRTIO_NET_F_HOST_USO));
	f = net_offload_features(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO | TUN_F_USO4 |
				 TUN_F_USO6);
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO));
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO));
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_HOST_USO));
	assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO4));
	/* Round trip: what a guest accepting everything offered asks of the tap. */
	assert_int_equal(net_tun_offloads(f), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO |
						  TUN_F_USO4 | TUN_F_USO6);
}

static void test_default_mac(void **state)
{
	uint8_t a[6], b[6], c[6], d[6];

	net_default_mac("tap0", 0, a);
	net_default_mac("tap0", 0, b);
	net_default_mac("tap0", 1, c);
	net_default_mac("tap1", 0, d);
	assert_memory_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	assert_memory_not_equal(a, d, 6);
	assert_int_equal(a[0], 0x02); /* locally administered, unicast */
	assert_int_equal(c[0] & 3, 2);
}

/* The tap ioctls on descriptors that are not taps: clear errors, no privilege needed. */
static void test_tap_open_errors(void **state)
{
	struct net_config cfg = {.fd = -1};
	struct tap *tap = NULL;
	char err[256];
	int p[2];

	assert_int_equal(pipe(p), 0);
	cfg.fd = p[0];
	assert_true(tap_open(&tap, &cfg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "is not a tap"));
	assert_non_null(strstr(err, "--net fd="));
	close(p[0]);
	close(p[1]);
	cfg.fd = p[0]; /* closed now */
	assert_true(tap_open(&tap, &cfg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "is not open"));
	assert_null(tap);
}

/*
 * Open a tap the way a launcher would, with these flags; -errno when taps
 * cannot be created here (no /dev/net/tun, no CAP_NET_ADMIN).
 */
static int launcher_tap(short flags, char name[IFNAMSIZ])
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "kvmrunut%%d");
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

/*
 * Real taps, where this process may create them (root in CI). Everything the
 * device does with a tap's data is covered on the socket pair above; this is
 * the ioctl side: TUNGETIFF checks of fd=, header size, offload probing, MTU.
 */
static void test_real_tap(void **state)
{
	struct net_config cfg = {.fd = -1};
	char name[IFNAMSIZ], err[256] = "";
	struct tap *tap;
	int fd;

	fd = launcher_tap(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, name);
	if (fd == -EPERM || fd == -EACCES || fd == -ENOENT || fd == -ENODEV)
		skip(); /* the socket-pair tests above do not depend on this one */
	assert_true(fd >= 0);
	cfg.fd = fd;
	assert_int_equal(tap_open(&tap, &cfg, err, sizeof(err)), 0);
	assert_string_equal(tap_name(tap), name);
	assert_int_equal(tap_fd(tap), fd);
	assert_int_equal(tap_offloads(tap) & (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6),
			 TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	assert_int_equal(tap_mtu(tap), 1500);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(tap_set_offload(tap, TUN_F_CSUM | TUN_F_TSO4), 0);
	assert_int_equal(tap_offload_set(tap), TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(tap_read(tap, err, sizeof(err)), -EAGAIN); /* down: nothing to read */
	tap_close(tap);

	/* Wrong flags on a launcher's descriptor: refused, named. */
	fd = launcher_tap(IFF_TAP | IFF_NO_PI, name);
	assert_true(fd >= 0);
	cfg.fd = fd;
	assert_int_equal(tap_open(&tap, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "IFF_VNET_HDR"));
	close(fd);
	fd = launcher_tap(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, name);
	assert_true(fd >= 0);
	cfg.fd = fd;
	assert_int_equal(tap_open(&tap, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is a tun"));
	close(fd);

	/* By name: created here (and gone again when closed). */
	cfg = (struct net_config){.fd = -1};
	snprintf(cfg.ifname, sizeof(cfg.ifname), "kvmrunut%%d");
	assert_int_equal(tap_open(&tap, &cfg, err, sizeof(err)), 0);
	assert_int_equal(strncmp(tap_name(tap), "kvmrunut", 8), 0);
	assert_true(tap_offloads(tap) & TUN_F_CSUM);
	tap_close(tap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hdr_check_tx),
	    cmocka_unit_test(test_hdr_fix_rx),
	    cmocka_unit_test(test_hdr_encode_layout),
	    cmocka_unit_test(test_offload_translation),
	    cmocka_unit_test(test_default_mac),
	    cmocka_unit_test(test_tap_open_errors),
	    cmocka_unit_test(test_real_tap),
	};

	log_set_level(LOG_ERROR);
	signal(SIGPIPE, SIG_IGN); /* a closed peer is EPIPE, as for a program with a tap */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
