// SPDX-License-Identifier: Apache-2.0
/* The egress policy: frame classifier, verdict, allow= rules (see egress.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "backend/egress.h"

#define ETH_HLEN_ 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100

#define IP_ICMP 1
#define IP_TCP 6
#define IP_UDP 17
#define IP6_HOPOPTS 0
#define IP6_ROUTING 43
#define IP6_FRAGMENT 44
#define IP6_AH 51
#define IP6_ICMP 58
#define IP6_DSTOPTS 60

/*
 * A bounded view of the copied headers: off is where the current header starts,
 * end where the packet ends (never past the frame), have how many bytes of the
 * frame were copied.
 */
struct egress_cur {
	const uint8_t *hdr;
	size_t have, off, end;
};

/* Whether n bytes from the current header are both in the packet and in the copy. */
static bool egress_has(const struct egress_cur *c, size_t n)
{
	return c->off <= c->end && n <= c->end - c->off && c->off + n <= c->have;
}

static uint16_t egress_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The transport header at c->off (up to c->end): ports, ICMP type, lengths. */
static enum egress_verdict egress_l4(struct egress_cur *c, struct egress_pkt *pkt)
{
	const uint8_t *p = c->hdr + c->off;
	size_t len = c->end - c->off;

	switch (pkt->proto) {
	case IP_TCP:
		if (!egress_has(c, 20) || (p[12] >> 4) < 5 || (size_t)(p[12] >> 4) * 4 > len)
			return EGRESS_MALFORMED;
		break;
	case IP_UDP:
		if (!egress_has(c, 8) || egress_be16(p + 4) < 8 || egress_be16(p + 4) > len)
			return EGRESS_MALFORMED;
		break;
	case IP_ICMP:
		if (pkt->family != 4 || !egress_has(c, 8))
			return pkt->family == 4 ? EGRESS_MALFORMED : EGRESS_PASS;
		pkt->icmp_type = p[0];
		return EGRESS_PASS;
	case IP6_ICMP:
		if (pkt->family != 6 || !egress_has(c, 4))
			return pkt->family == 6 ? EGRESS_MALFORMED : EGRESS_PASS;
		pkt->icmp_type = p[0];
		return EGRESS_PASS;
	default:
		return EGRESS_PASS; /* no ports to look at */
	}
	pkt->has_ports = true;
	pkt->sport = egress_be16(p);
	pkt->dport = egress_be16(p + 2);
	return EGRESS_PASS;
}

static enum egress_verdict egress_ipv4(struct egress_cur *c, struct egress_pkt *pkt)
{
	const uint8_t *p = c->hdr + c->off;
	size_t ihl, total;

	if (!egress_has(c, 20) || p[0] >> 4 != 4)
		return EGRESS_MALFORMED;
	ihl = (size_t)(p[0] & 15) * 4;
	total = egress_be16(p + 2);
	if (ihl < 20 || total < ihl || total > c->end - c->off || !egress_has(c, ihl))
		return EGRESS_MALFORMED;
	pkt->family = 4;
	pkt->proto = p[9];
	pkt->ttl = p[8];
	memcpy(pkt->src, p + 12, 4);
	memcpy(pkt->dst, p + 16, 4);
	c->end = c->off + total; /* what follows is Ethernet padding */
	if (egress_be16(p + 6) & 0x1fff) {
		pkt->fragment = true;
		return EGRESS_PASS;
	}
	c->off += ihl;
	return egress_l4(c, pkt);
}

static enum egress_verdict egress_ipv6(struct egress_cur *c, struct egress_pkt *pkt)
{
	const uint8_t *p = c->hdr + c->off;
	uint8_t next;

