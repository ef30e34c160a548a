// SPDX-License-Identifier: Apache-2.0
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


static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A usage error: exit status 2, nothing on out, one line on err naming `what`. */
static void expect_usage(struct cli_result *r, const char *what)
{
	if (r->action != CLI_EXIT_USAGE || count_lines(r->err) != 1 || !strstr(r->err, what) ||
	    r->err[strlen(r->err) - 1] != '\n' || r->out[0])
		fail_msg("action %d, err '%s', out '%s', expected '%s'", r->action, r->err, r->out,
			 what);
	cli_result_free(r);
}

static void test_valid_full(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "/boot/bzImage", "--initrd", "/tmp/initrd.cpio",
		  "--append", "root=/dev/ram0 quiet", "--cpus", "4", "--memory", "1G",
		  "--console", "none", "--console-log", "/tmp/console.log", "--log-level",
		  "debug", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->err, "");
	assert_string_equal(r->out, "");
	assert_string_equal(r->cfg.kernel, "/boot/bzImage");
	assert_string_equal(r->cfg.initrd, "/tmp/initrd.cpio");
	assert_int_equal(r->cfg.cpus, 4);
	assert_int_equal(r->cfg.memory, 1 * GiB);
	assert_int_equal(r->cfg.console, CONSOLE_NONE);
	assert_string_equal(r->cfg.console_log, "/tmp/console.log");
	assert_int_equal(r->cfg.console_log_max, VM_CONSOLE_LOG_MAX);
	assert_int_equal(r->cfg.log_level, LOG_DEBUG);
	assert_ptr_equal(r->cfg.append, r->cmdline);
	assert_string_equal(r->cfg.append, "root=/dev/ram0 quiet console=ttyS0 reboot=k panic=-1");
	cli_result_free(r);

	/* --console virtio: hvc0 gets the console, the UART the early messages. */
	r = cli_result("run", "--kernel", "k", "--console", "virtio", "--append", "quiet", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_int_equal(r->cfg.console, CONSOLE_VIRTIO);
	assert_string_equal(r->cfg.append,
			    "quiet " CLI_EARLYCON_UART " console=hvc0 reboot=k panic=-1");
	cli_result_free(r);
	r = cli_result("run", "--kernel", "k", "--console", "serial", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_int_equal(r->cfg.console, CONSOLE_SERIAL);
	cli_result_free(r);

	r = cli_result("run", "--kernel", "k", "--sandbox", "off", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_true(r->cfg.no_sandbox);
	cli_result_free(r);
	r = cli_result("run", "--kernel", "k", "--sandbox", "off", "--sandbox", "on", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_false(r->cfg.no_sandbox);
	cli_result_free(r);
	r = cli_result("run", "--kernel", "k", "--exit-port", NULL);
#ifdef __aarch64__
	expect_usage(r, "--exit-port"); /* no I/O ports there */
#else
	assert_int_equal(r->action, CLI_RUN);
	assert_true(r->cfg.exit_port);
	cli_result_free(r);
#endif

	/* --opt=value and options after the kernel path work too. */
	r = cli_result("run", "--memory=512M", "--kernel=k", "--cpus=2", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->cfg.kernel, "k");
	assert_int_equal(r->cfg.memory, 512 * MiB);
	assert_int_equal(r->cfg.cpus, 2);
	cli_result_free(r);
}

/* --dtb-out: the device tree's copy on arm64; a usage error on x86-64, which has none. */
static void test_dtb_out(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "k", NULL);
	assert_null(r->cfg.dtb_out);
	cli_result_free(r);
	r = cli_result("run", "--kernel", "k", "--dtb-out", "m.dtb", NULL);
#ifdef __aarch64__
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->cfg.dtb_out, "m.dtb");
	cli_result_free(r);
#else
	expect_usage(r, "--dtb-out");
#endif
	r = cli_result("run", "--kernel", "k", "--dtb-out", NULL);
	expect_usage(r, "--dtb-out");
}

static void test_defaults(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "vmlinuz", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->err, "");
	assert_string_equal(r->cfg.kernel, "vmlinuz");
	assert_null(r->cfg.initrd);
	assert_null(r->cfg.console_log);
	assert_int_equal(r->cfg.console_log_max, 64 * MiB);
	assert_int_equal(r->cfg.cpus, 1);
	assert_int_equal(r->cfg.memory, 256 * MiB);
	assert_int_equal(r->cfg.console, CONSOLE_SERIAL);
	assert_int_equal(r->cfg.log_level, LOG_WARN);
	assert_false(r->cfg.no_sandbox);
	assert_false(r->cfg.exit_port);
	assert_string_equal(r->cfg.append, "console=ttyS0 reboot=k panic=-1");
	cli_result_free(r);
}

