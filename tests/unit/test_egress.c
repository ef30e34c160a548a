// SPDX-License-Identifier: Apache-2.0
/*
 * The egress policy without a device: the classifier on well-formed and
 * malformed frames, the policy's verdicts, allow= rules and the --net items.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/egress.h"
#include "cli.h"
#include "egress_frames.h"

static const char HOST[4] = {10, 0, 2, 1};
static const char V6DST[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

/* Classify f with the classifier's usual view (its first EGRESS_HDR_MAX bytes). */
static enum egress_verdict classify(const struct frame *f, struct egress_pkt *pkt)
{
	return egress_classify(f->b, f->len < EGRESS_HDR_MAX ? f->len : EGRESS_HDR_MAX, f->len,
			       pkt);
}

#define EXPECT(f, verdict)                                                                         \
	do {                                                                                       \
		struct egress_pkt p_;                                                              \
		enum egress_verdict v_ = classify(f, &p_);                                         \
		if (v_ != (verdict))                                                               \
			fail_msg("line %d: %s, expected %s", __LINE__, egress_verdict_name(v_),    \
				 egress_verdict_name(verdict));                                    \
	} while (0)

/* Ethernet, VLAN tags and ARP. */
static void test_classify_link(void **state)
{
	struct frame f;
	struct egress_pkt pkt;

	f_eth(&f);
	EXPECT(&f, EGRESS_MALFORMED); /* 12 bytes: no type */
	f.len = 0;
	EXPECT(&f, EGRESS_MALFORMED);
	f_eth(&f);
	f.b[f.len++] = 0x08; /* 13 bytes */
	EXPECT(&f, EGRESS_MALFORMED);

	/* ARP: 28 bytes for Ethernet and IPv4; the address lengths count. */
	f_eth(&f);
	f_type(&f, 0x0806);
	f_put(&f, (const uint8_t[8]){0, 1, 8, 0, 6, 4, 0, 1}, 8);
	f_zero(&f, 20);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.ethertype, 0x0806);
	f.len -= 1;
	EXPECT(&f, EGRESS_MALFORMED);
	f.len = 14 + 6;
	EXPECT(&f, EGRESS_MALFORMED);

	/* One tag, two (802.1ad outside 802.1Q), three: too deep. */
	f_eth(&f);
	f_vlan(&f, 0x8100, 5);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 20, 0);
	f_tcp(&f, 40000, 8080);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.dport, 8080);
	f_eth(&f);
	f_vlan(&f, 0x88a8, 5);
	f_vlan(&f, 0x8100, 6);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 20, 0);
	f_tcp(&f, 40000, 8080);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.family, 4);
	f_eth(&f);
	f_vlan(&f, 0x88a8, 5);
	f_vlan(&f, 0x8100, 6);
	f_vlan(&f, 0x8100, 7);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 20, 0);
	f_tcp(&f, 40000, 8080);
	EXPECT(&f, EGRESS_MALFORMED);
	/* A tag that runs off the frame: its TCI, or the type after it, missing. */
	f_eth(&f);
	f_vlan(&f, 0x8100, 5);
	EXPECT(&f, EGRESS_MALFORMED);
	f.len -= 1;
	EXPECT(&f, EGRESS_MALFORMED);

	/* Other types (and 802.3 lengths) classify; the policy decides. */
	f_eth(&f);
	f_type(&f, 0x88b5);
	f_zero(&f, 46);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.family, 0);
}

