// SPDX-License-Identifier: Apache-2.0
/* The machine: builds everything from the config, runs it, tears it down. */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/boot.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/platform_layout.h"
#include "arch/x86_64/pvh.h"
#include "backend/console.h"
#include "backend/passt_daemon.h"
#include "backend/virtiofsd.h"
#include "pci.h"
#include "platform.h"
#include "virtio/console_ports.h"
#include "virtio/devices.h"
#include "virtio/virtio_pci.h"
#include "kvmrun/bus.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "kvmrun/irq.h"
#include "kvmrun/kvm.h"
#include "kvmrun/log.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/sched_policy.h"
#include "kvmrun/vcpu.h"
#include "kvmrun/vm.h"

#define KVM_DEVICE "/dev/kvm"
#define VM_TSS_ADDR 0xfffbd000ULL
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ULL
#define VM_MAX_FILE (2ULL * GiB)

struct vm {
	struct vm_config cfg;
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	uint8_t *ram;
	int ram_fd; /* the memfd behind ram when it is shared (--share), else -1 */
	struct guest_mem gm;
	struct bus pio;
	struct bus mmio;
	struct ev_loop *loop;
	struct sp_policy *sched; /* how the loop waits, fed by the devices */
	struct console *con;
	struct sandbox_cleanup cleanup; /* puts the terminal back on a refused call */
	struct device *devices;
	struct fs_daemon *fs_daemons[VM_MAX_SHARES]; /* --share i's daemon, stopped after devices */
	struct passt_daemon *passts[VM_MAX_NETS];    /* --net i's passt (user), likewise */
	struct platform_sink sink;
	struct irq_line com1_irq;
	struct irq_kvm *irq_kvm;
	struct irq_chip irq; /* MSI routes, irqfds and ioeventfds for PCI devices */
	struct pci_host *pci;
	uint64_t pci_mmio64, pci_mmio64_size;
	int sig_fd;
	sigset_t old_mask;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	uint8_t *kernel; /* the input files, held from start until they are loaded */
	size_t kernel_len;
	uint8_t *initrd;
	size_t initrd_len;
	bool pvh; /* the kernel is a PVH ELF, entered in 32-bit mode */
	struct vm_extras extras;  /* a mode's named console ports */
	struct virtio_dev *ports; /* their device */
};

/* Setup failures: one line naming the cause, and the status to exit with. */
static int vm_fail(int status, const char *fmt, ...) PRINTF_FMT(2, 3);
static int vm_fail(int status, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_err("%s", line);
	return status;
}

/* Maps a whole input file read-only; guest loading then copies it from the page cache once. */
static int vm_read_file(const char *what, const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vm_fail(KVMRUN_ERR_INPUT, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vm_fail(KVMRUN_ERR_INPUT, "%s %s: not a regular file", what, path);
	}
	if ((uint64_t)st.st_size > VM_MAX_FILE) {
		close(fd);
		return vm_fail(KVMRUN_ERR_INPUT, "%s %s: larger than 2 GiB", what, path);
	}
	*len = (size_t)st.st_size;
	if (!*len) {
		/* An empty kernel fails its header check; an empty initrd is no initrd. */
		close(fd);
		*data = NULL;
		return 0;
	}
	p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return vm_fail(KVMRUN_ERR_INPUT, "%s %s: %s", what, path, strerror(errno));
	*data = p;
	return 0;
}

static void vm_unmap_file(uint8_t **data, size_t *len)
{
	if (*data && *len)
		munmap(*data, *len);
	*data = NULL;
	*len = 0;
}

