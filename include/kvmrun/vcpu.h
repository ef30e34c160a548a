/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_VCPU_H
#define KVMRUN_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "kvmrun/bus.h"
#include "kvmrun/compiler.h"

/* The signal that kicks a vCPU out of KVM_RUN; its handler does nothing. */
#define VCPU_KICK_SIGNAL SIGUSR1

struct vcpu;

/* Called on the vCPU thread when the vCPU ends the VM (status: enum kvmrun_status). */
typedef void (*vcpu_exit_fn)(void *opaque, struct vcpu *vcpu, int status, const char *why);

struct vcpu {
	unsigned int index;
	int fd;
	int vm_fd; /* the VM's, for the seccomp filter (the serial port's interrupt line) */
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	struct bus *pio;
	struct bus *mmio;
	vcpu_exit_fn on_exit;
	void *opaque;
	bool sandbox; /* the thread installs its seccomp filter before the first KVM_RUN */
	_Atomic uint64_t first_run_ns; /* CLOCK_MONOTONIC when it entered KVM_RUN first; 0 */
};

int vcpu_create(struct vcpu *vcpu, int vm_fd, unsigned int index, size_t run_size) WARN_UNUSED;
/* Installs the kick signal's handler; once per process, before any vCPU starts. */
int vcpu_signal_setup(void) WARN_UNUSED;
int vcpu_start(struct vcpu *vcpu) WARN_UNUSED;
/* Makes the vCPU leave KVM_RUN and its thread end; any thread. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

#endif
