// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmrun/exit_status.h"
#include "kvmrun/kvm.h"
#include "kvmrun/log.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/vcpu.h"

int vcpu_create(struct vcpu *vcpu, int vm_fd, unsigned int index, size_t run_size)
{
	int fd;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->index = index;
	fd = kvm_ioctl_val(vm_fd, KVM_CREATE_VCPU, index);
	if (fd < 0)
		return fd;
	vcpu->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (vcpu->run == MAP_FAILED) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	vcpu->fd = fd;
	vcpu->vm_fd = vm_fd;
	vcpu->run_size = run_size;
	return 0;
}

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_signal_setup(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	sigemptyset(&sa.sa_mask);
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

static void vcpu_fail(struct vcpu *vcpu, int status, const char *why)
{
	vcpu->on_exit(vcpu->opaque, vcpu, status, why);
}

/* Returns true when the vCPU should go on running. */
static bool vcpu_dispatch(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char why[128];

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint8_t *data = (uint8_t *)run + run->io.data_offset;
		uint64_t bytes = (uint64_t)run->io.size * run->io.count;

		if (run->io.data_offset + bytes > vcpu->run_size) {
			vcpu_fail(vcpu, KVMRUN_VCPU_ERROR, "port I/O exit with its data out of range");
			return false;
		}
		for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
			bus_access(vcpu->pio, run->io.port, data, run->io.size,
				   run->io.direction == KVM_EXIT_IO_OUT);
		return true;
	}
	case KVM_EXIT_MMIO:
		if (run->mmio.len > sizeof(run->mmio.data))
			return true;
		bus_access(vcpu->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			   run->mmio.is_write);
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(vcpu, KVMRUN_GUEST_CRASH, "triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		/* PSCI SYSTEM_OFF, SYSTEM_RESET or a crash report (arm64) */
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			log_info("guest powered off");
			vcpu_fail(vcpu, KVMRUN_OK, NULL);
			break;
		case KVM_SYSTEM_EVENT_RESET:
			log_info("guest rebooted");
			vcpu_fail(vcpu, KVMRUN_OK, NULL);
			break;
		case KVM_SYSTEM_EVENT_CRASH:
			log_err("guest kernel panicked");
			vcpu_fail(vcpu, KVMRUN_GUEST_PANIC, NULL);
			break;
		default:
			snprintf(why, sizeof(why), "system event %u", run->system_event.type);
			vcpu_fail(vcpu, KVMRUN_VCPU_ERROR, why);
			break;
		}
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(why, sizeof(why), "KVM internal error, suberror %u",
			 run->internal.suberror);
		vcpu_fail(vcpu, KVMRUN_VCPU_ERROR, why);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why), "VM entry failed, reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_fail(vcpu, KVMRUN_VCPU_ERROR, why);
		return false;
	case KVM_EXIT_INTR:
		return true;
	default:
		snprintf(why, sizeof(why), "unhandled KVM exit reason %u", run->exit_reason);
		vcpu_fail(vcpu, KVMRUN_VCPU_ERROR, why);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t set;
	char why[96];

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (vcpu->sandbox) {
		struct sandbox_fds fds = { .vm = vcpu->vm_fd, .vcpu = vcpu->fd };
		int ret = sandbox_apply(SANDBOX_VCPU, &fds);

		if (ret) {
			snprintf(why, sizeof(why), "seccomp filter: %s (--sandbox off runs without it)",
				 strerror(-ret));
			vcpu_fail(vcpu, KVMRUN_ERR_INTERNAL, why);
			return NULL;
		}
	}
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		atomic_store(&vcpu->first_run_ns,
			     (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
	}
	while (!atomic_load(&vcpu->stop)) {
		int ret = kvm_ioctl_val(vcpu->fd, KVM_RUN, 0);

		if (ret < 0) {
			if (ret == -EINTR || ret == -EAGAIN)
				continue;
			snprintf(why, sizeof(why), "KVM_RUN: %s", strerror(-ret));
			vcpu_fail(vcpu, KVMRUN_VCPU_ERROR, why);
			break;
		}
		if (!vcpu_dispatch(vcpu))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	char name[16];
	int ret;

	ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (ret)
		return -ret;
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(vcpu->thread, name);
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	atomic_store(&vcpu->stop, true);
	vcpu->run->immediate_exit = 1;
	if (vcpu->started)
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->started) {
		pthread_join(vcpu->thread, NULL);
		vcpu->started = false;
	}
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd > 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}
