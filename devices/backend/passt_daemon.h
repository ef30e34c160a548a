/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The passt process of a --net user: started on one end of a SOCK_STREAM socket
 * pair (the other end is the backend's, passt.h), in the foreground, quiet,
 * with the guest's address, prefix, gateway, DNS (queries to it forwarded to
 * the host's resolver) and MTU, and one -t/-u per hostfwd. It dies with kvmrun
 * and is reaped at exit (daemon.h); it also ends by itself once its socket
 * closes. Which passt: $KVMRUN_PASST, else /usr/bin/passt, else passt on $PATH.
 */
#ifndef KVMRUN_DEVICES_BACKEND_PASST_DAEMON_H
#define KVMRUN_DEVICES_BACKEND_PASST_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kvmrun/compiler.h"
#include "kvmrun/config.h"

#define PASST_ARGV_MAX (24 + 2 * NET_HOSTFWD_MAX)
#define PASST_ARG_LEN 48

/* passt's command line for cfg (argv[0] is path), NULL-terminated. */
struct passt_argv {
	char *argv[PASST_ARGV_MAX];
	char str[PASST_ARGV_MAX][PASST_ARG_LEN];
};
void passt_build_argv(struct passt_argv *a, const char *path, const struct net_config *cfg);

struct passt_daemon;

/*
 * Start passt for cfg (the index-th --net); *sock_fd gets kvmrun's end of the
 * socket pair. On error returns the exit status to use (KVMRUN_ERR_INPUT: passt
 * missing or failing to start, named with the way to install it;
 * KVMRUN_ERR_INTERNAL) with one line in err.
 */
int passt_daemon_start(struct passt_daemon **out, const struct net_config *cfg,
		       unsigned int index, int *sock_fd, char *err, size_t errlen) WARN_UNUSED;
/* After a failure: whether passt has exited, with one line saying how in err. */
int passt_daemon_exited(struct passt_daemon *d, char *err, size_t errlen);
pid_t passt_daemon_pid(const struct passt_daemon *d);
/*
 * End passt (SIGTERM, then SIGKILL) and reap it; NULL is fine. Whether its CPU time
 * is known (it was reaped here), and it in *cpu (if not NULL).
 */
struct daemon_cpu;
bool passt_daemon_stop(struct passt_daemon *d, struct daemon_cpu *cpu);

#endif
