// SPDX-License-Identifier: Apache-2.0
/*
 * The arm64 machine behind arch.h: vCPUs with PSCI, an in-kernel GICv3 with an
 * ITS for MSIs, a 16550A UART, a PL031 RTC and pvpanic on MMIO, a generic ECAM PCI host,
 * all described to the kernel by a device tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/arm64/fdt.h"
#include "arch/arm64/gicv2m.h"
#include "arch/arm64/image.h"
#include "arch/arm64/layout.h"
#include "pci.h"
#include "platform.h"
#include "kvmrun/irq.h"
#include "kvmrun/kvm.h"
#include "kvmrun/log.h"
#include "kvmrun/vcpu.h"

/* KVM_IRQ_LINE's irq field for an SPI: type in bits 24-31, interrupt ID in 0-15. */
#define A64_IRQ_LINE_SPI(spi)                                                                      \
	((uint32_t)KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | (32 + (spi)))
#define A64_MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)
#define A64_CORE_REG(r)                                                                            \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(r))
/* EL1 with SP_EL1 (EL1h), debug, SError, IRQ and FIQ masked. */
#define A64_PSTATE_BOOT 0x3c5ULL

struct arch_vm {
	uint64_t mem;
	unsigned int cpus;
	const char *dtb_out;
	int gic_fd, its_fd;	   /* its_fd -1 with a GICv2 */
	bool gic_v2;		   /* KVM offers no GICv3: a GICv2 and a GICv2m frame */
	struct kvm_vcpu_init init; /* KVM_ARM_PREFERRED_TARGET, PSCI 0.2 */
	uint64_t *mpidr;	   /* each vCPU's, for the device tree */
	struct a64_image image;
	struct a64_boot_layout boot;
	const char *cmdline;
	struct irq_line uart_irq, rtc_irq;
};

