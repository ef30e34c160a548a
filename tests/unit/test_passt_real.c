// SPDX-License-Identifier: Apache-2.0
/*
 * The real passt (Debian's, or $KVMRUN_PASST) started as --net user starts it,
 * the test playing the guest on the backend: DHCP hands out the address,
 * gateway and MTU kvmrun chose; the gateway answers ARP; a TCP SYN to the
 * gateway reaches a listener on the host's loopback; a connection to a hostfwd
 * port arrives as a SYN for the guest's port; passt dies with its parent.
 * Skipped (77) where there is no passt, or where passt cannot run here (it
 * needs a user namespace: not inside a chroot).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/daemon.h"
#include "backend/passt.h"
#include "backend/passt_daemon.h"
#include "cli_net.h"
#include "kvmrun/exit_status.h"

#define DEADLINE_MS 20000
#define RXBUF (NETBE_HDR_LEN + PASST_FRAME_MAX + 1)

static const uint8_t guest_mac[6] = { 0x02, 0, 0, 0, 0, 0x42 };

struct fx {
	struct net_config nc;
	struct passt_daemon *d;
	struct netbe *be;
	uint8_t buf[RXBUF];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A free TCP port on the loopback (closed again: passt or the test binds it next). */
static uint16_t free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	close(s);
	return ntohs(sa.sin_port);
}

static void start(struct fx *f)
{
	char err[512];
	int sock, ret;

	ret = passt_daemon_start(&f->d, &f->nc, 0, &sock, err, sizeof(err));
	if (ret == KVMRUN_ERR_INPUT && strstr(err, "not found"))
		skip();
	assert_int_equal(ret, 0);
	assert_int_equal(passt_open_fd(&f->be, sock, NET_USER_MTU, NULL), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->nc.fd = -1;
	cli_net_user_defaults(&f->nc);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	netbe_close(f->be);
	passt_daemon_stop(f->d, NULL);
	free(f);
	return 0;
}

static uint16_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Ethernet + IPv4 header for an l4 payload of len bytes; returns the IPv4 header. */
static uint8_t *ip_frame(uint8_t *fr, const uint8_t *dst_mac, uint8_t proto, uint32_t src,
			 uint32_t dst, size_t len)
{
	uint8_t *ip = fr + 14;

	memcpy(fr, dst_mac, 6);
	memcpy(fr + 6, guest_mac, 6);
	put16(fr + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + len));
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	put16(ip + 10, (uint16_t)~csum_add(0, ip, 20));
	return ip;
}

static void send_frame(struct fx *f, const uint8_t *fr, size_t len)
{
	uint8_t hdr[NETBE_HDR_LEN] = { 0 };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)fr, len } };

	assert_int_equal(netbe_writev(f->be, iov, 2), (ssize_t)(NETBE_HDR_LEN + len));
}

/* The next frame from passt that match() accepts, within the deadline; its length. */
static size_t wait_frame(struct fx *f, bool (*match)(const uint8_t *fr, size_t len, void *arg),
			 void *arg)
{
	uint64_t end = now_ms() + DEADLINE_MS;

	while (now_ms() < end) {
		struct pollfd p = { .fd = netbe_fd(f->be), .events = POLLIN };
		ssize_t n;

		poll(&p, 1, 200);
		n = netbe_read(f->be, f->buf, sizeof(f->buf));
		if (n == -EAGAIN)
			continue;
		if (n <= 0) {
			char why[600];

			if (passt_daemon_exited(f->d, why, sizeof(why)) &&
			    strstr(why, "namespace")) {
				print_message("passt cannot run here: %s\n", why);
				skip();
			}
			fail_msg("the backend ended: %zd", n);
		}
		if (match(f->buf + NETBE_HDR_LEN, (size_t)n - NETBE_HDR_LEN, arg))
			return (size_t)n - NETBE_HDR_LEN;
	}
	fail_msg("no answer from passt within %d ms", DEADLINE_MS);
	return 0;
}

static bool is_dhcp_offer(const uint8_t *fr, size_t len, void *arg)
{
	const uint8_t *ip = fr + 14, *udp = ip + 20;

	return len > 14 + 20 + 8 + 240 && get16(fr + 12) == 0x0800 && ip[9] == 17 &&
	       get16(udp) == 67 && get16(udp + 2) == 68;
}

/* The value of DHCP option `code` in the BOOTP message at b (len bytes), or NULL. */
static const uint8_t *dhcp_opt(const uint8_t *b, size_t len, uint8_t code, uint8_t *olen)
{
	for (size_t i = 240; i + 1 < len;) {
		if (b[i] == 0) {
			i++;
			continue;
		}
		if (b[i] == 255 || i + 2 + b[i + 1] > len)
			break;
		if (b[i] == code) {
			*olen = b[i + 1];
			return b + i + 2;
		}
		i += 2 + b[i + 1];
	}
	return NULL;
}

