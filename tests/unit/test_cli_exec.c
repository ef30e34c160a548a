// SPDX-License-Identifier: Apache-2.0
/* kvmrun exec's command line: its options, PROGRAM after --, bounds, and what run refuses. */
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
#include "kvmrun/agent_proto.h"

#define MAX_ARGS 600


static struct cli_result *expect_exec(struct cli_result *r)
{
	if (r->action != CLI_EXEC || !r->ec.enabled || r->err[0] || r->out[0])
		fail_msg("action %d, err '%s'", r->action, r->err);
	return r;
}

/* Refused with one line on stderr saying `what`; exec stays marked (status 125). */
static void expect_usage(bool exec, struct cli_result *r, const char *what)
{
	const char *nl = strchr(r->err, '\n');

	if (r->action != CLI_EXIT_USAGE || !nl || nl[1] || !strstr(r->err, what) || r->out[0] ||
	    r->ec.enabled != exec)
		fail_msg("action %d, exec %d, err '%s', expected '%s'", r->action, r->ec.enabled,
			 r->err, what);
	cli_result_free(r);
}

static void test_exec_defaults(void **state)
{
	struct cli_result *r = expect_exec(cli_result("exec", "--", "true", NULL));

	(void)state;
	assert_int_equal(r->ec.argc, 1);
	assert_string_equal(r->ec.argv[0], "true");
	assert_null(r->ec.argv[1]);
	assert_null(r->cfg.kernel); /* the exec layer finds the host's */
	assert_null(r->ec.root);
	assert_null(r->ec.report);
	assert_null(r->ec.workdir);
	assert_null(r->ec.modules);
	assert_int_equal(r->ec.timeout_ms, 0);
	assert_int_equal(r->ec.nr_env, 0);
	assert_false(r->ec.has_user);
	assert_false(r->ec.tty);
	assert_int_equal(r->cfg.cpus, 1);
	assert_int_equal(r->cfg.console, CONSOLE_NONE);
	assert_null(r->cfg.append);
	assert_int_equal(r->cmdline[0], 'x'); /* left to the exec layer */
	cli_result_free(r);
}

static void test_exec_all_options(void **state)
{
	struct cli_result *r =
	    expect_exec(cli_result("exec", "--kernel", "/k", "--cpus", "2", "--memory", "1G",
			      "--timeout", "5m", "--report", "/tmp/r.json", "--env", "A=1", "--env",
			      "B_2=x=y", "--env", "C=", "--workdir", "/srv", "--user", "1000:100",
			      "-t", "--root", "/rootdir", "--modules", "/mods", "--share", "/data",
			      "--append", "loglevel=3", "--", "sh", "-c", "exit 7", NULL));

	(void)state;
	assert_string_equal(r->cfg.kernel, "/k");
	assert_int_equal(r->cfg.cpus, 2);
	assert_int_equal(r->cfg.memory, 1ULL << 30);
	assert_int_equal(r->ec.timeout_ms, 5 * 60 * 1000);
	assert_string_equal(r->ec.report, "/tmp/r.json");
	assert_int_equal(r->ec.nr_env, 3);
	assert_string_equal(r->ec.env[0], "A=1");
	assert_string_equal(r->ec.env[1], "B_2=x=y");
	assert_string_equal(r->ec.env[2], "C=");
	assert_string_equal(r->ec.workdir, "/srv");
	assert_true(r->ec.has_user);
	assert_int_equal(r->ec.uid, 1000);
	assert_int_equal(r->ec.gid, 100);
	assert_true(r->ec.tty);
	assert_string_equal(r->ec.root, "/rootdir");
	assert_string_equal(r->ec.modules, "/mods");
	assert_int_equal(r->cfg.nr_shares, 1);
	assert_string_equal(r->cfg.append, "loglevel=3");
	assert_int_equal(r->ec.argc, 3);
	assert_string_equal(r->ec.argv[0], "sh");
	assert_string_equal(r->ec.argv[1], "-c");
	assert_string_equal(r->ec.argv[2], "exit 7");
	assert_null(r->ec.argv[3]);
	cli_result_free(r);
	r = expect_exec(cli_result("exec", "--tty", "--", "x", NULL));
	assert_true(r->ec.tty);
	cli_result_free(r);
}

