/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_SANDBOX_H
#define KVMRUN_SANDBOX_H

#include "kvmrun/compiler.h"

/*
 * Per-thread seccomp filters. Each thread installs its own once its setup is
 * done (files open, memory mapped, threads started): from then on it can make
 * only the system calls its role needs at run time, ioctl only with the
 * requests listed, and no mapping that is executable. Anything else stops the
 * process with one line on stderr and status KVMRUN_ERR_SANDBOX (a kvmrun bug).
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

/* Installs the role's filter on the calling thread; 0 or -errno (nothing installed). */
int sandbox_apply(enum sandbox_role role) WARN_UNUSED;

#endif
