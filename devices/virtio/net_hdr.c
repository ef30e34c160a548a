// SPDX-License-Identifier: Apache-2.0
/* The virtio-net header: checks, offload translation, default MAC, counters. */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "backend/tap.h"
#include "kvmrun/log.h"
#include "kvmrun/virtio.h"
#include "virtio/net_hdr.h"

static const char *const net_drop_names[NET_DROP_MAX] = {
    [NET_DROP_NONE] = "none",
    [NET_DROP_TX_SHORT] = "tx_short",
    [NET_DROP_TX_OVERSIZE] = "tx_oversize",
    [NET_DROP_TX_FLAGS] = "tx_flags",
    [NET_DROP_TX_CSUM] = "tx_csum",
    [NET_DROP_TX_GSO] = "tx_gso",
    [NET_DROP_TX_GSO_SIZE] = "tx_gso_size",
    [NET_DROP_TX_TAP_DOWN] = "tx_tap_down",
    [NET_DROP_TX_TAP_ERROR] = "tx_tap_error",
    [NET_DROP_TX_EGRESS_DENIED] = "tx_egress_denied",
    [NET_DROP_TX_EGRESS_MALFORMED] = "tx_egress_malformed",
    [NET_DROP_TX_EGRESS_FRAGMENT] = "tx_egress_fragment",
    [NET_DROP_TX_EGRESS_ETHERTYPE] = "tx_egress_ethertype",
    [NET_DROP_RX_SHORT] = "rx_short",
    [NET_DROP_RX_TRUNCATED] = "rx_truncated",
    [NET_DROP_RX_NO_ROOM] = "rx_no_room",
    [NET_DROP_RX_BAD_HDR] = "rx_bad_hdr",
    [NET_DROP_RX_RESET] = "rx_reset",
};

const char *net_drop_name(enum net_drop why)
{
	return (unsigned int)why < NET_DROP_MAX ? net_drop_names[why] : "?";
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void net_hdr_decode(struct net_hdr *h, const uint8_t raw[NET_HDR_LEN])
{
	h->flags = raw[0];
	h->gso_type = raw[1];
	h->hdr_len = get_le16(raw + 2);
	h->gso_size = get_le16(raw + 4);
	h->csum_start = get_le16(raw + 6);
	h->csum_offset = get_le16(raw + 8);
	h->num_buffers = get_le16(raw + 10);
}

void net_hdr_encode(const struct net_hdr *h, uint8_t raw[NET_HDR_LEN])
{
	raw[0] = h->flags;
	raw[1] = h->gso_type;
	put_le16(raw + 2, h->hdr_len);
	put_le16(raw + 4, h->gso_size);
	put_le16(raw + 6, h->csum_start);
	put_le16(raw + 8, h->csum_offset);
	put_le16(raw + 10, h->num_buffers);
}

static bool has(uint64_t features, unsigned int bit)
{
	return features & VIRTIO_BIT(bit);
}

/* The feature that lets the driver send (host) or take (guest) a GSO type. */
static int net_gso_feature(uint8_t type, bool guest)
{
	switch (type) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return guest ? VIRTIO_NET_F_GUEST_TSO4 : VIRTIO_NET_F_HOST_TSO4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return guest ? VIRTIO_NET_F_GUEST_TSO6 : VIRTIO_NET_F_HOST_TSO6;
	case VIRTIO_NET_HDR_GSO_UDP:
		return guest ? VIRTIO_NET_F_GUEST_UFO : VIRTIO_NET_F_HOST_UFO;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		/* USO for IPv4 and IPv6 share one GSO type. */
		return guest ? VIRTIO_NET_F_GUEST_USO4 : VIRTIO_NET_F_HOST_USO;
	default:
		return -1;
	}
}

enum net_drop net_hdr_check_tx(struct net_hdr *h, uint64_t features, uint64_t chain_len)
{
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	uint64_t frame_len;
	int feat;

	if (chain_len < NET_HDR_LEN + NET_ETH_HLEN)
		return NET_DROP_TX_SHORT;
	frame_len = chain_len - NET_HDR_LEN;
	if (frame_len > NET_MAX_FRAME)
		return NET_DROP_TX_OVERSIZE;
	/* DATA_VALID means nothing from the driver (section 5.1.6.2): ignore it. */
	h->flags &= ~VIRTIO_NET_HDR_F_DATA_VALID;
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return NET_DROP_TX_FLAGS;
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!has(features, VIRTIO_NET_F_CSUM))
			return NET_DROP_TX_FLAGS;
		/* 16-bit fields: the sum cannot overflow 64 bits. */
		if ((uint64_t)h->csum_start + h->csum_offset + 2 > frame_len)
			return NET_DROP_TX_CSUM;
	}
	if (h->hdr_len > frame_len)
		return NET_DROP_TX_GSO_SIZE;
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return NET_DROP_TX_GSO;
		h->gso_size = 0;
	} else {
		feat = net_gso_feature(gso, false);
		if (feat < 0 || !has(features, (unsigned int)feat))
			return NET_DROP_TX_GSO;
		if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(features, VIRTIO_NET_F_HOST_ECN))
			return NET_DROP_TX_GSO;
		/* Section 5.1.6.2: GSO needs NEEDS_CSUM and an MSS; not a tiny one. */
		if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h->gso_size < NET_GSO_MIN_SIZE)
			return NET_DROP_TX_GSO_SIZE;
	}
	h->num_buffers = 0;
	return NET_DROP_NONE;
}