static void test_classify_ipv4(void **state)
{
	struct frame f;
	struct egress_pkt pkt;

	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 20, 0);
	f_tcp(&f, 40000, 8080);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.proto, 6);
	assert_true(pkt.has_ports);
	assert_int_equal(pkt.sport, 40000);
	assert_memory_equal(pkt.dst, HOST, 4);
	assert_memory_equal(pkt.src, V4(10, 0, 2, 15), 4);
	assert_false(pkt.fragment);
	/* Ethernet padding after the packet is fine. */
	f_zero(&f, 30);
	EXPECT(&f, EGRESS_PASS);

	f.len = 14 + 19; /* half an IP header */
	EXPECT(&f, EGRESS_MALFORMED);
	f.len = 14 + 40;
	f.b[14] = 0x44; /* IHL 4 */
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14] = 0x40; /* IHL 0 */
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14] = 0x4f; /* IHL 15: 60 bytes, more than the total of 40 */
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14] = 0x55; /* version 5 */
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14] = 0x46; /* IHL 6: 4 bytes of options, the TCP header short by 4 */
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14] = 0x45;
	f.b[17] = 41; /* total 41 in a frame of 40 */
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[16] = 0xff;
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[16] = 0;
	f.b[17] = 19; /* total below the header */
	EXPECT(&f, EGRESS_MALFORMED);
	/* IHL 15 in a frame that ends before the options do. */
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 59, HOST, 40, 0);
	f.b[14] = 0x4f;
	f_zero(&f, 20);
	EXPECT(&f, EGRESS_MALFORMED);
	f_zero(&f, 20); /* now the options are there: a packet of an odd protocol */
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_false(pkt.has_ports);

	/* TCP: cut short, a data offset below 5 or beyond the packet. */
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 19, 0);
	f_tcp(&f, 1, 2);
	f.len--;
	EXPECT(&f, EGRESS_MALFORMED);
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 20, 0);
	f_tcp(&f, 1, 2);
	f.b[14 + 20 + 12] = 0x40;
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14 + 20 + 12] = 0x60; /* 24 bytes in 20 */
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14 + 20 + 12] = 0xf0;
	EXPECT(&f, EGRESS_MALFORMED);

	/* UDP: cut short, a length below 8 or beyond the packet. */
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 17, V4(8, 8, 8, 8), 12, 0);
	f_udp(&f, 5000, 53, 12);
	f_zero(&f, 4);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.dport, 53);
	f.b[14 + 20 + 5] = 7;
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14 + 20 + 5] = 13;
	EXPECT(&f, EGRESS_MALFORMED);
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 17, V4(8, 8, 8, 8), 4, 0);
	f_16(&f, 5000);
	f_16(&f, 53);
	EXPECT(&f, EGRESS_MALFORMED);

	/* ICMP: 8 bytes. */
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 1, HOST, 8, 0);
	f_icmp(&f, 8);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.icmp_type, 8);
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 1, HOST, 4, 0);
	f_zero(&f, 4);
	EXPECT(&f, EGRESS_MALFORMED);
}

static void test_classify_ipv4_fragments(void **state)
{
	struct frame f;
	struct egress_pkt pkt;

	/* First fragment (MF, offset 0): a packet with its TCP header. */
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 24, 0x2000);
	f_tcp(&f, 1, 8081);
	f_zero(&f, 4);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_false(pkt.fragment);
	assert_int_equal(pkt.dport, 8081);
	/* A first fragment too short for the TCP header (RFC 1858's tiny fragment). */
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 8, 0x2000);
	f_zero(&f, 8);
	EXPECT(&f, EGRESS_MALFORMED);
	/* Later fragments (offset 1, the last one): no transport header to read. */
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 8, 0x2001);
	f_zero(&f, 8);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_true(pkt.fragment);
	assert_false(pkt.has_ports);
	f.b[14 + 6] = 0x00;
	f.b[14 + 7] = 185;
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_true(pkt.fragment);
}

