/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of a --share: a virtiofsd that kvmrun starts for one directory, on
 * one end of a socketpair (--fd=N; no socket file anywhere), or a daemon someone
 * else started, reached through socket=PATH. A daemon kvmrun starts dies with it
 * (PR_SET_PDEATHSIG, SIGKILL of kvmrun included) and is reaped by fs_daemon_stop.
 * With ro, the daemon serves a read-only bind mount of the directory in a mount
 * namespace of its own, so the host kernel refuses every write whatever the guest
 * mounts.
 *
 * Where virtiofsd is looked for: virtiofsd=PATH, else $KVMRUN_VIRTIOFSD, else
 * /usr/libexec/virtiofsd (the virtiofsd package), /usr/lib/qemu/virtiofsd (Debian
 * 12's qemu-system-common), then virtiofsd on $PATH.
 */
#ifndef KVMRUN_DEVICES_BACKEND_VIRTIOFSD_H
#define KVMRUN_DEVICES_BACKEND_VIRTIOFSD_H

#include <stddef.h>
#include "kvmrun/compiler.h"
#include "kvmrun/config.h"

struct fs_daemon;

/*
 * Start (or, with cfg->socket, connect to) the daemon for cfg. *sock_fd gets the
 * connected vhost-user socket (the caller owns it). On error returns the exit status
 * to use (KVMRUN_ERR_INPUT, KVMRUN_ERR_USAGE or KVMRUN_ERR_INTERNAL) with one line in
 * err naming the option and the cause (a missing virtiofsd names the package).
 */
int fs_daemon_start(struct fs_daemon **out, const struct share_config *cfg, int *sock_fd,
		    char *err, size_t errlen) WARN_UNUSED;
/*
 * After the daemon failed to answer: if it has exited, one line saying so with the
 * last line it wrote on stderr, into err; returns whether it had exited.
 */
int fs_daemon_exited(struct fs_daemon *d, char *err, size_t errlen);
/* End the daemon (SIGTERM, then SIGKILL after a bounded wait) and reap it. NULL is fine. */
void fs_daemon_stop(struct fs_daemon *d);

#endif