	if (!egress_has(c, 40) || p[0] >> 4 != 6)
		return EGRESS_MALFORMED;
	if (40 + (size_t)egress_be16(p + 4) > c->end - c->off)
		return EGRESS_MALFORMED;
	pkt->family = 6;
	pkt->ttl = p[7];
	memcpy(pkt->src, p + 8, 16);
	memcpy(pkt->dst, p + 24, 16);
	c->end = c->off + 40 + egress_be16(p + 4);
	c->off += 40;
	next = p[6];
	for (unsigned int i = 0;; i++) {
		size_t len;

		if (next != IP6_HOPOPTS && next != IP6_ROUTING && next != IP6_FRAGMENT &&
		    next != IP6_AH && next != IP6_DSTOPTS)
			break;
		/* RFC 8200 section 4.1: hop-by-hop options only right after the header. */
		if (i >= EGRESS_EXT_MAX || (next == IP6_HOPOPTS && i > 0) || !egress_has(c, 8))
			return EGRESS_MALFORMED;
		p = c->hdr + c->off;
		if (next == IP6_FRAGMENT) {
			if (egress_be16(p + 2) >> 3) {
				pkt->proto = p[0];
				pkt->fragment = true;
				return EGRESS_PASS;
			}
			len = 8;
		} else if (next == IP6_AH) {
			len = ((size_t)p[1] + 2) * 4;
		} else {
			len = ((size_t)p[1] + 1) * 8;
		}
		if (!egress_has(c, len))
			return EGRESS_MALFORMED;
		next = p[0];
		c->off += len;
	}
	pkt->proto = next;
	return egress_l4(c, pkt);
}

enum egress_verdict egress_classify(const uint8_t *hdr, size_t hdr_len, size_t frame_len,
				    struct egress_pkt *pkt)
{
	struct egress_cur c = {.hdr = hdr,
			       .have = hdr_len < frame_len ? hdr_len : frame_len,
			       .off = 12,
			       .end = frame_len};
	unsigned int tags = 0;

	memset(pkt, 0, sizeof(*pkt));
	if (!egress_has(&c, 2))
		return EGRESS_MALFORMED;
	pkt->ethertype = egress_be16(hdr + 12);
	while (pkt->ethertype == ETHERTYPE_VLAN || pkt->ethertype == ETHERTYPE_QINQ ||
	       pkt->ethertype == ETHERTYPE_QINQ_OLD) {
		c.off += 4;
		if (++tags > EGRESS_VLAN_MAX || !egress_has(&c, 2))
			return EGRESS_MALFORMED;
		pkt->ethertype = egress_be16(hdr + c.off);
	}
	c.off += 2;
	switch (pkt->ethertype) {
	case ETHERTYPE_IPV4:
		return egress_ipv4(&c, pkt);
	case ETHERTYPE_IPV6:
		return egress_ipv6(&c, pkt);
	case ETHERTYPE_ARP:
		/* The fixed part, then two hardware and two protocol addresses. */
		if (!egress_has(&c, 8) ||
		    !egress_has(&c, 8 + 2 * ((size_t)hdr[c.off + 4] + hdr[c.off + 5])))
			return EGRESS_MALFORMED;
		return EGRESS_PASS;
	default:
		return EGRESS_PASS;
	}
}

/* Whether addr is in the prefix of rule r. */
static bool egress_in_prefix(const struct egress_rule *r, const uint8_t *addr)
{
	unsigned int full = r->prefix / 8, rest = r->prefix % 8;

	if (memcmp(r->addr, addr, full))
		return false;
	return !rest || !((r->addr[full] ^ addr[full]) & (0xff00 >> rest));
}

static bool egress_rule_allows(const struct egress_rule *r, const struct egress_pkt *pkt)
{
	if (r->family != pkt->family || !egress_in_prefix(r, pkt->dst))
		return false;
	if (pkt->fragment)
		return r->proto == EGRESS_PROTO_ANY && !r->has_ports;
	switch (r->proto) {
	case EGRESS_PROTO_TCP:
		if (pkt->proto != IP_TCP)
			return false;
		break;
	case EGRESS_PROTO_UDP:
		if (pkt->proto != IP_UDP)
			return false;
		break;
	case EGRESS_PROTO_ICMP:
		return pkt->proto == (pkt->family == 4 ? IP_ICMP : IP6_ICMP);
	default:
		break;
	}
	if (!r->has_ports)
		return true;
	return pkt->has_ports && pkt->dport >= r->port_lo && pkt->dport <= r->port_hi;
}

