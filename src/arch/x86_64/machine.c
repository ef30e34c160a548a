// SPDX-License-Identifier: Apache-2.0
/* The x86-64 machine behind arch.h: a PC with an in-kernel IOAPIC, ACPI and PVH or bzImage boot. */
#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/x86_64/acpi.h"
#include "arch/x86_64/boot.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/platform_layout.h"
#include "arch/x86_64/pvh.h"
#include "pci.h"
#include "platform.h"
#include "kvmrun/irq.h"
#include "kvmrun/kvm.h"
#include "kvmrun/vcpu.h"

#define X86_TSS_ADDR 0xfffbd000ULL
#define X86_IDENTITY_MAP_ADDR 0xfffbc000ULL

struct arch_vm {
	uint64_t mem;
	unsigned int cpus;
	bool pvh; /* the kernel is a PVH ELF, entered in 32-bit mode */
	uint64_t entry, boot_params;
	uint64_t pci_mmio64, pci_mmio64_size;
	struct cpu_cpuid *cpuid; /* KVM's supported CPUID, fetched for the first vCPU */
	struct irq_line com1_irq;
};

/* What the ACPI tables tell the guest must match what the devices decode. */
_Static_assert(LAYOUT_PVPANIC_SIZE == PVPANIC_MMIO_SIZE, "pvpanic's size");
_Static_assert(PORT_PCI_CONFIG_LEN == PCI_CONFIG_PORT_LEN, "the PCI config ports");
_Static_assert(LAYOUT_PCI_ECAM_BUS0_SIZE == PCI_ECAM_BUS_SIZE, "bus 0's ECAM window");

const struct arch_kvm_cap *arch_kvm_caps(size_t *n)
{
	static const struct arch_kvm_cap caps[] = {
	    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
	    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
	    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
	};

	*n = ARRAY_SIZE(caps);
	return caps;
}

int arch_check_images(const struct arch_images *img, uint64_t mem, bool *initrd, const char **why)
{
	struct pvh_image *pi;
	struct bzimage bz;
	int ret;

	*initrd = false;
	if (pvh_is_elf(img->kernel, img->kernel_len)) {
		pi = malloc(sizeof(*pi));
		if (!pi)
			return -ENOMEM;
		ret = pvh_parse(img->kernel, img->kernel_len, mem, pi, why);
		free(pi);
		return ret;
	}
	return boot_parse_bzimage(img->kernel, img->kernel_len, &bz, why);
}

unsigned int arch_ram_layout(uint64_t mem, struct arch_ram *out)
{
	uint64_t low, high;
	unsigned int n = 0;

	boot_ram_split(mem, &low, &high);
	out[n++] = (struct arch_ram){.gpa = 0, .size = low};
	if (high)
		out[n++] = (struct arch_ram){.gpa = LAYOUT_MMIO_HOLE_END, .size = high};
	return n;
}

int arch_create(struct arch_vm **out, const struct arch_images *img, uint64_t mem,
		unsigned int cpus, const char *dtb_out)
{
	struct arch_vm *a;

	(void)dtb_out; /* the command line takes it on arm64 only */
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->mem = mem;
	a->cpus = cpus;
	a->pvh = pvh_is_elf(img->kernel, img->kernel_len);
	*out = a;
	return 0;
}

void arch_destroy(struct arch_vm *a)
{
	if (!a)
		return;
	free(a->cpuid);
	free(a);
}

int arch_vm_init(struct arch_vm *a, int kvm_fd, int vm_fd, const char **what)
{
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	uint64_t identity = X86_IDENTITY_MAP_ADDR;
	int ret;

	(void)a;
	(void)kvm_fd;
	ret = kvm_ioctl_val(vm_fd, KVM_SET_TSS_ADDR, X86_TSS_ADDR);
	if (ret < 0) {
		*what = "KVM_SET_TSS_ADDR";
		return ret;
	}
	ret = kvm_ioctl_ptr(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity);
	if (ret < 0) {
		*what = "KVM_SET_IDENTITY_MAP_ADDR";
		return ret;
	}
	ret = kvm_ioctl_val(vm_fd, KVM_CREATE_IRQCHIP, 0);
	if (ret < 0) {
		*what = "KVM_CREATE_IRQCHIP";
		return ret;
	}
	ret = kvm_ioctl_ptr(vm_fd, KVM_CREATE_PIT2, &pit);
	if (ret < 0)
		*what = "KVM_CREATE_PIT2";
	return ret < 0 ? ret : 0;
}

/* The 64-bit PCI window: above RAM, inside the physical address bits KVM passes on. */
static void x86_pci_windows(struct arch_vm *a)
{
	unsigned int eax, ebx, ecx, edx, phys_bits = 36;
	uint64_t low, high;

	if (__get_cpuid(0x80000008, &eax, &ebx, &ecx, &edx) && (eax & 0xff) >= 36)
		phys_bits = eax & 0xff;
	boot_ram_split(a->mem, &low, &high);
	layout_pci_mmio64(high ? LAYOUT_MMIO_HOLE_END + high : low, phys_bits, &a->pci_mmio64,
			  &a->pci_mmio64_size);
}