static void test_classify_ipv6(void **state)
{
	struct frame f;
	struct egress_pkt pkt;

	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 6, V6DST, 20, 64);
	f_tcp(&f, 40000, 443);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.family, 6);
	assert_int_equal(pkt.dport, 443);
	assert_int_equal(pkt.ttl, 64);
	assert_memory_equal(pkt.dst, V6DST, 16);
	f.len--;
	EXPECT(&f, EGRESS_MALFORMED); /* payload length beyond the frame */
	f.len = 14 + 39;
	EXPECT(&f, EGRESS_MALFORMED);
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 6, V6DST, 19, 64); /* the TCP header runs past the payload */
	f_tcp(&f, 40000, 443);
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14] = 0x40; /* version 4 in an IPv6 frame */
	EXPECT(&f, EGRESS_MALFORMED);

	/* Hop-by-hop, destination options, routing, AH, then UDP. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 0, V6DST, 8 + 16 + 8 + 12 + 8, 64);
	f_ext(&f, 60, 0);
	f_ext(&f, 43, 1);
	f_ext(&f, 51, 0);
	/* AH: its length in 4-byte units, minus 2: 1 is 12 bytes. */
	f_put(&f, (const uint8_t[2]){17, 1}, 2);
	f_zero(&f, 10);
	f_udp(&f, 1000, 2000, 8);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.proto, 17);
	assert_int_equal(pkt.dport, 2000);

	/* Hop-by-hop anywhere but first is malformed. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 60, V6DST, 16 + 20, 64);
	f_ext(&f, 0, 0);
	f_ext(&f, 6, 0);
	f_tcp(&f, 1, 2);
	EXPECT(&f, EGRESS_MALFORMED);

	/* An extension header that runs off the packet, or off the frame. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 0, V6DST, 8, 64);
	f_ext(&f, 6, 0);
	f.b[14 + 40 + 1] = 255; /* 2048 bytes in 8 */
	EXPECT(&f, EGRESS_MALFORMED);
	f.b[14 + 40 + 1] = 0;
	f.b[14 + 40] = 6; /* then TCP, in no bytes at all */
	EXPECT(&f, EGRESS_MALFORMED);
	f.len -= 4; /* the header itself cut: payload length says 8, 4 are there */
	EXPECT(&f, EGRESS_MALFORMED);

	/* Nine extension headers: more than the walk takes. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 60, V6DST, 9 * 8 + 20, 64);
	for (int i = 0; i < 8; i++)
		f_ext(&f, 60, 0);
	f_ext(&f, 6, 0);
	f_tcp(&f, 1, 2);
	EXPECT(&f, EGRESS_MALFORMED);
	/* Eight are fine. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 60, V6DST, 8 * 8 + 20, 64);
	for (int i = 0; i < 7; i++)
		f_ext(&f, 60, 0);
	f_ext(&f, 6, 0);
	f_tcp(&f, 1, 2);
	EXPECT(&f, EGRESS_PASS);

	/* A chain longer than the bytes the classifier sees: malformed too. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 60, V6DST, 256 + 20, 64);
	f_ext(&f, 6, 31);
	f_tcp(&f, 1, 2);
	EXPECT(&f, EGRESS_MALFORMED);
	assert_int_equal(egress_classify(f.b, f.len, f.len, &pkt), EGRESS_PASS);

	/* Unknown extension headers and ESP end the walk: a protocol without ports. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 253, V6DST, 8, 64);
	f_ext(&f, 6, 0);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.proto, 253);
	assert_false(pkt.has_ports);
	f.b[14 + 6] = 50;
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.proto, 50);

	/* ICMPv6: 4 bytes at least. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 58, V6DST, 8, 255);
	f_icmp(&f, 135);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_int_equal(pkt.icmp_type, 135);
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 58, V6DST, 2, 255);
	f_zero(&f, 2);
	EXPECT(&f, EGRESS_MALFORMED);
}

static void test_classify_ipv6_fragments(void **state)
{
	struct frame f;
	struct egress_pkt pkt;

	/* The first fragment holds the whole chain and the transport header. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 44, V6DST, 8 + 8 + 8, 64);
	f_frag6(&f, 60, 0, 1);
	f_ext(&f, 17, 0);
	f_udp(&f, 1, 53, 100);
	EXPECT(&f, EGRESS_MALFORMED); /* its UDP length says 100, 8 are there */
	f.b[f.len - 3] = 8;
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_false(pkt.fragment);
	assert_int_equal(pkt.dport, 53);
	/* A later fragment: no transport header. */
	f_eth(&f);
	f_type(&f, 0x86dd);
	f_ipv6(&f, 44, V6DST, 8 + 16, 64);
	f_frag6(&f, 17, 3, 0);
	f_zero(&f, 16);
	assert_int_equal(classify(&f, &pkt), EGRESS_PASS);
	assert_true(pkt.fragment);
	assert_int_equal(pkt.proto, 17);
	/* A fragment header cut short. */
	f.len = 14 + 40 + 4;
	f.b[14 + 5] = 4;
	EXPECT(&f, EGRESS_MALFORMED);
}