const struct arch_kvm_cap *arch_kvm_caps(size_t *n)
{
	static const struct arch_kvm_cap caps[] = {
	    {KVM_CAP_ONE_REG, "KVM_CAP_ONE_REG"},
	    {KVM_CAP_ARM_PSCI_0_2, "KVM_CAP_ARM_PSCI_0_2"},
	    {KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL"},
	    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
	};

	*n = ARRAY_SIZE(caps);
	return caps;
}

static uint64_t a64_ram_size(uint64_t mem)
{
	return MIN(mem, A64_RAM_MAX);
}

int arch_check_images(const struct arch_images *img, uint64_t mem, bool *initrd, const char **why)
{
	struct a64_boot_layout bl;
	struct a64_image im;
	int ret;

	*initrd = false;
	if (mem > A64_RAM_MAX) {
		*why = "guest RAM above 511 GiB (see --memory)";
		return -EINVAL;
	}
	ret = a64_image_parse(img->kernel, img->kernel_len, &im, why);
	if (!ret && img->initrd) {
		*initrd = true;
		ret = a64_initrd_check(img->initrd, img->initrd_len, why);
	}
	if (!ret)
		ret = a64_boot_layout(&im, A64_RAM, a64_ram_size(mem),
				      img->initrd ? img->initrd_len : 0, &bl, initrd, why);
	return ret;
}

unsigned int arch_ram_layout(uint64_t mem, struct arch_ram *out)
{
	out[0] = (struct arch_ram){.gpa = A64_RAM, .size = a64_ram_size(mem)};
	return 1;
}

int arch_create(struct arch_vm **out, const struct arch_images *img, uint64_t mem,
		unsigned int cpus, const char *dtb_out)
{
	struct arch_vm *a;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->mpidr = calloc(cpus ? cpus : 1, sizeof(*a->mpidr));
	if (!a->mpidr) {
		free(a);
		return -ENOMEM;
	}
	a->mem = mem;
	a->cpus = cpus;
	a->dtb_out = dtb_out;
	a->gic_fd = a->its_fd = -1;
	*out = a;
	return 0;
}

void arch_destroy(struct arch_vm *a)
{
	if (!a)
		return;
	if (a->its_fd >= 0)
		close(a->its_fd);
	if (a->gic_fd >= 0)
		close(a->gic_fd);
	free(a->mpidr);
	free(a);
}

static int a64_dev_attr(int fd, uint32_t group, uint64_t attr, const void *val)
{
	struct kvm_device_attr da = {
	    .group = group,
	    .attr = attr,
	    .addr = (uint64_t)(uintptr_t)val,
	};

	return kvm_ioctl_ptr(fd, KVM_SET_DEVICE_ATTR, &da);
}

static int a64_create_device(int vm_fd, uint32_t type, int *fd)
{
	struct kvm_create_device cd = {.type = type};
	int ret;

	ret = kvm_ioctl_ptr(vm_fd, KVM_CREATE_DEVICE, &cd);
	if (ret < 0)
		return ret;
	*fd = (int)cd.fd;
	return 0;
}

/* The GICv3 and its ITS, their registers placed; initialised once the vCPUs exist. */
static int a64_gic_v3(struct arch_vm *a, int vm_fd, const char **what)
{
	uint64_t dist = A64_GIC_DIST, redist = A64_GIC_REDIST, its = A64_GIC_ITS;
	uint32_t nr_irqs = A64_GIC_NR_IRQS;
	int ret;

	if (a->cpus > A64_MAX_CPUS) {
		*what = "the GIC's redistributors (too many vCPUs)";
		return -E2BIG;
	}
	*what = "KVM_CREATE_DEVICE(KVM_DEV_TYPE_ARM_VGIC_V3)";
	ret = a64_create_device(vm_fd, KVM_DEV_TYPE_ARM_VGIC_V3, &a->gic_fd);
	if (ret)
		return ret;
	*what = "KVM_SET_DEVICE_ATTR(vGIC distributor)";
	ret = a64_dev_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
	if (ret)
		return ret;
	*what = "KVM_SET_DEVICE_ATTR(vGIC redistributors)";
	ret = a64_dev_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
			   &redist);
	if (ret)
		return ret;
	*what = "KVM_SET_DEVICE_ATTR(vGIC interrupts)";
	ret = a64_dev_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs);
	if (ret)
		return ret;
	*what = "KVM_CREATE_DEVICE(KVM_DEV_TYPE_ARM_VGIC_ITS)";
	ret = a64_create_device(vm_fd, KVM_DEV_TYPE_ARM_VGIC_ITS, &a->its_fd);
	if (ret)
		return ret;
	*what = "KVM_SET_DEVICE_ATTR(vGIC ITS)";
	return a64_dev_attr(a->its_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its);
}

/* A GICv2 (distributor and CPU interface); its MSIs come through the GICv2m frame. */
static int a64_gic_v2(struct arch_vm *a, int vm_fd, const char **what)
{
	uint64_t dist = A64_GIC_DIST, cpu = A64_GICV2_CPU;
	uint32_t nr_irqs = A64_GICV2_NR_IRQS;
	int ret;

	if (a->cpus > A64_GICV2_MAX_CPUS) {
		*what = "KVM's GICv2 (at most 8 vCPUs; this host has no GICv3)";
		return -E2BIG;
	}
	a->gic_v2 = true;
	*what = "KVM_CREATE_DEVICE(KVM_DEV_TYPE_ARM_VGIC_V2)";
	ret = a64_create_device(vm_fd, KVM_DEV_TYPE_ARM_VGIC_V2, &a->gic_fd);
	if (ret)
		return ret;
	*what = "KVM_SET_DEVICE_ATTR(vGIC distributor)";
	ret = a64_dev_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_DIST, &dist);
	if (ret)
		return ret;
	*what = "KVM_SET_DEVICE_ATTR(vGIC CPU interface)";
	ret = a64_dev_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_CPU, &cpu);
	if (ret)
		return ret;
	*what = "KVM_SET_DEVICE_ATTR(vGIC interrupts)";
	return a64_dev_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs);
}

