/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the machine (vm.c) needs from an architecture: its memory map, the
 * checks and loading of the boot files, the interrupt controller, vCPU setup,
 * the machine description (ACPI on x86-64, a device tree on arm64) and the
 * platform devices. One implementation is built: src/arch/x86_64 or src/arch/arm64.
 *
 * Functions that fail return -errno; those that name a cause set *what (an
 * ioctl's name or a sentence about the input) to a static string.
 */
#ifndef KVMRUN_ARCH_H
#define KVMRUN_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvmrun/compiler.h"
#include "kvmrun/guest_mem.h"

struct arch_vm;
struct bus;
struct console;
struct device;
struct irq_chip;
struct irq_kvm;
struct pci_host;
struct platform_sink;
struct vcpu;

/* The boot files as read from disk, and the command line. */
struct arch_images {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* NULL: none */
	size_t initrd_len;
	const char *cmdline;
};

/* A KVM capability the architecture needs, checked once /dev/kvm is open. */
struct arch_kvm_cap {
	int cap;
	const char *name;
};

/* One slot of guest RAM: @size bytes at @gpa, taken in order from the one mapping. */
#define ARCH_MAX_RAM 2
struct arch_ram {
	uint64_t gpa;
	uint64_t size;
};

/* What the platform devices hang off (all of it the VM's, alive until devices_destroy). */
struct arch_platform {
	struct device **devices;
	struct bus *pio;
	struct bus *mmio;
	int *vm_fd;
	struct console *con;
	const struct platform_sink *sink;
	bool exit_port; /* --exit-port */
};

/* The capabilities beyond the common ones; *n gets their number. */
const struct arch_kvm_cap *arch_kvm_caps(size_t *n);

/*
 * Checks the kernel (and initrd) for @mem bytes of RAM before /dev/kvm is opened;
 * on failure *initrd tells which file is at fault and *why what is wrong with it.
 */
int arch_check_images(const struct arch_images *img, uint64_t mem, bool *initrd,
		      const char **why) WARN_UNUSED;

/* The guest-physical RAM slots for @mem bytes; returns how many (at most ARCH_MAX_RAM). */
unsigned int arch_ram_layout(uint64_t mem, struct arch_ram *out);

/* The arch's state for a machine of @mem bytes and @cpus vCPUs, with @img to boot. */
int arch_create(struct arch_vm **out, const struct arch_images *img, uint64_t mem,
		unsigned int cpus, const char *dtb_out) WARN_UNUSED;
void arch_destroy(struct arch_vm *a);

/* On the new VM, before its RAM: the interrupt controller and what else the arch keeps in KVM. */
int arch_vm_init(struct arch_vm *a, int kvm_fd, int vm_fd, const char **what) WARN_UNUSED;

/*
 * Loads the images into guest RAM and writes what the kernel reads at entry (boot
 * parameters, ACPI tables); the images are not needed afterwards. On failure *initrd
 * and *why as in arch_check_images.
 */
int arch_load(struct arch_vm *a, const struct guest_mem *gm, const struct arch_images *img,
	      bool *initrd, const char **why) WARN_UNUSED;

/* The serial port, the other platform devices and the PCI host bridge. */
int arch_platform_create(struct arch_vm *a, const struct arch_platform *p,
			 struct pci_host **pci) WARN_UNUSED;

/* The MSI routing backend of this arch's interrupt controller on @vm_fd. */
int arch_irq_create(struct arch_vm *a, int vm_fd, struct irq_kvm **out,
		    struct irq_chip *chip) WARN_UNUSED;

/* vCPU @v (v->index of the machine's) just created: its registers and features. */
int arch_vcpu_init(struct arch_vm *a, int kvm_fd, int vm_fd, struct vcpu *v,
		   const struct guest_mem *gm, const char **what) WARN_UNUSED;

/*
 * Every vCPU exists: finishes the interrupt controller, writes the machine
 * description where it depends on the vCPUs, and sets the boot vCPU's registers.
 */
int arch_vcpus_ready(struct arch_vm *a, int vm_fd, struct vcpu *vcpus, unsigned int n,
		     const struct guest_mem *gm, const char **what) WARN_UNUSED;

/* Logs a vCPU's registers at debug level (a failed vCPU). */
void arch_dump_regs(int vcpu_fd, unsigned int index);

#endif