/* ---- the policy ---- */

static void add_rule(struct egress_policy *p, const char *s)
{
	const char *why = NULL;

	if (egress_parse_rule(s, &p->rules[p->nr_rules], &why))
		fail_msg("allow=%s: %s", s, why);
	p->nr_rules++;
}

static enum egress_verdict v4(const struct egress_policy *p, uint8_t proto, const char dst[4],
			      uint16_t sport, uint16_t dport, uint16_t frag)
{
	struct frame f;

	f_eth(&f);
	f_type(&f, 0x0800);
	if (proto == 6) {
		f_ipv4(&f, 6, dst, 20, frag);
		f_tcp(&f, sport, dport);
	} else if (proto == 17) {
		f_ipv4(&f, 17, dst, 8, frag);
		f_udp(&f, sport, dport, 8);
	} else if (proto == 1) {
		f_ipv4(&f, 1, dst, 8, frag);
		f_icmp(&f, 8);
	} else {
		f_ipv4(&f, proto, dst, 8, frag);
		f_zero(&f, 8);
	}
	return egress_check(p, f.b, f.len, f.len);
}

static enum egress_verdict v6(const struct egress_policy *p, uint8_t proto, const char *dst,
			      uint16_t dport, uint8_t icmp_type, uint8_t hop)
{
	struct frame f;
	char a[16];

	assert_int_equal(inet_pton(AF_INET6, dst, a), 1);
	f_eth(&f);
	f_type(&f, 0x86dd);
	if (proto == 6) {
		f_ipv6(&f, 6, a, 20, hop);
		f_tcp(&f, 40000, dport);
	} else if (proto == 17) {
		f_ipv6(&f, 17, a, 8, hop);
		f_udp(&f, dport == 547 ? 546 : 40000, dport, 8);
	} else {
		f_ipv6(&f, 58, a, 8, hop);
		f_icmp(&f, icmp_type);
	}
	return egress_check(p, f.b, f.len, f.len);
}

