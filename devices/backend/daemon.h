/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helper processes kvmrun starts (virtiofsd, passt): forked from the main
 * thread, they die with it (PR_SET_PDEATHSIG with SIGKILL, also when kvmrun
 * died before the child got there) and are reaped by daemon_stop. A child
 * starts with stdin on /dev/null, no signal blocked or ignored, only its
 * socket (as descriptor 3) open besides stdio; its stdout and stderr go to a
 * pipe that never blocks it (lines past the pipe's room are dropped), read by
 * daemon_exited and daemon_stop into kvmrun's log at debug level, the last
 * line kept for messages.
 *
 * System calls: daemon_exited needs wait4 and read, daemon_stop also kill
 * (and nanosleep, close); both may run under the event loop's seccomp filter.
 * The child is reaped with wait4, which gives its CPU time (and that of the
 * children it reaped itself) without reading /proc: passt makes itself
 * undumpable, which hides its /proc entries' details from kvmrun.
 */
#ifndef KVMRUN_DEVICES_BACKEND_DAEMON_H
#define KVMRUN_DEVICES_BACKEND_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kvmrun/compiler.h"

/* The child's socket. */
#define DAEMON_SOCK_FD 3
#define DAEMON_LINE_MAX 256
#define DAEMON_WHAT_MAX 4112

/* Where a child failed before its exec: these, or a pre_exec hook's own stages. */
enum daemon_stage { DAEMON_STAGE_PARENT, DAEMON_STAGE_FDS, DAEMON_STAGE_EXEC,
		    DAEMON_STAGE_HOOK };

/* A reaped child's CPU time. */
struct daemon_cpu {
	uint64_t user_ns;
	uint64_t sys_ns;
};

struct daemon {
	pid_t pid; /* -1: none */
	bool reaped;
	bool cpu_known;	     /* reaped by wait4 here (not lost to someone else's wait) */
	struct daemon_cpu cpu; /* then its CPU time */
	int wstatus;
	int err_fd;		    /* the read end of the child's stdout and stderr; -1 */
	const char *prog;	    /* "virtiofsd", for messages */
	char what[DAEMON_WHAT_MAX]; /* "--share DIR", for messages */
	char partial[DAEMON_LINE_MAX]; /* the start of a line not ended yet */
	size_t partial_len;
	char last[DAEMON_LINE_MAX]; /* the last whole line the child wrote */
};

/* What the child runs; everything prepared before fork (the child only makes system calls). */
struct daemon_child {
	int sock_fd; /* becomes DAEMON_SOCK_FD */
	const char *path;
	char *const *argv;
	/* In the child before exec, optional: 0, or -1 with errno and *stage set. */
	int (*pre_exec)(const void *arg, int *stage);
	const void *arg;
};

/* No process yet; prog and what name it in messages (what is copied). */
void daemon_init(struct daemon *d, const char *prog, const char *what);

/*
 * Fork and exec the child, and wait until it has exec'd. 0: it runs; 1: it
 * failed before exec and is reaped, *stage and *err say where and why;
 * -errno: kvmrun could not start it (pipe, fork).
 */
int daemon_spawn(struct daemon *d, const struct daemon_child *c, int *stage,
		 int *err) WARN_UNUSED;

/*
 * If the child has exited (waiting up to a second for that), one line saying so,
 * with its exit status or signal and the last line it wrote, into err; returns
 * whether it had exited. 0 without a child.
 */
int daemon_exited(struct daemon *d, char *err, size_t errlen);

/* Once reaped: whether its CPU time is known, and it in *cpu (if not NULL). */
bool daemon_cpu(const struct daemon *d, struct daemon_cpu *cpu);

/* The child's pid while it has not been reaped, else -1. */
pid_t daemon_pid(const struct daemon *d);

/* End the child (SIGTERM, then SIGKILL after 2 s) and reap it; d stays allocated. */
void daemon_stop(struct daemon *d);

/* Whether path is an executable regular file. */
bool daemon_executable(const char *path);

#endif
