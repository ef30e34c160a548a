/* SPDX-License-Identifier: Apache-2.0 */
/* The top layer: build a VM from its configuration, run it, tear it down. */
#ifndef KVMRUN_VM_H
#define KVMRUN_VM_H

#include "kvmrun/compiler.h"
#include "kvmrun/config.h"
#include "kvmrun/exit_status.h"

struct vm;

int vm_create(struct vm **out, const struct vm_config *cfg) WARN_UNUSED;
/* Runs the VM to its end; returns an enum kvmrun_status value. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

#endif