static void test_dhcp(void **state)
{
	struct fx *f = *state;
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t fr[14 + 20 + 8 + 300] = { 0 }, *udp, *b, olen = 0;
	const uint8_t *o;
	uint32_t yiaddr, v;
	size_t n;

	start(f);
	udp = ip_frame(fr, bcast, 17, 0, 0xffffffffu, 8 + 300) + 20;
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, 8 + 300);
	b = udp + 8;
	b[0] = 1; /* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, "\x12\x34\x56\x78", 4);
	put16(b + 10, 0x8000);
	memcpy(b + 28, guest_mac, 6);
	memcpy(b + 236, "\x63\x82\x53\x63", 4);
	memcpy(b + 240, "\x35\x01\x01\xff", 4); /* DHCPDISCOVER */
	send_frame(f, fr, sizeof(fr));
	n = wait_frame(f, is_dhcp_offer, NULL);
	b = f->buf + NETBE_HDR_LEN + 14 + 20 + 8;
	n -= 14 + 20 + 8;
	assert_int_equal(b[0], 2);
	assert_memory_equal(b + 4, "\x12\x34\x56\x78", 4);
	memcpy(&yiaddr, b + 16, 4);
	assert_int_equal(yiaddr, f->nc.addr);
	o = dhcp_opt(b, n, 53, &olen);
	assert_non_null(o);
	assert_int_equal(o[0], 2); /* DHCPOFFER */
	o = dhcp_opt(b, n, 3, &olen); /* router */
	assert_non_null(o);
	memcpy(&v, o, 4);
	assert_int_equal(v, f->nc.gateway);
	/* DNS: the host's resolvers as passt found them, if any (not nc.dns: see passt_daemon.c). */
	o = dhcp_opt(b, n, 6, &olen);
	assert_true(!o || (olen && olen % 4 == 0));
	o = dhcp_opt(b, n, 1, &olen); /* netmask */
	assert_non_null(o);
	assert_memory_equal(o, "\xff\xff\xff\x00", 4);
	o = dhcp_opt(b, n, 26, &olen); /* MTU */
	assert_non_null(o);
	assert_int_equal(get16(o), NET_USER_MTU);
}

static bool is_arp_reply(const uint8_t *fr, size_t len, void *arg)
{
	return len >= 42 && get16(fr + 12) == 0x0806 && get16(fr + 20) == 2 &&
	       !memcmp(fr + 28, arg, 4);
}

static void arp_gateway(struct fx *f)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t fr[42] = { 0 };

	memcpy(fr, bcast, 6);
	memcpy(fr + 6, guest_mac, 6);
	put16(fr + 12, 0x0806);
	put16(fr + 14, 1);
	put16(fr + 16, 0x0800);
	fr[18] = 6;
	fr[19] = 4;
	put16(fr + 20, 1); /* request */
	memcpy(fr + 22, guest_mac, 6);
	memcpy(fr + 28, &f->nc.addr, 4);
	memcpy(fr + 38, &f->nc.gateway, 4);
	send_frame(f, fr, sizeof(fr));
	wait_frame(f, is_arp_reply, &f->nc.gateway);
}

static void test_arp_gateway(void **state)
{
	struct fx *f = *state;

	start(f);
	arp_gateway(f);
}

/* A TCP segment from the guest: SYN only, no options. */
static void send_syn(struct fx *f, const uint8_t *dst_mac, uint32_t dst, uint16_t sport,
		     uint16_t dport)
{
	uint8_t fr[14 + 20 + 20] = { 0 }, pseudo[12];
	uint8_t *tcp = ip_frame(fr, dst_mac, 6, f->nc.addr, dst, 20) + 20;

	put16(tcp, sport);
	put16(tcp + 2, dport);
	memcpy(tcp + 4, "\x00\x00\x10\x00", 4);
	tcp[12] = 5 << 4;
	tcp[13] = 0x02; /* SYN */
	put16(tcp + 14, 65535);
	memcpy(pseudo, &f->nc.addr, 4);
	memcpy(pseudo + 4, &dst, 4);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, 20);
	put16(tcp + 16, (uint16_t)~csum_add(csum_add(0, pseudo, 12), tcp, 20));
	send_frame(f, fr, sizeof(fr));
}

static bool is_tcp_to(const uint8_t *fr, size_t len, void *arg)
{
	const uint16_t *want = arg; /* dport, flags */

	return len >= 54 && get16(fr + 12) == 0x0800 && fr[14 + 9] == 6 &&
	       get16(fr + 34 + 2) == want[0] && (fr[34 + 13] & want[1]) == want[1];
}

