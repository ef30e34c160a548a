// SPDX-License-Identifier: Apache-2.0
/*
 * The guest's network interfaces, as kvmrun's --net asks: for each
 * kvmrun.ethN=up or kvmrun.ethN=ADDR/PREFIX[,GW[,DNS]] on the kernel command
 * line, ethN (the N-th virtio-net device) is brought up, given the address,
 * a default route through GW, and DNS as the only name server in
 * /etc/resolv.conf (in the root's overlay: the host's file is never touched).
 * The addresses are the ones kvmrun gave passt for DHCP, so no DHCP client
 * runs here. Failures are logged and the session goes on without the network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define NET_MAX_IFS 8
#define NET_WAIT_MS 5000
#define NET_CMDLINE_MAX 4096

static void net_log(const char *what, const char *ifname, int err)
{
	fprintf(stderr, "kvmrun-agent: %s %s: %s\n", what, ifname, strerror(err));
}

static void net_sin(struct sockaddr *sa, uint32_t addr)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = addr;
}

/* The interface appears once virtio_net has probed the device: wait a little for it. */
static bool net_wait_if(const char *ifname)
{
	const struct timespec step = { .tv_nsec = 10 * 1000 * 1000 };

	for (unsigned int ms = 0; ms < NET_WAIT_MS; ms += 10) {
		if (if_nametoindex(ifname))
			return true;
		nanosleep(&step, NULL);
	}
	return false;
}

static void net_resolv(uint32_t dns)
{
	char line[64], ip[INET_ADDRSTRLEN];
	int fd, n;

	inet_ntop(AF_INET, &dns, ip, sizeof(ip));
	n = snprintf(line, sizeof(line), "nameserver %s\n", ip);
	/* Often a symlink into /run (systemd-resolved): replaced, in the overlay. */
	unlink("/etc/resolv.conf");
	fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n)
		net_log("write", "/etc/resolv.conf", errno);
	if (fd >= 0)
		close(fd);
}

/*
 * One empty datagram to the gateway's discard port: the kernel resolves the
 * gateway (ARP), so that passt has seen the guest before any connection to a
 * forwarded port comes in (passt 2023-03 was seen to crash on one that came
 * first).
 */
static void net_hello(uint32_t gw)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9) };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = gw;
	if (s < 0)
		return;
	if (sendto(s, "", 0, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		net_log("announce on", "the gateway", errno);
	close(s);
}

/* VALUE of kvmrun.ethN=: "up", or ADDR/PREFIX[,GW[,DNS]]. */
static void net_setup(int s, const char *ifname, char *value)
{
	uint32_t addr = 0, gw = 0, dns = 0;
	char *prefix, *gw_s, *dns_s;
	struct ifreq ifr;
	long bits = 0;

	if (strcmp(value, "up")) {
		gw_s = strchr(value, ',');
		if (gw_s)
			*gw_s++ = 0;
		dns_s = gw_s ? strchr(gw_s, ',') : NULL;
		if (dns_s)
			*dns_s++ = 0;
		prefix = strchr(value, '/');
		if (prefix)
			*prefix++ = 0;
		if (prefix)
			bits = strtol(prefix, NULL, 10);
		if (!prefix || bits < 1 || bits > 32 || inet_pton(AF_INET, value, &addr) != 1 ||
		    (gw_s && inet_pton(AF_INET, gw_s, &gw) != 1) ||
		    (dns_s && inet_pton(AF_INET, dns_s, &dns) != 1)) {
			fprintf(stderr, "kvmrun-agent: kvmrun.%s=: not ADDR/PREFIX[,GW[,DNS]]\n",
				ifname);
			return;
		}
	}
	if (!net_wait_if(ifname)) {
		net_log("find interface", ifname, ENODEV);
		return;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (addr) {
		net_sin(&ifr.ifr_addr, addr);
		if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
			net_log("SIOCSIFADDR", ifname, errno);
		net_sin(&ifr.ifr_netmask, htonl(bits == 32 ? ~0U : ~(~0U >> bits)));
		if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
			net_log("SIOCSIFNETMASK", ifname, errno);
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		net_log("SIOCGIFFLAGS", ifname, errno);
		return;
	}
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		net_log("SIOCSIFFLAGS", ifname, errno);
		return;
	}
	if (gw) {
		struct rtentry rt;

		memset(&rt, 0, sizeof(rt));
		net_sin(&rt.rt_dst, 0);
		net_sin(&rt.rt_genmask, 0);
		net_sin(&rt.rt_gateway, gw);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = ifr.ifr_name;
		if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
			net_log("default route via", ifname, errno);
	}
	if (dns)
		net_resolv(dns);
	if (gw)
		net_hello(gw);
}

void agent_net_init(void)
{
	char *line = malloc(NET_CMDLINE_MAX);
	int fd, s;
	ssize_t n;

	if (!line)
		return;
	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, line, NET_CMDLINE_MAX - 1) : -1;
	if (fd >= 0)
		close(fd);
	line[n > 0 ? n : 0] = 0;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (unsigned int i = 0; s >= 0 && i < NET_MAX_IFS; i++) {
		char key[24], ifname[IFNAMSIZ], value[96];
		size_t klen;

		snprintf(ifname, sizeof(ifname), "eth%u", i);
		klen = (size_t)snprintf(key, sizeof(key), "kvmrun.%s=", ifname);
		value[0] = 0;
		for (const char *p = line; *p;) {
			size_t len = strcspn(p, " \t\n");

			if (len > klen && !strncmp(p, key, klen) && len - klen < sizeof(value)) {
				memcpy(value, p + klen, len - klen);
				value[len - klen] = 0;
			}
			p += len;
			p += strspn(p, " \t\n");
		}
		if (value[0])
			net_setup(s, ifname, value);
	}
	if (s >= 0)
		close(s);
	free(line);
}
