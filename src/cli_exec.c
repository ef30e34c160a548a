// SPDX-License-Identifier: Apache-2.0
/* The options of kvmrun exec that run does not have, and their values. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvmrun/agent_proto.h"

const char cli_exec_usage[] =
    "usage: kvmrun exec [options] -- PROGRAM [ARG...]\n"
    "\n"
    "Boots a Linux VM on the host's root (read-only, with a tmpfs overlay), runs\n"
    "PROGRAM in it with kvmrun's stdin, stdout and stderr, and exits with its status.\n"
    "The options of run apply (but --initrd and --console: the initramfs is kvmrun's,\n"
    "the terminal PROGRAM's), and:\n"
    "\n"
    "  --kernel FILE        the guest kernel (default /boot/vmlinuz-RELEASE, RELEASE\n"
    "                       the host's uname -r)\n"
    "  --modules DIR        its modules (default /lib/modules/RELEASE, RELEASE from\n"
    "                       the kernel: a bzImage's header, an arm64 Image's banner)\n"
    "  --root DIR|IMAGE     the guest's root: a directory shared read-only (default /)\n"
    "                       under a tmpfs overlay, or an ext4 image (a file or block\n"
    "                       device) as a snapshot disk: writable in the guest,\n"
    "                       never written on the host\n"
    "  --timeout DURATION   stop the VM after DURATION (e.g. 30s, 5m, 1h; a number\n"
    "                       alone is seconds; up to 30 days): status 124\n"
    "  --report FILE        write a JSON account of the run to FILE\n"
    "  --env NAME=VALUE     set a variable for PROGRAM (repeatable, up to 256); the\n"
    "                       default environment is PATH, HOME=/root, TERM with -t\n"
    "  --workdir DIR        PROGRAM's working directory (absolute; default /)\n"
    "  --user UID[:GID]     run PROGRAM as UID and GID (default GID: UID; default\n"
    "                       user root)\n"
    "  -t, --tty            PROGRAM gets a pseudo-terminal\n"
    "  --jail on|off        kvmrun confines itself before the guest runs (default\n"
    "                       on; kvmrun run --help says how); --cgroup DIR and\n"
    "                       --limit memory=SIZE,cpus=N,pids=N as in run\n"
    "\n"
    "SIGINT, SIGTERM and SIGHUP to kvmrun go on to PROGRAM (its process group),\n"
    "whose status is then kvmrun's; a second one of a kind, or PROGRAM still\n"
    "running 10 s after the first, stops the VM (status 128+N).\n"
    "\n"
    "Exit status:\n"
    "  N    PROGRAM's exit status; 128+N when signal N killed it\n"
    "  124  --timeout expired\n"
    "  125  kvmrun failed: bad option, kernel missing, the VM failed (guest kernel\n"
    "       panic, triple fault), the agent in the guest was lost or not ready,\n"
    "       the host refused the jail, --cgroup or --limit\n"
    "  126  PROGRAM cannot be run\n"
    "  127  PROGRAM not found\n";

int cli_parse_duration(const char *s, uint64_t *ms)
{
	unsigned long long v;
	uint64_t mult = 1000;
	char *end;

	if (cli_leading_number(s, &v, &end))
		return -EINVAL;
	if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "s") || !*end)
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60 * 1000;
	else if (!strcmp(end, "h"))
		mult = 3600 * 1000;
	else if (!strcmp(end, "d"))
		mult = 86400 * 1000;
	else
		return -EINVAL;
	if (__builtin_mul_overflow((uint64_t)v, mult, ms))
		return -ERANGE;
	if (*ms == 0 || *ms > EXEC_TIMEOUT_MAX_MS)
		return -ERANGE;
	return 0;
}

/* A decimal id below 2^32 - 1 (which means "no change" to setuid and setgid). */
static int cli_parse_id(const char *s, size_t len, uint32_t *id)
{
	unsigned long long v = 0;

	if (len == 0 || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

int cli_parse_user(const char *s, uint32_t *uid, uint32_t *gid)
{
	const char *colon = strchr(s, ':');

	if (!colon)
		return cli_parse_id(s, strlen(s), uid) ?: cli_parse_id(s, strlen(s), gid);
	return cli_parse_id(s, (size_t)(colon - s), uid)
		   ?: cli_parse_id(colon + 1, strlen(colon + 1), gid);
}

/* NAME=VALUE with a NAME of letters, digits and '_', not starting with a digit. */
static bool cli_env_valid(const char *s)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s || isdigit((unsigned char)s[0]))
		return false;
	for (const char *p = s; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

/* One exec option (the value is optarg); 0, or CLI_EXIT_USAGE after one line on err. */
int cli_exec_option(struct exec_config *ec, int opt, const char *val, FILE *err)
{
	switch (opt) {
	case CLI_OPT_TIMEOUT:
		if (cli_parse_duration(val, &ec->timeout_ms))
			return cli_opt_fail(err, "--timeout", val,
					    "expected a duration from 1ms to 30d (e.g. 30s, 5m, "
					    "1h)");
		return 0;
	case CLI_OPT_REPORT:
		if (!*val)
			return cli_opt_fail(err, "--report", val, "no file name");
		ec->report = val;
		return 0;
	case CLI_OPT_ENV:
		if (ec->nr_env >= EXEC_ENV_MAX)
			return cli_opt_fail(err, "--env", val, "more than 256 variables");
		if (!cli_env_valid(val))
			return cli_opt_fail(err, "--env", val,
					    "expected NAME=VALUE, NAME of letters, digits and "
					    "'_'");
		ec->env[ec->nr_env++] = val;
		return 0;
	case CLI_OPT_WORKDIR:
		if (val[0] != '/')
			return cli_opt_fail(err, "--workdir", val, "not an absolute path");
		if (strlen(val) >= AGENT_WORKDIR_MAX)
			return cli_opt_fail(err, "--workdir", val, "longer than 4095 bytes");
		ec->workdir = val;
		return 0;
	case CLI_OPT_USER:
		if (cli_parse_user(val, &ec->uid, &ec->gid))
			return cli_opt_fail(err, "--user", val,
					    "expected UID or UID:GID, numbers below 4294967295");
		ec->has_user = true;
		return 0;
	case CLI_OPT_TTY:
		ec->tty = true;
		return 0;
	case CLI_OPT_ROOT:
		if (!*val)
			return cli_opt_fail(err, "--root", val, "no directory or image name");
		if (strlen(val) >= DISK_PATH_MAX)
			return cli_opt_fail(err, "--root", val, "name too long");
		ec->root = val;
		return 0;
	case CLI_OPT_MODULES:
		if (!*val)
			return cli_opt_fail(err, "--modules", val, "no directory name");
		ec->modules = val;
		return 0;
	}
	return cli_opt_fail(err, "option", val, "not an exec option");
}

int cli_exec_finish(struct exec_config *ec, const struct vm_config *cfg, int argc, char **argv,
		    FILE *err)
{
	size_t total = AGENT_START_FIXED;

	if (argc < 1 || !argv[0][0]) {
		fprintf(err, "kvmrun: error: no PROGRAM given (kvmrun exec [options] -- PROGRAM "
			     "[ARG...])\n");
		return CLI_EXIT_USAGE;
	}
	if (cfg->initrd) {
		fprintf(err, "kvmrun: error: --initrd is not for exec: kvmrun writes its own\n");
		return CLI_EXIT_USAGE;
	}
	if (argc > AGENT_ARGC_MAX) {
		fprintf(err, "kvmrun: error: PROGRAM has more than %d arguments\n",
			AGENT_ARGC_MAX - 1);
		return CLI_EXIT_USAGE;
	}
	ec->argc = argc;
	ec->argv = argv;
	for (int i = 0; i < argc; i++)
		total += strlen(argv[i]) + 1;
	for (unsigned int i = 0; i < ec->nr_env; i++)
		total += strlen(ec->env[i]) + 1;
	total += (ec->workdir ? strlen(ec->workdir) : 0) + 1;
	if (total > EXEC_START_MAX) {
		fprintf(err,
			"kvmrun: error: PROGRAM's arguments, --env and --workdir take %zu "
			"bytes, more than %u\n",
			total, EXEC_START_MAX);
		return CLI_EXIT_USAGE;
	}
	return 0;
}