/* PROGRAM's own options stay PROGRAM's, with or without "--". */
static void test_exec_program_options(void **state)
{
	struct cli_result *r = expect_exec(cli_result("exec", "--", "ls", "--timeout", "-t", "--", NULL));

	(void)state;
	assert_int_equal(r->ec.argc, 4);
	assert_string_equal(r->ec.argv[1], "--timeout");
	assert_string_equal(r->ec.argv[2], "-t");
	assert_string_equal(r->ec.argv[3], "--");
	assert_false(r->ec.tty);
	cli_result_free(r);
	r = expect_exec(cli_result("exec", "--cpus", "2", "ls", "-l", "--cpus", "3", NULL));
	assert_int_equal(r->cfg.cpus, 2);
	assert_int_equal(r->ec.argc, 4);
	assert_string_equal(r->ec.argv[2], "--cpus");
	cli_result_free(r);
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = {
	    {"30s", 30000},    {"5m", 300000},	       {"1h", 3600000},
	    {"2d", 172800000}, {"10", 10000},	       {"250ms", 250},
	    {"1ms", 1},	       {"30d", 2592000000ULL}, {"720h", 2592000000ULL},
	};
	static const char *const bad[] = {"",
					  "0",
					  "0s",
					  "s",
					  "-1s",
					  "1x",
					  "1 s",
					  "31d",
					  "1.5s",
					  "5M",
					  "18446744073709551615d",
					  "1sec",
					  "2592000001ms",
					  "99999999999999999999"};
	uint64_t ms;

	(void)state;
	for (unsigned int i = 0; i < ARRAY_SIZE(ok); i++) {
		ms = 0;
		if (cli_parse_duration(ok[i].s, &ms) || ms != ok[i].ms)
			fail_msg("'%s' gave %llu", ok[i].s, (unsigned long long)ms);
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++)
		if (!cli_parse_duration(bad[i], &ms))
			fail_msg("'%s' accepted", bad[i]);
}

static void test_parse_user(void **state)
{
	uint32_t uid = 7, gid = 7;

	(void)state;
	assert_int_equal(cli_parse_user("1000", &uid, &gid), 0);
	assert_int_equal(uid, 1000);
	assert_int_equal(gid, 1000);
	assert_int_equal(cli_parse_user("0:5", &uid, &gid), 0);
	assert_int_equal(uid, 0);
	assert_int_equal(gid, 5);
	assert_int_equal(cli_parse_user("4294967294:4294967294", &uid, &gid), 0);
	assert_int_equal(uid, 4294967294u);
	static const char *const bad[] = {
	    "",	  ":",	   "1:", ":1",	"a", "1:b", "4294967295", "1:4294967295", "99999999999",
	    "-1", "1:2:3", " 1", "root"};
	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++)
		if (!cli_parse_user(bad[i], &uid, &gid))
			fail_msg("'%s' accepted", bad[i]);
}

static void test_exec_bad(void **state)
{
	(void)state;
	expect_usage(true, cli_result("exec", NULL), "no PROGRAM");
	expect_usage(true, cli_result("exec", "--", NULL), "no PROGRAM");
	expect_usage(true, cli_result("exec", "--", "", NULL), "no PROGRAM");
	expect_usage(true, cli_result("exec", "--timeout", "0", "--", "x", NULL), "--timeout '0'");
	expect_usage(true, cli_result("exec", "--timeout", "1y", "--", "x", NULL), "--timeout");
	expect_usage(true, cli_result("exec", "--timeout", "31d", "--", "x", NULL), "--timeout");
	expect_usage(true, cli_result("exec", "--timeout", NULL), "needs a value");
	expect_usage(true, cli_result("exec", "--env", "NOEQUALS", "--", "x", NULL), "--env");
	expect_usage(true, cli_result("exec", "--env", "=v", "--", "x", NULL), "--env");
	expect_usage(true, cli_result("exec", "--env", "1A=v", "--", "x", NULL), "--env");
	expect_usage(true, cli_result("exec", "--env", "A-B=v", "--", "x", NULL), "--env");
	expect_usage(true, cli_result("exec", "--workdir", "rel", "--", "x", NULL), "absolute");
	expect_usage(true, cli_result("exec", "--user", "root", "--", "x", NULL), "--user");
	expect_usage(true, cli_result("exec", "--user", "1:", "--", "x", NULL), "--user");
	expect_usage(true, cli_result("exec", "--root", "", "--", "x", NULL), "--root");
	expect_usage(true, cli_result("exec", "--modules", "", "--", "x", NULL), "--modules");
	expect_usage(true, cli_result("exec", "--report", "", "--", "x", NULL), "--report");
	expect_usage(true, cli_result("exec", "--initrd", "i", "--", "x", NULL), "--initrd");
	expect_usage(true, cli_result("exec", "--console", "serial", "--", "x", NULL), "--console");
	expect_usage(true, cli_result("exec", "--cpus", "0", "--", "x", NULL), "--cpus");
	expect_usage(true, cli_result("exec", "--bogus", "--", "x", NULL), "unknown option");
	expect_usage(true, cli_result("exec", "-x", "--", "x", NULL), "unknown option '-x'");
	/* run keeps its own rules, and status 2 */
	expect_usage(false, cli_result("run", "--kernel", "k", "--timeout", "5s", NULL),
		     "--timeout is for kvmrun exec only");
	expect_usage(false, cli_result("run", "--kernel", "k", "--tty", NULL), "--tty is for kvmrun");
	expect_usage(false, cli_result("run", "--kernel", "k", "-t", NULL), "unknown option '-t'");
	expect_usage(false, cli_result("run", "--kernel", "k", "--env", "A=1", NULL), "--env");
	expect_usage(false, cli_result("run", NULL), "--kernel FILE is required");
}

