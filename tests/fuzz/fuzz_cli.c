// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the command line: the input is a list of arguments
 * separated by NUL bytes, appended to "kvmrun run --kernel k". Whatever the
 * user types, cli_parse() must end in a defined action, write at most one
 * error line, and leave a configuration whose strings are terminated and
 * within their limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_target.h"

#define MAX_ARGS 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char cmdline[CLI_CMDLINE_MAX];
	static struct vm_config cfg;
	char *argv[MAX_ARGS + 1] = {"kvmrun", "run", "--kernel", "k"};
	int argc = 4;
	char *buf, *p, *end, *errs = NULL;
	size_t errs_len = 0;
	enum cli_action action;
	FILE *out, *err;

	buf = malloc(size + 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (p = buf, end = buf + size; p <= end && argc < MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	out = fopen("/dev/null", "w");
	err = open_memstream(&errs, &errs_len);
	if (!out || !err)
		abort();
	action = cli_parse(argc, argv, &cfg, cmdline, sizeof(cmdline), out, err);
	fclose(out);
	fclose(err);
	if (action == CLI_EXIT_USAGE) {
		char *nl = strchr(errs, '\n');

		if (!nl || nl[1] != '\0')
			abort(); /* exactly one line */
	} else if (action == CLI_RUN) {
		if (errs_len || cfg.nr_disks > VM_MAX_DISKS)
			abort();
		for (unsigned int i = 0; i < cfg.nr_disks; i++) {
			const struct disk_config *d = &cfg.disks[i];

			if (!d->path[0] || strnlen(d->path, sizeof(d->path)) == sizeof(d->path) ||
			    strchr(d->path, ','))
				abort();
			if (strnlen(d->serial, sizeof(d->serial)) > DISK_SERIAL_MAX ||
			    (d->has_serial && !d->serial[0]))
				abort();
		}
	} else if (action != CLI_EXIT_OK) {
		abort();
	}
	free(errs);
	free(buf);
	return 0;
}
