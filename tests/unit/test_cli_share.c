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

#define MAX_ARGS 40

struct result {
	enum cli_action action;
	struct vm_config cfg;
	char cmdline[CLI_CMDLINE_MAX];
	char *out;
	char *err;
};

/* cli_parse on "run --kernel k" and then the given --share values. */
static struct result *share(const char *first, ...)
{
	struct result *r = calloc(1, sizeof(*r));
	char *argv[MAX_ARGS] = { "kvmrun", "run", "--kernel", "k" };
	size_t out_len = 0, err_len = 0;
	FILE *out, *err;
	int argc = 4;
	va_list ap;

	assert_non_null(r);
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(argc < MAX_ARGS - 2);
		argv[argc++] = "--share";
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	out = open_memstream(&r->out, &out_len);
	err = open_memstream(&r->err, &err_len);
	assert_non_null(out);
	assert_non_null(err);
	r->action = cli_parse(argc, argv, &r->cfg, r->cmdline, sizeof(r->cmdline), out, err);
	fclose(out);
	fclose(err);
	return r;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
	free(r);
}

static struct result *expect_ok(struct result *r, unsigned int shares)
{
	if (r->action != CLI_RUN || r->cfg.nr_shares != shares || r->err[0])
		fail_msg("action %d, %u shares, err '%s'", r->action, r->cfg.nr_shares, r->err);
	return r;
}

/* Status 2, one line on stderr that names --share and says `what`. */
static void expect_usage(struct result *r, const char *what)
{
	const char *nl = strchr(r->err, '\n');

	if (r->action != CLI_EXIT_USAGE || !nl || nl[1] || !strstr(r->err, "--share") ||
	    !strstr(r->err, what) || r->out[0])
		fail_msg("action %d, err '%s', expected '%s'", r->action, r->err, what);
	result_free(r);
}

static void test_share_forms(void **state)
{
	struct result *r;

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
	result_free(r);

	/* The default tag: the last name, trailing slashes dropped; "/" is "root". */
	expect_usage(share("/srv/data//", "/", "///", NULL), "tag 'root' already used");
	r = expect_ok(share("/srv/data//", "plain", NULL), 2);
	assert_string_equal(r->cfg.shares[0].tag, "data");
	assert_string_equal(r->cfg.shares[0].path, "/srv/data//");
	assert_string_equal(r->cfg.shares[1].tag, "plain");
	result_free(r);
	r = expect_ok(share("/", NULL), 1);
	assert_string_equal(r->cfg.shares[0].tag, "root");
	result_free(r);
	r = expect_ok(share("///", NULL), 1);
	assert_string_equal(r->cfg.shares[0].tag, "root");
	result_free(r);
	/* 36 bytes: the longest tag, given or derived; a later tag= wins. */
	r = expect_ok(share("/a/abcdefghijklmnopqrstuvwxyz0123456789", "x,tag=a,tag=b", NULL), 2);
	assert_string_equal(r->cfg.shares[0].tag, "abcdefghijklmnopqrstuvwxyz0123456789");
	assert_string_equal(r->cfg.shares[1].tag, "b");
	result_free(r);
	/* A name too long for a tag is fine with tag=; so are "." and "..". */
	r = expect_ok(share("/a/abcdefghijklmnopqrstuvwxyz0123456789X,tag=t", ".,tag=here",
			    "..,tag=up", NULL), 3);
	assert_string_equal(r->cfg.shares[1].path, ".");
	assert_string_equal(r->cfg.shares[2].tag, "up");
	result_free(r);
	/* Eight shares. */
	r = expect_ok(share("a", "b", "c", "d", "e", "f", "g", "h", NULL), 8);
	assert_string_equal(r->cfg.shares[7].tag, "h");
	result_free(r);
	/* None: no shares. */
	r = expect_ok(share(NULL), 0);
	result_free(r);
	/* path=: where exec mounts it, for either form. */
	r = expect_ok(share("socket=/run/fs.sock,tag=ext,path=/mnt/ext", "/srv/d,path=/data", NULL),
		      2);
	assert_string_equal(r->cfg.shares[0].guest_path, "/mnt/ext");
	assert_string_equal(r->cfg.shares[0].socket, "/run/fs.sock");
	assert_string_equal(r->cfg.shares[1].guest_path, "/data");
	assert_string_equal(r->cfg.shares[1].path, "/srv/d");
	result_free(r);
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
		struct result *r;
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
	struct result r = { 0 };
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