static void test_policy_rules(void **state)
{
	struct egress_policy *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->deny = true;
	add_rule(p, "10.0.2.1:8080/tcp");
	add_rule(p, "192.168.0.0/16");
	add_rule(p, "10.9.0.0/16:1000-2000");
	add_rule(p, "10.8.0.0/24/icmp");
	add_rule(p, "10.0.128.0/17:22/tcp");
	add_rule(p, "[2001:db8::/32]:443/tcp");
	add_rule(p, "2001:db8:8000::/33/icmp");

	assert_int_equal(v4(p, 6, HOST, 40000, 8080, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 6, HOST, 40000, 8081, 0), EGRESS_DENIED);
	assert_int_equal(v4(p, 17, HOST, 40000, 8080, 0), EGRESS_DENIED);
	assert_int_equal(v4(p, 6, V4(10, 0, 2, 2), 40000, 8080, 0), EGRESS_DENIED);
	assert_int_equal(v4(p, 1, HOST, 0, 0, 0), EGRESS_DENIED);
	/* A rule without port and protocol: everything, fragments too. */
	assert_int_equal(v4(p, 47, V4(192, 168, 7, 7), 0, 0, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 17, V4(192, 168, 255, 255), 1, 9, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 6, V4(192, 168, 0, 1), 1, 9, 0x0010), EGRESS_PASS);
	assert_int_equal(v4(p, 6, V4(192, 169, 0, 1), 1, 9, 0), EGRESS_DENIED);
	/* Later fragments to an address allowed for one port only: dropped as such. */
	assert_int_equal(v4(p, 6, HOST, 0, 0, 0x0010), EGRESS_FRAGMENT);
	assert_int_equal(v4(p, 6, V4(1, 2, 3, 4), 0, 0, 0x2010), EGRESS_FRAGMENT);
	/* A range without protocol: TCP and UDP inside it, nothing else. */
	assert_int_equal(v4(p, 6, V4(10, 9, 1, 1), 1, 1000, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 17, V4(10, 9, 255, 1), 1, 2000, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 17, V4(10, 9, 1, 1), 1, 2001, 0), EGRESS_DENIED);
	assert_int_equal(v4(p, 6, V4(10, 9, 1, 1), 1, 999, 0), EGRESS_DENIED);
	assert_int_equal(v4(p, 1, V4(10, 9, 1, 1), 0, 0, 0), EGRESS_DENIED);
	assert_int_equal(v4(p, 47, V4(10, 9, 1, 1), 0, 0, 0), EGRESS_DENIED);
	/* ICMP only. */
	assert_int_equal(v4(p, 1, V4(10, 8, 0, 200), 0, 0, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 6, V4(10, 8, 0, 200), 1, 80, 0), EGRESS_DENIED);
	assert_int_equal(v4(p, 1, V4(10, 8, 1, 200), 0, 0, 0), EGRESS_DENIED);
	/* A prefix that is not a whole number of bytes. */
	assert_int_equal(v4(p, 6, V4(10, 0, 255, 1), 1, 22, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 6, V4(10, 0, 128, 0), 1, 22, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 6, V4(10, 0, 127, 255), 1, 22, 0), EGRESS_DENIED);
	/* IPv6. */
	assert_int_equal(v6(p, 6, "2001:db8:ffff::1", 443, 0, 64), EGRESS_PASS);
	assert_int_equal(v6(p, 6, "2001:db8::", 443, 0, 64), EGRESS_PASS);
	assert_int_equal(v6(p, 6, "2001:db9::1", 443, 0, 64), EGRESS_DENIED);
	assert_int_equal(v6(p, 6, "2001:db8::1", 80, 0, 64), EGRESS_DENIED);
	assert_int_equal(v6(p, 17, "2001:db8::1", 443, 0, 64), EGRESS_DENIED);
	assert_int_equal(v6(p, 58, "2001:db8:8000::1", 0, 128, 64), EGRESS_PASS);
	assert_int_equal(v6(p, 58, "2001:db8:7fff::1", 0, 128, 64), EGRESS_DENIED);
	/* An IPv4 rule never matches IPv6, mapped addresses neither. */
	assert_int_equal(v6(p, 6, "::ffff:10.0.2.1", 8080, 0, 64), EGRESS_DENIED);
	free(p);
}

