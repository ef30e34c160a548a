// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net (virtio 1.x section 5.1) against a real tap. Frames carry ethertype
 * 0x88b5 (local experimental) and a NUL-terminated text; the host side of the tap
 * (tests/guest/run.sh) records every such frame it receives and answers the ones
 * whose text starts with "echo-me" with "echo: <text>".
 *
 *   case=tx      sends a good frame, then malformed ones (shorter than the header,
 *                a bad GSO type, csum_start/offset past the frame, oversize), then a
 *                good one to echo: every chain must come back on the used ring, the
 *                device must not need a reset, and the echo must arrive on RX.
 *   case=rx-ro, rx-short, rx-empty
 *                posts a read-only, a 4-byte or a 0-byte receive buffer and asks
 *                for an echo: the device must report NEEDS_RESET; after a reset it
 *                must send again ("after-reset").
 */
#include "fw_virtio.h"

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_MAC 5
#define VNET_HDR_F_NEEDS_CSUM 1
#define VNET_GSO_NONE 0
#define NET_RXQ 0
#define NET_TXQ 1
#define ETHERTYPE 0x88b5
#define FRAME_MAX 1514
#define OVERSIZE 70000
/* Polls of the used ring before a frame to echo is sent again, and most sends. */
#define ECHO_SPINS 20000000ULL
#define ECHO_TRIES 30

struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

struct net {
	struct fw_vdev d;
	struct fw_vq rx, tx;
	uint8_t mac[6];
};

static struct fw_vring_mem rx_mem, tx_mem;
static uint8_t tx_buf[sizeof(struct vnet_hdr) + OVERSIZE] __attribute__((aligned(4096)));
static uint8_t rx_buf[2048] __attribute__((aligned(4096)));

/* Reset, negotiate, both queues, DRIVER_OK; the MAC from the config space. */
static void net_init(struct net *n)
{
	fw_virtio_reset(&n->d);
	FW_CHECK(!fw_virtio_negotiate(&n->d, VIRTIO_BIT(VIRTIO_NET_F_MAC) |
						     VIRTIO_BIT(VIRTIO_NET_F_CSUM)),
		 "feature negotiation failed");
	FW_CHECK(!fw_virtio_queue_setup(&n->d, &n->rx, NET_RXQ, 16, &rx_mem), "rx queue setup");
	FW_CHECK(!fw_virtio_queue_setup(&n->d, &n->tx, NET_TXQ, 16, &tx_mem), "tx queue setup");
	fw_virtio_driver_ok(&n->d);
	FW_CHECK(n->d.negotiated & VIRTIO_BIT(VIRTIO_NET_F_MAC), "no MAC feature");
	for (unsigned int i = 0; i < 6; i++)
		n->mac[i] = mmio_read8(n->d.device + i);
}

/* A frame from our MAC to everyone with text in it; returns its length. */
static uint32_t net_frame(const struct net *n, uint8_t *f, const char *text)
{
	uint32_t len = 14 + (uint32_t)strlen(text) + 1;

	memset(f, 0xff, 6);
	memcpy(f + 6, n->mac, 6);
	f[12] = ETHERTYPE >> 8;
	f[13] = ETHERTYPE & 0xff;
	memcpy(f + 14, text, strlen(text) + 1);
	return len < 60 ? 60 : len;
}

/* Sends one chain of one descriptor (len bytes of tx_buf) and waits for it back. */
static void net_send_raw(struct net *n, uint32_t len, const char *what)
{
	uint32_t id, used_len;

	n->tx.desc[0] = (struct vring_desc){ (uint64_t)(uintptr_t)tx_buf, len, 0, 0 };
	fw_vq_submit(&n->d, &n->tx, 0);
	FW_CHECK(!fw_vq_wait_used(&n->d, &n->tx, &id, &used_len, 0),
		 "%s: the device needs a reset (status 0x%x)", what, fw_virtio_status(&n->d));
	FW_CHECK(id == 0, "%s: used id %u", what, id);
}

/*
 * A good frame with text, with the header in a descriptor of its own. 0, or -1
 * when the device needs a reset.
 */
static int net_try_send(struct net *n, const char *text)
{
	struct vnet_hdr *h = (void *)tx_buf;
	uint8_t *f = tx_buf + 64;
	uint32_t id, used_len, len = net_frame(n, f, text);

	*h = (struct vnet_hdr){ .gso_type = VNET_GSO_NONE };
	n->tx.desc[0] = (struct vring_desc){ (uint64_t)(uintptr_t)h, sizeof(*h), VRING_DESC_F_NEXT,
					     1 };
	n->tx.desc[1] = (struct vring_desc){ (uint64_t)(uintptr_t)f, len, 0, 0 };
	fw_vq_submit(&n->d, &n->tx, 0);
	return fw_vq_wait_used(&n->d, &n->tx, &id, &used_len, 0);
}

static void net_send(struct net *n, const char *text)
{
	FW_CHECK(!net_try_send(n, text), "sending '%s': the device needs a reset (status 0x%x)",
		 text, fw_virtio_status(&n->d));
}

