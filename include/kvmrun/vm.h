/* SPDX-License-Identifier: Apache-2.0 */
/* The top layer: build a VM from its configuration, run it, tear it down. */
#ifndef KVMRUN_VM_H
#define KVMRUN_VM_H

#include "kvmrun/compiler.h"
#include "kvmrun/config.h"
#include "kvmrun/exit_status.h"

#include <stddef.h>
#include <stdint.h>

struct vm;
struct ev_loop;
struct virtio_dev;
struct virtio_console_port;

/*
 * What a mode built on run adds to the machine (exec): named virtio-console
 * ports, their host side on the VM's event loop. The array stays the
 * caller's, alive until vm_destroy().
 */
struct vm_extras {
	const struct virtio_console_port *ports;
	unsigned int nr_ports;
};

int vm_create(struct vm **out, const struct vm_config *cfg) WARN_UNUSED;
int vm_create_extras(struct vm **out, const struct vm_config *cfg,
		     const struct vm_extras *extras) WARN_UNUSED;
/* The VM's event loop: a mode's own descriptors and timers go there before vm_run(). */
struct ev_loop *vm_loop(struct vm *vm);
/* The virtio-console device of the extras' named ports (NULL without any). */
struct virtio_dev *vm_ports_dev(struct vm *vm);
/* The guest console's last bytes (up to size); returns how many. */
size_t vm_console_tail(struct vm *vm, uint8_t *buf, size_t size);
/*
 * The frames --net number i (from 0) dropped under its egress policy, by
 * reason: denied, malformed, fragment, ethertype. 1: the NIC has a policy
 * (egress=deny), 0: none (the counts are 0), -ENOENT: no such NIC.
 */
#define VM_EGRESS_DROPS 4
int vm_net_egress_drops(struct vm *vm, unsigned int i, uint64_t drops[VM_EGRESS_DROPS]);
/* The rate-limit counters of a device with --disk iops=/bw= or --net bw=/pps=. */
struct vm_limit_stats {
	char name[16];	    /* "vda", "net0" */
	uint64_t throttled; /* requests (frames, both ways) that had to wait */
	uint64_t waited_ms; /* how long they waited, summed */
};
#define VM_MAX_LIMITED (VM_MAX_DISKS + VM_MAX_NETS)
/* Fills out with the devices that have limits (at most max); returns how many. */
unsigned int vm_limit_stats(struct vm *vm, struct vm_limit_stats *out, unsigned int max);
/* CLOCK_MONOTONIC ns of the first KVM_RUN, 0 before it. */
uint64_t vm_first_run_ns(struct vm *vm);
/* Runs the VM to its end; returns an enum kvmrun_status value. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

#endif
