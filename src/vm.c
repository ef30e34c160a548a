// SPDX-License-Identifier: Apache-2.0
/* The machine: builds everything from the config, runs it, tears it down. */
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

#include "arch/arch.h"
#include "backend/console.h"
#include "backend/daemon.h"
#include "backend/passt_daemon.h"
#include "backend/virtiofsd.h"
#include "pci.h"
#include "platform.h"
#include "virtio/blk.h"
#include "virtio/console_ports.h"
#include "virtio/net.h"
#include "virtio/devices.h"
#include "virtio/virtio_pci.h"
#include "kvmrun/bus.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/guest_mem.h"
#include "kvmrun/irq.h"
#include "kvmrun/jail.h"
#include "kvmrun/kvm.h"
#include "kvmrun/log.h"
#include "kvmrun/ratelimit.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/sched_policy.h"
#include "kvmrun/vcpu.h"
#include "kvmrun/vm.h"

#define KVM_DEVICE "/dev/kvm"
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
	struct arch_vm *arch; /* the architecture's part of the machine (arch.h) */
	struct irq_kvm *irq_kvm;
	struct irq_chip irq; /* MSI routes, irqfds and ioeventfds for PCI devices */
	struct pci_host *pci;
	int sig_fd;
	sigset_t old_mask;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	uint8_t *kernel; /* the input files, held from start until they are loaded */
	size_t kernel_len;
	uint8_t *initrd;
	size_t initrd_len;
	struct vm_extras extras;  /* a mode's named console ports */
	struct virtio_dev *ports; /* their device */
	struct jail_report jail;  /* --jail, --cgroup: what was done */
	struct virtio_dev *disks[VM_MAX_DISKS], *nets[VM_MAX_NETS]; /* for their counters */
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

static void vm_images(const struct vm *vm, struct arch_images *img)
{
	*img = (struct arch_images){
		.kernel = vm->kernel, .kernel_len = vm->kernel_len,
		.initrd = vm->initrd, .initrd_len = vm->initrd_len,
		.cmdline = vm->cfg.append,
	};
}

/* The input files are read and checked first: they are the commonest mistake, and need no KVM. */
static int vm_read_inputs(struct vm *vm)
{
	struct arch_images img;
	const char *why = NULL;
	bool initrd;
	int ret;

	ret = vm_read_file("kernel", vm->cfg.kernel, &vm->kernel, &vm->kernel_len);
	if (ret)
		return ret;
	if (vm->cfg.initrd) {
		ret = vm_read_file("initrd", vm->cfg.initrd, &vm->initrd, &vm->initrd_len);
		if (ret)
			return ret;
	}
	vm_images(vm, &img);
	ret = arch_check_images(&img, vm->cfg.memory, &initrd, &why);
	if (ret == -ENOMEM)
		return vm_fail(KVMRUN_ERR_INTERNAL, "out of memory");
	if (ret)
		return vm_fail(KVMRUN_ERR_INPUT, "%s %s: %s", initrd ? "initrd" : "kernel",
			       initrd ? vm->cfg.initrd : vm->cfg.kernel, why ? why : strerror(-ret));
	ret = arch_create(&vm->arch, &img, vm->cfg.memory, vm->cfg.cpus, vm->cfg.dtb_out);
	if (ret)
		return vm_fail(KVMRUN_ERR_INTERNAL, "out of memory");
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
	};
	const struct arch_kvm_cap *arch_caps;
	size_t nr_arch_caps;
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
	arch_caps = arch_kvm_caps(&nr_arch_caps);
	for (size_t i = 0; i < nr_arch_caps; i++)
		if (kvm_ioctl_val(vm->kvm_fd, KVM_CHECK_EXTENSION, arch_caps[i].cap) <= 0)
			return vm_fail(KVMRUN_ERR_KVM, "%s: lacks %s", KVM_DEVICE, arch_caps[i].name);
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
	struct arch_ram ram[ARCH_MAX_RAM];
	const char *what = "";
	uint64_t off = 0;
	unsigned int n;
	int ret;

	ret = arch_vm_init(vm->arch, vm->kvm_fd, vm->vm_fd, &what);
	if (ret)
		return vm_fail(KVMRUN_ERR_KVM, "%s: %s", what, strerror(-ret));

	/* Shared RAM for the vhost-user backends (virtiofsd) of --share. */
	vm->ram = gm_map_ram(vm->cfg.memory, vm->cfg.nr_shares > 0, &vm->ram_fd);
	if (!vm->ram)
		return vm_fail(KVMRUN_ERR_USAGE, "--memory: cannot map %llu MiB of guest RAM: %s",
			       (unsigned long long)(vm->cfg.memory / MiB), strerror(errno));
	n = arch_ram_layout(vm->cfg.memory, ram);
	for (unsigned int slot = 0; slot < n; off += ram[slot].size, slot++) {
		uint64_t gpa = ram[slot].gpa;
		uint64_t size = ram[slot].size;
		uint8_t *host = vm->ram + off;
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
		if (vm->ram_fd >= 0 ? gm_add_region_fd(&vm->gm, gpa, size, host, vm->ram_fd, off)
				    : gm_add_region(&vm->gm, gpa, size, host))
			return vm_fail(KVMRUN_ERR_INTERNAL, "guest memory map is inconsistent");
	}
	return 0;
}