/* --env at most 256 times; arguments, environment and workdir within one START frame. */
static void test_exec_bounds(void **state)
{
	char *args[MAX_ARGS];
	struct cli_result *r;
	char *big;
	int n = 0;

	(void)state;
	args[n++] = "exec";
	for (int i = 0; i < EXEC_ENV_MAX; i++) {
		args[n++] = "--env";
		args[n++] = "A=1";
	}
	args[n++] = "--";
	args[n++] = "x";
	args[n] = NULL;
	/* cli_result() takes varargs: rebuild through a va_list-free path */
	r = calloc(1, sizeof(*r));
	assert_non_null(r);
	{
		size_t ol = 0, el = 0;
		FILE *out = open_memstream(&r->out, &ol), *err = open_memstream(&r->err, &el);

		r->argv[r->argc++] = strdup("kvmrun");
		for (int i = 0; i < n; i++)
			r->argv[r->argc++] = strdup(args[i]);
		r->action = cli_parse_cmd(r->argc, r->argv, &r->cfg, &r->ec, r->cmdline,
					  sizeof(r->cmdline), out, err);
		fclose(out);
		fclose(err);
	}
	expect_exec(r);
	assert_int_equal(r->ec.nr_env, EXEC_ENV_MAX);
	/* one more: refused */
	r->argc = 0;
	for (int i = 0; i < MAX_ARGS; i++) {
		free(r->argv[i]);
		r->argv[i] = NULL;
	}
	free(r->out);
	free(r->err);
	{
		size_t ol = 0, el = 0;
		FILE *out = open_memstream(&r->out, &ol), *err = open_memstream(&r->err, &el);

		r->argv[r->argc++] = strdup("kvmrun");
		for (int i = 0; i < n - 2; i++)
			r->argv[r->argc++] = strdup(args[i]);
		r->argv[r->argc++] = strdup("--env");
		r->argv[r->argc++] = strdup("Z=1");
		r->argv[r->argc++] = strdup("--");
		r->argv[r->argc++] = strdup("x");
		r->action = cli_parse_cmd(r->argc, r->argv, &r->cfg, &r->ec, r->cmdline,
					  sizeof(r->cmdline), out, err);
		fclose(out);
		fclose(err);
	}
	expect_usage(true, r, "more than 256");

	/* an argument that fits, and one that makes START too big */
	big = malloc(EXEC_START_MAX);
	assert_non_null(big);
	memset(big, 'a', EXEC_START_MAX - 200);
	big[EXEC_START_MAX - 200] = '\0';
	r = expect_exec(cli_result("exec", "--", "echo", big, NULL));
	cli_result_free(r);
	memset(big, 'a', EXEC_START_MAX - 1);
	big[EXEC_START_MAX - 1] = '\0';
	expect_usage(true, cli_result("exec", "--", "echo", big, NULL), "more than");
	big[EXEC_START_MAX / 2] = '\0';
	expect_usage(true,
		     cli_result("exec", "--env", big + EXEC_START_MAX / 2 - 10, "--", "echo", big, NULL),
		     "--env");
	memcpy(big + EXEC_START_MAX / 2 - 10, "B=", 2);
	expect_usage(
	    true,
	    cli_result("exec", "--env", big + EXEC_START_MAX / 2 - 10, "--", "echo", big, big, NULL),
	    "more than");
	free(big);
	big = malloc(AGENT_WORKDIR_MAX + 1);
	assert_non_null(big);
	memset(big, 'd', AGENT_WORKDIR_MAX);
	big[0] = '/';
	big[AGENT_WORKDIR_MAX] = '\0';
	expect_usage(true, cli_result("exec", "--workdir", big, "--", "x", NULL), "--workdir");
	big[AGENT_WORKDIR_MAX - 1] = '\0';
	cli_result_free(expect_exec(cli_result("exec", "--workdir", big, "--", "x", NULL)));
	free(big);
}

static void test_exec_help(void **state)
{
	struct cli_result *r = cli_result("exec", "--help", NULL);

	(void)state;
	assert_int_equal(r->action, CLI_EXIT_OK);
	assert_non_null(strstr(r->out, "kvmrun exec [options] -- PROGRAM"));
	assert_non_null(strstr(r->out, "124"));
	assert_non_null(strstr(r->out, "--timeout"));
	cli_result_free(r);
	r = cli_result("--help", NULL);
	assert_int_equal(r->action, CLI_EXIT_OK);
	assert_non_null(strstr(r->out, "kvmrun exec"));
	cli_result_free(r);
}

/* run unchanged: CLI_RUN, exec disabled, the composed command line. */
static void test_run_unchanged(void **state)
{
	struct cli_result *r = cli_result("run", "--kernel", "k", "--append", "root=/dev/vda", NULL);

	(void)state;
	assert_int_equal(r->action, CLI_RUN);
	assert_false(r->ec.enabled);
	assert_string_equal(r->cfg.append, "root=/dev/vda console=ttyS0 reboot=k panic=-1");
	cli_result_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exec_defaults),	 cmocka_unit_test(test_exec_all_options),
	    cmocka_unit_test(test_exec_program_options), cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_user),		 cmocka_unit_test(test_exec_bad),
	    cmocka_unit_test(test_exec_bounds),		 cmocka_unit_test(test_exec_help),
	    cmocka_unit_test(test_run_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
