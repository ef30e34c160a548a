// SPDX-License-Identifier: Apache-2.0
#include "kvmrun/irq.h"
#include "kvmrun/kvm.h"

static int irq_kvm_set_level(void *opaque, uint32_t gsi, bool level)
{
	const int *vm_fd = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	return kvm_ioctl_ptr(*vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -1 : 0;
}

void irq_line_init_kvm(struct irq_line *line, int *vm_fd, uint32_t gsi)
{
	line->set_level = irq_kvm_set_level;
	line->opaque = vm_fd;
	line->gsi = gsi;
}