/* What the link needs, whatever the rules: see egress.h. */
static bool egress_link_local(const struct egress_pkt *pkt)
{
	static const uint8_t all_dhcp6[16] = {0xff, 0x02, [13] = 1, [15] = 2};
	static const uint8_t bcast[4] = {0xff, 0xff, 0xff, 0xff};

	if (pkt->fragment)
		return false;
	if (pkt->family == 4)
		return pkt->proto == IP_UDP && pkt->sport == 68 && pkt->dport == 67 &&
		       !memcmp(pkt->dst, bcast, 4);
	if (pkt->proto == IP_UDP)
		return pkt->sport == 546 && pkt->dport == 547 && !memcmp(pkt->dst, all_dhcp6, 16);
	if (pkt->proto != IP6_ICMP)
		return false;
	if (pkt->icmp_type >= 133 && pkt->icmp_type <= 136)
		return pkt->ttl == 255;
	if ((pkt->icmp_type >= 130 && pkt->icmp_type <= 132) || pkt->icmp_type == 143)
		return pkt->ttl == 1 && pkt->dst[0] == 0xff && pkt->dst[1] == 0x02;
	return false;
}

enum egress_verdict egress_decide(const struct egress_policy *p, const struct egress_pkt *pkt)
{
	if (!p->deny || pkt->ethertype == ETHERTYPE_ARP)
		return EGRESS_PASS;
	if (!pkt->family)
		return EGRESS_ETHERTYPE;
	if (egress_link_local(pkt))
		return EGRESS_PASS;
	if (p->dns && pkt->has_ports && !pkt->fragment && pkt->dport == 53)
		return EGRESS_PASS;
	for (unsigned int i = 0; i < p->nr_rules && i < NET_EGRESS_RULES_MAX; i++)
		if (egress_rule_allows(&p->rules[i], pkt))
			return EGRESS_PASS;
	return pkt->fragment ? EGRESS_FRAGMENT : EGRESS_DENIED;
}

enum egress_verdict egress_check(const struct egress_policy *p, const uint8_t *hdr, size_t hdr_len,
				 size_t frame_len)
{
	struct egress_pkt pkt;
	enum egress_verdict v;

	if (!p->deny)
		return EGRESS_PASS;
	v = egress_classify(hdr, hdr_len, frame_len, &pkt);
	return v == EGRESS_PASS ? egress_decide(p, &pkt) : v;
}

/* ---- allow= ---- */

/* A decimal number of 1 to 5 digits, all of s[0..len). */
static int egress_number(const char *s, size_t len, unsigned long *v)
{
	*v = 0;
	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		*v = *v * 10 + (unsigned long)(s[i] - '0');
	}
	return 0;
}

/* PORT or PORT-PORT, all of s[0..len). */
static int egress_parse_ports(const char *s, size_t len, struct egress_rule *r, const char **why)
{
	const char *dash = memchr(s, '-', len);
	size_t n1 = dash ? (size_t)(dash - s) : len;
	unsigned long lo, hi;

	*why = "expected a port, or a range PORT-PORT, of 1 to 65535";
	if (egress_number(s, n1, &lo))
		return -EINVAL;
	hi = lo;
	if (dash && egress_number(dash + 1, len - n1 - 1, &hi))
		return -EINVAL;
	if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535)
		return -EINVAL;
	if (lo > hi) {
		*why = "the range's first port is greater than its last";
		return -EINVAL;
	}
	r->has_ports = true;
	r->port_lo = (uint16_t)lo;
	r->port_hi = (uint16_t)hi;
	return 0;
}