static void check_memory_arg(const char *arg, uint64_t bytes)
{
	struct cli_result *r = cli_result("run", "--kernel", "k", "--memory", arg, NULL);

	if (r->action != CLI_RUN || r->cfg.memory != bytes)
		fail_msg("--memory %s: action %d, memory %llu, err '%s'", arg, r->action,
			 (unsigned long long)r->cfg.memory, r->err);
	cli_result_free(r);
}

static void test_memory_sizes(void **state)
{
	(void)state;
	check_memory_arg("512M", 512 * MiB);
	check_memory_arg("512m", 512 * MiB);
	check_memory_arg("2G", 2 * GiB);
	check_memory_arg("1048576K", 1 * GiB);
	check_memory_arg("64MiB", 64 * MiB);
	check_memory_arg("64MB", 64 * MiB);
	check_memory_arg("32M", 32 * MiB);
	check_memory_arg("33554432", 32 * MiB);
	check_memory_arg("65536G", 64ULL * 1024 * GiB);
}

static void test_parse_size(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(cli_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cli_parse_size("3K", &v), 0);
	assert_int_equal(v, 3 * KiB);
	assert_int_equal(cli_parse_size("17179869183G", &v), 0);
	assert_int_equal(v, 17179869183ULL * GiB);
	assert_int_equal(cli_parse_size("17179869184G", &v), -EINVAL);
	assert_int_equal(cli_parse_size("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(cli_parse_size("18446744073709551616", &v), -EINVAL);
	assert_int_equal(cli_parse_size("99999999999999999999G", &v), -EINVAL);
	assert_int_equal(cli_parse_size(NULL, &v), -EINVAL);
	assert_int_equal(cli_parse_size("", &v), -EINVAL);
	assert_int_equal(cli_parse_size("M", &v), -EINVAL);
	assert_int_equal(cli_parse_size(" 1M", &v), -EINVAL);
	assert_int_equal(cli_parse_size("+1M", &v), -EINVAL);
	assert_int_equal(cli_parse_size("1MM", &v), -EINVAL);
	assert_int_equal(cli_parse_size("1Mi", &v), -EINVAL);
	assert_int_equal(cli_parse_size("1B", &v), -EINVAL);
	assert_int_equal(cli_parse_size("1iB", &v), -EINVAL);
	assert_int_equal(cli_parse_size("1M ", &v), -EINVAL);
	assert_int_equal(cli_parse_size("0x10M", &v), -EINVAL);
}

static void test_bad_memory(void **state)
{
	(void)state;
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "abc", NULL), "--memory");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "", NULL), "--memory");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "-1", NULL), "--memory");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "12X", NULL), "--memory");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "99999999999999999999G", NULL),
		     "--memory");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "18446744073709551615K", NULL),
		     "--memory");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "31M", NULL), "--memory");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "33554431", NULL), "--memory");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "0", NULL), "--memory");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", "65537G", NULL), "--memory");
}