int arch_load(struct arch_vm *a, const struct guest_mem *gm, const struct arch_images *img,
	      bool *initrd, const char **why)
{
	struct boot_images bi = {
	    .cmdline = img->cmdline,
	    .kernel = img->kernel,
	    .kernel_len = img->kernel_len,
	    .initrd = img->initrd,
	    .initrd_len = img->initrd_len,
	};
	struct acpi_config acpi = {.nr_cpus = a->cpus, .pci = true};
	uint32_t *apic_ids;
	uint8_t *acpi_buf;
	int ret;

	*initrd = false;
	x86_pci_windows(a);
	acpi.pci_mmio64 = a->pci_mmio64;
	acpi.pci_mmio64_size = a->pci_mmio64_size;
	apic_ids = calloc(a->cpus, sizeof(*apic_ids));
	if (!apic_ids)
		return -ENOMEM;
	for (unsigned int i = 0; i < a->cpus; i++)
		apic_ids[i] = cpu_apic_id(i);
	acpi.apic_ids = apic_ids;
	acpi_buf = gm_ptr(gm, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE);
	ret = acpi_buf ? acpi_build(acpi_buf, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_BASE, &acpi, &bi.rsdp)
		       : -EFAULT;
	free(apic_ids);
	if (ret) {
		*why = NULL; /* kvmrun's own failure, not the input's */
		return ret;
	}
	if (a->pvh)
		ret = pvh_load(gm, a->mem, &bi, &a->entry, &a->boot_params, why);
	else
		ret = boot_load_linux(gm, a->mem, &bi, &a->entry, &a->boot_params, why);
	if (ret)
		*initrd = strstr(*why, "initrd") != NULL;
	return ret;
}

int arch_platform_create(struct arch_vm *a, const struct arch_platform *p, struct pci_host **pci)
{
	struct pci_host_windows win = {
	    .ecam = LAYOUT_PCI_ECAM,
	    .mmio32 = LAYOUT_PCI_MMIO32,
	    .mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
	    .mmio64 = a->pci_mmio64,
	    .mmio64_size = a->pci_mmio64_size,
	    .io = LAYOUT_PCI_IO_MIN,
	    .io_size = LAYOUT_PCI_IO_MAX - LAYOUT_PCI_IO_MIN + 1,
	};
	int ret;

	irq_line_init_kvm(&a->com1_irq, p->vm_fd, PORT_COM1_IRQ);
	ret = serial_8250_create(p->devices, p->pio, PORT_COM1, &a->com1_irq, p->con);
	if (!ret)
		ret =
		    platform_create(p->devices, p->pio, p->mmio, &pc_layout, p->sink, p->exit_port);
	if (!ret)
		ret = pci_host_create(p->devices, pci, p->pio, p->mmio, PORT_PCI_CONFIG, &win);
	return ret;
}

int arch_irq_create(struct arch_vm *a, int vm_fd, struct irq_kvm **out, struct irq_chip *chip)
{
	(void)a;
	return irq_kvm_create(out, vm_fd, chip);
}

int arch_vcpu_init(struct arch_vm *a, int kvm_fd, int vm_fd, struct vcpu *v,
		   const struct guest_mem *gm, const char **what)
{
	int ret;

	(void)vm_fd;
	if (!a->cpuid) {
		a->cpuid = malloc(sizeof(*a->cpuid));
		if (!a->cpuid)
			return -ENOMEM;
		ret = cpu_supported_cpuid(kvm_fd, a->cpuid);
		if (ret) {
			free(a->cpuid);
			a->cpuid = NULL;
			*what = "KVM_GET_SUPPORTED_CPUID";
			return ret;
		}
	}
	ret = cpu_init_vcpu(v->fd, a->cpuid, v->index, a->cpus);
	if (!ret && v->index == 0)
		ret = cpu_set_boot_regs(v->fd, gm, a->pvh ? CPU_BOOT_PVH32 : CPU_BOOT_LINUX64,
					a->entry, a->boot_params);
	if (ret)
		*what = "setting CPUID/MSRs/registers";
	return ret;
}

int arch_vcpus_ready(struct arch_vm *a, int vm_fd, struct vcpu *vcpus, unsigned int n,
		     const struct guest_mem *gm, const char **what)
{
	(void)a;
	(void)vm_fd;
	(void)vcpus;
	(void)n;
	(void)gm;
	(void)what;
	return 0;
}

void arch_dump_regs(int vcpu_fd, unsigned int index)
{
	cpu_dump_regs(vcpu_fd, index);
}
