/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_VM_H
#define KVMRUN_VM_H

#include <stdbool.h>
#include <stdint.h>
#include "kvmrun/compiler.h"
#include "kvmrun/log.h"

/* Exit statuses of the kvmrun process; the README and --help carry this table. */
enum kvmrun_status {
	KVMRUN_OK = 0,           /* guest powered off, or rebooted */
	KVMRUN_ERR_INTERNAL = 1, /* unexpected host failure */
	KVMRUN_ERR_USAGE = 2,    /* bad command line */
	KVMRUN_ERR_INPUT = 3,    /* kernel/initrd missing, unreadable, malformed, does not fit */
	KVMRUN_ERR_KVM = 4,      /* /dev/kvm missing, not permitted, or lacking a capability */
	KVMRUN_GUEST_PANIC = 5,  /* guest kernel panicked (pvpanic) */
	KVMRUN_GUEST_CRASH = 6,  /* triple fault */
	KVMRUN_VCPU_ERROR = 7,   /* KVM internal error, emulation failure, unhandled exit */
	/* Stopped by SIGINT/SIGTERM: 128 + signal number (130, 143). */
};

enum console_mode { CONSOLE_SERIAL, CONSOLE_NONE };

struct vm_config {
	const char *kernel;
	const char *initrd;
	const char *append;
	unsigned int cpus;
	uint64_t memory;
	enum console_mode console;
	const char *console_log;
	enum log_level log_level;
	bool rng; /* a virtio-rng device */
};

struct vm;

int vm_create(struct vm **out, const struct vm_config *cfg) WARN_UNUSED;
/* Runs the VM to its end; returns an enum kvmrun_status value. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

#endif