static void test_bad_cpus(void **state)
{
	struct cli_result *r;

	(void)state;
	expect_usage(cli_result("run", "--kernel", "k", "--cpus", "0", NULL), "--cpus");
	expect_usage(cli_result("run", "--kernel", "k", "--cpus", "abc", NULL), "--cpus");
	expect_usage(cli_result("run", "--kernel", "k", "--cpus", "99999", NULL), "--cpus");
	expect_usage(cli_result("run", "--kernel", "k", "--cpus", "-1", NULL), "--cpus");
	expect_usage(cli_result("run", "--kernel", "k", "--cpus", "", NULL), "--cpus");
	expect_usage(cli_result("run", "--kernel", "k", "--cpus", "2x", NULL), "--cpus");
	expect_usage(cli_result("run", "--kernel", "k", "--cpus", "18446744073709551617", NULL),
		     "--cpus");
	r = cli_result("run", "--kernel", "k", "--cpus", "4096", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_int_equal(r->cfg.cpus, 4096);
	cli_result_free(r);
}

static void test_bad_other(void **state)
{
	(void)state;
	expect_usage(cli_result("run", "--kernel", "k", "--console", "foo", NULL), "--console");
	expect_usage(cli_result("run", "--kernel", "k", "--console", "virtio,x", NULL), "--console");
	expect_usage(cli_result("run", "--kernel", "k", "--console", "Virtio", NULL), "--console");
	expect_usage(cli_result("run", "--kernel", "k", "--console", "", NULL), "--console");
	expect_usage(cli_result("run", "--kernel", "k", "--log-level", "loud", NULL), "--log-level");
	expect_usage(cli_result("run", "--kernel", "k", "--sandbox", "yes", NULL), "--sandbox 'yes'");
	expect_usage(cli_result("run", "--kernel", "k", "--sandbox", "", NULL), "--sandbox");
	expect_usage(cli_result("run", "--kernel", "k", "--sandbox", "OFF", NULL), "--sandbox");
	expect_usage(cli_result("run", "--kernel", "k", "--sandbox", NULL),
		     "option '--sandbox' needs a value");
	expect_usage(cli_result("run", "--cpus", "2", NULL), "--kernel");
	expect_usage(cli_result("run", NULL), "--kernel");
	expect_usage(cli_result("run", "--kernel", "k", "--frobnicate", NULL),
		     "unknown option '--frobnicate'");
	expect_usage(cli_result("run", "--frobnicate=3", "--kernel", "k", NULL), "--frobnicate");
	expect_usage(cli_result("run", "--kernel", "k", "-z", NULL), "unknown option '-z'");
	expect_usage(cli_result("run", "--kernel", "k", "-zq", NULL), "unknown option '-z'");
	expect_usage(cli_result("walk", "--kernel", "k", NULL), "walk");
	expect_usage(cli_result("--kernel", "k", NULL), "--kernel");
	expect_usage(cli_result(NULL), "no command");
	expect_usage(cli_result("run", "--kernel", "k", "stray", NULL), "stray");
	/* A missing value names the option. */
	expect_usage(cli_result("run", "--kernel", NULL), "option '--kernel' needs a value");
	expect_usage(cli_result("run", "--kernel", "k", "--memory", NULL),
		     "option '--memory' needs a value");
	expect_usage(cli_result("run", "--kernel", "k", "--help=x", NULL), "--help=x");
	expect_usage(cli_result("run", "--kernel", "k", "--exit-port=1", NULL), "--exit-port=1");
}

/* Errors after earlier parses (getopt keeps state between calls). */
static void test_reparse_after_error(void **state)
{
	struct cli_result *r;

	(void)state;
	expect_usage(cli_result("run", "-zq", "--kernel", "k", NULL), "unknown option '-z'");
	r = cli_result("run", "--kernel", "k2", "--cpus", "3", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->cfg.kernel, "k2");
	assert_int_equal(r->cfg.cpus, 3);
	assert_string_equal(r->err, "");
	cli_result_free(r);
}

static void test_help_version(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("--help", NULL);
	assert_int_equal(r->action, CLI_EXIT_OK);
	assert_string_equal(r->err, "");
	assert_non_null(strstr(r->out, "usage: kvmrun run --kernel FILE"));
	assert_non_null(strstr(r->out, "Exit status:"));
	for (unsigned int i = 0; i <= 7; i++) {
		char row[8];

		snprintf(row, sizeof(row), "\n  %u  ", i);
		if (!strstr(r->out, row))
			fail_msg("no exit status %u in --help", i);
	}
	assert_non_null(strstr(r->out, "130, 143"));
	/* The guest's own statuses are there only with the option, and said to be so. */
#ifdef __aarch64__
	assert_null(strstr(r->out, "--exit-port"));
	assert_non_null(strstr(r->out, "\n  --dtb-out FILE "));
#else
	assert_non_null(strstr(r->out, "\n  --exit-port "));
	assert_non_null(strstr(r->out, "\n  N    only with --exit-port: the guest wrote N"));
	assert_null(strstr(r->out, "--dtb-out"));
#endif
	cli_result_free(r);

	r = cli_result("-h", NULL);
	assert_int_equal(r->action, CLI_EXIT_OK);
	assert_non_null(strstr(r->out, "Exit status:"));
	cli_result_free(r);

	r = cli_result("run", "--kernel", "k", "--help", NULL);
	assert_int_equal(r->action, CLI_EXIT_OK);
	assert_non_null(strstr(r->out, "Exit status:"));
	assert_string_equal(r->err, "");
	cli_result_free(r);

	r = cli_result("--version", NULL);
	assert_int_equal(r->action, CLI_EXIT_OK);
	assert_string_equal(r->out, "kvmrun " KVMRUN_VERSION "\n");
	assert_string_equal(r->err, "");
	cli_result_free(r);

	r = cli_result("run", "--version", NULL);
	assert_int_equal(r->action, CLI_EXIT_OK);
	assert_string_equal(r->out, "kvmrun " KVMRUN_VERSION "\n");
	cli_result_free(r);
}

static void test_kernel_cmdline_virtio(void **state)
{
	char buf[CLI_CMDLINE_MAX];
	size_t len;
	char *big;

	(void)state;
	/* Early messages on the UART, then hvc0 as the only console. */
	assert_int_equal(cli_kernel_cmdline(CONSOLE_VIRTIO, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, CLI_EARLYCON_UART " console=hvc0 reboot=k panic=-1");
	assert_int_equal(cli_kernel_cmdline(CONSOLE_VIRTIO, "quiet", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "quiet " CLI_EARLYCON_UART " console=hvc0 reboot=k panic=-1");

	/* The user's console= wins, and then no earlycon is added either. */
	assert_int_equal(cli_kernel_cmdline(CONSOLE_VIRTIO, "console=ttyS0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "console=ttyS0 reboot=k panic=-1");
	/* The user's earlycon (with or without a value) is kept, console= still added. */
	assert_int_equal(cli_kernel_cmdline(CONSOLE_VIRTIO, "earlycon", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "earlycon console=hvc0 reboot=k panic=-1");
	assert_int_equal(cli_kernel_cmdline(CONSOLE_VIRTIO, "a earlycon=efifb b", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "a earlycon=efifb b console=hvc0 reboot=k panic=-1");
	/* Not an earlycon argument. */
	assert_int_equal(cli_kernel_cmdline(CONSOLE_VIRTIO, "noearlycon=1", buf, sizeof(buf)),
			 0);
	assert_string_equal(
		buf, "noearlycon=1 " CLI_EARLYCON_UART " console=hvc0 reboot=k panic=-1");

	/* Just fits, and one byte more does not. */
	big = malloc(CLI_CMDLINE_MAX);
	assert_non_null(big);
	memset(big, 'a', CLI_CMDLINE_MAX);
	len = CLI_CMDLINE_MAX - 1 -
	      strlen(" " CLI_EARLYCON_UART " console=hvc0 reboot=k panic=-1");
	big[len] = '\0';
	assert_int_equal(cli_kernel_cmdline(CONSOLE_VIRTIO, big, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), CLI_CMDLINE_MAX - 1);
	big[len] = 'a';
	big[len + 1] = '\0';
	assert_int_equal(cli_kernel_cmdline(CONSOLE_VIRTIO, big, buf, sizeof(buf)), -E2BIG);
	free(big);
}

static void test_kernel_cmdline(void **state)
{
	char buf[CLI_CMDLINE_MAX];
	char *big;

	(void)state;
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "console=ttyS0 reboot=k panic=-1");
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, "", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "console=ttyS0 reboot=k panic=-1");
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, "quiet", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "quiet console=ttyS0 reboot=k panic=-1");

	/* The user's own console= is kept and no other is added. */
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, "console=hvc0 quiet", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "console=hvc0 quiet reboot=k panic=-1");
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, "quiet console=hvc0", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "quiet console=hvc0 reboot=k panic=-1");
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, "panic=5 reboot=t", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "panic=5 reboot=t console=ttyS0");

	/* "xconsole=" or "earlyconsole=" are not console=. */
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, "xconsole=1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "xconsole=1 console=ttyS0 reboot=k panic=-1");
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, "xconsole=1 console=hvc0", buf,
					    sizeof(buf)),
			 0);
	assert_string_equal(buf, "xconsole=1 console=hvc0 reboot=k panic=-1");

	/* --console none still gives the kernel the UART (for --console-log). */
	assert_int_equal(cli_kernel_cmdline(CONSOLE_NONE, "quiet", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "quiet console=ttyS0 reboot=k panic=-1");

	/* Too long, for the buffer or with the additions. */
	big = malloc(CLI_CMDLINE_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', CLI_CMDLINE_MAX);
	big[CLI_CMDLINE_MAX] = '\0';
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, big, buf, sizeof(buf)), -E2BIG);
	big[CLI_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, big, buf, sizeof(buf)), -E2BIG);
	big[CLI_CMDLINE_MAX - 20] = '\0'; /* 4076 + 32 bytes of additions */
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, big, buf, sizeof(buf)), -E2BIG);
	/* Just fits. */
	memset(big, 'a', CLI_CMDLINE_MAX);
	big[CLI_CMDLINE_MAX - 1 - strlen(" console=ttyS0 reboot=k panic=-1")] = '\0';
	assert_int_equal(cli_kernel_cmdline(CONSOLE_SERIAL, big, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), CLI_CMDLINE_MAX - 1);

	/* And through cli_parse. */
	memset(big, 'a', CLI_CMDLINE_MAX);
	big[CLI_CMDLINE_MAX - 10] = '\0';
	expect_usage(cli_result("run", "--kernel", "k", "--append", big, NULL), "--append");
	free(big);
}