/* A GICv3 where KVM can make one, else a GICv2. */
int arch_vm_init(struct arch_vm *a, int kvm_fd, int vm_fd, const char **what)
{
	struct kvm_create_device test = {.type = KVM_DEV_TYPE_ARM_VGIC_V3,
					 .flags = KVM_CREATE_DEVICE_TEST};
	int ret;

	(void)kvm_fd;
	ret = kvm_ioctl_ptr(vm_fd, KVM_ARM_PREFERRED_TARGET, &a->init);
	if (ret < 0) {
		*what = "KVM_ARM_PREFERRED_TARGET";
		return ret;
	}
	ret = kvm_ioctl_ptr(vm_fd, KVM_CREATE_DEVICE, &test);
	if (ret == -ENODEV) {
		log_debug("no GICv3 in KVM: a GICv2 with a GICv2m frame");
		return a64_gic_v2(a, vm_fd, what);
	}
	return a64_gic_v3(a, vm_fd, what);
}

int arch_load(struct arch_vm *a, const struct guest_mem *gm, const struct arch_images *img,
	      bool *initrd, const char **why)
{
	uint8_t *dst;
	int ret;

	*initrd = false;
	ret = a64_image_parse(img->kernel, img->kernel_len, &a->image, why);
	if (!ret)
		ret = a64_boot_layout(&a->image, A64_RAM, a64_ram_size(a->mem),
				      img->initrd ? img->initrd_len : 0, &a->boot, initrd, why);
	if (ret)
		return ret;
	dst = gm_ptr(gm, a->boot.kernel, img->kernel_len);
	if (!dst) {
		*why = "kernel does not fit in guest RAM (see --memory)";
		return -ENOSPC;
	}
	memcpy(dst, img->kernel, img->kernel_len);
	if (a->boot.initrd_len) {
		dst = gm_ptr(gm, a->boot.initrd, a->boot.initrd_len);
		if (!dst) {
			*initrd = true;
			*why = "initrd does not fit in guest RAM (see --memory)";
			return -ENOSPC;
		}
		memcpy(dst, img->initrd, a->boot.initrd_len);
	}
	a->cmdline = img->cmdline;
	return 0;
}

int arch_platform_create(struct arch_vm *a, const struct arch_platform *p, struct pci_host **pci)
{
	const struct pci_host_windows win = {
	    .ecam = A64_PCI_ECAM,
	    .mmio32 = A64_PCI_MMIO32,
	    .mmio32_size = A64_PCI_MMIO32_SIZE,
	    .mmio64 = A64_PCI_MMIO64,
	    .mmio64_size = A64_PCI_MMIO64_SIZE,
	    .io = A64_PCI_IO_MIN,
	    .io_size = A64_PCI_IO_SIZE - A64_PCI_IO_MIN,
	    .io_mmio = A64_PCI_IO,
	};
	int ret;

	irq_line_init_kvm(&a->uart_irq, p->vm_fd, A64_IRQ_LINE_SPI(A64_UART_SPI));
	irq_line_init_kvm(&a->rtc_irq, p->vm_fd, A64_IRQ_LINE_SPI(A64_RTC_SPI));
	ret = serial_8250_create(p->devices, p->mmio, A64_UART, &a->uart_irq, p->con);
	if (!ret)
		ret = pl031_create(p->devices, p->mmio, A64_RTC, &a->rtc_irq);
	if (!ret)
		ret = pvpanic_create(p->devices, p->mmio, A64_PVPANIC, p->sink);
	if (!ret && a->gic_v2)
		ret = a64_v2m_create(p->devices, p->mmio, A64_GICV2M, p->vm_fd, A64_GICV2M_FIRST,
				     A64_GICV2M_COUNT);
	/* No port I/O on arm64: the configuration ports are never reached. */
	if (!ret)
		ret = pci_host_create(p->devices, pci, p->pio, p->mmio, 0xcf8, &win);
	return ret;
}

