/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of a --share: a virtiofsd that kvmrun starts for one directory, or a
 * daemon someone else started, reached through socket=PATH. virtiofsd's --fd=N takes
 * a listening socket and accepts one connection: kvmrun makes it, connects to it and
 * removes its name before the daemon runs, so no other user can connect in between
 * and no socket file is left anywhere. A daemon kvmrun starts dies with the thread
 * that started it (PR_SET_PDEATHSIG with SIGKILL, SIGKILL of kvmrun included: start
 * it from the main thread) and is reaped by fs_daemon_stop. It starts with stdin on
 * /dev/null, no signal blocked or ignored, only its socket open besides stdio; its
 * stdout and stderr go to a pipe that never blocks it (lines past the pipe's room
 * are dropped), read by fs_daemon_exited and fs_daemon_stop into kvmrun's log at
 * debug level, the last line kept.
 *
 * Its arguments: --fd=3 -o source=DIR (DIR resolved) -o sandbox=namespace|chroot
 * (chroot when kvmrun itself runs chrooted or its root is the initramfs, where
 * pivot_root fails) -o cache=auto.
 * With ro, the daemon serves a read-only bind mount of the directory (with every
 * mount below it) in a mount namespace of its own, so the host kernel refuses every
 * write (EROFS) whatever the guest mounts; this needs CAP_SYS_ADMIN.
 *
 * Where virtiofsd is looked for: virtiofsd=PATH, else $KVMRUN_VIRTIOFSD, else
 * /usr/libexec/virtiofsd (the virtiofsd package), /usr/lib/qemu/virtiofsd (Debian
 * 12's qemu-system-common), then virtiofsd on $PATH.
 *
 * System calls: fs_daemon_exited needs wait4 and read, fs_daemon_stop also kill
 * (and nanosleep, close); both may run under the event loop's seccomp filter.
 */
#ifndef KVMRUN_DEVICES_BACKEND_VIRTIOFSD_H
#define KVMRUN_DEVICES_BACKEND_VIRTIOFSD_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <sys/types.h>
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
 * After the daemon failed to answer: if it has exited (waiting up to a second for
 * that), one line saying so, with its exit status or signal and the last line it
 * wrote on stderr, into err; returns whether it had exited. Always 0 for socket=.
 */
int fs_daemon_exited(struct fs_daemon *d, char *err, size_t errlen);
/* The daemon's pid, or -1 for socket= (and NULL): the process fs_daemon_stop ends. */
pid_t fs_daemon_pid(const struct fs_daemon *d);
/*
 * End the daemon (SIGTERM, then SIGKILL after 2 s) and reap it; with socket=, only
 * forget it (the connection stays the caller's). NULL is fine. Whether the daemon's
 * CPU time is known (kvmrun started and reaped it), and it in *cpu (if not NULL).
 */
struct daemon_cpu;
bool fs_daemon_stop(struct fs_daemon *d, struct daemon_cpu *cpu);

/*
 * Whether the topmost mount on "/" in f (a /proc/PID/mountinfo) is of type rootfs:
 * the initramfs, never switched away from, where virtiofsd's pivot_root fails.
 */
bool fs_mountinfo_root_is_rootfs(FILE *f);

#endif
