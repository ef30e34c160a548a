/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_TEST_EGRESS_FRAMES_H
#define KVMRUN_TEST_EGRESS_FRAMES_H

/*
 * Frames for the egress tests, built header by header: f_eth(), then f_type()
 * and the headers in order. Lengths in IP and UDP headers are what the caller
 * passes, so that a test can make them lie.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct frame {
	uint8_t b[4096];
	size_t len;
};

static inline void f_put(struct frame *f, const void *p, size_t n)
{
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static inline void f_zero(struct frame *f, size_t n)
{
	memset(f->b + f->len, 0, n);
	f->len += n;
}

static inline void f_16(struct frame *f, uint16_t v)
{
	f->b[f->len++] = (uint8_t)(v >> 8);
	f->b[f->len++] = (uint8_t)v;
}

static inline void f_eth(struct frame *f)
{
	static const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};

	f->len = 0;
	f_put(f, macs, 12);
}

static inline void f_type(struct frame *f, uint16_t type)
{
	f_16(f, type);
}

/* A VLAN tag: TPID (0x8100, 0x88a8) and the tag control. */
static inline void f_vlan(struct frame *f, uint16_t tpid, uint16_t vid)
{
	f_16(f, tpid);
	f_16(f, vid);
}

/* IPv4 without options from 10.0.2.15: total = 20 + l4len, frag: flags and offset. */
static inline void f_ipv4(struct frame *f, uint8_t proto, const char dst[4], size_t l4len,
			  uint16_t frag)
{
	uint8_t h[20] = {0x45, 0, (uint8_t)((20 + l4len) >> 8), (uint8_t)(20 + l4len), 0, 1,
			 (uint8_t)(frag >> 8), (uint8_t)frag, 64, proto, 0, 0, 10, 0, 2, 15};

	memcpy(h + 16, dst, 4);
	f_put(f, h, 20);
}

static inline void f_tcp(struct frame *f, uint16_t sport, uint16_t dport)
{
	f_16(f, sport);
	f_16(f, dport);
	f_zero(f, 8);
	f_16(f, 0x5002); /* data offset 5, SYN */
	f_zero(f, 6);
}

static inline void f_udp(struct frame *f, uint16_t sport, uint16_t dport, uint16_t len)
{
	f_16(f, sport);
	f_16(f, dport);
	f_16(f, len);
	f_16(f, 0);
}

/* ICMP (8 bytes) or ICMPv6 (8 bytes: type, code, checksum and 4 more). */
static inline void f_icmp(struct frame *f, uint8_t type)
{
	uint8_t h[8] = {type};

	f_put(f, h, 8);
}

/* IPv6 from fe80::1 with this payload length, next header and hop limit. */
static inline void f_ipv6(struct frame *f, uint8_t next, const char dst[16], uint16_t plen,
			  uint8_t hop)
{
	uint8_t h[40] = {0x60, 0, 0, 0, (uint8_t)(plen >> 8), (uint8_t)plen, next, hop, 0xfe, 0x80};

	h[23] = 1;
	memcpy(h + 24, dst, 16);
	f_put(f, h, 40);
}

/* An extension header of (len8 + 1) * 8 bytes (hop-by-hop, routing, destination options). */
static inline void f_ext(struct frame *f, uint8_t next, uint8_t len8)
{
	f->b[f->len] = next;
	f->b[f->len + 1] = len8;
	memset(f->b + f->len + 2, 0, (size_t)(len8 + 1) * 8 - 2);
	f->len += (size_t)(len8 + 1) * 8;
}

static inline void f_frag6(struct frame *f, uint8_t next, uint16_t offset8, int more)
{
	f->b[f->len] = next;
	f->b[f->len + 1] = 0;
	f->len += 2;
	f_16(f, (uint16_t)(offset8 << 3 | (more ? 1 : 0)));
	f_zero(f, 4);
}

#define V4(a, b, c, d) ((const char[4]){(char)(a), (char)(b), (char)(c), (char)(d)})

#endif
