/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_BACKEND_EGRESS_H
#define KVMRUN_DEVICES_BACKEND_EGRESS_H

/*
 * The egress policy of a NIC (--net ...,egress=deny,allow=...,dns=on): which
 * frames the guest may send. Pure code, no I/O: the device copies the first
 * EGRESS_HDR_MAX bytes of a frame (after the virtio-net header) out of guest
 * memory, the classifier reads that copy only, and the policy decides.
 *
 * The classifier (egress_classify) takes every byte as hostile: Ethernet, up to
 * EGRESS_VLAN_MAX 802.1Q/802.1ad tags, ARP, IPv4 (version, IHL of 5 or more,
 * total length within the frame), IPv6 (payload length within the frame, at
 * most EGRESS_EXT_MAX extension headers: hop-by-hop first only, routing,
 * fragment, destination options, AH, each within the packet), then TCP (20
 * bytes, data offset within the packet), UDP (8 bytes, length within the
 * packet), ICMP (8 bytes) and ICMPv6 (4 bytes). A header that runs off the
 * frame, or past the copied EGRESS_HDR_MAX bytes, is malformed. Any other
 * next-header value (ESP, an unknown extension header, no next header) ends the
 * walk as the packet's protocol, one without ports.
 *
 * The policy (egress_decide), with egress=deny:
 *   - always allowed, so that the link works: ARP; DHCP from the client (UDP
 *     68 -> 67) to 255.255.255.255; DHCPv6 (UDP 546 -> 547) to ff02::1:2;
 *     IPv6 router and neighbour solicitations and advertisements (ICMPv6
 *     133-136) with hop limit 255, and MLD (ICMPv6 130-132, 143) with hop limit
 *     1 to ff02::/16. None of these leave the link, except a neighbour message
 *     to a unicast address that a router forwards;
 *   - dns=on: TCP and UDP to port 53 of any address;
 *   - a rule allows a destination address in its CIDR, with a port in its
 *     range (TCP and UDP only) and its protocol; a rule without port and
 *     protocol allows every protocol to its addresses;
 *   - a non-first fragment (IPv4 offset > 0; IPv6 fragment header with
 *     offset > 0) carries no transport header: it passes only when a rule
 *     without port and protocol allows its destination, else it is dropped
 *     as EGRESS_FRAGMENT. A first fragment is checked as a whole packet (its
 *     transport header must be in it);
 *   - Ethernet types other than ARP, IPv4 and IPv6: EGRESS_ETHERTYPE;
 *   - anything else: EGRESS_DENIED.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/config.h"

/* Bytes of a frame the classifier sees: Ethernet, tags, IP and its options, L4. */
#define EGRESS_HDR_MAX 256
#define EGRESS_VLAN_MAX 2
#define EGRESS_EXT_MAX 8

enum egress_verdict {
	EGRESS_PASS,
	EGRESS_DENIED,	  /* the policy does not allow it */
	EGRESS_MALFORMED, /* a header runs off the frame or is inconsistent */
	EGRESS_FRAGMENT,  /* a non-first fragment to an address not wholly allowed */
	EGRESS_ETHERTYPE, /* neither ARP, IPv4 nor IPv6 */
};

/* What the classifier found in a frame. */
struct egress_pkt {
	uint16_t ethertype; /* after the VLAN tags */
	uint8_t family;	    /* 4 or 6; 0: not IP */
	uint8_t proto;	    /* the transport protocol (after IPv6 extension headers) */
	bool fragment;	    /* a non-first fragment: no transport header */
	bool has_ports;	    /* TCP or UDP */
	uint16_t sport, dport;
	uint8_t icmp_type; /* ICMP and ICMPv6 */
	uint8_t ttl;	   /* IPv4 TTL, IPv6 hop limit */
	uint8_t src[16], dst[16];
};

/*
 * Classify a frame of frame_len bytes whose first hdr_len (at most frame_len)
 * bytes are in hdr: EGRESS_PASS with *pkt filled in, or EGRESS_MALFORMED.
 */
enum egress_verdict egress_classify(const uint8_t *hdr, size_t hdr_len, size_t frame_len,
				    struct egress_pkt *pkt);

/* The policy's verdict on a classified frame. */
enum egress_verdict egress_decide(const struct egress_policy *p, const struct egress_pkt *pkt);

/* Both: the verdict on a frame (hdr, hdr_len, frame_len as for egress_classify). */
enum egress_verdict egress_check(const struct egress_policy *p, const uint8_t *hdr, size_t hdr_len,
				 size_t frame_len);

/*
 * One allow= value: CIDR[:PORT[-PORT]][/tcp|/udp|/icmp], an IPv6 CIDR in
 * brackets when a port follows ([2001:db8::/32]:443/tcp). A CIDR without a
 * prefix is one address; bits past the prefix must be zero; ports 1 to 65535,
 * the first no greater than the last; /icmp takes no port. 0, or -EINVAL with
 * *why saying what is wrong.
 */
int egress_parse_rule(const char *s, struct egress_rule *r, const char **why);

/* A short name for a verdict ("denied"), for logs and tests. */
const char *egress_verdict_name(enum egress_verdict v);

#endif
