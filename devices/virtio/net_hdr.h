/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_VIRTIO_NET_HDR_H
#define KVMRUN_DEVICES_VIRTIO_NET_HDR_H

/*
 * The virtio-net header (virtio 1.x, section 5.1.6) and what virtio-net
 * decides from it, without a device or a queue: checking a frame the guest
 * sends, fixing one the tap hands up, which tap offloads follow from the
 * negotiated features, the default MAC address, and the per-NIC counters.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"

/* Feature bits (section 5.1.3); the USO ones are newer than some system headers. */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_GUEST_USO4 54
#define VIRTIO_NET_F_GUEST_USO6 55
#define VIRTIO_NET_F_HOST_USO 56

#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2

#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_HDR_GSO_ECN 0x80

/* struct virtio_net_hdr_v1, little-endian on the wire; always 12 bytes in 1.x. */
struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

#define NET_HDR_LEN 12
#define NET_ETH_HLEN 14
/* Largest frame after the header: 64 KiB of IP packet and an Ethernet header. */
#define NET_MAX_FRAME 65550
/*
 * Smallest gso_size (MSS) a GSO frame from the guest may ask for. Each segment
 * costs the host a packet of its own, so a 1-byte MSS would turn one 64 KiB
 * frame into some 64K of them. Linux's TCP never puts less than 8 bytes of
 * payload in a segment (its TCP_MIN_GSO_SIZE: the smallest send MSS it
 * accepts, 48, less 40 bytes of options), and an IPv4 fragment carries a
 * multiple of 8 bytes (UFO): a smaller MSS is no driver's honest output. A
 * higher floor would drop what a Linux guest does send on a small-MTU link
 * (--net mtu= goes down to 68).
 */
#define NET_GSO_MIN_SIZE 8

/* Why a frame was dropped; each reason has a counter. */
enum net_drop {
	NET_DROP_NONE,
	/* guest -> tap */
	NET_DROP_TX_SHORT,     /* shorter than the header and an Ethernet header */
	NET_DROP_TX_OVERSIZE,  /* frame longer than NET_MAX_FRAME */
	NET_DROP_TX_FLAGS,     /* unknown flags, or NEEDS_CSUM without CSUM */
	NET_DROP_TX_CSUM,      /* csum_start + csum_offset + 2 beyond the frame */
	NET_DROP_TX_GSO,       /* unknown or not negotiated gso_type */
	NET_DROP_TX_GSO_SIZE,  /* hdr_len beyond the frame, GSO without csum, or an MSS */
			       /* (gso_size) below NET_GSO_MIN_SIZE */
	NET_DROP_TX_TAP_DOWN,  /* the tap refused it: link down (EIO) */
	NET_DROP_TX_TAP_ERROR, /* the tap refused it otherwise, or is gone */
	/* the NIC's egress policy (backend/egress.h) */
	NET_DROP_TX_EGRESS_DENIED,    /* not allowed */
	NET_DROP_TX_EGRESS_MALFORMED, /* a header runs off the frame or is inconsistent */
	NET_DROP_TX_EGRESS_FRAGMENT,  /* a non-first fragment to an address not wholly allowed */
	NET_DROP_TX_EGRESS_ETHERTYPE, /* neither ARP, IPv4 nor IPv6 */
	/* tap -> guest */
	NET_DROP_RX_SHORT,     /* shorter than the header and an Ethernet header */
	NET_DROP_RX_TRUNCATED, /* longer than the receive buffer */
	NET_DROP_RX_NO_ROOM,   /* larger than a whole chain (no MRG_RXBUF) */
	NET_DROP_RX_BAD_HDR,   /* the tap's header asks for what the guest did not accept */
	NET_DROP_RX_RESET,     /* pending when the driver reset the device */
	NET_DROP_MAX,
};

struct net_stats {
	uint64_t rx_frames, rx_bytes; /* bytes: frames without the header */
	uint64_t tx_frames, tx_bytes;
	uint64_t rx_tap_errors, tx_tap_errors;
	uint64_t rx_waits; /* times receiving stopped: the guest had no buffer posted */
	uint64_t drops[NET_DROP_MAX];
};

/* A short name for a drop reason ("tx_csum"), for log lines and tests. */
const char *net_drop_name(enum net_drop why);

/* Decode the 12 header bytes (little-endian) into host order, and back. */
void net_hdr_decode(struct net_hdr *h, const uint8_t raw[NET_HDR_LEN]);
void net_hdr_encode(const struct net_hdr *h, uint8_t raw[NET_HDR_LEN]);

/*
 * Check a frame the guest sends: chain_len is the whole readable part (header
 * and frame), features the negotiated ones. NET_DROP_NONE when it may go to
 * the tap; *h is then ready to write (num_buffers cleared, DATA_VALID dropped).
 */
enum net_drop net_hdr_check_tx(struct net_hdr *h, uint64_t features, uint64_t chain_len);

/*
 * Fix the header of a frame the tap hands up (frame_len bytes after it) for a
 * guest with these features: flags cleared without GUEST_CSUM; a GSO type the
 * guest did not accept is NET_DROP_RX_BAD_HDR.
 */
enum net_drop net_hdr_fix_rx(struct net_hdr *h, uint64_t features, size_t frame_len);

/* The TUN_F_* flags for TUNSETOFFLOAD that follow from the GUEST_* features. */
unsigned int net_tun_offloads(uint64_t features);

/* The features a tap with these TUN_F_* offloads lets the device offer. */
uint64_t net_offload_features(unsigned int tun_offloads);

/*
 * The default MAC of --net number index on tap ifname: 02 and then five bytes
 * of the 64-bit FNV-1a hash of "ifname/index". Locally administered, unicast,
 * and the same every run for the same tap name and position.
 */
void net_default_mac(const char *ifname, unsigned int index, uint8_t mac[6]);

/* Log the counters at debug level, one line. */
void net_stats_log(const struct net_stats *s, const char *id);

#endif