/* ADDR[/PREFIX], all of s[0..len). */
static int egress_parse_cidr(const char *s, size_t len, struct egress_rule *r, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	unsigned long prefix;

	*why = "expected an IPv4 or IPv6 address, with /PREFIX for a network";
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, r->addr) == 1)
		r->family = 4;
	else if (inet_pton(AF_INET6, buf, r->addr) == 1)
		r->family = 6;
	else
		return -EINVAL;
	prefix = r->family == 4 ? 32 : 128;
	if (slash) {
		unsigned long max = prefix;

		*why = r->family == 4 ? "an IPv4 prefix is 0 to 32" : "an IPv6 prefix is 0 to 128";
		if (len - alen - 1 > 3 || egress_number(slash + 1, len - alen - 1, &prefix) ||
		    prefix > max)
			return -EINVAL;
	}
	r->prefix = (uint8_t)prefix;
	for (unsigned int bit = r->prefix; bit < (r->family == 4 ? 32u : 128u); bit++) {
		if (r->addr[bit / 8] & (0x80 >> (bit % 8))) {
			*why = "the address has bits set past the prefix";
			return -EINVAL;
		}
	}
	return 0;
}

int egress_parse_rule(const char *s, struct egress_rule *r, const char **why)
{
	const char *slash = strrchr(s, '/'), *end = s + strlen(s);
	const char *cidr, *cidr_end, *ports = NULL;
	int ret;

	*r = (struct egress_rule){0};
	*why = "expected CIDR[:PORT[-PORT]][/tcp|/udp|/icmp]";
	/* A last /WORD of letters is the protocol; of digits, a prefix. */
	if (slash && slash[1] && isalpha((unsigned char)slash[1])) {
		if (!strcmp(slash + 1, "tcp")) {
			r->proto = EGRESS_PROTO_TCP;
		} else if (!strcmp(slash + 1, "udp")) {
			r->proto = EGRESS_PROTO_UDP;
		} else if (!strcmp(slash + 1, "icmp")) {
			r->proto = EGRESS_PROTO_ICMP;
		} else {
			*why = "unknown protocol (expected tcp, udp or icmp)";
			return -EINVAL;
		}
		end = slash;
	}
	if (*s == '[') {
		cidr = s + 1;
		cidr_end = memchr(cidr, ']', (size_t)(end - cidr));
		if (!cidr_end || memchr(cidr, ':', (size_t)(cidr_end - cidr)) == NULL)
			return -EINVAL; /* brackets hold an IPv6 network */
		if (cidr_end + 1 < end) {
			if (cidr_end[1] != ':')
				return -EINVAL;
			ports = cidr_end + 2;
		}
	} else {
		const char *colon = memchr(s, ':', (size_t)(end - s));

		cidr = s;
		cidr_end = end;
		/* One colon: IPv4 and a port; more: IPv6, which takes a port in brackets only. */
		if (colon && !memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
			cidr_end = colon;
			ports = colon + 1;
		}
	}
	ret = egress_parse_cidr(cidr, (size_t)(cidr_end - cidr), r, why);
	if (ret)
		return ret;
	if (ports) {
		ret = egress_parse_ports(ports, (size_t)(end - ports), r, why);
		if (ret)
			return ret;
		if (r->proto == EGRESS_PROTO_ICMP) {
			*why = "ICMP has no ports";
			return -EINVAL;
		}
	}
	return 0;
}

const char *egress_verdict_name(enum egress_verdict v)
{
	static const char *const names[] = {
	    [EGRESS_PASS] = "pass",	      [EGRESS_DENIED] = "denied",
	    [EGRESS_MALFORMED] = "malformed", [EGRESS_FRAGMENT] = "fragment",
	    [EGRESS_ETHERTYPE] = "ethertype",
	};

	return (unsigned int)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}
