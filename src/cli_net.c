// SPDX-License-Identifier: Apache-2.0
/* --net's user mode (passt) and addresses: user's defaults, hostfwd=, ip=, gw=. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli_net.h"

/* What the guest gets in user mode unless ip= and gw= say otherwise (QEMU's, too). */
#define CLI_NET_USER_ADDR "10.0.2.15"
#define CLI_NET_USER_PREFIX 24
#define CLI_NET_USER_GW "10.0.2.2"
#define CLI_NET_USER_DNS "10.0.2.3"

void cli_net_user_defaults(struct net_config *nc)
{
	nc->user = true;
	inet_pton(AF_INET, CLI_NET_USER_ADDR, &nc->addr);
	inet_pton(AF_INET, CLI_NET_USER_GW, &nc->gateway);
	inet_pton(AF_INET, CLI_NET_USER_DNS, &nc->dns);
	nc->prefix = CLI_NET_USER_PREFIX;
}

/* A port, 1 to 65535, of exactly len characters; 0 on anything else. */
static uint16_t cli_net_port(const char *s, size_t len)
{
	unsigned long v = 0;

	if (!len || len > 5)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535 ? (uint16_t)v : 0;
}

/* An IPv4 address of exactly len characters, in network order; -EINVAL. */
static int cli_net_addr(const char *s, size_t len, uint32_t *out)
{
	char buf[INET_ADDRSTRLEN];

	if (!len || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, out) == 1 ? 0 : -EINVAL;
}

int cli_net_parse_hostfwd(const char *s, struct net_hostfwd *fwd, const char **why)
{
	const char *addr, *colon, *dash;

	*fwd = (struct net_hostfwd){ 0 };
	if (!strncmp(s, "tcp:", 4)) {
		addr = s + 4;
	} else if (!strncmp(s, "udp:", 4)) {
		fwd->udp = true;
		addr = s + 4;
	} else {
		*why = "expected tcp: or udp: first";
		return -EINVAL;
	}
	colon = strchr(addr, ':');
	dash = colon ? strchr(colon, '-') : NULL;
	if (!colon || !dash || dash[1] != ':') {
		*why = "expected tcp|udp:[ADDR]:PORT-:GUESTPORT";
		return -EINVAL;
	}
	if (colon > addr && cli_net_addr(addr, (size_t)(colon - addr), &fwd->host_addr)) {
		*why = "ADDR must be an IPv4 address (or nothing: every address)";
		return -EINVAL;
	}
	fwd->host_port = cli_net_port(colon + 1, (size_t)(dash - colon - 1));
	fwd->guest_port = cli_net_port(dash + 2, strlen(dash + 2));
	if (!fwd->host_port || !fwd->guest_port) {
		*why = "ports must be 1 to 65535";
		return -EINVAL;
	}
	return 0;
}

/* CIDR: a.b.c.d/N, N from 1 to 30 (a network with room for a gateway). */
static int cli_net_cidr(const char *s, uint32_t *addr, unsigned int *prefix)
{
	const char *slash = strchr(s, '/');
	unsigned long v;
	char *end;

	if (!slash || cli_net_addr(s, (size_t)(slash - s), addr) || !isdigit((unsigned char)slash[1]))
		return -EINVAL;
	errno = 0;
	v = strtoul(slash + 1, &end, 10);
	if (*end || errno || v < 1 || v > 30)
		return -EINVAL;
	*prefix = (unsigned int)v;
	return 0;
}

int cli_net_item(const char *item, struct net_config *nc, const char **why)
{
	struct net_hostfwd fwd;

	if (!strncmp(item, "hostfwd=", 8)) {
		if (!nc->user) {
			*why = "hostfwd= is for --net user only";
			return -EINVAL;
		}
		if (cli_net_parse_hostfwd(item + 8, &fwd, why))
			return -EINVAL;
		if (nc->nr_hostfwds >= NET_HOSTFWD_MAX) {
			*why = "more than 16 hostfwd=";
			return -EINVAL;
		}
		for (unsigned int i = 0; i < nc->nr_hostfwds; i++) {
			if (nc->hostfwds[i].udp == fwd.udp &&
			    nc->hostfwds[i].host_port == fwd.host_port) {
				*why = "that host port is forwarded already";
				return -EINVAL;
			}
		}
		nc->hostfwds[nc->nr_hostfwds++] = fwd;
		return 1;
	}
	if (!strncmp(item, "ip=", 3)) {
		if (cli_net_cidr(item + 3, &nc->addr, &nc->prefix)) {
			*why = "ip= expects an IPv4 address and a prefix, a.b.c.d/N (N 1 to 30)";
			return -EINVAL;
		}
		return 1;
	}
	if (!strncmp(item, "gw=", 3)) {
		if (cli_net_addr(item + 3, strlen(item + 3), &nc->gateway)) {
			*why = "gw= expects an IPv4 address";
			return -EINVAL;
		}
		return 1;
	}
	return 0;
}

int cli_net_check(const struct net_config *nc, const char **why)
{
	uint32_t mask;

	if (nc->gateway && !nc->addr) {
		*why = "gw= needs ip=";
		return -EINVAL;
	}
	if (!nc->addr)
		return 0;
	mask = htonl(~0U << (32 - nc->prefix));
	if (nc->gateway && ((nc->gateway ^ nc->addr) & mask)) {
		*why = "gw= must be inside ip='s network";
		return -EINVAL;
	}
	if (nc->gateway == nc->addr || (nc->user && nc->dns == nc->addr)) {
		*why = "ip= must differ from the gateway and the DNS address";
		return -EINVAL;
	}
	if (nc->user && !nc->gateway) {
		*why = "--net user needs a gateway";
		return -EINVAL;
	}
	return 0;
}
