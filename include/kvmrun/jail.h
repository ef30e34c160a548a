/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_JAIL_H
#define KVMRUN_JAIL_H

/*
 * --jail: once the VM is set up (every file, device, socket and helper process
 * open or started) and before its first KVM_RUN, kvmrun confines itself, while it
 * is still its only thread (a user namespace takes a single-threaded process, and
 * namespaces, capabilities and no_new_privs are per thread: every thread started
 * afterwards inherits them). In this order:
 *
 *  1. --cgroup DIR (jail_cgroup_enter, first thing of all, so that the guest's RAM
 *     and the helper daemons are charged too): a leaf DIR/kvmrun.PID gets
 *     memory.max, cpu.max and pids.max, and the process moves into it;
 *  2. jail_enter: a user namespace unless kvmrun has CAP_SYS_ADMIN (uid and gid
 *     mapped to themselves, setgroups denied); new mount, IPC, UTS, cgroup and
 *     network namespaces (the taps and sockets stay bound to the host's);
 *     pivot_root into an empty read-only tmpfs and the old root detached (no host
 *     path can be opened, no /proc); every capability dropped (bounding set,
 *     ambient, effective, permitted, inheritable; securebits locked);
 *     no_new_privs; RLIMIT_CORE 0 and RLIMIT_NOFILE just above the highest
 *     open descriptor;
 *  3. the threads start (disk workers, vCPUs), then jail_seal: RLIMIT_NPROC at the
 *     number of tasks, so no process or thread can be made any more (the kernel
 *     does not apply RLIMIT_NPROC to uid 0: there the seccomp filters, which
 *     allow no clone, do it);
 *  4. each thread's seccomp filter (sandbox.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"
#include "kvmrun/config.h"

#define JAIL_PATH_MAX 4096
/* Descriptors kept free above the highest one open when the jail closes (vhost-user replies). */
#define JAIL_NOFILE_MARGIN 64

/* What the jail did, for exec's report. */
struct jail_report {
	bool on;		    /* --jail on */
	bool entered;		    /* jail_enter succeeded */
	bool user_namespace;	    /* a user namespace was needed (no CAP_SYS_ADMIN) */
	int namespaces;		    /* CLONE_NEW* flags entered */
	char cgroup[JAIL_PATH_MAX]; /* the leaf; empty: no --cgroup */
	uint64_t memory_max;	    /* as in jail_config, written to the leaf */
	uint32_t cpu_milli;
	uint32_t pids_max;
	uint64_t nofile;       /* RLIMIT_NOFILE set */
	uint64_t nproc;	       /* RLIMIT_NPROC set (jail_seal) */
	uint64_t enter_ns;     /* how long jail_enter took */
	uint64_t enter_cpu_ns; /* and its CPU time */
};

/*
 * Errors write one line into err naming the option (--jail on, --cgroup DIR or
 * --limit) and the step that failed; the caller exits (status KVMRUN_ERR_JAIL,
 * or 125 in exec). Nothing runs unjailed after a failure.
 */

/* Step 1; nothing to do without cfg->cgroup. 0 or -errno. */
int jail_cgroup_enter(const struct jail_config *cfg, struct jail_report *rep, char *err,
		      size_t errlen) WARN_UNUSED;

/* Step 2; the caller is the process's only thread. 0 or -errno. */
int jail_enter(struct jail_report *rep, char *err, size_t errlen) WARN_UNUSED;

/* Step 3: nr_tasks is the process's threads, the caller included. 0 or -errno. */
int jail_seal(struct jail_report *rep, unsigned int nr_tasks, char *err, size_t errlen) WARN_UNUSED;

/* "mount", "ipc", "uts", "cgroup", "net", "user": the name of bit i of the namespaces entered. */
const char *jail_namespace_name(int flag);
extern const int jail_namespace_flags[6];

#endif