enum net_drop net_hdr_fix_rx(struct net_hdr *h, uint64_t features, size_t frame_len)
{
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	int feat;

	if (frame_len < NET_ETH_HLEN)
		return NET_DROP_RX_SHORT;
	if (!has(features, VIRTIO_NET_F_GUEST_CSUM))
		h->flags = 0; /* section 5.1.6.4.1 */
	if (gso != VIRTIO_NET_HDR_GSO_NONE) {
		feat = net_gso_feature(gso, true);
		if (gso == VIRTIO_NET_HDR_GSO_UDP_L4) {
			/* The tap does not say IPv4 or IPv6; it was told what the guest takes. */
			if (!has(features, VIRTIO_NET_F_GUEST_USO4) &&
			    !has(features, VIRTIO_NET_F_GUEST_USO6))
				return NET_DROP_RX_BAD_HDR;
		} else if (feat < 0 || !has(features, (unsigned int)feat)) {
			return NET_DROP_RX_BAD_HDR;
		}
		if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
		    !has(features, VIRTIO_NET_F_GUEST_ECN))
			return NET_DROP_RX_BAD_HDR;
	}
	return NET_DROP_NONE;
}

unsigned int net_tun_offloads(uint64_t features)
{
	unsigned int f = 0;

	/* Every segmentation offload needs checksum offload under it. */
	if (!has(features, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (has(features, VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (has(features, VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if (has(features, VIRTIO_NET_F_GUEST_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	if (has(features, VIRTIO_NET_F_GUEST_UFO))
		f |= TUN_F_UFO;
	if (has(features, VIRTIO_NET_F_GUEST_USO4))
		f |= TUN_F_USO4;
	if (has(features, VIRTIO_NET_F_GUEST_USO6))
		f |= TUN_F_USO6;
	return f;
}

uint64_t net_offload_features(unsigned int tun_offloads)
{
	uint64_t f = 0;

	if ((tun_offloads & (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) !=
	    (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6))
		return 0;
	f |= VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
	     VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) |
	     VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6);
	if (tun_offloads & TUN_F_UFO)
		f |= VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO);
	if ((tun_offloads & (TUN_F_USO4 | TUN_F_USO6)) == (TUN_F_USO4 | TUN_F_USO6))
		f |= VIRTIO_BIT(VIRTIO_NET_F_HOST_USO) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO4) |
		     VIRTIO_BIT(VIRTIO_NET_F_GUEST_USO6);
	return f;
}

void net_default_mac(const char *ifname, unsigned int index, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis */
	char key[64];
	int n;

	n = snprintf(key, sizeof(key), "%s/%u", ifname, index);
	for (int i = 0; i < n && i < (int)sizeof(key); i++) {
		h ^= (uint8_t)key[i];
		h *= 0x100000001b3ULL; /* FNV prime */
	}
	mac[0] = 0x02; /* locally administered, unicast */
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

void net_stats_log(const struct net_stats *s, const char *id)
{
	char drops[512];
	size_t len = 0;

	drops[0] = '\0';
	for (unsigned int i = NET_DROP_NONE + 1; i < NET_DROP_MAX; i++) {
		int n;

		if (!s->drops[i])
			continue;
		n = snprintf(drops + len, sizeof(drops) - len, " %s=%llu", net_drop_name(i),
			     (unsigned long long)s->drops[i]);
		if (n < 0 || (size_t)n >= sizeof(drops) - len)
			break;
		len += (size_t)n;
	}
	log_debug("virtio-net %s: rx %llu frames %llu bytes, tx %llu frames %llu bytes, "
		  "tap errors rx %llu tx %llu, rx waits for buffers %llu; drops:%s",
		  id, (unsigned long long)s->rx_frames, (unsigned long long)s->rx_bytes,
		  (unsigned long long)s->tx_frames, (unsigned long long)s->tx_bytes,
		  (unsigned long long)s->rx_tap_errors, (unsigned long long)s->tx_tap_errors,
		  (unsigned long long)s->rx_waits,
		  len ? drops : " none");
}