static void test_policy_link_and_dns(void **state)
{
	struct egress_policy *p = calloc(1, sizeof(*p));
	struct frame f;

	assert_non_null(p);
	p->deny = true;
	/* ARP, DHCP to the broadcast address, DHCPv6 to its multicast group. */
	f_eth(&f);
	f_type(&f, 0x0806);
	f_put(&f, (const uint8_t[8]){0, 1, 8, 0, 6, 4, 0, 1}, 8);
	f_zero(&f, 20);
	assert_int_equal(egress_check(p, f.b, f.len, f.len), EGRESS_PASS);
	assert_int_equal(v4(p, 17, V4(255, 255, 255, 255), 68, 67, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 17, HOST, 68, 67, 0), EGRESS_DENIED);
	assert_int_equal(v4(p, 17, V4(255, 255, 255, 255), 69, 67, 0), EGRESS_DENIED);
	assert_int_equal(v6(p, 17, "ff02::1:2", 547, 0, 1), EGRESS_PASS);
	assert_int_equal(v6(p, 17, "2001:db8::1", 547, 0, 1), EGRESS_DENIED);
	/* Neighbour discovery with hop limit 255 only; MLD to ff02::/16 with hop limit 1. */
	assert_int_equal(v6(p, 58, "ff02::1:ff00:1", 0, 135, 255), EGRESS_PASS);
	assert_int_equal(v6(p, 58, "fe80::2", 0, 136, 255), EGRESS_PASS);
	assert_int_equal(v6(p, 58, "ff02::2", 0, 133, 255), EGRESS_PASS);
	assert_int_equal(v6(p, 58, "2001:db8::1", 0, 135, 64), EGRESS_DENIED);
	assert_int_equal(v6(p, 58, "ff02::16", 0, 143, 1), EGRESS_PASS);
	assert_int_equal(v6(p, 58, "ff0e::16", 0, 143, 1), EGRESS_DENIED);
	assert_int_equal(v6(p, 58, "ff02::16", 0, 143, 2), EGRESS_DENIED);
	assert_int_equal(v6(p, 58, "fe80::2", 0, 128, 255), EGRESS_DENIED); /* echo */
	/* Other Ethernet types. */
	f_eth(&f);
	f_type(&f, 0x88b5);
	f_zero(&f, 46);
	assert_int_equal(egress_check(p, f.b, f.len, f.len), EGRESS_ETHERTYPE);
	f.b[12] = 0;
	f.b[13] = 46; /* an 802.3 length */
	assert_int_equal(egress_check(p, f.b, f.len, f.len), EGRESS_ETHERTYPE);

	/* dns=on: TCP and UDP to port 53 anywhere; not a later fragment. */
	assert_int_equal(v4(p, 17, V4(8, 8, 8, 8), 5000, 53, 0), EGRESS_DENIED);
	p->dns = true;
	assert_int_equal(v4(p, 17, V4(8, 8, 8, 8), 5000, 53, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 6, V4(8, 8, 8, 8), 5000, 53, 0), EGRESS_PASS);
	assert_int_equal(v4(p, 6, V4(8, 8, 8, 8), 5000, 54, 0), EGRESS_DENIED);
	assert_int_equal(v4(p, 17, V4(8, 8, 8, 8), 0, 0, 0x0020), EGRESS_FRAGMENT);
	assert_int_equal(v6(p, 17, "2001:4860::8888", 53, 0, 64), EGRESS_PASS);

	/* egress=allow: nothing is looked at, not even a malformed frame. */
	p->deny = false;
	f.len = 5;
	assert_int_equal(egress_check(p, f.b, f.len, f.len), EGRESS_PASS);
	assert_int_equal(v4(p, 6, V4(1, 2, 3, 4), 1, 9, 0x0010), EGRESS_PASS);
	/* Malformed under deny, whatever the rules. */
	p->deny = true;
	add_rule(p, "0.0.0.0/0");
	f_eth(&f);
	f_type(&f, 0x0800);
	f_ipv4(&f, 6, HOST, 20, 0);
	f_tcp(&f, 1, 2);
	f.b[14] = 0x44;
	assert_int_equal(egress_check(p, f.b, f.len, f.len), EGRESS_MALFORMED);
	f.b[14] = 0x45;
	assert_int_equal(egress_check(p, f.b, f.len, f.len), EGRESS_PASS);
	free(p);
}

/* ---- allow= and the --net items ---- */

