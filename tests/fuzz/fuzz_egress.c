// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the egress policy (devices/backend/egress.c). Byte 0:
 * bit 7 set, the rest is an allow= value for the rule parser; else the rest is
 * a frame the guest sends, classified and judged under a fixed policy (bit 0:
 * dns=on). What must hold:
 *   - a rule that parses is sane: family 4 or 6, prefix within it, no bits
 *     past the prefix, ports 1..65535 in order, none with ICMP;
 *   - the classifier says pass or malformed, nothing else, and only reads
 *     the bytes it is given (ASan sees the copy's bounds: it is malloc'd at
 *     its exact length);
 *   - seeing only the first EGRESS_HDR_MAX bytes never passes what the
 *     whole frame would call malformed, and when both pass they agree;
 *   - the verdict is one of the policy's, and ARP always passes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/egress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rule(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct egress_rule r;
	const char *why = NULL;
	unsigned int max;

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (egress_parse_rule(s, &r, &why)) {
		if (!why)
			abort();
		free(s);
		return;
	}
	if (r.family != 4 && r.family != 6)
		abort();
	max = r.family == 4 ? 32 : 128;
	if (r.prefix > max)
		abort();
	for (unsigned int bit = r.prefix; bit < 128; bit++)
		if (r.addr[bit / 8] & (0x80 >> (bit % 8)))
			abort();
	if (r.has_ports && (!r.port_lo || r.port_lo > r.port_hi || r.proto == EGRESS_PROTO_ICMP))
		abort();
	if (!r.has_ports && (r.port_lo || r.port_hi))
		abort();
	free(s);
}

static struct egress_policy *fuzz_policy(void)
{
	static const char *const rules[] = {"10.0.2.1:8080/tcp", "192.168.0.0/16",
					    "10.9.0.0/17:1000-2000", "10.8.0.0/24/icmp",
					    "[2001:db8::/32]:443/tcp", "2001:db8:8000::/33/icmp",
					    "fe80::/10"};
	struct egress_policy *p = calloc(1, sizeof(*p));
	const char *why;

	if (!p)
		abort();
	p->deny = true;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (egress_parse_rule(rules[i], &p->rules[p->nr_rules++], &why))
			abort();
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct egress_pkt part, whole;
	struct egress_policy *p;
	enum egress_verdict vp, vw, v;
	size_t len, seen;
	uint8_t *frame;

	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		check_rule(data + 1, size - 1);
		return 0;
	}
	p = fuzz_policy();
	p->dns = data[0] & 1;
	len = size - 1;
	frame = malloc(len ? len : 1);
	if (!frame)
		abort();
	memcpy(frame, data + 1, len);
	seen = len < EGRESS_HDR_MAX ? len : EGRESS_HDR_MAX;
	vp = egress_classify(frame, seen, len, &part);
	vw = egress_classify(frame, len, len, &whole);
	if ((vp != EGRESS_PASS && vp != EGRESS_MALFORMED) ||
	    (vw != EGRESS_PASS && vw != EGRESS_MALFORMED))
		abort();
	if (vp == EGRESS_PASS && (vw != EGRESS_PASS || memcmp(&part, &whole, sizeof(part))))
		abort();
	v = egress_check(p, frame, seen, len);
	if (v > EGRESS_ETHERTYPE || (vp == EGRESS_MALFORMED) != (v == EGRESS_MALFORMED))
		abort();
	if (vp == EGRESS_PASS && part.ethertype == 0x0806 && v != EGRESS_PASS)
		abort();
	if (vp == EGRESS_PASS && v != egress_decide(p, &part))
		abort();
	free(frame);
	free(p);
	return 0;
}
