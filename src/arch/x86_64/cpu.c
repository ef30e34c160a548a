// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/layout.h"
#include "kvmrun/kvm.h"
#include "kvmrun/log.h"

_Static_assert(offsetof(struct cpu_cpuid, entries) ==
		       offsetof(struct kvm_cpuid2, entries), "cpu_cpuid layout");

/* struct cpu_cpuid as the struct kvm_cpuid2 header it starts with. */
#define CPU_CPUID_KVM(c) ((struct kvm_cpuid2 *)(c))

/* Logs a failed ioctl of a vCPU's setup (the caller's message cannot name it). */
static int cpu_fail(const char *what, int ret)
{
	log_err("%s: %s", what, strerror(-ret));
	return ret;
}

#define CPUID_HYPERVISOR (1U << 31)
#define CPUID_TSC_DEADLINE (1U << 24)
#define CPUID_HTT (1U << 28)

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC 0x10

#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define CR0_PE 0x1ULL
#define CR0_MP 0x2ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static unsigned int order_base_2(unsigned int n)
{
	unsigned int shift = 0;

	while ((1U << shift) < n)
		shift++;
	return shift;
}

/*
 * EAX of a cache leaf (4, and AMD's 0x8000001d) with bits 25:14 (APIC IDs that
 * share the cache, minus one) for our topology: each vCPU is a core of its own,
 * so its level 1 and 2 caches are its own, and level 3 is shared by the whole
 * package, as on real hardware. A guest that saw an L3 per vCPU would find no
 * two vCPUs sharing a cache, and would wake tasks and complete I/O on another
 * vCPU through an IPI each time. Type 0 (no more caches) stays as it is.
 */
static uint32_t cache_sharing(uint32_t eax, unsigned int core_shift)
{
	uint32_t ids = ((eax >> 5) & 7) >= 3 ? (1U << core_shift) - 1 : 0;

	if (!(eax & 0x1f))
		return eax;
	return (eax & ~(0xfffU << 14)) | (MIN(ids, 0xfffU) << 14);
}

void cpu_cpuid_for_vcpu(struct cpu_cpuid *cpuid, unsigned int index, unsigned int count)
{
	uint32_t apic_id = cpu_apic_id(index);
	unsigned int core_shift = order_base_2(count);

	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffffU) | (apic_id << 24) |
				 ((count > 255 ? 255 : count) << 16);
			e->ecx |= CPUID_HYPERVISOR;
			if (count > 1)
				e->edx |= CPUID_HTT;
			else
				e->edx &= ~CPUID_HTT;
			break;
		case 4:
			/* Cores per package - 1 in EAX[31:26]. */
			e->eax = (cache_sharing(e->eax, core_shift) & 0x03ffffffU) |
				 ((MIN(count, 64U) - 1) << 26);
			break;
		case 0x8000001d:
			e->eax = cache_sharing(e->eax, core_shift);
			break;
		case 0xb:
		case 0x1f:
			e->edx = apic_id;
			if (e->index == 0) {
				e->eax = 0;        /* SMT level: no shift */
				e->ebx = 1;        /* one thread per core */
				e->ecx = 1 << 8;   /* level type SMT */
			} else if (e->index == 1) {
				e->eax = core_shift;
				e->ebx = count;
				e->ecx = 2 << 8 | 1; /* level type core */
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = e->index; /* invalid level */
			}
			break;
		case 0x80000008:
			/* AMD: NC (cores - 1) and ApicIdCoreIdSize. */
			e->ecx = (e->ecx & ~0xf0ffU) | (core_shift << 12) | (MIN(count, 256U) - 1);
			break;
		default:
			break;
		}
	}
}

int cpu_supported_cpuid(int kvm_fd, struct cpu_cpuid *out)
{
	bool deadline = kvm_ioctl_val(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	int ret;

	memset(out, 0, sizeof(*out));
	out->nent = CPU_MAX_CPUID_ENTRIES;
	ret = kvm_ioctl_var(kvm_fd, KVM_GET_SUPPORTED_CPUID, CPU_CPUID_KVM(out), nent,
			    sizeof(*out));
	if (ret < 0)
		return cpu_fail("KVM_GET_SUPPORTED_CPUID", ret);
	/*
	 * KVM emulates the APIC's TSC-deadline mode but leaves the bit out of
	 * what it reports (api.rst, KVM_GET_SUPPORTED_CPUID): offer it, so that the
	 * guest arms its timer with one MSR write instead of the APIC's one-shot
	 * count registers.
	 */
	for (uint32_t i = 0; deadline && i < out->nent; i++)
		if (out->entries[i].function == 1)
			out->entries[i].ecx |= CPUID_TSC_DEADLINE;
	return 0;
}

static int cpu_set_msrs(int vcpu_fd)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} init[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },  { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 },
		{ MSR_CSTAR, 0 },             { MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },      { MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 }, /* fast strings */
		{ MSR_MTRR_DEF_TYPE, (1 << 11) | 6 }, /* MTRRs on, write-back by default */
	};
	/* Laid out as a struct kvm_msrs with its entries. */
	struct {
		uint32_t nmsrs;
		uint32_t pad;
		struct kvm_msr_entry entries[ARRAY_SIZE(init)];
	} msrs;
	int ret;

	_Static_assert(offsetof(__typeof__(msrs), entries) == offsetof(struct kvm_msrs, entries),
		       "msrs layout");
	memset(&msrs, 0, sizeof(msrs));
	msrs.nmsrs = ARRAY_SIZE(init);
	for (unsigned int i = 0; i < ARRAY_SIZE(init); i++) {
		msrs.entries[i].index = init[i].index;
		msrs.entries[i].data = init[i].data;
	}
	ret = kvm_ioctl_var(vcpu_fd, KVM_SET_MSRS, (struct kvm_msrs *)&msrs, nmsrs, sizeof(msrs));
	if (ret < 0)
		return cpu_fail("KVM_SET_MSRS", ret);
	if ((unsigned int)ret < ARRAY_SIZE(init)) {
		/* It stops at the first MSR it refuses and returns how many it set. */
		log_err("KVM_SET_MSRS: MSR 0x%x refused", init[ret].index);
		return -EINVAL;
	}
	return 0;
}