int arch_irq_create(struct arch_vm *a, int vm_fd, struct irq_kvm **out, struct irq_chip *chip)
{
	int ret;

	ret = irq_kvm_create_flags(out, vm_fd, a->gic_v2 ? 0 : IRQ_KVM_MSI_DEVID, chip);
	if (ret)
		return ret;
	irq_kvm_set_pio_mmio(*out, A64_PCI_IO);
	if (a->gic_v2)
		irq_kvm_set_msi_spi(*out, A64_GICV2M + A64_V2M_SETSPI, A64_GICV2M_FIRST,
				    A64_GICV2M_COUNT);
	return 0;
}

int arch_vcpu_init(struct arch_vm *a, int kvm_fd, int vm_fd, struct vcpu *v,
		   const struct guest_mem *gm, const char **what)
{
	struct kvm_vcpu_init init = a->init;
	struct kvm_one_reg reg = {
	    .id = A64_MPIDR_EL1,
	    .addr = (uint64_t)(uintptr_t)&a->mpidr[v->index],
	};
	int ret;

	(void)kvm_fd;
	(void)vm_fd;
	(void)gm;
	init.features[0] |= 1U << KVM_ARM_VCPU_PSCI_0_2;
	/* The secondaries wait powered off until the guest starts them (PSCI CPU_ON). */
	if (v->index)
		init.features[0] |= 1U << KVM_ARM_VCPU_POWER_OFF;
	ret = kvm_ioctl_ptr(v->fd, KVM_ARM_VCPU_INIT, &init);
	if (ret < 0) {
		*what = "KVM_ARM_VCPU_INIT";
		return ret;
	}
	ret = kvm_ioctl_ptr(v->fd, KVM_GET_ONE_REG, &reg);
	if (ret < 0)
		*what = "KVM_GET_ONE_REG(MPIDR_EL1)";
	return ret < 0 ? ret : 0;
}

static int a64_set_reg(int vcpu_fd, uint64_t id, uint64_t val)
{
	struct kvm_one_reg reg = {.id = id, .addr = (uint64_t)(uintptr_t)&val};

	return kvm_ioctl_ptr(vcpu_fd, KVM_SET_ONE_REG, &reg);
}

/* Writes the tree to --dtb-out as well: for inspection with dtc. */
static int a64_write_dtb(const char *path, const void *dtb, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, dtb, len);
	if (n != (ssize_t)len) {
		int ret = n < 0 ? -errno : -EIO;

		close(fd);
		return ret;
	}
	return close(fd) ? -errno : 0;
}

static int a64_build_dtb(struct arch_vm *a, const struct guest_mem *gm, const char **what)
{
	struct dt_machine m = {
	    .ram = A64_RAM,
	    .ram_size = a64_ram_size(a->mem),
	    .nr_cpus = a->cpus,
	    .mpidr = a->mpidr,
	    .gic_dist = A64_GIC_DIST,
	    .gic_dist_size = A64_GIC_DIST_SIZE,
	    .gic_redist = A64_GIC_REDIST,
	    .gic_redist_size = a->cpus * A64_GIC_REDIST_SIZE_PER_CPU,
	    .its = A64_GIC_ITS,
	    .its_size = A64_GIC_ITS_SIZE,
	    .uart = A64_UART,
	    .uart_size = A64_UART_SIZE,
	    .uart_spi = A64_UART_SPI,
	    .uart_clock = A64_UART_CLOCK,
	    .rtc = A64_RTC,
	    .rtc_size = A64_RTC_SIZE,
	    .rtc_spi = A64_RTC_SPI,
	    .pvpanic = A64_PVPANIC,
	    .pvpanic_size = PVPANIC_MMIO_SIZE,
	    .pci_ecam = A64_PCI_ECAM,
	    .pci_ecam_size = A64_PCI_ECAM_SIZE,
	    .pci_io = A64_PCI_IO,
	    .pci_io_size = A64_PCI_IO_SIZE,
	    .pci_mmio32 = A64_PCI_MMIO32,
	    .pci_mmio32_size = A64_PCI_MMIO32_SIZE,
	    .pci_mmio64 = A64_PCI_MMIO64,
	    .pci_mmio64_size = A64_PCI_MMIO64_SIZE,
	    .bootargs = a->cmdline,
	    .initrd = a->boot.initrd,
	    .initrd_len = a->boot.initrd_len,
	};
	uint8_t *dtb = gm_ptr(gm, a->boot.dtb, A64_DTB_MAX);
	int ret;

	if (a->gic_v2) {
		m.gic_v2 = true;
		m.gic_dist_size = A64_GICV2_DIST_SIZE;
		m.gic_redist = m.gic_redist_size = m.its = m.its_size = 0;
		m.gic_cpu = A64_GICV2_CPU;
		m.gic_cpu_size = A64_GICV2_CPU_SIZE;
		m.v2m = A64_GICV2M;
		m.v2m_size = A64_V2M_SIZE;
		m.v2m_first = A64_GICV2M_FIRST;
		m.v2m_count = A64_GICV2M_COUNT;
	}
	*what = "building the device tree";
	if (!dtb)
		return -EFAULT;
	ret = dt_build(dtb, A64_DTB_MAX, &m);
	if (!ret && a->dtb_out) {
		*what = a->dtb_out;
		ret = a64_write_dtb(a->dtb_out, dtb, fdt_totalsize(dtb));
	}
	return ret;
}

