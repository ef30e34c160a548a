/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_CLI_H
#define KVMRUN_CLI_H

#include <stddef.h>
#include <stdio.h>
#include "kvmrun/config.h"

enum cli_action { CLI_RUN, CLI_EXIT_OK, CLI_EXIT_USAGE, CLI_EXEC };

#define CLI_MIN_MEMORY (32ULL * MiB)
#define CLI_MAX_MEMORY (1ULL << 46)
#define CLI_CMDLINE_MAX 4096
/* --console virtio: the UART's early console (a port on x86-64, MMIO on arm64). */
#ifdef __aarch64__
#define CLI_EARLYCON_UART "earlycon=uart8250,mmio,0x9000000"
#else
#define CLI_EARLYCON_UART "earlycon=uart8250,io,0x3f8"
#endif

/*
 * Fills cfg from argv. cmdline_buf holds the final kernel command line
 * (cfg->append points into it). Help and version go to out, errors (one
 * line) to err.
 */
enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, char *cmdline_buf,
			  size_t cmdline_size, FILE *out, FILE *err);

/*
 * The same for both commands: `run` gives CLI_RUN (ec left disabled), `exec`
 * CLI_EXEC with ec filled, its PROGRAM and arguments pointing into argv. With
 * exec, ec->enabled is set before any error is found (exec's usage errors are
 * status 125), and cfg->append holds only the user's --append (the exec layer
 * composes the command line; cmdline_buf is left alone).
 */
enum cli_action cli_parse_cmd(int argc, char **argv, struct vm_config *cfg, struct exec_config *ec,
			      char *cmdline_buf, size_t cmdline_size, FILE *out, FILE *err);

/* The options of exec that run does not take (getopt values, cli_exec.c). */
enum cli_exec_opt {
	CLI_OPT_TIMEOUT = 512,
	CLI_OPT_REPORT,
	CLI_OPT_ENV,
	CLI_OPT_WORKDIR,
	CLI_OPT_USER,
	CLI_OPT_TTY = 't',
	CLI_OPT_ROOT = 520,
	CLI_OPT_MODULES,
};

/* --jail, --cgroup, --limit: options of both commands (cli_jail.c). */
enum cli_jail_opt {
	CLI_OPT_JAIL = 600,
	CLI_OPT_CGROUP,
	CLI_OPT_LIMIT,
};

/* One of them: 0, or CLI_EXIT_USAGE after one line on err. */
int cli_jail_option(struct vm_config *cfg, int opt, const char *val, FILE *err);
/* After all options: --limit takes --cgroup. 0 or CLI_EXIT_USAGE after one line. */
int cli_jail_finish(const struct vm_config *cfg, FILE *err);
/* "2", "0.5", "1.25" CPUs (0.01 to 4096, three decimals at most) in thousandths; -EINVAL. */
int cli_parse_cpus_milli(const char *s, uint32_t *milli);

extern const char cli_exec_usage[];

/* One of exec's own options: 0, or CLI_EXIT_USAGE after one line on err. */
int cli_exec_option(struct exec_config *ec, int opt, const char *val, FILE *err);

/* Checks exec's whole command once the options are read; PROGRAM is argv[0]. */
int cli_exec_finish(struct exec_config *ec, const struct vm_config *cfg, int argc, char **argv,
		    FILE *err);

/* "30s", "5m", "1h", "2d", "500ms", "10" (seconds): ms, from 1 ms to 30 days; -EINVAL/-ERANGE. */
int cli_parse_duration(const char *s, uint64_t *ms);

/* "UID" (GID the same) or "UID:GID", each below 2^32 - 1; -EINVAL otherwise. */
int cli_parse_user(const char *s, uint32_t *uid, uint32_t *gid);

/* "512M", "2G", "1048576": bytes; -EINVAL on anything else or on overflow. */
int cli_parse_size(const char *s, uint64_t *out);
/* The decimal number s starts with (a digit first), *end after it; 0 or -EINVAL. */
int cli_leading_number(const char *s, unsigned long long *v, char **end);

/* "52:54:00:12:34:56": a unicast, non-zero MAC address; -EINVAL otherwise. */
int cli_parse_mac(const char *s, uint8_t mac[6]);

/*
 * One error line on err: "kvmrun: error: " and fmt with its two %s, a and b, their
 * control characters shown as '?'. Returns CLI_EXIT_USAGE.
 */
int cli_fail(FILE *err, const char *fmt, const char *a, const char *b)
    __attribute__((format(printf, 2, 0), nonnull(1, 2)));
/* The same as "kvmrun: error: OPT 'VAL': WHY". */
int cli_opt_fail(FILE *err, const char *opt, const char *val, const char *why);

/*
 * The device options (cli_device.c): each parses one option's value into its
 * config, or checks it against the ones before; 0, or CLI_EXIT_USAGE after one
 * line on err.
 */
int cli_parse_disk(const char *arg, struct disk_config *dc, FILE *err);
int cli_parse_net(const char *arg, struct net_config *nc, FILE *err);
int cli_net_duplicate(const struct vm_config *cfg, const char *arg, FILE *err);
int cli_parse_share(const char *arg, struct share_config *sc, FILE *err);
int cli_share_duplicate(const struct vm_config *cfg, const char *arg, FILE *err);
int cli_parse_console_log(char *arg, struct vm_config *cfg, FILE *err);

/*
 * The user's --append plus the arguments the machine needs that it does not
 * set: console= for the console mode (with earlycon= on the UART for
 * CONSOLE_VIRTIO), reboot=k, panic=-1. -E2BIG when it does not fit in size.
 */
int cli_kernel_cmdline(enum console_mode console, const char *append, char *buf, size_t size);

#endif