static void test_disk_option(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "k", "--disk", "/img/a.raw", "--disk",
		  "b.img,ro,serial=SER-123,cache=none", "--disk=c,cache=writeback,ro", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->err, "");
	assert_int_equal(r->cfg.nr_disks, 3);
	assert_string_equal(r->cfg.disks[0].path, "/img/a.raw");
	assert_false(r->cfg.disks[0].readonly);
	assert_false(r->cfg.disks[0].has_serial);
	assert_int_equal(r->cfg.disks[0].cache, DISK_CACHE_WRITEBACK);
	assert_string_equal(r->cfg.disks[1].path, "b.img");
	assert_true(r->cfg.disks[1].readonly);
	assert_true(r->cfg.disks[1].has_serial);
	assert_string_equal(r->cfg.disks[1].serial, "SER-123");
	assert_int_equal(r->cfg.disks[1].cache, DISK_CACHE_NONE);
	assert_string_equal(r->cfg.disks[2].path, "c");
	assert_true(r->cfg.disks[2].readonly);
	assert_int_equal(r->cfg.disks[2].cache, DISK_CACHE_WRITEBACK);
	cli_result_free(r);

	/* A 20-byte serial is the longest. */
	r = cli_result("run", "--kernel", "k", "--disk", "x,serial=ABCDEFGHIJ0123456789", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->cfg.disks[0].serial, "ABCDEFGHIJ0123456789");
	cli_result_free(r);

	r = cli_result("run", "--kernel", "k", NULL);
	assert_int_equal(r->cfg.nr_disks, 0);
	cli_result_free(r);
}

