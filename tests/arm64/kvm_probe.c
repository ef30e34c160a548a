// SPDX-License-Identifier: Apache-2.0
/*
 * kvm_probe: the least a VMM on arm64 KVM does, to tell a broken test machine from
 * a broken kvmrun. Boots an arm64 Image (firmware/arm64) on one vCPU with PSCI 0.2,
 * no interrupt controller, a 16550 at UART_BASE answered here and a device tree
 * built with libfdt; the guest's bytes go to stdout.
 * Usage: kvm_probe IMAGE [BOOTARGS]
 * Exit status: 0 after PSCI SYSTEM_OFF or SYSTEM_RESET, 1 on any failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (128ull << 20)
#define DTB_OFFSET (64ull << 20)
#define DTB_SIZE 0x10000
#define UART_BASE 0x1000000ull
#define IMAGE_MAGIC 0x644d5241u

static int fail(const char *what)
{
	fprintf(stderr, "kvm_probe: %s: %s\n", what, strerror(errno));
	return 1;
}

static int build_fdt(void *buf, const char *bootargs)
{
	uint64_t mem[2] = {cpu_to_fdt64(RAM_BASE), cpu_to_fdt64(RAM_SIZE)};
	uint64_t uart[2] = {cpu_to_fdt64(UART_BASE), cpu_to_fdt64(8)};
	int r = 0;

	r |= fdt_create(buf, DTB_SIZE);
	r |= fdt_finish_reservemap(buf);
	r |= fdt_begin_node(buf, "");
	r |= fdt_property_string(buf, "compatible", "linux,dummy-virt");
	r |= fdt_property_u32(buf, "#address-cells", 2);
	r |= fdt_property_u32(buf, "#size-cells", 2);
	r |= fdt_begin_node(buf, "memory@80000000");
	r |= fdt_property_string(buf, "device_type", "memory");
	r |= fdt_property(buf, "reg", mem, sizeof(mem));
	r |= fdt_end_node(buf);
	r |= fdt_begin_node(buf, "cpus");
	r |= fdt_property_u32(buf, "#address-cells", 1);
	r |= fdt_property_u32(buf, "#size-cells", 0);
	r |= fdt_begin_node(buf, "cpu@0");
	r |= fdt_property_string(buf, "device_type", "cpu");
	r |= fdt_property_string(buf, "compatible", "arm,arm-v8");
	r |= fdt_property_u32(buf, "reg", 0);
	r |= fdt_property_string(buf, "enable-method", "psci");
	r |= fdt_end_node(buf);
	r |= fdt_end_node(buf);
	r |= fdt_begin_node(buf, "psci");
	r |= fdt_property_string(buf, "compatible", "arm,psci-0.2");
	r |= fdt_property_string(buf, "method", "hvc");
	r |= fdt_end_node(buf);
	r |= fdt_begin_node(buf, "uart@1000000");
	r |= fdt_property_string(buf, "compatible", "ns16550a");
	r |= fdt_property(buf, "reg", uart, sizeof(uart));
	r |= fdt_property_u32(buf, "clock-frequency", 1843200);
	r |= fdt_end_node(buf);
	r |= fdt_begin_node(buf, "chosen");
	r |= fdt_property_string(buf, "bootargs", bootargs);
	r |= fdt_end_node(buf);
	r |= fdt_end_node(buf);
	r |= fdt_finish(buf);
	return r ? -1 : 0;
}

static int set_reg(int vcpu, uint64_t off, uint64_t v)
{
	struct kvm_one_reg reg = {
	    .id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (off / sizeof(uint32_t)),
	    .addr = (uint64_t)(uintptr_t)&v,
	};

	return ioctl(vcpu, KVM_SET_ONE_REG, &reg);
}

static int run(int vcpu, struct kvm_run *kr)
{
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			return fail("KVM_RUN");
		}
		switch (kr->exit_reason) {
		case KVM_EXIT_MMIO:
			if (kr->mmio.is_write && kr->mmio.phys_addr == UART_BASE) {
				fputc(kr->mmio.data[0], stdout);
				fflush(stdout);
			} else if (!kr->mmio.is_write) {
				memset(kr->mmio.data, 0, sizeof(kr->mmio.data));
				if (kr->mmio.phys_addr == UART_BASE + 5)
					kr->mmio.data[0] = 0x60; /* LSR: THRE, TEMT */
			}
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			printf("kvm_probe: system event %u (%s)\n", kr->system_event.type,
			       kr->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ? "off"
			       : kr->system_event.type == KVM_SYSTEM_EVENT_RESET  ? "reset"
										  : "other");
			return kr->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
				       kr->system_event.type == KVM_SYSTEM_EVENT_RESET
				   ? 0
				   : 1;
		default:
			fprintf(stderr, "kvm_probe: exit reason %u\n", kr->exit_reason);
			return 1;
		}
	}
}

int main(int argc, char **argv)
{
	struct kvm_userspace_memory_region region = {0};
	struct kvm_create_device gic = {.type = KVM_DEV_TYPE_ARM_VGIC_V3,
					.flags = KVM_CREATE_DEVICE_TEST};
	struct kvm_vcpu_init init;
	struct kvm_run *kr;
	uint8_t *ram;
	ssize_t n;
	int kvm, vm, vcpu, fd, mmap_size;

	if (argc < 2) {
		fprintf(stderr, "usage: kvm_probe IMAGE [BOOTARGS]\n");
		return 1;
	}
	alarm(600);
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	printf("kvm_probe: api %d, psci 0.2 %d, vgic-v3 %s, max vcpus %d\n",
	       ioctl(kvm, KVM_GET_API_VERSION, 0),
	       ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PSCI_0_2),
	       ioctl(vm, KVM_CREATE_DEVICE, &gic) ? "no" : "yes",
	       ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS));
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return fail("mmap");
	region.guest_phys_addr = RAM_BASE;
	region.memory_size = RAM_SIZE;
	region.userspace_addr = (uint64_t)(uintptr_t)ram;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
		return fail("KVM_SET_USER_MEMORY_REGION");
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(argv[1]);
	n = read(fd, ram, DTB_OFFSET);
	close(fd);
	if (n < 64 || ((uint32_t *)ram)[14] != IMAGE_MAGIC) {
		fprintf(stderr, "kvm_probe: %s: not an arm64 Image\n", argv[1]);
		return 1;
	}
	if (build_fdt(ram + DTB_OFFSET, argc > 2 ? argv[2] : "")) {
		fprintf(stderr, "kvm_probe: the device tree does not fit\n");
		return 1;
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init))
		return fail("KVM_ARM_PREFERRED_TARGET");
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init))
		return fail("KVM_ARM_VCPU_INIT");
	if (set_reg(vcpu, offsetof(struct kvm_regs, regs.pc), RAM_BASE) ||
	    set_reg(vcpu, offsetof(struct kvm_regs, regs.regs[0]), RAM_BASE + DTB_OFFSET))
		return fail("KVM_SET_ONE_REG");
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0)
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	kr = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (kr == MAP_FAILED)
		return fail("mmap kvm_run");
	return run(vcpu, kr);
}
