/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_SANDBOX_H
#define KVMRUN_SANDBOX_H

#include "kvmrun/compiler.h"

/*
 * Per-thread seccomp filters. Each thread installs its own once its setup is
 * done (files open, memory mapped, threads started): from then on it can make
 * only the system calls its role needs at run time, ioctl only with the
 * requests listed on the descriptors given, and no mapping that is executable.
 * Anything else stops the process with one line on stderr and status
 * KVMRUN_ERR_SANDBOX (a kvmrun bug).
 */
enum sandbox_role {
	SANDBOX_LOOP, /* the main thread: event loop, devices' queues, teardown */
	SANDBOX_VCPU, /* a vCPU thread: KVM_RUN and register accesses */
	SANDBOX_DISK, /* a disk's worker thread: reads, writes, flushes, fallocate of images */
};

/*
 * Run before the process ends on a refused call (e.g. put the terminal back):
 * called from the signal handler on the main thread, so fn makes only
 * async-signal-safe calls that the loop's filter allows. NULL: nothing.
 */
struct sandbox_cleanup {
	void (*fn)(void *opaque);
	void *opaque;
};
void sandbox_set_cleanup(const struct sandbox_cleanup *c);

#include <sys/types.h>

#define SANDBOX_MAX_DAEMONS 16 /* a virtiofsd per --share, a passt per --net */

/*
 * The descriptors a role's KVM ioctls may name (-1 for none), and for the loop the
 * helper processes kvmrun started (virtiofsd, passt), which it alone may end (SIGTERM,
 * SIGKILL) and reap at teardown.
 */
struct sandbox_fds {
	int vm;	  /* the VM: interrupt lines (and, for the loop, irqfds, doorbells, MSI routes) */
	int vcpu; /* SANDBOX_VCPU: the thread's own vCPU (KVM_RUN, the register dump) */
	pid_t daemons[SANDBOX_MAX_DAEMONS];
	unsigned int nr_daemons;
};

/*
 * Installs the role's filter on the calling thread; 0 or -errno (nothing installed).
 * fds may be NULL: no KVM ioctl at all.
 */
int sandbox_apply(enum sandbox_role role, const struct sandbox_fds *fds) WARN_UNUSED;

/* Writes the BPF program sandbox_apply would install to out_fd (for tests); 0 or -errno. */
int sandbox_export_bpf(enum sandbox_role role, const struct sandbox_fds *fds,
		       int out_fd) WARN_UNUSED;

#endif