static int vm_load(struct vm *vm)
{
	struct arch_images img;
	const char *why = NULL;
	bool initrd = false;
	int ret;

	vm_images(vm, &img);
	ret = arch_load(vm->arch, &vm->gm, &img, &initrd, &why);
	if (ret && !why)
		return vm_fail(KVMRUN_ERR_INTERNAL, "building the machine description: %s",
			       strerror(-ret));
	if (ret)
		return vm_fail(KVMRUN_ERR_INPUT, "%s %s: %s", initrd ? "initrd" : "kernel",
			       initrd ? vm->cfg.initrd : vm->cfg.kernel, why);
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
			arch_dump_regs(vcpu->fd, vcpu->index);
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
	if (vm->extras.signal && vm->extras.signal(vm->extras.signal_opaque, (int)si.ssi_signo))
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
		vm->disks[i] = vdev;
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
		vm->nets[i] = vdev;
		ret = virtio_pci_create(&vm->devices, vm->pci, &vm->irq, vdev);
		if (ret)
			return vm_fail(KVMRUN_ERR_INTERNAL, "--net %u: %s", i + 1, strerror(-ret));
		vm->nets[i] = vdev;
	}
	for (unsigned int i = 0; i < vm->cfg.nr_shares; i++) {
		ret = vm_setup_share(vm, i);
		if (ret)
			return ret;
	}
	return 0;
}


