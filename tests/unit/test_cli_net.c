// SPDX-License-Identifier: Apache-2.0
/* --net user, hostfwd=, ip= and gw=: what they fill in, and every bad value refused (status 2). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "cli_result.h"

/* cli_parse on "run --kernel k --net VALUE". */
static struct cli_result *net(const char *value)
{
	return cli_result("run", "--kernel", "k", "--net", value, NULL);
}

static const struct net_config *expect_ok(struct cli_result *r)
{
	if (r->action != CLI_RUN || r->cfg.nr_nets != 1 || r->err[0])
		fail_msg("action %d, err '%s'", r->action, r->err);
	return &r->cfg.nets[0];
}

/* Status 2, one line naming --net and the value, saying `what`. */
static void expect_usage(const char *value, const char *what)
{
	struct cli_result *r = net(value);
	const char *nl = strchr(r->err, '\n');

	if (r->action != CLI_EXIT_USAGE || !strstr(r->err, "--net") ||
	    !strstr(r->err, what) || !nl || nl[1])
		fail_msg("'%s': action %d, err '%s' (expected '%s')", value, r->action, r->err,
			 what);
	cli_result_free(r);
}

static uint32_t ip(const char *s)
{
	uint32_t a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static void test_user_defaults(void **state)
{
	struct cli_result *r = net("user");
	const struct net_config *nc = expect_ok(r);

	(void)state;
	assert_true(nc->user);
	assert_int_equal(nc->fd, -1);
	assert_int_equal(nc->nr_hostfwds, 0);
	assert_int_equal(nc->addr, ip("10.0.2.15"));
	assert_int_equal(nc->prefix, 24);
	assert_int_equal(nc->gateway, ip("10.0.2.2"));
	assert_int_equal(nc->dns, ip("10.0.2.3"));
	cli_result_free(r);
}

static void test_user_options(void **state)
{
	struct cli_result *r = net("user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5000-:5001,"
			       "mac=02:00:00:00:00:07,mtu=1500,ip=192.168.9.20/16,gw=192.168.1.1");
	const struct net_config *nc = expect_ok(r);

	(void)state;
	assert_int_equal(nc->nr_hostfwds, 2);
	assert_false(nc->hostfwds[0].udp);
	assert_int_equal(nc->hostfwds[0].host_addr, ip("127.0.0.1"));
	assert_int_equal(nc->hostfwds[0].host_port, 2222);
	assert_int_equal(nc->hostfwds[0].guest_port, 22);
	assert_true(nc->hostfwds[1].udp);
	assert_int_equal(nc->hostfwds[1].host_addr, 0);
	assert_int_equal(nc->hostfwds[1].host_port, 5000);
	assert_int_equal(nc->hostfwds[1].guest_port, 5001);
	assert_int_equal(nc->mtu, 1500);
	assert_true(nc->has_mac);
	assert_int_equal(nc->addr, ip("192.168.9.20"));
	assert_int_equal(nc->prefix, 16);
	assert_int_equal(nc->gateway, ip("192.168.1.1"));
	cli_result_free(r);
}

static void test_tap_address(void **state)
{
	struct cli_result *r = net("tap=t0,ip=10.9.0.2/24,gw=10.9.0.1");
	const struct net_config *nc = expect_ok(r);

	(void)state;
	assert_false(nc->user);
	assert_int_equal(nc->addr, ip("10.9.0.2"));
	assert_int_equal(nc->gateway, ip("10.9.0.1"));
	assert_int_equal(nc->dns, 0);
	cli_result_free(r);
	r = net("tap=t0");
	nc = expect_ok(r);
	assert_int_equal(nc->addr, 0);
	cli_result_free(r);
}

static void test_hostfwd_bad(void **state)
{
	static const char *const bad[][2] = {
		{ "user,hostfwd=", "tcp: or udp:" },
		{ "user,hostfwd=sctp::1-:2", "tcp: or udp:" },
		{ "user,hostfwd=tcp", "tcp: or udp:" },
		{ "user,hostfwd=tcp:", "tcp|udp:[ADDR]:PORT-:GUESTPORT" },
		{ "user,hostfwd=tcp::8080", "tcp|udp:[ADDR]:PORT-:GUESTPORT" },
		{ "user,hostfwd=tcp::8080-80", "tcp|udp:[ADDR]:PORT-:GUESTPORT" },
		{ "user,hostfwd=tcp::8080:80", "tcp|udp:[ADDR]:PORT-:GUESTPORT" },
		{ "user,hostfwd=tcp::-:80", "1 to 65535" },
		{ "user,hostfwd=tcp::8080-:", "1 to 65535" },
		{ "user,hostfwd=tcp::0-:80", "1 to 65535" },
		{ "user,hostfwd=tcp::65536-:80", "1 to 65535" },
		{ "user,hostfwd=tcp::80-:999999", "1 to 65535" },
		{ "user,hostfwd=tcp::8a-:80", "1 to 65535" },
		{ "user,hostfwd=tcp::80-:+8", "1 to 65535" },
		{ "user,hostfwd=tcp::80-:8 ", "1 to 65535" },
		{ "user,hostfwd=tcp:1.2.3:80-:80", "IPv4 address" },
		{ "user,hostfwd=tcp:::1:80-:80", "1 to 65535" },
		{ "user,hostfwd=tcp:localhost:80-:80", "IPv4 address" },
		{ "user,hostfwd=tcp:1.2.3.4:80-10.0.2.15:80", "tcp|udp:[ADDR]:PORT-:GUESTPORT" },
		{ "user,hostfwd=tcp::80-:80,hostfwd=tcp:127.0.0.1:80-:81", "forwarded already" },
		{ "tap=t0,hostfwd=tcp::80-:80", "for --net user only" },
		{ "user,ip=10.0.2.15", "a.b.c.d/N" },
		{ "user,ip=10.0.2.15/31", "a.b.c.d/N" },
		{ "user,ip=10.0.2.15/0", "a.b.c.d/N" },
		{ "user,ip=10.0.2.256/24", "a.b.c.d/N" },
		{ "user,gw=10.0.3.1", "inside ip=" },
		{ "user,gw=10.0.2.15", "must differ" },
		{ "user,gw=x", "IPv4 address" },
		{ "tap=t0,gw=10.0.0.1", "gw= needs ip=" },
		{ "users", "expected tap=NAME or fd=N" },
		{ "user,bogus=1", "unknown option 'bogus=1'" },
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_usage(bad[i][0], bad[i][1]);
	/* Sixteen forwards, not seventeen. */
	char arg[1024] = "user";

	for (unsigned int i = 0; i < 16; i++)
		snprintf(arg + strlen(arg), sizeof(arg) - strlen(arg), ",hostfwd=tcp::%u-:80",
			 1000 + i);
	struct cli_result *r = net(arg);

	expect_ok(r);
	cli_result_free(r);
	strcat(arg, ",hostfwd=tcp::2000-:80");
	expect_usage(arg, "more than 16");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_defaults),
		cmocka_unit_test(test_user_options),
		cmocka_unit_test(test_tap_address),
		cmocka_unit_test(test_hostfwd_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