static void test_disk_bad(void **state)
{
	struct cli_result *r;

	(void)state;
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,cache=unsafe", NULL), "cache");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,cache=", NULL), "--disk");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,rw", NULL), "unknown option 'rw'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,", NULL), "--disk");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,ro,,", NULL), "--disk");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,RO", NULL), "--disk");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "", NULL), "no file name");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", ",ro", NULL), "no file name");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,serial=", NULL), "serial");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,serial=ABCDEFGHIJ0123456789X",
			   NULL),
		     "serial");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", NULL), "--disk");
	/* A control character in an argument does not break the one error line. */
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,x\ny", NULL), "unknown option 'x?y'");
	expect_usage(cli_result("run", "--kernel", "k", "\n--x", NULL), "'?--x'");

	/* At most 16 disks: the 17th is refused. */
#define D4 "--disk", "d", "--disk", "d", "--disk", "d", "--disk", "d"
	r = cli_result("run", "--kernel", "k", D4, D4, D4, D4, NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_int_equal(r->cfg.nr_disks, 16);
	cli_result_free(r);
	expect_usage(cli_result("run", "--kernel", "k", D4, D4, D4, D4, "--disk", "e", NULL),
		     "more than 16 disks");
#undef D4
}

/* snapshot and overlay-max=SIZE; what does not go with them is refused with one line. */
static void test_disk_snapshot_option(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "k", "--disk", "a,snapshot", "--disk",
		  "b,overlay-max=64M,snapshot,serial=S", "--disk", "c", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_true(r->cfg.disks[0].snapshot);
	assert_int_equal(r->cfg.disks[0].overlay_max, 0);
	assert_true(r->cfg.disks[1].snapshot);
	assert_int_equal(r->cfg.disks[1].overlay_max, 64 * MiB);
	assert_string_equal(r->cfg.disks[1].serial, "S");
	assert_false(r->cfg.disks[2].snapshot);
	cli_result_free(r);
	r = cli_result("run", "--kernel", "k", "--disk", "a,snapshot,overlay-max=512", NULL);
	assert_int_equal(r->cfg.disks[0].overlay_max, 512);
	cli_result_free(r);

	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,snapshot,overlay-max=0", NULL),
		     "overlay-max '0'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,snapshot,overlay-max=511", NULL),
		     "at least 512 bytes");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,snapshot,overlay-max=lots", NULL),
		     "overlay-max 'lots'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,snapshot,overlay-max=1Q", NULL),
		     "overlay-max '1Q'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,snapshot,overlay-max=", NULL),
		     "overlay-max ''");
	expect_usage(cli_result("run", "--kernel", "k", "--disk",
			   "a,snapshot,overlay-max=99999999999999999999G", NULL),
		     "overlay-max");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,overlay-max=1G", NULL),
		     "overlay-max= is for a snapshot disk");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,snapshot,ro", NULL),
		     "snapshot and ro together");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,ro,snapshot", NULL),
		     "snapshot and ro together");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,snapshot,cache=none", NULL),
		     "cache=none");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,snapshots", NULL),
		     "unknown option 'snapshots'");
}

