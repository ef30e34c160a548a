// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for virtio-net, mainly the transmit path (header and frame
 * checks). The input is one byte of negotiated features (bit 5: a loop that
 * preempts the guest, so that transmit completions may be held; bit 6: an
 * egress policy, which every frame sent must then pass too) and then guest RAM:
 * a 16-entry transmit queue and a 16-entry receive queue whose descriptor
 * tables, avail rings and buffers all come from the input. The device sends
 * what the guest posted to a SOCK_SEQPACKET socket pair standing in for the
 * tap; every frame that comes out must pass the header checks again. Then
 * what follows the RAM image in the input (or 74 bytes of RAM) goes the other
 * way as one received frame with its header, and the device is reset. A fake transport and event
 * loop stand in for the rest.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/egress.h"
#include "backend/tap.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "fuzz_device.h"
#include "kvmrun/log.h"
#include "virtio/net.h"

#define QSZ 16
#define TXQ_GPA FUZZ_RAM_GPA /* desc, avail, used at +0, +0x100, +0x200 */
#define RXQ_GPA (FUZZ_RAM_GPA + 0x400)
#define RX_FRAME_OFF 0xf000 /* in RAM: the received frame when none follows RAM */
#define RX_FRAME_SHORT 74

/* The harness's own state, beside fuzz_dev. */
static struct {
	uint8_t *frame;
	int peer, devfd;
	struct egress_policy egress; /* deny; TCP and UDP to 10/8, anything to 2001:db8::/32 */
	bool filtering;
} fz;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct virtio_dev *vdev;
	struct tap *tap;
	int sv[2], big = 1 << 20;
	const char *why;

	log_set_level(LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv))
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	fz.peer = sv[1];
	fz.devfd = sv[0]; /* the device owns it; the harness only empties it */
	if (tap_open_fd(&tap, sv[0], "fuzz",
			TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO | TUN_F_USO4 | TUN_F_USO6))
		abort();
	fz.frame = malloc(NET_HDR_LEN + NET_MAX_FRAME + 1);
	if (!fz.frame)
		abort();
	if (virtio_net_create_backend(&vdev, tap_backend(tap), NULL, 1500, 0, NULL, &fuzz_dev.gm))
		abort();
	fuzz_device_attach(vdev);
	fz.egress.deny = true;
	if (egress_parse_rule("10.0.0.0/8:1-65535", &fz.egress.rules[0], &why) ||
	    egress_parse_rule("2001:db8::/32", &fz.egress.rules[1], &why))
		abort();
	fz.egress.nr_rules = 2;
	return 0;
}

/* Everything the device sent must pass the checks it made. */
static void fz_drain_tx(uint64_t features)
{
	ssize_t n;

	while ((n = read(fz.peer, fz.frame, NET_HDR_LEN + NET_MAX_FRAME + 1)) >= 0) {
		struct net_hdr h;

		if ((size_t)n < NET_HDR_LEN)
			abort();
		net_hdr_decode(&h, fz.frame);
		if (net_hdr_check_tx(&h, features, (uint64_t)n) != NET_DROP_NONE)
			abort();
		if (fz.filtering &&
		    egress_check(&fz.egress, fz.frame + NET_HDR_LEN,
				 MIN((size_t)n - NET_HDR_LEN, (size_t)EGRESS_HDR_MAX),
				 (size_t)n - NET_HDR_LEN) != EGRESS_PASS)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vq vqs[2];
	struct virtio_dev *vdev = fuzz_dev.vdev;
	size_t rx_len;
	uint8_t feat;

	if (size < 1)
		return 0;
	feat = fuzz_device_load(data, size);
	if (!(feat & 4))
		vdev->features &= ~VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (!(feat & 8))
		vdev->features &=
		    ~(VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
		      VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO) |
		      VIRTIO_BIT(VIRTIO_NET_F_HOST_USO));
	if (!(feat & 16))
		vdev->features &= ~VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	fuzz_dev.preempting = feat & 32; /* completions of single small frames are held */
	fz.filtering = feat & 64;
	virtio_net_set_egress(vdev, fz.filtering ? &fz.egress : NULL);
	/* Queue 0 receives, queue 1 transmits. */
	if (vq_setup(&vqs[0], &fuzz_dev.gm, QSZ, RXQ_GPA, RXQ_GPA + 0x100, RXQ_GPA + 0x200,
		     vdev->features) ||
	    vq_setup(&vqs[1], &fuzz_dev.gm, QSZ, TXQ_GPA, TXQ_GPA + 0x100, TXQ_GPA + 0x200,
		     vdev->features))
		abort();
	fuzz_device_start(vqs);
	vdev->ops->queue_notify(vdev, 1);
	fz_drain_tx(vdev->features);
	fuzz_device_check(&vqs[1], 1);

	/* One frame in (header included): the input after the RAM image, or a short one. */
	if (size > 1 + FUZZ_RAM_SIZE) {
		rx_len = size - 1 - FUZZ_RAM_SIZE;
		memcpy(fz.frame, data + 1 + FUZZ_RAM_SIZE, rx_len);
	} else {
		rx_len = RX_FRAME_SHORT;
		memcpy(fz.frame, fuzz_dev.ram + RX_FRAME_OFF, rx_len);
	}
	if (write(fz.peer, fz.frame, rx_len) < 0)
		abort();
	vdev->ops->queue_notify(vdev, 0);
	if (fake_loop.w[0].fn && fake_loop.w[0].events == EPOLLIN)
		fake_loop.w[0].fn(fake_loop.w[0].opaque, EPOLLIN);
	fuzz_device_check(vqs, 2);

	fuzz_device_stop(vqs, 2);
	/* What the device did not read stays in the socket: empty it for the next input. */
	while (recv(fz.devfd, fz.frame, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
	return 0;
}