static void test_parse_rule(void **state)
{
	static const uint8_t net10[16] = {10};
	static const uint8_t db8[16] = {0x20, 0x01, 0x0d, 0xb8};
	struct egress_rule r;
	const char *why;

	assert_int_equal(egress_parse_rule("10.0.0.0/8", &r, &why), 0);
	assert_int_equal(r.family, 4);
	assert_int_equal(r.prefix, 8);
	assert_memory_equal(r.addr, net10, 16);
	assert_false(r.has_ports);
	assert_int_equal(r.proto, EGRESS_PROTO_ANY);
	assert_int_equal(egress_parse_rule("10.1.2.3", &r, &why), 0);
	assert_int_equal(r.prefix, 32);
	assert_int_equal(egress_parse_rule("10.1.2.3:443/tcp", &r, &why), 0);
	assert_true(r.has_ports);
	assert_int_equal(r.port_lo, 443);
	assert_int_equal(r.port_hi, 443);
	assert_int_equal(r.proto, EGRESS_PROTO_TCP);
	assert_int_equal(egress_parse_rule("0.0.0.0/0:1-65535/udp", &r, &why), 0);
	assert_int_equal(r.prefix, 0);
	assert_int_equal(r.port_lo, 1);
	assert_int_equal(r.port_hi, 65535);
	assert_int_equal(r.proto, EGRESS_PROTO_UDP);
	assert_int_equal(egress_parse_rule("10.0.0.0/8/icmp", &r, &why), 0);
	assert_int_equal(r.proto, EGRESS_PROTO_ICMP);
	assert_int_equal(egress_parse_rule("[2001:db8::/32]:443/tcp", &r, &why), 0);
	assert_int_equal(r.family, 6);
	assert_int_equal(r.prefix, 32);
	assert_memory_equal(r.addr, db8, 16);
	assert_int_equal(r.port_lo, 443);
	assert_int_equal(egress_parse_rule("2001:db8::/32", &r, &why), 0);
	assert_int_equal(r.prefix, 32);
	assert_false(r.has_ports);
	assert_int_equal(egress_parse_rule("2001:db8::/32/udp", &r, &why), 0);
	assert_int_equal(r.proto, EGRESS_PROTO_UDP);
	assert_int_equal(egress_parse_rule("[::1]", &r, &why), 0);
	assert_int_equal(r.prefix, 128);
	assert_int_equal(egress_parse_rule("[::]/0", &r, &why), -EINVAL); /* prefix inside */
	assert_int_equal(egress_parse_rule("[::/0]:53-54", &r, &why), 0);
	assert_int_equal(r.port_hi, 54);

	static const char *const bad[] = {
	    "",
	    "garbage",
	    "10.0.0.0/33",
	    "10.0.0.0/-1",
	    "10.0.0.0/",
	    "10.0.0.0/0008",
	    "10.1.0.0/8", /* bits past the prefix */
	    "[2001:db8::1/129]",
	    "[2001:db8::/32]:443:1",
	    "[2001:db8::/32]443",
	    "[2001:db8::/32",
	    "[10.0.0.1]:80",
	    "1.2.3.4:0",
	    "1.2.3.4:70000",
	    "1.2.3.4:65536",
	    "1.2.3.4:123456",
	    "1.2.3.4:0-10",
	    "1.2.3.4:200-100",
	    "1.2.3.4:80-",
	    "1.2.3.4:-80",
	    "1.2.3.4:+80",
	    "1.2.3.4:",
	    "1.2.3.4:80/sctp",
	    "1.2.3.4:80/TCP",
	    "1.2.3.4:80/",
	    "1.2.3.4:8/icmp",
	    "1.2.3/8",
	    "1.2.3.4.5",
	    "/tcp",
	    ":80",
	    "1.2.3.4 ",
	    "2001:db8::g",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (egress_parse_rule(bad[i], &r, &why) != -EINVAL || !why)
			fail_msg("allow=%s was taken", bad[i]);
	}
	assert_int_equal(egress_parse_rule("1.2.3.4:80/sctp", &r, &why), -EINVAL);
	assert_non_null(strstr(why, "protocol"));
	assert_int_equal(egress_parse_rule("1.2.3.4:200-100", &r, &why), -EINVAL);
	assert_non_null(strstr(why, "greater"));
	assert_int_equal(egress_parse_rule("10.0.0.0/33", &r, &why), -EINVAL);
	assert_non_null(strstr(why, "prefix"));
}

/* cli_parse on kvmrun run --kernel k --net ARG: its status, and the one error line. */
static enum cli_action net_opt(const char *arg, struct vm_config *cfg, char **errs)
{
	char cmdline[CLI_CMDLINE_MAX];
	char *argv[] = {"kvmrun", "run", "--kernel", "k", "--net", (char *)arg, NULL};
	size_t len = 0;
	FILE *err = open_memstream(errs, &len);
	enum cli_action a;

	assert_non_null(err);
	a = cli_parse(6, argv, cfg, cmdline, sizeof(cmdline), stdout, err);
	fclose(err);
	return a;
}