/* The guest connects to the gateway: passt connects to the host's loopback. */
static void test_tcp_to_host_loopback(void **state)
{
	struct fx *f = *state;
	uint16_t port = free_port(), want[2] = { 40000, 0x12 }; /* SYN+ACK back */
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1, c;
	uint8_t gw_mac[6];
	uint64_t end;

	assert_true(l >= 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	start(f);
	arp_gateway(f); /* the gateway's MAC: in the reply's sender field */
	memcpy(gw_mac, f->buf + NETBE_HDR_LEN + 22, 6);
	send_syn(f, gw_mac, f->nc.gateway, 40000, port);
	wait_frame(f, is_tcp_to, want);
	for (end = now_ms() + DEADLINE_MS; (c = accept(l, NULL, NULL)) < 0 && now_ms() < end;)
		usleep(10000);
	assert_true(c >= 0);
	close(c);
	close(l);
	/* Stopped, passt is reaped by kvmrun, which learns its CPU time. */
	struct daemon_cpu cpu = { UINT64_MAX, UINT64_MAX };

	assert_true(passt_daemon_stop(f->d, &cpu));
	f->d = NULL;
	assert_true(cpu.user_ns < UINT64_MAX && cpu.sys_ns < UINT64_MAX);
}

/* A host connection to a hostfwd port arrives at the guest as a SYN for GUESTPORT. */
static void test_hostfwd(void **state)
{
	struct fx *f = *state;
	uint16_t port = free_port(), want[2] = { 8080, 0x02 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char item[64];
	const char *why;
	int c = -1, ret = -1;
	uint64_t end;

	snprintf(item, sizeof(item), "hostfwd=tcp:127.0.0.1:%u-:8080", port);
	assert_int_equal(cli_net_item(item, &f->nc, &why), 1);
	start(f);
	/*
	 * The guest speaks first (as a booted guest does: DHCP, ARP): this passt
	 * crashes on a connection that comes before it has seen any guest frame.
	 */
	arp_gateway(f);
	/* passt binds the port once it has set up: retry until then. */
	for (end = now_ms() + DEADLINE_MS; ret < 0 && now_ms() < end;) {
		c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(c >= 0);
		ret = connect(c, (struct sockaddr *)&sa, sizeof(sa));
		if (ret < 0 && errno == EINPROGRESS)
			ret = 0;
		if (ret < 0) {
			close(c);
			usleep(20000);
		}
	}
	assert_int_equal(ret, 0);
	wait_frame(f, is_tcp_to, want);
	close(c);
}

/* kvmrun killed (SIGKILL, no clean-up): its passt goes too. */
static void test_dies_with_parent(void **state)
{
	struct fx *f = *state;
	int pfd[2], st;
	pid_t child, passt = 0;
	uint64_t end;

	assert_int_equal(pipe(pfd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct passt_daemon *d;
		char err[512];
		int sock;

		close(pfd[0]);
		if (passt_daemon_start(&d, &f->nc, 0, &sock, err, sizeof(err)))
			_exit(3);
		passt = passt_daemon_pid(d);
		if (write(pfd[1], &passt, sizeof(passt)) != sizeof(passt))
			_exit(4);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &passt, sizeof(passt)) != sizeof(passt)) {
		waitpid(child, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
			skip();
		fail_msg("the child did not start passt");
	}
	close(pfd[0]);
	assert_true(passt > 0);
	assert_int_equal(kill(passt, 0), 0);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	/* Reparented to init (or a subreaper), which reaps it: then it is gone. */
	for (end = now_ms() + DEADLINE_MS; kill(passt, 0) == 0 && now_ms() < end;) {
		char path[64], stat[256] = "";
		FILE *fp;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)passt);
		fp = fopen(path, "r");
		if (fp) {
			if (!fgets(stat, sizeof(stat), fp))
				stat[0] = '\0';
			fclose(fp);
		}
		if (strstr(stat, ") Z "))
			break; /* dead, waiting for a reaper that is not us */
		usleep(20000);
	}
	if (kill(passt, 0) == 0) {
		char path[64], stat[256] = "";
		FILE *fp;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)passt);
		fp = fopen(path, "r");
		assert_non_null(fp);
		assert_non_null(fgets(stat, sizeof(stat), fp));
		fclose(fp);
		assert_non_null(strstr(stat, ") Z "));
	}
}

/* KVMRUN_PASST naming nothing: one line naming --net user and the package. */
static void test_missing(void **state)
{
	struct fx *f = *state;
	char err[512];
	int sock;

	setenv("KVMRUN_PASST", "/nonexistent/passt", 1);
	assert_int_equal(passt_daemon_start(&f->d, &f->nc, 0, &sock, err, sizeof(err)),
			 KVMRUN_ERR_INPUT);
	unsetenv("KVMRUN_PASST");
	assert_non_null(strstr(err, "--net user"));
	assert_non_null(strstr(err, "apt install passt"));
	assert_null(strchr(err, '\n'));
	f->d = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_gateway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_to_host_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dies_with_parent, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
