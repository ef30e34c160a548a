// SPDX-License-Identifier: Apache-2.0
/* --jail on|off, --cgroup DIR, --limit memory=SIZE,cpus=N,pids=N (both commands). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_parse_cpus_milli(const char *s, uint32_t *milli)
{
	unsigned long long whole, frac = 0;
	unsigned int digits = 0;
	char *end;

	if (cli_leading_number(s, &whole, &end) || whole > JAIL_CPUS_MAX)
		return -EINVAL;
	if (*end == '.') {
		for (end++; isdigit((unsigned char)*end) && digits < 3; end++, digits++)
			frac = frac * 10 + (unsigned long long)(*end - '0');
		if (!digits)
			return -EINVAL;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (*end)
		return -EINVAL;
	whole = whole * 1000 + frac;
	/* cpu.max takes a quota of 1 ms per 100 ms at least */
	if (whole < 10 || whole > JAIL_CPUS_MAX * 1000ULL)
		return -EINVAL;
	*milli = (uint32_t)whole;
	return 0;
}

static int cli_parse_limit(const char *arg, struct jail_config *jc, FILE *err)
{
	char *copy = strdup(arg), *rest = copy, *item;
	unsigned long long n;
	int ret = 0;

	if (!copy)
		return cli_opt_fail(err, "--limit", arg, "out of memory");
	if (!*copy)
		ret = cli_opt_fail(err, "--limit", arg, "expected memory=SIZE,cpus=N,pids=N");
	while (!ret && (item = strsep(&rest, ","))) {
		char *end;

		if (!strncmp(item, "memory=", 7)) {
			if (cli_parse_size(item + 7, &jc->memory_max) ||
			    jc->memory_max < JAIL_MEMORY_MIN)
				ret = cli_opt_fail(err, "--limit", arg,
						   "memory= wants a size of 16M or more");
		} else if (!strncmp(item, "cpus=", 5)) {
			if (cli_parse_cpus_milli(item + 5, &jc->cpu_milli))
				ret = cli_opt_fail(err, "--limit", arg,
						   "cpus= wants a number from 0.01 to 4096");
		} else if (!strncmp(item, "pids=", 5)) {
			if (cli_leading_number(item + 5, &n, &end) || *end || !n ||
			    n > JAIL_PIDS_MAX)
				ret = cli_opt_fail(err, "--limit", arg,
						   "pids= wants a number from 1 to 4194304");
			else
				jc->pids_max = (uint32_t)n;
		} else {
			ret = cli_opt_fail(err, "--limit", arg,
					   "expected memory=SIZE, cpus=N or pids=N");
		}
	}
	free(copy);
	return ret;
}

int cli_jail_option(struct vm_config *cfg, int opt, const char *val, FILE *err)
{
	struct jail_config *jc = &cfg->jail;

	switch (opt) {
	case CLI_OPT_JAIL:
		if (strcmp(val, "on") && strcmp(val, "off"))
			return cli_opt_fail(err, "--jail", val, "expected on or off");
		jc->on = !strcmp(val, "on");
		return 0;
	case CLI_OPT_CGROUP:
		if (!*val)
			return cli_opt_fail(err, "--cgroup", val, "expected a cgroup v2 directory");
		jc->cgroup = val;
		return 0;
	case CLI_OPT_LIMIT:
		return cli_parse_limit(val, jc, err);
	}
	return CLI_EXIT_USAGE;
}

int cli_jail_finish(const struct vm_config *cfg, FILE *err)
{
	const struct jail_config *jc = &cfg->jail;

	if ((jc->memory_max || jc->cpu_milli || jc->pids_max) && !jc->cgroup) {
		fprintf(err, "kvmrun: error: --limit needs --cgroup DIR (a delegated cgroup v2 "
			     "directory)\n");
		return CLI_EXIT_USAGE;
	}
	return 0;
}
