/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_CLI_H
#define KVMRUN_CLI_H

#include <stddef.h>
#include <stdio.h>
#include "kvmrun/config.h"

enum cli_action { CLI_RUN, CLI_EXIT_OK, CLI_EXIT_USAGE };

#define CLI_MIN_MEMORY (32ULL * MiB)
#define CLI_MAX_MEMORY (1ULL << 46)
#define CLI_CMDLINE_MAX 4096

/*
 * Fills cfg from argv. cmdline_buf holds the final kernel command line
 * (cfg->append points into it). Help and version go to out, errors (one
 * line) to err.
 */
enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, char *cmdline_buf,
			  size_t cmdline_size, FILE *out, FILE *err);

/* "512M", "2G", "1048576": bytes; -EINVAL on anything else or on overflow. */
int cli_parse_size(const char *s, uint64_t *out);

/* "52:54:00:12:34:56": a unicast, non-zero MAC address; -EINVAL otherwise. */
int cli_parse_mac(const char *s, uint8_t mac[6]);

/*
 * The user's --append plus the arguments the machine needs that it does not
 * set: console= for the console mode (with earlycon= on the UART for
 * CONSOLE_VIRTIO), reboot=k, panic=-1. -E2BIG when it does not fit in size.
 */
int cli_kernel_cmdline(enum console_mode console, const char *append, char *buf, size_t size);

#endif
