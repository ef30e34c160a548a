/* SPDX-License-Identifier: Apache-2.0 */
/* The top layer: build a VM from its configuration, run it, tear it down. */
#ifndef KVMRUN_VM_H
#define KVMRUN_VM_H

#include "kvmrun/compiler.h"
#include "kvmrun/config.h"
#include "kvmrun/exit_status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct ev_loop;
struct virtio_dev;
struct virtio_console_port;

/*
 * A stopping signal (SIGINT, SIGTERM, SIGHUP) kvmrun received, on the loop
 * thread: true when the mode took it (e.g. passed it on to the guest) and the
 * VM runs on; false to stop the VM with 128 + signo as without the hook.
 */
typedef bool (*vm_signal_fn)(void *opaque, int signo);

/*
 * What a mode built on run adds to the machine (exec): named virtio-console
 * ports, their host side on the VM's event loop, and a say in kvmrun's
 * stopping signals. The array stays the caller's, alive until vm_destroy().
 */
struct vm_extras {
	const struct virtio_console_port *ports;
	unsigned int nr_ports;
	vm_signal_fn signal; /* NULL: every stopping signal stops the VM */
	void *signal_opaque;
};

int vm_create(struct vm **out, const struct vm_config *cfg) WARN_UNUSED;
int vm_create_extras(struct vm **out, const struct vm_config *cfg,
		     const struct vm_extras *extras) WARN_UNUSED;
/* The VM's event loop: a mode's own descriptors and timers go there before vm_run(). */
struct ev_loop *vm_loop(struct vm *vm);
/* The virtio-console device of the extras' named ports (NULL without any). */
struct virtio_dev *vm_ports_dev(struct vm *vm);
/* The virtio-blk device of --disk @i, the virtio-net device of --net @i; NULL past the last. */
struct virtio_dev *vm_disk_dev(struct vm *vm, unsigned int i);
struct virtio_dev *vm_net_dev(struct vm *vm, unsigned int i);
/* The guest console's last bytes (up to size); returns how many. */
size_t vm_console_tail(struct vm *vm, uint8_t *buf, size_t size);
/* What --jail and --cgroup did (jail.h). */
struct jail_report;
const struct jail_report *vm_jail_report(struct vm *vm);
/* CLOCK_MONOTONIC ns of the first KVM_RUN, 0 before it. */
uint64_t vm_first_run_ns(struct vm *vm);
/* Runs the VM to its end; returns an enum kvmrun_status value. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* A helper daemon kvmrun started (passt, virtiofsd) and reaped: its CPU time. */
struct vm_helper_cpu {
	const char *prog; /* "passt", "virtiofsd" */
	char device[40];  /* what it served: "net0", or the share's tag */
	uint64_t user_ns;
	uint64_t sys_ns;
};
#define VM_MAX_HELPERS (VM_MAX_SHARES + VM_MAX_NETS)

/*
 * vm_destroy, which stops and reaps the helper daemons, saying what each used: up
 * to VM_MAX_HELPERS into helpers (NULL: none); returns how many.
 */
unsigned int vm_destroy_helpers(struct vm *vm, struct vm_helper_cpu *helpers);

#endif
