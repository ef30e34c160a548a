/* SPDX-License-Identifier: Apache-2.0 */
/* Per-vCPU state for x86-64: CPUID, MSRs, registers, local APIC. */
#ifndef KVMRUN_X86_CPU_H
#define KVMRUN_X86_CPU_H

#include <linux/kvm.h>
#include <stdint.h>
#include "kvmrun/compiler.h"
#include "kvmrun/guest_mem.h"

#define CPU_MAX_CPUID_ENTRIES 256

/* Laid out as a struct kvm_cpuid2 with room for its entries. */
struct cpu_cpuid {
	uint32_t nent;
	uint32_t padding;
	struct kvm_cpuid_entry2 entries[CPU_MAX_CPUID_ENTRIES];
};

/* The APIC ID of vCPU index i: the index itself. */
static inline uint32_t cpu_apic_id(unsigned int i)
{
	return i;
}

/*
 * Rewrites a copy of KVM's supported CPUID for vCPU `index` of `count`:
 * APIC IDs (leaves 1, 0xb, 0x1f), topology (one socket, `count` cores, one
 * thread each), the hypervisor bit.
 */
void cpu_cpuid_for_vcpu(struct cpu_cpuid *cpuid, unsigned int index, unsigned int count);

/* Fetches KVM_GET_SUPPORTED_CPUID from the /dev/kvm fd. */
int cpu_supported_cpuid(int kvm_fd, struct cpu_cpuid *out) WARN_UNUSED;

/* CPUID, MSRs, FPU and local APIC LINT pins for a vCPU. */
int cpu_init_vcpu(int vcpu_fd, const struct cpu_cpuid *base, unsigned int index,
		  unsigned int count) WARN_UNUSED;

/*
 * Boot state of the BSP, flat segments, rip = entry; writes the GDT.
 * CPU_BOOT_LINUX64: long mode on kvmrun's identity map, RSI = arg (boot_params).
 * CPU_BOOT_PVH32: 32-bit protected mode, paging off, EBX = arg (start info).
 */
enum cpu_boot_mode { CPU_BOOT_LINUX64, CPU_BOOT_PVH32 };
int cpu_set_boot_regs(int vcpu_fd, const struct guest_mem *gm, enum cpu_boot_mode mode,
		      uint64_t entry, uint64_t arg) WARN_UNUSED;

/* Logs a vCPU's registers at debug level. */
void cpu_dump_regs(int vcpu_fd, unsigned int index);

#endif