/* A malformed frame: header h, then a frame with text; len 0 = the real length. */
static void net_send_bad(struct net *n, struct vnet_hdr h, const char *text, uint32_t len)
{
	uint32_t flen = net_frame(n, tx_buf + sizeof(h), text);

	memcpy(tx_buf, &h, sizeof(h));
	net_send_raw(n, len ? len : (uint32_t)sizeof(h) + flen, text);
}

static void net_post_rx(struct net *n, uint32_t len, uint16_t flags)
{
	memset(rx_buf, 0, sizeof(rx_buf));
	n->rx.desc[0] = (struct vring_desc){ (uint64_t)(uintptr_t)rx_buf, len, flags, 0 };
	fw_vq_submit(&n->d, &n->rx, 0);
}

/*
 * Asks the host for an echo of text until a frame of ours arrives in rx_buf
 * (others, such as the host's own multicast, are skipped: the buffer is posted
 * again with the same length and flags); 0, or -1 on NEEDS_RESET.
 */
static int net_echo(struct net *n, const char *text)
{
	const uint8_t *type = rx_buf + sizeof(struct vnet_hdr) + 12;
	const struct vring_desc posted = n->rx.desc[0];

	for (unsigned int t = 0; t < ECHO_TRIES; t++) {
		uint32_t id, len;

		if (net_try_send(n, text))
			return -1;
		while (!fw_vq_wait_used(&n->d, &n->rx, &id, &len, ECHO_SPINS)) {
			if (type[0] == ETHERTYPE >> 8 && type[1] == (ETHERTYPE & 0xff))
				return 0;
			net_post_rx(n, posted.len, posted.flags);
		}
		if (fw_virtio_status(&n->d) & VIRTIO_STATUS_NEEDS_RESET)
			return -1;
	}
	FW_CHECK(0, "no echo of '%s' after %u sends", text, ECHO_TRIES);
	return -1;
}

static void case_tx(struct net *n)
{
	const struct vnet_hdr *h = (const void *)rx_buf;
	const char *text = (const char *)rx_buf + sizeof(*h) + 14;
	static const char want[] = "echo: echo-me 2";

	net_post_rx(n, sizeof(rx_buf), VRING_DESC_F_WRITE);
	net_send(n, "good 1");
	/* Each of these is dropped: the chain comes back, the device stays usable. */
	net_send_raw(n, 6, "bad: shorter than the header");
	net_send_bad(n, (struct vnet_hdr){ .gso_type = 7 }, "bad: gso type 7", 0);
	net_send_bad(n,
		     (struct vnet_hdr){ .flags = VNET_HDR_F_NEEDS_CSUM, .csum_start = 2000,
					.csum_offset = 6 },
		     "bad: csum past the end", 0);
	net_send_bad(n,
		     (struct vnet_hdr){ .flags = VNET_HDR_F_NEEDS_CSUM, .csum_start = 14,
					.csum_offset = 0xfff0 },
		     "bad: csum offset past the end", 0);
	net_send_bad(n, (struct vnet_hdr){ 0 }, "bad: oversize", sizeof(struct vnet_hdr) + OVERSIZE);
	FW_CHECK(!(fw_virtio_status(&n->d) & VIRTIO_STATUS_NEEDS_RESET),
		 "malformed TX frames broke the device");
	FW_CHECK(!net_echo(n, "echo-me 2"), "RX broke the device (status 0x%x)",
		 fw_virtio_status(&n->d));
	FW_CHECK(h->num_buffers == 1, "num_buffers %u", h->num_buffers);
	FW_CHECK(!memcmp(text, want, sizeof(want)), "received '%s', expected '%s'", text, want);
	fw_printf("virtio-net tx: PASS\n");
}

static void case_rx_bad(struct net *n, const char *c)
{
	if (!strncmp(c, "rx-ro", 6))
		net_post_rx(n, sizeof(rx_buf), 0);
	else if (!strncmp(c, "rx-short", 9))
		net_post_rx(n, 4, VRING_DESC_F_WRITE);
	else
		net_post_rx(n, 0, VRING_DESC_F_WRITE);
	FW_CHECK(net_echo(n, "echo-me bad") < 0, "the device used a bad receive buffer");
	fw_printf("virtio-net %s: needs reset, as it should\n", c);
	net_init(n);
	net_send(n, "after-reset");
	fw_printf("virtio-net %s: PASS\n", c);
}

int fw_main(const struct fw_start_info *si)
{
	struct net n = { 0 };
	char c[16] = "tx";

	fw_cmdline_str(si, "case", c, sizeof(c));
	FW_CHECK(!fw_virtio_find(&n.d, si, VIRTIO_ID_NET), "no virtio-net device");
	FW_CHECK(n.d.device && n.d.device_len >= 6, "no device configuration region");
	net_init(&n);
	fw_printf("virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x, features 0x%lx\n", n.mac[0],
		  n.mac[1], n.mac[2], n.mac[3], n.mac[4], n.mac[5],
		  (unsigned long)n.d.negotiated);
	if (!strncmp(c, "tx", 3))
		case_tx(&n);
	else if (!strncmp(c, "rx-", 3))
		case_rx_bad(&n, c);
	else
		FW_CHECK(0, "unknown case '%s'", c);
	return 0;
}