/* The input files are read and checked first: they are the commonest mistake, and need no KVM. */
static int vm_read_inputs(struct vm *vm)
{
	struct pvh_image *pi;
	struct bzimage bz;
	const char *why;
	int ret;

	ret = vm_read_file("kernel", vm->cfg.kernel, &vm->kernel, &vm->kernel_len);
	if (ret)
		return ret;
	vm->pvh = pvh_is_elf(vm->kernel, vm->kernel_len);
	if (vm->pvh) {
		pi = malloc(sizeof(*pi));
		if (!pi)
			return vm_fail(KVMRUN_ERR_INTERNAL, "out of memory");
		ret = pvh_parse(vm->kernel, vm->kernel_len, vm->cfg.memory, pi, &why);
		free(pi);
		if (ret)
			return vm_fail(KVMRUN_ERR_INPUT, "kernel %s: %s", vm->cfg.kernel, why);
	} else if (boot_parse_bzimage(vm->kernel, vm->kernel_len, &bz, &why)) {
		return vm_fail(KVMRUN_ERR_INPUT, "kernel %s: %s", vm->cfg.kernel, why);
	}
	if (vm->cfg.initrd) {
		ret = vm_read_file("initrd", vm->cfg.initrd, &vm->initrd, &vm->initrd_len);
		if (ret)
			return ret;
	}
	if (vm->cfg.console_log) {
		int fd = open(vm->cfg.console_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0)
			return vm_fail(KVMRUN_ERR_USAGE, "--console-log %s: %s", vm->cfg.console_log,
				       strerror(errno));
		close(fd);
	}
	return 0;
}

static void vm_free_inputs(struct vm *vm)
{
	vm_unmap_file(&vm->kernel, &vm->kernel_len);
	vm_unmap_file(&vm->initrd, &vm->initrd_len);
}

