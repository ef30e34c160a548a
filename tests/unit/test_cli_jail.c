// SPDX-License-Identifier: Apache-2.0
/* --jail, --cgroup, --limit on both commands: defaults, values, and one line per error. */
#include <errno.h>
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


/*
 * Refused with one line on stderr containing what; main() turns CLI_EXIT_USAGE into
 * status 2, or 125 when ec.enabled (exec).
 */
static void expect_usage(bool exec, struct cli_result *r, const char *what)
{
	char *nl = strchr(r->err, '\n');

	if (r->action != CLI_EXIT_USAGE || !nl || nl[1] || !strstr(r->err, what) || r->out[0] ||
	    r->ec.enabled != exec)
		fail_msg("action %d, exec %d, err '%s', expected '%s'", r->action, r->ec.enabled,
			 r->err, what);
	cli_result_free(r);
}

static void test_defaults(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "k", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_false(r->cfg.jail.on);
	assert_null(r->cfg.jail.cgroup);
	assert_int_equal(r->cfg.jail.memory_max, 0);
	cli_result_free(r);
	r = cli_result("exec", "--", "true", NULL);
	assert_int_equal(r->action, CLI_EXEC);
	assert_true(r->cfg.jail.on);
	cli_result_free(r);
	r = cli_result("exec", "--jail", "off", "--", "true", NULL);
	assert_int_equal(r->action, CLI_EXEC);
	assert_false(r->cfg.jail.on);
	cli_result_free(r);
	r = cli_result("run", "--kernel", "k", "--jail", "on", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_true(r->cfg.jail.on);
	cli_result_free(r);
	/* the last --jail wins */
	r = cli_result("run", "--jail", "on", "--kernel", "k", "--jail", "off", NULL);
	assert_false(r->cfg.jail.on);
	cli_result_free(r);
}

static void test_limits(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "k", "--cgroup", "/sys/fs/cgroup/d", "--limit",
		  "memory=1G,cpus=1.5,pids=64", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->cfg.jail.cgroup, "/sys/fs/cgroup/d");
	assert_int_equal(r->cfg.jail.memory_max, 1ULL << 30);
	assert_int_equal(r->cfg.jail.cpu_milli, 1500);
	assert_int_equal(r->cfg.jail.pids_max, 64);
	cli_result_free(r);
	/* any of them, over several --limit; exec too */
	r = cli_result("exec", "--limit", "cpus=2", "--cgroup", "/c", "--limit", "pids=4194304", "--",
		  "true", NULL);
	assert_int_equal(r->action, CLI_EXEC);
	assert_int_equal(r->cfg.jail.cpu_milli, 2000);
	assert_int_equal(r->cfg.jail.pids_max, 4194304);
	assert_int_equal(r->cfg.jail.memory_max, 0);
	cli_result_free(r);
	r = cli_result("run", "--kernel", "k", "--cgroup", "/c", NULL);
	assert_int_equal(r->action, CLI_RUN);
	cli_result_free(r);
}

static void test_cpus(void **state)
{
	static const struct {
		const char *s;
		int ret;
		uint32_t milli;
	} cases[] = {
	    {"1", 0, 1000},
	    {"0.5", 0, 500},
	    {"0.01", 0, 10},
	    {"1.25", 0, 1250},
	    {"4096", 0, 4096000},
	    {"0.125", 0, 125},
	    {"0", -EINVAL, 0},
	    {"0.009", -EINVAL, 0},
	    {"4096.001", -EINVAL, 0},
	    {"4097", -EINVAL, 0},
	    {"1.2345", -EINVAL, 0},
	    {"1.", -EINVAL, 0},
	    {".5", -EINVAL, 0},
	    {"", -EINVAL, 0},
	    {"-1", -EINVAL, 0},
	    {"1x", -EINVAL, 0},
	    {"99999999999999999999999", -EINVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t m = 0;
		int ret = cli_parse_cpus_milli(cases[i].s, &m);

		if (ret != cases[i].ret || (!ret && m != cases[i].milli))
			fail_msg("'%s': %d %u", cases[i].s, ret, m);
	}
}

static void test_bad(void **state)
{
	(void)state;
	for (int exec = 0; exec < 2; exec++) {
		const char *cmd = exec ? "exec" : "run";
		const char *k = exec ? "--cpus" : "--kernel", *kv = exec ? "1" : "k";

#define BAD(what, ...)                                                                             \
	expect_usage(exec, cli_result(cmd, k, kv, __VA_ARGS__, exec ? "--" : NULL, "true", NULL), what)
		BAD("--jail 'yes': expected on or off", "--jail", "yes");
		BAD("--jail '': expected on or off", "--jail", "");
		BAD("--jail 'ON'", "--jail", "ON");
		BAD("--jail '?on'", "--jail", "\ton");
		BAD("--cgroup '': expected a cgroup v2 directory", "--cgroup", "");
		BAD("--limit needs --cgroup DIR", "--limit", "memory=1G");
		BAD("--limit needs --cgroup DIR", "--limit", "pids=3", "--jail", "off");
		BAD("--limit 'memory=1x'", "--cgroup", "/c", "--limit", "memory=1x");
		BAD("memory= wants a size of 16M or more", "--cgroup", "/c", "--limit",
		    "memory=1M");
		BAD("memory= wants", "--cgroup", "/c", "--limit", "memory=");
		BAD("cpus= wants a number from 0.01 to 4096", "--cgroup", "/c", "--limit",
		    "cpus=0");
		BAD("cpus= wants", "--cgroup", "/c", "--limit", "cpus=1.5x");
		BAD("pids= wants a number from 1 to 4194304", "--cgroup", "/c", "--limit",
		    "pids=0");
		BAD("pids= wants", "--cgroup", "/c", "--limit", "pids=4194305");
		BAD("pids= wants", "--cgroup", "/c", "--limit", "pids=-1");
		BAD("--limit 'swap=1G': expected memory=SIZE, cpus=N or pids=N", "--cgroup", "/c",
		    "--limit", "swap=1G");
		BAD("--limit 'memory=1G,,pids=2'", "--cgroup", "/c", "--limit",
		    "memory=1G,,pids=2");
		BAD("--limit '': expected memory=SIZE,cpus=N,pids=N", "--cgroup", "/c", "--limit",
		    "");
#undef BAD
	}
	expect_usage(false, cli_result("run", "--kernel", "k", "--cgroup", "/c", "--limit", NULL),
		     "option '--limit' needs a value");
	expect_usage(false, cli_result("run", "--kernel", "k", "--jail", NULL),
		     "option '--jail' needs a value");
}

static void test_usage_text(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("--help", NULL);
	assert_int_equal(r->action, CLI_EXIT_OK);
	assert_non_null(strstr(r->out, "--jail on|off"));
	assert_non_null(strstr(r->out, "--cgroup DIR"));
	assert_non_null(strstr(r->out, "--limit memory=SIZE,cpus=N,pids=N"));
	cli_result_free(r);
	r = cli_result("exec", "--help", NULL);
	assert_int_equal(r->action, CLI_EXIT_OK);
	assert_non_null(strstr(r->out, "--jail on|off"));
	cli_result_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),   cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_cpus),       cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_usage_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