int arch_vcpus_ready(struct arch_vm *a, int vm_fd, struct vcpu *vcpus, unsigned int n,
		     const struct guest_mem *gm, const char **what)
{
	int ret;

	(void)vm_fd;
	*what = "KVM_SET_DEVICE_ATTR(vGIC KVM_DEV_ARM_VGIC_CTRL_INIT)";
	ret = a64_dev_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	if (ret)
		return ret;
	*what = "KVM_SET_DEVICE_ATTR(vGIC ITS KVM_DEV_ARM_VGIC_CTRL_INIT)";
	if (a->its_fd >= 0)
		ret = a64_dev_attr(a->its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT,
				   NULL);
	if (ret)
		return ret;
	ret = a64_build_dtb(a, gm, what);
	if (ret)
		return ret;
	if (!n)
		return 0;
	*what = "KVM_SET_ONE_REG(boot registers)";
	ret = a64_set_reg(vcpus[0].fd, A64_CORE_REG(regs.pstate), A64_PSTATE_BOOT);
	if (!ret)
		ret = a64_set_reg(vcpus[0].fd, A64_CORE_REG(regs.pc), a->boot.kernel);
	if (!ret)
		ret = a64_set_reg(vcpus[0].fd, A64_CORE_REG(regs.regs[0]), a->boot.dtb);
	for (unsigned int r = 1; r < 4 && !ret; r++)
		ret = a64_set_reg(vcpus[0].fd, A64_CORE_REG(regs.regs[r]), 0);
	return ret;
}

void arch_dump_regs(int vcpu_fd, unsigned int index)
{
	uint64_t pc = 0, pstate = 0, x0 = 0;
	struct kvm_one_reg reg;

	reg = (struct kvm_one_reg){.id = A64_CORE_REG(regs.pc), .addr = (uintptr_t)&pc};
	if (kvm_ioctl_ptr(vcpu_fd, KVM_GET_ONE_REG, &reg) < 0)
		return;
	reg = (struct kvm_one_reg){.id = A64_CORE_REG(regs.pstate), .addr = (uintptr_t)&pstate};
	(void)kvm_ioctl_ptr(vcpu_fd, KVM_GET_ONE_REG, &reg);
	reg = (struct kvm_one_reg){.id = A64_CORE_REG(regs.regs[0]), .addr = (uintptr_t)&x0};
	(void)kvm_ioctl_ptr(vcpu_fd, KVM_GET_ONE_REG, &reg);
	log_debug("vCPU %u: pc=0x%llx pstate=0x%llx x0=0x%llx", index, (unsigned long long)pc,
		  (unsigned long long)pstate, (unsigned long long)x0);
}
