// SPDX-License-Identifier: Apache-2.0
/* --share: the forms that fill struct share_config, and every value refused (status 2). */
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

#define MAX_ARGS 40

/* cli_parse on "run --kernel k" and then the given --share values. */
static struct cli_result *share(const char *first, ...)
{
	const char *args[MAX_ARGS] = {"run", "--kernel", "k"};
	int n = 3;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(n < MAX_ARGS - 2);
		args[n++] = "--share";
		args[n++] = a;
	}
	va_end(ap);
	return cli_result_list(n, args);
}

static struct cli_result *expect_ok(struct cli_result *r, unsigned int shares)
{
	if (r->action != CLI_RUN || r->cfg.nr_shares != shares || r->err[0])
		fail_msg("action %d, %u shares, err '%s'", r->action, r->cfg.nr_shares, r->err);
	return r;
}

/* Status 2, one line on stderr that names --share and says `what`. */
static void expect_usage(struct cli_result *r, const char *what)
{
	const char *nl = strchr(r->err, '\n');

	if (r->action != CLI_EXIT_USAGE || !nl || nl[1] || !strstr(r->err, "--share") ||
	    !strstr(r->err, what) || r->out[0])
		fail_msg("action %d, err '%s', expected '%s'", r->action, r->err, what);
	cli_result_free(r);
}

static void test_share_forms(void **state)
{
	struct cli_result *r;

	(void)state;
	r = expect_ok(share("/srv/data", "/tmp/x,tag=scratch,ro", "rel/dir,virtiofsd=/opt/vfsd,ro",
			    "socket=/run/fs.sock,tag=ext", NULL), 4);
	assert_string_equal(r->cfg.shares[0].path, "/srv/data");
	assert_string_equal(r->cfg.shares[0].tag, "data");
	assert_false(r->cfg.shares[0].readonly);
	assert_string_equal(r->cfg.shares[0].socket, "");
	assert_string_equal(r->cfg.shares[0].virtiofsd, "");
	assert_string_equal(r->cfg.shares[1].path, "/tmp/x");
	assert_string_equal(r->cfg.shares[1].tag, "scratch");
	assert_true(r->cfg.shares[1].readonly);
	assert_string_equal(r->cfg.shares[2].path, "rel/dir");
	assert_string_equal(r->cfg.shares[2].tag, "dir");
	assert_string_equal(r->cfg.shares[2].virtiofsd, "/opt/vfsd");
	assert_true(r->cfg.shares[2].readonly);
	assert_string_equal(r->cfg.shares[3].path, "");
	assert_string_equal(r->cfg.shares[3].socket, "/run/fs.sock");
	assert_string_equal(r->cfg.shares[3].tag, "ext");
	assert_false(r->cfg.shares[3].readonly);
	cli_result_free(r);

	/* The default tag: the last name, trailing slashes dropped; "/" is "root". */
	expect_usage(share("/srv/data//", "/", "///", NULL), "tag 'root' already used");
	r = expect_ok(share("/srv/data//", "plain", NULL), 2);
	assert_string_equal(r->cfg.shares[0].tag, "data");
	assert_string_equal(r->cfg.shares[0].path, "/srv/data//");
	assert_string_equal(r->cfg.shares[1].tag, "plain");
	cli_result_free(r);
	r = expect_ok(share("/", NULL), 1);
	assert_string_equal(r->cfg.shares[0].tag, "root");
	cli_result_free(r);
	r = expect_ok(share("///", NULL), 1);
	assert_string_equal(r->cfg.shares[0].tag, "root");
	cli_result_free(r);
	/* 36 bytes: the longest tag, given or derived; a later tag= wins. */
	r = expect_ok(share("/a/abcdefghijklmnopqrstuvwxyz0123456789", "x,tag=a,tag=b", NULL), 2);
	assert_string_equal(r->cfg.shares[0].tag, "abcdefghijklmnopqrstuvwxyz0123456789");
	assert_string_equal(r->cfg.shares[1].tag, "b");
	cli_result_free(r);
	/* A name too long for a tag is fine with tag=; so are "." and "..". */
	r = expect_ok(share("/a/abcdefghijklmnopqrstuvwxyz0123456789X,tag=t", ".,tag=here",
			    "..,tag=up", NULL), 3);
	assert_string_equal(r->cfg.shares[1].path, ".");
	assert_string_equal(r->cfg.shares[2].tag, "up");
	cli_result_free(r);
	/* Eight shares. */
	r = expect_ok(share("a", "b", "c", "d", "e", "f", "g", "h", NULL), 8);
	assert_string_equal(r->cfg.shares[7].tag, "h");
	cli_result_free(r);
	/* None: no shares. */
	r = expect_ok(share(NULL), 0);
	cli_result_free(r);
	/* path=: where exec mounts it, for either form. */
	r = expect_ok(share("socket=/run/fs.sock,tag=ext,path=/mnt/ext", "/srv/d,path=/data", NULL),
		      2);
	assert_string_equal(r->cfg.shares[0].guest_path, "/mnt/ext");
	assert_string_equal(r->cfg.shares[0].socket, "/run/fs.sock");
	assert_string_equal(r->cfg.shares[1].guest_path, "/data");
	assert_string_equal(r->cfg.shares[1].path, "/srv/d");
	cli_result_free(r);
	expect_usage(share("socket=/s,tag=t,path=rel", NULL), "path= needs an absolute directory");
	expect_usage(share("/d,path=", NULL), "path= needs an absolute directory");
}