static int vm_open_kvm(struct vm *vm)
{
	static const struct {
		int cap;
		const char *name;
	} caps[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	};
	int max_vcpus, ret;

	vm->kvm_fd = open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = errno;
		return vm_fail(KVMRUN_ERR_KVM, "%s: %s%s", KVM_DEVICE, strerror(ret),
			       ret == ENOENT ? " (is the kvm module loaded?)" :
			       ret == EACCES ? " (is the user in the kvm group?)" : "");
	}
	ret = kvm_ioctl_val(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret < 0)
		return vm_fail(KVMRUN_ERR_KVM, "%s: KVM_GET_API_VERSION: %s", KVM_DEVICE,
			       strerror(-ret));
	if (ret != KVM_API_VERSION)
		return vm_fail(KVMRUN_ERR_KVM, "%s: KVM API version %d, need %d", KVM_DEVICE, ret,
			       KVM_API_VERSION);
	for (unsigned int i = 0; i < ARRAY_SIZE(caps); i++)
		if (kvm_ioctl_val(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0)
			return vm_fail(KVMRUN_ERR_KVM, "%s: lacks %s", KVM_DEVICE, caps[i].name);
	max_vcpus = kvm_ioctl_val(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = kvm_ioctl_val(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = 4;
	if (vm->cfg.cpus > (unsigned int)max_vcpus)
		return vm_fail(KVMRUN_ERR_USAGE, "--cpus %u: above KVM's limit of %d", vm->cfg.cpus,
			       max_vcpus);
	ret = kvm_ioctl_val(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret <= 0)
		return vm_fail(KVMRUN_ERR_KVM, "KVM_GET_VCPU_MMAP_SIZE: %s",
			       ret ? strerror(-ret) : "size 0");
	vm->run_size = (size_t)ret;
	vm->vm_fd = kvm_ioctl_val(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return vm_fail(KVMRUN_ERR_KVM, "KVM_CREATE_VM: %s", strerror(-vm->vm_fd));
	return 0;
}

static int vm_setup_machine(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = VM_IDENTITY_MAP_ADDR;
	uint64_t low, high;
	int ret;

	ret = kvm_ioctl_val(vm->vm_fd, KVM_SET_TSS_ADDR, VM_TSS_ADDR);
	if (ret < 0)
		return vm_fail(KVMRUN_ERR_KVM, "KVM_SET_TSS_ADDR: %s", strerror(-ret));
	ret = kvm_ioctl_ptr(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity);
	if (ret < 0)
		return vm_fail(KVMRUN_ERR_KVM, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(-ret));
	ret = kvm_ioctl_val(vm->vm_fd, KVM_CREATE_IRQCHIP, 0);
	if (ret < 0)
		return vm_fail(KVMRUN_ERR_KVM, "KVM_CREATE_IRQCHIP: %s", strerror(-ret));
	ret = kvm_ioctl_ptr(vm->vm_fd, KVM_CREATE_PIT2, &pit);
	if (ret < 0)
		return vm_fail(KVMRUN_ERR_KVM, "KVM_CREATE_PIT2: %s", strerror(-ret));

	/* Shared RAM for the vhost-user backends (virtiofsd) of --share. */
	vm->ram = gm_map_ram(vm->cfg.memory, vm->cfg.nr_shares > 0, &vm->ram_fd);
	if (!vm->ram)
		return vm_fail(KVMRUN_ERR_USAGE, "--memory: cannot map %llu MiB of guest RAM: %s",
			       (unsigned long long)(vm->cfg.memory / MiB), strerror(errno));
	boot_ram_split(vm->cfg.memory, &low, &high);
	for (unsigned int slot = 0; slot < 2; slot++) {
		uint64_t gpa = slot ? LAYOUT_MMIO_HOLE_END : 0;
		uint64_t size = slot ? high : low;
		uint8_t *host = vm->ram + (slot ? low : 0);
		struct kvm_userspace_memory_region region = {
			.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
			.userspace_addr = (uint64_t)(uintptr_t)host,
		};

		if (!size)
			continue;
		ret = kvm_ioctl_ptr(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
		if (ret < 0)
			return vm_fail(KVMRUN_ERR_KVM, "KVM_SET_USER_MEMORY_REGION: %s",
				       strerror(-ret));
		if (vm->ram_fd >= 0 ? gm_add_region_fd(&vm->gm, gpa, size, host, vm->ram_fd,
						       (uint64_t)(host - vm->ram))
				    : gm_add_region(&vm->gm, gpa, size, host))
			return vm_fail(KVMRUN_ERR_INTERNAL, "guest memory map is inconsistent");
	}
	return 0;
}

/* The 64-bit PCI window: above RAM, inside the physical address bits KVM passes on. */
static void vm_pci_windows(struct vm *vm)
{
	unsigned int eax, ebx, ecx, edx, phys_bits = 36;
	uint64_t low, high;

	if (__get_cpuid(0x80000008, &eax, &ebx, &ecx, &edx) && (eax & 0xff) >= 36)
		phys_bits = eax & 0xff;
	boot_ram_split(vm->cfg.memory, &low, &high);
	layout_pci_mmio64(high ? LAYOUT_MMIO_HOLE_END + high : low, phys_bits, &vm->pci_mmio64,
			  &vm->pci_mmio64_size);
}

static int vm_load(struct vm *vm, uint64_t *entry, uint64_t *boot_params)
{
	struct boot_images img = {
		.cmdline = vm->cfg.append,
		.kernel = vm->kernel, .kernel_len = vm->kernel_len,
		.initrd = vm->initrd, .initrd_len = vm->initrd_len,
	};
	struct acpi_config acpi = { .nr_cpus = vm->cfg.cpus, .pci = true };
	uint32_t *apic_ids;
	const char *why = NULL;
	uint8_t *acpi_buf;
	int ret;

	vm_pci_windows(vm);
	acpi.pci_mmio64 = vm->pci_mmio64;
	acpi.pci_mmio64_size = vm->pci_mmio64_size;
	apic_ids = calloc(vm->cfg.cpus, sizeof(*apic_ids));
	if (!apic_ids)
		return vm_fail(KVMRUN_ERR_INTERNAL, "out of memory");
	for (unsigned int i = 0; i < vm->cfg.cpus; i++)
		apic_ids[i] = cpu_apic_id(i);
	acpi.apic_ids = apic_ids;
	acpi_buf = gm_ptr(&vm->gm, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE);
	ret = acpi_buf ? acpi_build(acpi_buf, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_BASE, &acpi, &img.rsdp)
		       : -EFAULT;
	free(apic_ids);
	if (ret)
		return vm_fail(KVMRUN_ERR_INTERNAL, "building ACPI tables: %s", strerror(-ret));

	if (vm->pvh)
		ret = pvh_load(&vm->gm, vm->cfg.memory, &img, entry, boot_params, &why);
	else
		ret = boot_load_linux(&vm->gm, vm->cfg.memory, &img, entry, boot_params, &why);
	if (ret) {
		bool initrd = strstr(why, "initrd") != NULL;

		return vm_fail(KVMRUN_ERR_INPUT, "%s %s: %s", initrd ? "initrd" : "kernel",
			       initrd ? vm->cfg.initrd : vm->cfg.kernel, why);
	}
	vm_free_inputs(vm);
	return 0;
}

static void vm_platform_event(void *opaque, enum platform_event ev)
{
	struct vm *vm = opaque;

	switch (ev) {
	case PLATFORM_POWEROFF:
		log_info("guest powered off");
		ev_stop(vm->loop, KVMRUN_OK);
		break;
	case PLATFORM_RESET:
		log_info("guest rebooted");
		ev_stop(vm->loop, KVMRUN_OK);
		break;
	case PLATFORM_PANIC:
		log_err("guest kernel panicked");
		ev_stop(vm->loop, KVMRUN_GUEST_PANIC);
		break;
	}
}

static void vm_guest_exit(void *opaque, int status)
{
	struct vm *vm = opaque;

	log_info("guest asked to exit with status %d", status);
	ev_stop(vm->loop, status);
}

static void vm_vcpu_exit(void *opaque, struct vcpu *vcpu, int status, const char *why)
{
	struct vm *vm = opaque;

	if (why) {
		log_err("vCPU %u: %s", vcpu->index, why);
		/* not for kvmrun's own failures: the guest's registers say nothing then */
		if (status != KVMRUN_ERR_INTERNAL)
			cpu_dump_regs(vcpu->fd, vcpu->index);
	}
	ev_stop(vm->loop, status);
}

static void vm_console_quit(void *opaque)
{
	struct vm *vm = opaque;

	log_info("quit from the console");
	ev_stop(vm->loop, KVMRUN_OK);
}

static void vm_signal(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(vm->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("stopped by signal %u", si.ssi_signo);
	ev_stop(vm->loop, 128 + (int)si.ssi_signo);
}

static int vm_setup_signals(struct vm *vm)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, VCPU_KICK_SIGNAL);
	/* Blocked in every thread; vCPU threads unblock only the kick signal. */
	if (pthread_sigmask(SIG_BLOCK, &mask, &vm->old_mask))
		return vm_fail(KVMRUN_ERR_INTERNAL, "pthread_sigmask failed");
	signal(SIGPIPE, SIG_IGN);
	/* A write past RLIMIT_FSIZE fails with EFBIG (an I/O error for the guest). */
	signal(SIGXFSZ, SIG_IGN);
	if (vcpu_signal_setup())
		return vm_fail(KVMRUN_ERR_INTERNAL, "sigaction failed");
	sigdelset(&mask, VCPU_KICK_SIGNAL);
	vm->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->sig_fd < 0)
		return vm_fail(KVMRUN_ERR_INTERNAL, "signalfd: %s", strerror(errno));
	if (ev_add(vm->loop, vm->sig_fd, EPOLLIN, vm_signal, vm))
		return vm_fail(KVMRUN_ERR_INTERNAL, "event loop: cannot watch signals");
	return 0;
}

/* The guest's names for the disks, in --disk order (virtio-blk probes in slot order). */
static const char *const vm_disk_names[VM_MAX_DISKS] = {
	"vda", "vdb", "vdc", "vdd", "vde", "vdf", "vdg", "vdh",
	"vdi", "vdj", "vdk", "vdl", "vdm", "vdn", "vdo", "vdp",
};

/* --share i: its daemon, and a virtio-fs device on the daemon's socket. */
static int vm_setup_share(struct vm *vm, unsigned int i)
{
	const struct share_config *sc = &vm->cfg.shares[i];
	struct virtio_dev *vdev;
	char err[512], why[512];
	int ret, sock = -1;

	ret = fs_daemon_start(&vm->fs_daemons[i], sc, &sock, err, sizeof(err));
	if (ret)
		return vm_fail(ret, "%s", err);
	ret = virtio_fs_create(&vdev, sc, sock, vm->loop, &vm->gm, err, sizeof(err));
	if (ret == -ENOMEM)
		return vm_fail(KVMRUN_ERR_INTERNAL, "%s", err);
	if (ret) /* a daemon that has exited says why in its last line */
		return vm_fail(KVMRUN_ERR_INPUT, "%s",
			       fs_daemon_exited(vm->fs_daemons[i], why, sizeof(why)) ? why : err);
	ret = virtio_pci_create(&vm->devices, vm->pci, &vm->irq, vdev);
	if (ret)
		return vm_fail(KVMRUN_ERR_INTERNAL, "--share %s: %s",
			       sc->path[0] ? sc->path : sc->socket, strerror(-ret));
	return 0;
}

/* --net i in user mode: its passt, whose socket the device takes (as the config's fd). */
static int vm_setup_passt(struct vm *vm, unsigned int i)
{
	struct net_config *nc = &vm->cfg.nets[i];
	char err[512];
	int ret;

	if (!nc->user)
		return 0;
	ret = passt_daemon_start(&vm->passts[i], nc, i, &nc->fd, err, sizeof(err));
	if (ret)
		return vm_fail(ret, "%s", err);
	return 0;
}

/*
 * virtio-console, then one virtio-blk per --disk, one virtio-net per --net and one
 * virtio-fs per --share, each on its own PCI slot.
 */
static int vm_setup_virtio(struct vm *vm)
{
	struct virtio_dev *vdev;
	char err[512];
	int ret;

	if (vm->cfg.console == CONSOLE_VIRTIO || vm->extras.nr_ports) {
		/* port 0 only for --console virtio; the named ports after it */
		ret = virtio_console_create_ports(&vdev,
						  vm->cfg.console == CONSOLE_VIRTIO ? vm->con : NULL,
						  vm->extras.ports, vm->extras.nr_ports, vm->loop,
						  &vm->gm);
		if (!ret && vm->extras.nr_ports)
			vm->ports = vdev;
		if (!ret)
			ret = virtio_pci_create(&vm->devices, vm->pci, &vm->irq, vdev);
		if (ret)
			return vm_fail(KVMRUN_ERR_INTERNAL, "virtio-console: %s", strerror(-ret));
	}
	for (unsigned int i = 0; i < vm->cfg.nr_disks; i++) {
		/* A queue per vCPU, as the guest's block layer likes it. */
		uint16_t nq = (uint16_t)MIN(vm->cfg.cpus, VIRTIO_BLK_MAX_QUEUES);

		vm->cfg.disks[i].sandbox = !vm->cfg.no_sandbox;
		ret = virtio_blk_create(&vdev, &vm->cfg.disks[i], nq, vm->loop, &vm->gm, err,
					sizeof(err));
		if (ret)
			return vm_fail(ret == -ENOMEM ? KVMRUN_ERR_INTERNAL : KVMRUN_ERR_INPUT, "%s",
				       err);
		vdev->id = vm_disk_names[i];
		vdev->sched = vm->sched;
		ret = virtio_pci_create(&vm->devices, vm->pci, &vm->irq, vdev);
		if (ret)
			return vm_fail(KVMRUN_ERR_INTERNAL, "--disk %s: %s", vm->cfg.disks[i].path,
				       strerror(-ret));
	}
	for (unsigned int i = 0; i < vm->cfg.nr_nets; i++) {
		ret = vm_setup_passt(vm, i);
		if (ret)
			return ret;
		ret = virtio_net_create(&vdev, &vm->cfg.nets[i], i, vm->loop, &vm->gm, err,
					sizeof(err));
		if (ret)
			return vm_fail(ret == -ENOMEM ? KVMRUN_ERR_INTERNAL : KVMRUN_ERR_INPUT, "%s",
				       err);
		vdev->sched = vm->sched;
		ret = virtio_pci_create(&vm->devices, vm->pci, &vm->irq, vdev);
		if (ret)
			return vm_fail(KVMRUN_ERR_INTERNAL, "--net %u: %s", i + 1, strerror(-ret));
	}
	for (unsigned int i = 0; i < vm->cfg.nr_shares; i++) {
		ret = vm_setup_share(vm, i);
		if (ret)
			return ret;
	}
	return 0;
}


/* What the ACPI tables tell the guest must match what the devices decode. */
_Static_assert(LAYOUT_PVPANIC_SIZE == PVPANIC_MMIO_SIZE, "pvpanic's size");
_Static_assert(PORT_PCI_CONFIG_LEN == PCI_CONFIG_PORT_LEN, "the PCI config ports");
_Static_assert(LAYOUT_PCI_ECAM_BUS0_SIZE == PCI_ECAM_BUS_SIZE, "bus 0's ECAM window");

static int vm_setup_devices(struct vm *vm)
{
	struct pci_host_windows win = {
		.ecam = LAYOUT_PCI_ECAM,
		.mmio32 = LAYOUT_PCI_MMIO32, .mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
		.mmio64 = vm->pci_mmio64, .mmio64_size = vm->pci_mmio64_size,
		.io = LAYOUT_PCI_IO_MIN, .io_size = LAYOUT_PCI_IO_MAX - LAYOUT_PCI_IO_MIN + 1,
	};
	int ret;

	ret = console_create(&vm->con, vm->loop, vm->cfg.console != CONSOLE_NONE,
			     vm->cfg.console_log, vm->cfg.console_log_max, vm_console_quit, vm);
	if (ret)
		return vm_fail(ret == -ENOMEM ? KVMRUN_ERR_INTERNAL : KVMRUN_ERR_USAGE,
			       "--console-log %s: %s", vm->cfg.console_log ? vm->cfg.console_log : "",
			       strerror(-ret));
	vm->sink = (struct platform_sink){
		.event = vm_platform_event, .exit = vm_guest_exit, .opaque = vm,
	};
	irq_line_init_kvm(&vm->com1_irq, &vm->vm_fd, PORT_COM1_IRQ);
	if (serial_8250_create(&vm->devices, &vm->pio, PORT_COM1, &vm->com1_irq, vm->con) ||
	    platform_create(&vm->devices, &vm->pio, &vm->mmio, &pc_layout, &vm->sink,
			    vm->cfg.exit_port) ||
	    pci_host_create(&vm->devices, &vm->pci, &vm->pio, &vm->mmio, PORT_PCI_CONFIG, &win))
		return vm_fail(KVMRUN_ERR_INTERNAL, "creating the platform devices failed");
	ret = irq_kvm_create(&vm->irq_kvm, vm->vm_fd, &vm->irq);
	if (ret)
		return vm_fail(KVMRUN_ERR_KVM, "KVM_CHECK_EXTENSION(KVM_CAP_IRQ_ROUTING): %s", strerror(-ret));
	if (vm->cfg.rng) {
		struct virtio_dev *vdev;

		ret = virtio_rng_create(&vdev, vm->loop, &vm->gm);
		if (!ret)
			ret = virtio_pci_create(&vm->devices, vm->pci, &vm->irq, vdev);
		if (ret)
			return vm_fail(KVMRUN_ERR_INTERNAL, "--rng: %s", strerror(-ret));
	}
	return vm_setup_virtio(vm);
}

static int vm_setup_vcpus(struct vm *vm, uint64_t entry, uint64_t boot_params)
{
	struct cpu_cpuid *cpuid;
	int ret = 0;

	vm->vcpus = calloc(vm->cfg.cpus, sizeof(*vm->vcpus));
	cpuid = malloc(sizeof(*cpuid));
	if (!vm->vcpus || !cpuid) {
		free(cpuid);
		return vm_fail(KVMRUN_ERR_INTERNAL, "out of memory");
	}
	ret = cpu_supported_cpuid(vm->kvm_fd, cpuid);
	if (ret) {
		free(cpuid);
		return vm_fail(KVMRUN_ERR_KVM, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
	}
	for (unsigned int i = 0; i < vm->cfg.cpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		ret = vcpu_create(v, vm->vm_fd, i, vm->run_size);
		if (ret) {
			ret = vm_fail(KVMRUN_ERR_KVM, "KVM_CREATE_VCPU %u: %s", i, strerror(-ret));
			break;
		}
		vm->nr_vcpus++;
		v->pio = &vm->pio;
		v->mmio = &vm->mmio;
		v->on_exit = vm_vcpu_exit;
		v->opaque = vm;
		v->sandbox = !vm->cfg.no_sandbox;
		ret = cpu_init_vcpu(v->fd, cpuid, i, vm->cfg.cpus);
		if (!ret && i == 0)
			ret = cpu_set_boot_regs(v->fd, &vm->gm,
						vm->pvh ? CPU_BOOT_PVH32 : CPU_BOOT_LINUX64, entry,
						boot_params);
		if (ret) {
			ret = vm_fail(KVMRUN_ERR_KVM, "vCPU %u: setting CPUID/MSRs/registers: %s", i,
				      strerror(-ret));
			break;
		}
	}
	free(cpuid);
	return ret;
}

int vm_create(struct vm **out, const struct vm_config *cfg)
{
	return vm_create_extras(out, cfg, NULL);
}

struct ev_loop *vm_loop(struct vm *vm)
{
	return vm->loop;
}

struct virtio_dev *vm_ports_dev(struct vm *vm)
{
	return vm->ports;
}

size_t vm_console_tail(struct vm *vm, uint8_t *buf, size_t size)
{
	return vm->con ? console_tail(vm->con, buf, size) : 0;
}

uint64_t vm_first_run_ns(struct vm *vm)
{
	return vm->nr_vcpus ? atomic_load(&vm->vcpus[0].first_run_ns) : 0;
}

int vm_create_extras(struct vm **out, const struct vm_config *cfg,
		     const struct vm_extras *extras)
{
	uint64_t entry = 0, boot_params = 0;
	struct vm *vm;
	int ret;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return vm_fail(KVMRUN_ERR_INTERNAL, "out of memory");
	vm->cfg = *cfg;
	if (extras)
		vm->extras = *extras;
	vm->kvm_fd = vm->vm_fd = vm->sig_fd = vm->ram_fd = -1;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	sigemptyset(&vm->old_mask);
	pthread_sigmask(SIG_SETMASK, NULL, &vm->old_mask);

	ret = vm_read_inputs(vm);
	if (!ret && ev_loop_create(&vm->loop))
		ret = vm_fail(KVMRUN_ERR_INTERNAL, "cannot create the event loop");
	if (!ret && sp_create(&vm->sched, vm->loop))
		ret = vm_fail(KVMRUN_ERR_INTERNAL, "cannot create the scheduling policy");
	if (!ret)
		ret = vm_open_kvm(vm);
	if (!ret)
		ret = vm_setup_machine(vm);
	if (!ret)
		ret = vm_load(vm, &entry, &boot_params);
	if (!ret)
		ret = vm_setup_signals(vm);
	if (!ret)
		ret = vm_setup_devices(vm);
	if (!ret)
		ret = vm_setup_vcpus(vm, entry, boot_params);
	if (ret) {
		vm_destroy(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

/*
 * The vCPU threads run SCHED_BATCH (set on this thread before they start, so
 * that they inherit it): a vCPU that wakes (an interrupt) does not preempt the
 * event loop in the middle of a pass when both share a CPU. The event loop
 * thread's own policy changes as it goes (sched_policy.h).
 */
static void vm_sched_policy(void)
{
	struct sched_param sp = {.sched_priority = 0};

	if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
		log_debug("SCHED_BATCH: %s", strerror(errno));
}

static void vm_restore_console(void *opaque)
{
	console_restore(opaque);
}

/*
 * The main thread's filter, once the vCPU threads have started (they install
 * their own). From here on it runs the loop and the teardown only.
 */
static void vm_sandbox(struct vm *vm)
{
	struct sandbox_fds fds = { .vm = vm->vm_fd, .vcpu = -1 };
	int ret;

	if (vm->cfg.no_sandbox)
		return;
	for (unsigned int i = 0; i < vm->cfg.nr_shares; i++) {
		pid_t pid = fs_daemon_pid(vm->fs_daemons[i]);

		if (pid > 0 && fds.nr_daemons < SANDBOX_MAX_DAEMONS)
			fds.daemons[fds.nr_daemons++] = pid;
	}
	for (unsigned int i = 0; i < vm->cfg.nr_nets; i++) {
		pid_t pid = passt_daemon_pid(vm->passts[i]);

		if (pid > 0 && fds.nr_daemons < SANDBOX_MAX_DAEMONS)
			fds.daemons[fds.nr_daemons++] = pid;
	}
	ret = sandbox_apply(SANDBOX_LOOP, &fds);
	if (ret) {
		log_err("seccomp filter of the event loop: %s (--sandbox off runs without it)",
			strerror(-ret));
		ev_stop(vm->loop, KVMRUN_ERR_INTERNAL);
	}
}

int vm_run(struct vm *vm)
{
	int status;

	vm_sched_policy();
	/* Before any filter: a refused call puts the terminal back too. */
	vm->cleanup = (struct sandbox_cleanup){ .fn = vm_restore_console, .opaque = vm->con };
	sandbox_set_cleanup(&vm->cleanup);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vcpu_start(&vm->vcpus[i])) {
			log_err("cannot start the thread of vCPU %u", i);
			ev_stop(vm->loop, KVMRUN_ERR_INTERNAL);
			break;
		}
	}
	vm_sandbox(vm);
	status = ev_run(vm->loop);
	if (status < 0)
		status = KVMRUN_ERR_INTERNAL;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	return status;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		vcpu_kick(&vm->vcpus[i]);
		vcpu_join(&vm->vcpus[i]);
		vcpu_destroy(&vm->vcpus[i]);
	}
	free(vm->vcpus);
	vm_free_inputs(vm);
	devices_destroy(&vm->devices);
	for (unsigned int i = 0; i < VM_MAX_SHARES; i++)
		fs_daemon_stop(vm->fs_daemons[i]);
	for (unsigned int i = 0; i < VM_MAX_NETS; i++)
		passt_daemon_stop(vm->passts[i]);
	irq_kvm_destroy(vm->irq_kvm);
	sandbox_set_cleanup(NULL);
	if (vm->con)
		console_destroy(vm->con);
	sp_destroy(vm->sched);
	if (vm->loop)
		ev_loop_destroy(vm->loop);
	if (vm->sig_fd >= 0)
		close(vm->sig_fd);
	if (vm->ram)
		munmap(vm->ram, vm->cfg.memory);
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_sigmask(SIG_SETMASK, &vm->old_mask, NULL);
	free(vm);
}