static void test_cli_net_egress(void **state)
{
	struct vm_config *cfg = calloc(1, sizeof(*cfg));
	char *err = NULL;

	assert_non_null(cfg);
	assert_int_equal(net_opt("tap=t0,egress=deny,allow=10.0.2.1:8080/tcp,dns=on,"
				 "allow=[2001:db8::/32]:443/tcp,mtu=1400",
				 cfg, &err),
			 CLI_RUN);
	free(err);
	assert_true(cfg->nets[0].egress.deny);
	assert_true(cfg->nets[0].egress.dns);
	assert_int_equal(cfg->nets[0].egress.nr_rules, 2);
	assert_int_equal(cfg->nets[0].egress.rules[0].port_lo, 8080);
	assert_int_equal(cfg->nets[0].egress.rules[1].family, 6);
	assert_int_equal(cfg->nets[0].mtu, 1400);
	/* Rules before egress=deny count the same. */
	assert_int_equal(net_opt("tap=t0,allow=10.0.0.0/8,egress=deny", cfg, &err), CLI_RUN);
	free(err);
	assert_int_equal(cfg->nets[0].egress.nr_rules, 1);
	/* The default: no filtering. */
	assert_int_equal(net_opt("tap=t0", cfg, &err), CLI_RUN);
	free(err);
	assert_false(cfg->nets[0].egress.deny);
	assert_int_equal(net_opt("tap=t0,egress=allow", cfg, &err), CLI_RUN);
	free(err);
	assert_false(cfg->nets[0].egress.deny);

	static const struct {
		const char *arg, *what;
	} bad[] = {
	    {"tap=t0,egress=deny,allow=10.0.0.0/33", "allow '10.0.0.0/33'"},
	    {"tap=t0,egress=deny,allow=1.2.3.4:0/tcp", "allow '1.2.3.4:0/tcp'"},
	    {"tap=t0,egress=deny,allow=1.2.3.4:70000", "1 to 65535"},
	    {"tap=t0,egress=deny,allow=1.2.3.4:9-8", "greater than"},
	    {"tap=t0,egress=deny,allow=1.2.3.4/gre", "unknown protocol"},
	    {"tap=t0,egress=deny,allow=xyz", "allow 'xyz'"},
	    {"tap=t0,egress=deny,allow=", "allow ''"},
	    {"tap=t0,egress=maybe", "egress 'maybe'"},
	    {"tap=t0,egress=", "egress ''"},
	    {"tap=t0,egress=deny,dns=yes", "dns 'yes'"},
	    {"tap=t0,allow=10.0.0.0/8", "need egress=deny"},
	    {"tap=t0,dns=on", "need egress=deny"},
	    {"tap=t0,egress=deny,allow=[2001:db8::/32]:443/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/"
	     "tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp/tcp",
	     "too long"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum cli_action a = net_opt(bad[i].arg, cfg, &err);

		if (a != CLI_EXIT_USAGE || !strstr(err, bad[i].what) ||
		    strchr(err, '\n') != err + strlen(err) - 1)
			fail_msg("--net %s: %d '%s', expected one line with '%s'", bad[i].arg, a,
				 err, bad[i].what);
		free(err);
	}

	/* 32 rules, and not one more. */
	char arg[2048] = "tap=t0,egress=deny";
	for (int i = 0; i < NET_EGRESS_RULES_MAX; i++)
		snprintf(arg + strlen(arg), sizeof(arg) - strlen(arg), ",allow=10.0.%d.1", i);
	assert_int_equal(net_opt(arg, cfg, &err), CLI_RUN);
	free(err);
	assert_int_equal(cfg->nets[0].egress.nr_rules, NET_EGRESS_RULES_MAX);
	strcat(arg, ",allow=10.1.0.1");
	assert_int_equal(net_opt(arg, cfg, &err), CLI_EXIT_USAGE);
	assert_non_null(strstr(err, "more than 32"));
	free(err);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify_link),
	    cmocka_unit_test(test_classify_ipv4),
	    cmocka_unit_test(test_classify_ipv4_fragments),
	    cmocka_unit_test(test_classify_ipv6),
	    cmocka_unit_test(test_classify_ipv6_fragments),
	    cmocka_unit_test(test_policy_rules),
	    cmocka_unit_test(test_policy_link_and_dns),
	    cmocka_unit_test(test_parse_rule),
	    cmocka_unit_test(test_cli_net_egress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