static void test_share_bad(void **state)
{
	(void)state;
	expect_usage(share("a", "b", "c", "d", "e", "f", "g", "h", "i", NULL), "more than 8");
	expect_usage(share("dir,rw", NULL), "unknown option 'rw'");
	expect_usage(share("dir,RO", NULL), "unknown option 'RO'");
	expect_usage(share("dir,cache=none", NULL), "unknown option 'cache=none'");
	expect_usage(share("dir,", NULL), "unknown option ''");
	expect_usage(share("dir,x\ny", NULL), "unknown option 'x?y'");
	expect_usage(share("", NULL), "no directory name");
	expect_usage(share(",tag=a", NULL), "no directory name");
	expect_usage(share("dir,tag=", NULL), "empty tag");
	expect_usage(share("dir,tag=abcdefghijklmnopqrstuvwxyz0123456789X", NULL),
		     "tag longer than 36 bytes");
	expect_usage(share("/a/abcdefghijklmnopqrstuvwxyz0123456789X", NULL), "give tag=");
	expect_usage(share(".", NULL), "give tag=");
	expect_usage(share("/x/..//", NULL), "give tag=");
	expect_usage(share("/srv/a", "/tmp/a", NULL), "tag 'a' already used");
	expect_usage(share("x,tag=t", "socket=/s,tag=t", NULL), "tag 't' already used");
	expect_usage(share("socket=/run/fs.sock", NULL), "socket= needs tag=");
	expect_usage(share("socket=/run/fs.sock,ro,tag=t", NULL), "not for socket=");
	expect_usage(share("socket=/run/fs.sock,tag=t,virtiofsd=/bin/true", NULL),
		     "not for socket=");
	expect_usage(share("socket=,tag=t", NULL), "socket= needs a path");
	expect_usage(share("dir,socket=/s,tag=t", NULL), "socket=PATH comes first");
	expect_usage(share("dir,virtiofsd=", NULL), "virtiofsd= needs a path");
	{
		struct cli_result *r;
		char *argv[] = { "kvmrun", "run", "--kernel", "k", "--share", NULL };
		size_t ol = 0, el = 0;
		FILE *out, *err;

		r = calloc(1, sizeof(*r));
		assert_non_null(r);
		out = open_memstream(&r->out, &ol);
		err = open_memstream(&r->err, &el);
		r->action = cli_parse(5, argv, &r->cfg, r->cmdline, sizeof(r->cmdline), out, err);
		fclose(out);
		fclose(err);
		expect_usage(r, "needs a value");
	}
}

/* The help text names the option and its forms. */
static void test_share_help(void **state)
{
	char *argv[] = { "kvmrun", "--help", NULL };
	struct cli_result r = { 0 };
	size_t ol = 0, el = 0;
	FILE *out, *err;

	(void)state;
	out = open_memstream(&r.out, &ol);
	err = open_memstream(&r.err, &el);
	r.action = cli_parse(2, argv, &r.cfg, r.cmdline, sizeof(r.cmdline), out, err);
	fclose(out);
	fclose(err);
	assert_int_equal(r.action, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "--share HOSTDIR[,tag=TAG][,ro][,virtiofsd=PATH]"));
	assert_non_null(strstr(r.out, "socket=PATH,tag=TAG"));
	free(r.out);
	free(r.err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share_forms),
		cmocka_unit_test(test_share_bad),
		cmocka_unit_test(test_share_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