static void test_net_option(void **state)
{
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "k", "--net", "tap=tap0", "--net",
		  "fd=7,mac=52:54:00:AB:cd:ef,mtu=9000", "--net=tap=abcdefghijklmno,mtu=68", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->err, "");
	assert_int_equal(r->cfg.nr_nets, 3);
	assert_string_equal(r->cfg.nets[0].ifname, "tap0");
	assert_int_equal(r->cfg.nets[0].fd, -1);
	assert_false(r->cfg.nets[0].has_mac);
	assert_int_equal(r->cfg.nets[0].mtu, 0);
	assert_string_equal(r->cfg.nets[1].ifname, "");
	assert_int_equal(r->cfg.nets[1].fd, 7);
	assert_true(r->cfg.nets[1].has_mac);
	assert_memory_equal(r->cfg.nets[1].mac, mac, 6);
	assert_int_equal(r->cfg.nets[1].mtu, 9000);
	assert_string_equal(r->cfg.nets[2].ifname, "abcdefghijklmno"); /* 15: the longest */
	assert_int_equal(r->cfg.nets[2].mtu, 68);
	cli_result_free(r);

	r = cli_result("run", "--kernel", "k", NULL);
	assert_int_equal(r->cfg.nr_nets, 0);
	cli_result_free(r);

	/* Up to 8. */
#define N4(a, b, c, d) "--net", "tap=t" a, "--net", "tap=t" b, "--net", "tap=t" c, "--net", "tap=t" d
	r = cli_result("run", "--kernel", "k", N4("1", "2", "3", "4"), N4("5", "6", "7", "8"), NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_int_equal(r->cfg.nr_nets, 8);
	cli_result_free(r);
	expect_usage(cli_result("run", "--kernel", "k", N4("1", "2", "3", "4"), N4("5", "6", "7", "8"),
			   "--net", "tap=t9", NULL),
		     "more than 8 network devices");
#undef N4
}