static void lapic_set_lvt(struct kvm_lapic_state *lapic, unsigned int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, lapic->regs + reg, 4);
	v = (v & ~0x700U) | (mode << 8);
	memcpy(lapic->regs + reg, &v, 4);
}

int cpu_init_vcpu(int vcpu_fd, const struct cpu_cpuid *base, unsigned int index,
		  unsigned int count)
{
	struct cpu_cpuid cpuid = *base;
	struct kvm_lapic_state lapic;
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int ret;

	cpu_cpuid_for_vcpu(&cpuid, index, count);
	ret = kvm_ioctl_var(vcpu_fd, KVM_SET_CPUID2, CPU_CPUID_KVM(&cpuid), nent, sizeof(cpuid));
	if (ret < 0)
		return cpu_fail("KVM_SET_CPUID2", ret);
	ret = cpu_set_msrs(vcpu_fd);
	if (ret < 0)
		return ret;
	ret = kvm_ioctl_ptr(vcpu_fd, KVM_SET_FPU, &fpu);
	if (ret < 0)
		return cpu_fail("KVM_SET_FPU", ret);
	ret = kvm_ioctl_ptr(vcpu_fd, KVM_GET_LAPIC, &lapic);
	if (ret < 0)
		return cpu_fail("KVM_GET_LAPIC", ret);
	lapic_set_lvt(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
	lapic_set_lvt(&lapic, APIC_LVT1, APIC_MODE_NMI);
	ret = kvm_ioctl_ptr(vcpu_fd, KVM_SET_LAPIC, &lapic);
	return ret < 0 ? cpu_fail("KVM_SET_LAPIC", ret) : 0;
}

static struct kvm_segment cpu_segment(uint16_t selector, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = code64 ? 0 : 1, .s = 1, .l = code64, .g = 1,
	};
}

int cpu_set_boot_regs(int vcpu_fd, const struct guest_mem *gm, enum cpu_boot_mode mode,
		      uint64_t entry, uint64_t arg)
{
	bool linux64 = mode == CPU_BOOT_LINUX64;
	/* Flat segments; only the code descriptor differs: 64-bit, or 32-bit over 4 GiB. */
	const uint64_t gdt[] = {
		0, 0,
		linux64 ? 0x00af9b000000ffffULL : 0x00cf9b000000ffffULL, /* 0x10: code */
		0x00cf93000000ffffULL,					   /* 0x18: data */
		0x008f8b000000ffffULL,					   /* 0x20: TSS (busy) */
	};
	struct kvm_regs regs = { .rflags = 2, .rip = entry };
	struct kvm_sregs sregs;
	int ret;

	if (gm_write(gm, LAYOUT_GDT, gdt, sizeof(gdt)))
		return -EFAULT;
	ret = kvm_ioctl_ptr(vcpu_fd, KVM_GET_SREGS, &sregs);
	if (ret < 0)
		return cpu_fail("KVM_GET_SREGS", ret);
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cs = cpu_segment(0x10, 0xb, linux64);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = cpu_segment(0x18, 0x3, false);
	sregs.tr = cpu_segment(0x20, 0xb, false);
	sregs.tr.s = 0;
	sregs.tr.limit = 0xfffff;
	if (linux64) {
		/* Long mode with the identity map kvmrun built; boot_params in RSI. */
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 = CR4_PAE;
		sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG;
		sregs.efer = EFER_LME | EFER_LMA;
		regs.rsi = arg;
	} else {
		/* PVH: protected mode, paging off; the start info in EBX. */
		sregs.tr.db = 0;
		sregs.tr.g = 0;
		sregs.cr0 = CR0_PE | CR0_ET;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = arg;
	}
	ret = kvm_ioctl_ptr(vcpu_fd, KVM_SET_SREGS, &sregs);
	if (ret < 0)
		return cpu_fail("KVM_SET_SREGS", ret);
	ret = kvm_ioctl_ptr(vcpu_fd, KVM_SET_REGS, &regs);
	return ret < 0 ? cpu_fail("KVM_SET_REGS", ret) : 0;
}

void cpu_dump_regs(int vcpu_fd, unsigned int index)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (log_get_level() < LOG_DEBUG)
		return;
	if (kvm_ioctl_ptr(vcpu_fd, KVM_GET_REGS, &r) < 0 ||
	    kvm_ioctl_ptr(vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return;
	log_debug("vCPU %u: rip=%016llx rsp=%016llx rflags=%08llx", index, r.rip, r.rsp, r.rflags);
	log_debug("vCPU %u: rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx", index, r.rax, r.rbx,
		  r.rcx, r.rdx);
	log_debug("vCPU %u: rsi=%016llx rdi=%016llx rbp=%016llx r8=%016llx", index, r.rsi, r.rdi,
		  r.rbp, r.r8);
	log_debug("vCPU %u: cr0=%llx cr2=%llx cr3=%llx cr4=%llx efer=%llx cs=%x", index, s.cr0,
		  s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector);
}
