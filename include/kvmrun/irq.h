/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_IRQ_H
#define KVMRUN_IRQ_H

#include <stdbool.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

/*
 * An interrupt line as a device sees it: a GSI of the in-kernel IOAPIC and a
 * way to set its level. Unit tests plug in their own set_level.
 */
struct irq_line {
	int (*set_level)(void *opaque, uint32_t gsi, bool level);
	void *opaque;
	uint32_t gsi;
};

static inline int irq_line_set(const struct irq_line *line, bool level)
{
	return line->set_level(line->opaque, line->gsi, level);
}

/* A line routed through KVM_IRQ_LINE on vm_fd. */
void irq_line_init_kvm(struct irq_line *line, int *vm_fd, uint32_t gsi);

#endif