/* --disk iops=,bw= and --net bw=,pps= (and their bursts): per second, 1 to 2^50. */
static void test_limit_options(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "k", "--disk", "a,iops=500,bw=1M", "--disk",
		  "b,bw=100G,bw-burst=4MiB,iops-burst=7,ro", "--disk", "c", "--net",
		  "tap=t0,bw=10M,pps=1000,pps-burst=10", "--net", "fd=7,bw-burst=64K,bw=2K", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_int_equal(r->cfg.disks[0].iops.rate, 500);
	assert_int_equal(r->cfg.disks[0].iops.burst, 0);
	assert_int_equal(r->cfg.disks[0].bw.rate, 1 << 20);
	assert_int_equal(r->cfg.disks[1].bw.rate, 100ULL << 30);
	assert_int_equal(r->cfg.disks[1].bw.burst, 4 << 20);
	assert_int_equal(r->cfg.disks[1].iops.rate, 0);
	assert_int_equal(r->cfg.disks[1].iops.burst, 7);
	assert_true(r->cfg.disks[1].readonly);
	assert_int_equal(r->cfg.disks[2].iops.rate, 0);
	assert_int_equal(r->cfg.disks[2].bw.rate, 0);
	assert_int_equal(r->cfg.nets[0].bw.rate, 10 << 20);
	assert_int_equal(r->cfg.nets[0].pps.rate, 1000);
	assert_int_equal(r->cfg.nets[0].pps.burst, 10);
	assert_int_equal(r->cfg.nets[1].bw.rate, 2048);
	assert_int_equal(r->cfg.nets[1].bw.burst, 65536);
	assert_int_equal(r->cfg.nets[1].pps.rate, 0);
	cli_result_free(r);
	/* the largest: 2^50 */
	r = cli_result("run", "--kernel", "k", "--disk", "a,iops=1125899906842624,bw=1048576G", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_int_equal(r->cfg.disks[0].iops.rate, 1ULL << 50);
	assert_int_equal(r->cfg.disks[0].bw.rate, 1ULL << 50);
	cli_result_free(r);
}

static void test_limit_bad(void **state)
{
	(void)state;
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,iops=0", NULL),
		     "--disk 'a,iops=0': iops '0': expected a number from 1 to 2^50");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,bw=garbage", NULL),
		     "--disk 'a,bw=garbage': bw 'garbage': expected a size (K, M, G) from 1 to 2^50");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,bw=-1M", NULL), "bw '-1M'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,iops=-5", NULL), "iops '-5'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,iops=", NULL), "iops ''");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,iops=10k", NULL), "iops '10k'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,iops=1.5", NULL), "iops '1.5'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,bw=0", NULL), "bw '0'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,bw-burst=0", NULL),
		     "bw-burst '0'");
	/* overflow: of 64 bits, of the size's multiplication, and past 2^50 */
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,iops=99999999999999999999", NULL),
		     "iops '99999999999999999999'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,bw=17179869184G", NULL),
		     "bw '17179869184G'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,iops=1125899906842625", NULL),
		     "iops '1125899906842625'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,bw=1048577G", NULL),
		     "bw '1048577G'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,iopsx=5", NULL),
		     "unknown option 'iopsx=5'");
	expect_usage(cli_result("run", "--kernel", "k", "--disk", "a,pps=5", NULL),
		     "unknown option 'pps=5'");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=t0,pps=0", NULL),
		     "--net 'tap=t0,pps=0': pps '0': expected a number from 1 to 2^50");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=t0,bw=1X", NULL),
		     "--net 'tap=t0,bw=1X': bw '1X': expected a size (K, M, G) from 1 to 2^50");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "fd=9,pps-burst=-1", NULL),
		     "pps-burst '-1'");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=t0,iops=5", NULL),
		     "unknown option 'iops=5'");
}