static int vm_setup_devices(struct vm *vm)
{
	struct arch_platform plat;
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
	plat = (struct arch_platform){
		.devices = &vm->devices, .pio = &vm->pio, .mmio = &vm->mmio, .vm_fd = &vm->vm_fd,
		.con = vm->con, .sink = &vm->sink, .exit_port = vm->cfg.exit_port,
	};
	if (arch_platform_create(vm->arch, &plat, &vm->pci))
		return vm_fail(KVMRUN_ERR_INTERNAL, "creating the platform devices failed");
	ret = arch_irq_create(vm->arch, vm->vm_fd, &vm->irq_kvm, &vm->irq);
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

static int vm_setup_vcpus(struct vm *vm)
{
	const char *what = "";
	int ret = 0;

	vm->vcpus = calloc(vm->cfg.cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return vm_fail(KVMRUN_ERR_INTERNAL, "out of memory");
	for (unsigned int i = 0; i < vm->cfg.cpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		ret = vcpu_create(v, vm->vm_fd, i, vm->run_size);
		if (ret)
			return vm_fail(KVMRUN_ERR_KVM, "KVM_CREATE_VCPU %u: %s", i, strerror(-ret));
		vm->nr_vcpus++;
		v->pio = &vm->pio;
		v->mmio = &vm->mmio;
		v->on_exit = vm_vcpu_exit;
		v->opaque = vm;
		v->sandbox = !vm->cfg.no_sandbox;
		ret = arch_vcpu_init(vm->arch, vm->kvm_fd, vm->vm_fd, v, &vm->gm, &what);
		if (ret == -ENOMEM)
			return vm_fail(KVMRUN_ERR_INTERNAL, "out of memory");
		if (ret)
			return vm_fail(KVMRUN_ERR_KVM, "vCPU %u: %s: %s", i, what, strerror(-ret));
	}
	ret = arch_vcpus_ready(vm->arch, vm->vm_fd, vm->vcpus, vm->nr_vcpus, &vm->gm, &what);
	if (ret == -ENOMEM)
		return vm_fail(KVMRUN_ERR_INTERNAL, "out of memory");
	if (ret)
		return vm_fail(KVMRUN_ERR_KVM, "%s: %s", what, strerror(-ret));
	return 0;
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

struct virtio_dev *vm_disk_dev(struct vm *vm, unsigned int i)
{
	return i < vm->cfg.nr_disks ? vm->disks[i] : NULL;
}

struct virtio_dev *vm_net_dev(struct vm *vm, unsigned int i)
{
	return i < vm->cfg.nr_nets ? vm->nets[i] : NULL;
}

size_t vm_console_tail(struct vm *vm, uint8_t *buf, size_t size)
{
	return vm->con ? console_tail(vm->con, buf, size) : 0;
}

const struct jail_report *vm_jail_report(struct vm *vm)
{
	return &vm->jail;
}

uint64_t vm_first_run_ns(struct vm *vm)
{
	return vm->nr_vcpus ? atomic_load(&vm->vcpus[0].first_run_ns) : 0;
}

/* --cgroup: before anything is allocated, so that all of the VM is charged (jail.h). */
static int vm_cgroup(struct vm *vm)
{
	char err[512];

	if (jail_cgroup_enter(&vm->cfg.jail, &vm->jail, err, sizeof(err)))
		return vm_fail(KVMRUN_ERR_JAIL, "%s", err);
	return 0;
}

int vm_create_extras(struct vm **out, const struct vm_config *cfg,
		     const struct vm_extras *extras)
{
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

	vm->jail.on = cfg->jail.on;
	ret = vm_cgroup(vm);
	if (!ret)
		ret = vm_read_inputs(vm);
	if (!ret && ev_loop_create(&vm->loop))
		ret = vm_fail(KVMRUN_ERR_INTERNAL, "cannot create the event loop");
	if (!ret) /* the backends' threads start in vm_run(), after the jail */
		ev_hold_threads(vm->loop);
	if (!ret && sp_create(&vm->sched, vm->loop))
		ret = vm_fail(KVMRUN_ERR_INTERNAL, "cannot create the scheduling policy");
	if (!ret)
		ret = vm_open_kvm(vm);
	if (!ret)
		ret = vm_setup_machine(vm);
	if (!ret)
		ret = vm_load(vm);
	if (!ret)
		ret = vm_setup_signals(vm);
	/* The vCPUs first: arm64's interrupt controller takes irqfds once they all exist. */
	if (!ret)
		ret = vm_setup_vcpus(vm);
	if (!ret)
		ret = vm_setup_devices(vm);
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

/*
 * The start, in this order (jail.h): everything is open and every helper process
 * started (vm_create); the jail, while this is the only thread; the backends'
 * threads and the vCPUs' (which inherit it); RLIMIT_NPROC at their number; then
 * the loop's seccomp filter (each other thread installs its own).
 */
int vm_run(struct vm *vm)
{
	char err[512];
	int status, workers;

	if (vm->cfg.jail.on && jail_enter(&vm->jail, err, sizeof(err)))
		return vm_fail(KVMRUN_ERR_JAIL, "%s", err);
	workers = ev_start_threads(vm->loop);
	if (workers < 0)
		return vm_fail(KVMRUN_ERR_INTERNAL, "cannot start the disks' worker threads: %s",
			       strerror(-workers));
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
	/* this thread, the workers, the vCPUs, and KVM's worker (made at the first KVM_RUN) */
	if (vm->cfg.jail.on &&
	    jail_seal(&vm->jail, 2 + (unsigned int)workers + vm->nr_vcpus, err, sizeof(err))) {
		log_err("%s", err);
		ev_stop(vm->loop, KVMRUN_ERR_JAIL);
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
	vm_destroy_helpers(vm, NULL);
}

/* One stopped helper's CPU time into helpers[*n], if known and wanted. */
static void vm_helper_cpu(struct vm_helper_cpu *helpers, unsigned int *n, bool known,
			  const struct daemon_cpu *cpu, const char *prog, const char *device)
{
	if (!helpers || !known || *n >= VM_MAX_HELPERS)
		return;
	helpers[*n] = (struct vm_helper_cpu){ .prog = prog, .user_ns = cpu->user_ns,
					      .sys_ns = cpu->sys_ns };
	snprintf(helpers[*n].device, sizeof(helpers[*n].device), "%s", device);
	(*n)++;
}

unsigned int vm_destroy_helpers(struct vm *vm, struct vm_helper_cpu *helpers)
{
	struct daemon_cpu cpu;
	unsigned int n = 0;
	char name[16];
	bool known;

	if (!vm)
		return 0;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		vcpu_kick(&vm->vcpus[i]);
		vcpu_join(&vm->vcpus[i]);
		vcpu_destroy(&vm->vcpus[i]);
	}
	free(vm->vcpus);
	vm_free_inputs(vm);
	devices_destroy(&vm->devices);
	for (unsigned int i = 0; i < VM_MAX_SHARES; i++) {
		known = fs_daemon_stop(vm->fs_daemons[i], &cpu);
		vm_helper_cpu(helpers, &n, known, &cpu, "virtiofsd",
			      i < vm->cfg.nr_shares ? vm->cfg.shares[i].tag : "");
	}
	for (unsigned int i = 0; i < VM_MAX_NETS; i++) {
		known = passt_daemon_stop(vm->passts[i], &cpu);
		snprintf(name, sizeof(name), "net%u", i);
		vm_helper_cpu(helpers, &n, known, &cpu, "passt", name);
	}
	irq_kvm_destroy(vm->irq_kvm);
	arch_destroy(vm->arch);
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
	return n;
}