static void test_net_bad(void **state)
{
	(void)state;
	expect_usage(cli_result("run", "--kernel", "k", "--net", NULL), "--net");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "", NULL), "expected tap=NAME or fd=N");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap0", NULL),
		     "expected tap=NAME or fd=N");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "mac=02:00:00:00:00:01,tap=a", NULL),
		     "expected tap=NAME or fd=N");
	/* Interface names. */
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=", NULL), "no interface name");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=,mtu=1500", NULL),
		     "no interface name");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=abcdefghijklmnop", NULL),
		     "longer than 15");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a/b", NULL), "'/'");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a b", NULL), "'/'");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a:1", NULL), "'/'");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=..", NULL), "'..'");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a\nb", NULL), "--net");
	/* Descriptors. */
	expect_usage(cli_result("run", "--kernel", "k", "--net", "fd=", NULL), "descriptor number");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "fd=x", NULL), "descriptor number");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "fd=-3", NULL), "descriptor number");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "fd=3x", NULL), "descriptor number");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "fd=99999999999", NULL),
		     "descriptor number");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "fd=2", NULL), "terminal");
	/* MAC addresses. */
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mac=01:00:5e:00:00:01", NULL),
		     "mac '01:00:5e:00:00:01'");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mac=00:00:00:00:00:00", NULL),
		     "mac");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mac=02:00:00:00:00", NULL),
		     "mac");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mac=02:00:00:00:00:01:02",
			   NULL),
		     "mac");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mac=02-00-00-00-00-01", NULL),
		     "mac");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mac=2:0:0:0:0:1", NULL), "mac");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mac=0g:00:00:00:00:01", NULL),
		     "mac");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mac=", NULL), "mac");
	/* MTU. */
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mtu=67", NULL), "68 to 65535");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mtu=65536", NULL),
		     "68 to 65535");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mtu=", NULL), "mtu");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mtu=1500k", NULL), "mtu");
	/* Unknown options, and the same tap or MAC twice. */
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,vhost=on", NULL),
		     "unknown option 'vhost=on'");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,", NULL), "unknown option");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a", "--net", "tap=a", NULL),
		     "same tap");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "fd=5", "--net", "fd=5", NULL),
		     "same tap");
	expect_usage(cli_result("run", "--kernel", "k", "--net", "tap=a,mac=02:00:00:00:00:01", "--net",
			   "tap=b,mac=02:00:00:00:00:01", NULL),
		     "same MAC");
}

static void test_parse_mac(void **state)
{
	uint8_t mac[6];

	(void)state;
	assert_int_equal(cli_parse_mac("02:00:5E:10:00:FF", mac), 0);
	assert_int_equal(mac[0], 0x02);
	assert_int_equal(mac[5], 0xff);
	assert_int_equal(cli_parse_mac("ff:ff:ff:ff:ff:ff", mac), -EINVAL);
	assert_int_equal(cli_parse_mac("", mac), -EINVAL);
	assert_int_equal(cli_parse_mac("02:00:00:00:00:0", mac), -EINVAL);
	assert_int_equal(cli_parse_mac("02:00:00:00:00:00 ", mac), -EINVAL);
}

/* --console-log FILE[,max=SIZE]: only a last ",max=" is the option. */
static void test_console_log_option(void **state)
{
	struct cli_result *r;

	(void)state;
	r = cli_result("run", "--kernel", "k", "--console-log", "/tmp/a,b.log,max=1M", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->cfg.console_log, "/tmp/a,b.log");
	assert_int_equal(r->cfg.console_log_max, 1 * MiB);
	cli_result_free(r);
	r = cli_result("run", "--kernel", "k", "--console-log", "log,max=4096", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->cfg.console_log, "log");
	assert_int_equal(r->cfg.console_log_max, 4096);
	cli_result_free(r);
	r = cli_result("run", "--kernel", "k", "--console-log", "x,ro", NULL);
	assert_int_equal(r->action, CLI_RUN);
	assert_string_equal(r->cfg.console_log, "x,ro");
	assert_int_equal(r->cfg.console_log_max, VM_CONSOLE_LOG_MAX);
	cli_result_free(r);
	expect_usage(cli_result("run", "--kernel", "k", "--console-log", "x,max=0", NULL),
		     "--console-log");
	expect_usage(cli_result("run", "--kernel", "k", "--console-log", "x,max=lots", NULL),
		     "--console-log");
	expect_usage(cli_result("run", "--kernel", "k", "--console-log", "x,max=", NULL),
		     "--console-log");
	expect_usage(cli_result("run", "--kernel", "k", "--console-log", ",max=1M", NULL),
		     "--console-log");
	expect_usage(cli_result("run", "--kernel", "k", "--console-log", "", NULL), "--console-log");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_full),
		cmocka_unit_test(test_dtb_out),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_memory_sizes),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_bad_memory),
		cmocka_unit_test(test_bad_cpus),
		cmocka_unit_test(test_bad_other),
		cmocka_unit_test(test_reparse_after_error),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_kernel_cmdline),
		cmocka_unit_test(test_kernel_cmdline_virtio),
		cmocka_unit_test(test_disk_option),
		cmocka_unit_test(test_disk_bad),
		cmocka_unit_test(test_disk_snapshot_option),
		cmocka_unit_test(test_net_option),
		cmocka_unit_test(test_net_bad),
		cmocka_unit_test(test_limit_options),
		cmocka_unit_test(test_limit_bad),
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_console_log_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
