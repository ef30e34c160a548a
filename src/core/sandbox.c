// SPDX-License-Identifier: Apache-2.0
/*
 * seccomp allowlists, one per thread role (DESIGN.md, threads). The lists hold
 * what the role does after its setup, glibc's own calls under it included
 * (malloc, thread exit, pthread_kill); setup itself (open, socket, mmap of
 * kvm_run, thread creation) happens before a filter is installed.
 *
 * KVM ioctls are allowed by request and descriptor (arg0 compared with the
 * descriptor's number): KVM_RUN and the register dump only on the thread's own
 * vCPU, the interrupt requests only on the VM. What a filter cannot check: the
 * memory an ioctl or a write points to; which file a number names (the VM and
 * vCPU descriptors stay open until the process ends); the loop's TUN and terminal
 * requests, allowed on any descriptor (tap devices are opened inside the net
 * devices and the terminal by the console backend, so no list of them reaches
 * here); and write's descriptor (eventfds come and go with the devices).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <stdatomic.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/exit_status.h"
#include "kvmrun/sandbox.h"

/* The loop (and any thread that is no vCPU): memory, locks, signals, time, output, exit. */
/* clang-format off */
static const int sandbox_common[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(close),
	SCMP_SYS(futex), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday), SCMP_SYS(sched_yield), SCMP_SYS(restart_syscall),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* The event loop: epoll, the disk and tap backends, virtio-rng, teardown. */
static const int sandbox_loop[] = {
#ifdef __NR_epoll_wait /* arm64 has epoll_pwait only */
	SCMP_SYS(epoll_wait),
#endif
	SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(io_submit),
	SCMP_SYS(io_getevents), SCMP_SYS(io_destroy), SCMP_SYS(pread64), SCMP_SYS(pwrite64),
	SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(fdatasync), SCMP_SYS(fsync),
	SCMP_SYS(fallocate), SCMP_SYS(getrandom), SCMP_SYS(timerfd_settime),
	/* exec's report: kvmrun's own CPU time once the VM has ended */
	SCMP_SYS(getrusage),
};

/* A disk's worker thread: the image's reads, writes, flushes and fallocate. */
static const int sandbox_disk[] = {
	SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(pwrite64), SCMP_SYS(fdatasync),
	SCMP_SYS(fallocate),
};

/*
 * A vCPU thread, in full (all of it also in sandbox_common). KVM_RUN and exit
 * dispatch to the devices, whose register handlers take mutexes (futex) and write
 * eventfds: kicks through the notify register, the hand-over to the loop, MSI
 * irqfds, the loop's stop. Also write: console output and log lines on stderr,
 * clock_gettime: rate-limited log lines (the vDSO, where the clock source allows);
 * rt_sigreturn: the kick signal's handler; rt_sigprocmask, madvise, exit: glibc's
 * thread exit; getpid, gettid and tgkill (own process, checked): abort(); exit_group:
 * _exit, of the SIGSYS handler too. A vCPU thread allocates no memory once its
 * filter is in place (no mmap, munmap, brk, mprotect), and changes no MSI route
 * or doorbell: devices hand those to the loop (irq.h).
 */
static const int sandbox_vcpu[] = {
	SCMP_SYS(futex), SCMP_SYS(write), SCMP_SYS(clock_gettime), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(madvise), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(getpid), SCMP_SYS(gettid),
};

#ifdef __SANITIZE_ADDRESS__
/*
 * Sanitizer builds only: the runtime's own calls (its allocator also gives vCPU
 * threads the whole of sandbox_common and the checked mappings). It switches signal stacks, and
 * its leak check at exit stops the threads from a cloned task with ptrace after
 * reading /proc/self/task and /proc/self/maps.
 */
static const int sandbox_sanitizer[] = {
	SCMP_SYS(sigaltstack), SCMP_SYS(rt_sigaction), SCMP_SYS(clone), SCMP_SYS(ptrace),
	SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(openat), SCMP_SYS(getdents64),
#ifdef __NR_open /* x86-64's older calls; arm64 has the *at ones only */
	SCMP_SYS(open), SCMP_SYS(getdents), SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(readlink),
#else
	SCMP_SYS(readlinkat),
#endif
	SCMP_SYS(sched_getaffinity), SCMP_SYS(lseek), SCMP_SYS(kill), SCMP_SYS(pipe2),
	SCMP_SYS(getppid), SCMP_SYS(setrlimit), SCMP_SYS(getrlimit), SCMP_SYS(prlimit64),
};
#endif

/*
 * ioctl requests, by role and descriptor (the kernel reads the request's low 32
 * bits only). The loop: interrupts, irqfds, doorbells and MSI routes on the VM;
 * offloads of a tap and the terminal's modes on any descriptor.
 */
static const unsigned long sandbox_loop_vm_ioctls[] = {
	KVM_IRQ_LINE, KVM_IRQFD, KVM_IOEVENTFD, KVM_SET_GSI_ROUTING,
};
static const unsigned long sandbox_loop_any_ioctls[] = {
	TUNSETOFFLOAD, TCGETS, TCSETS, TCSETSW, TCSETSF,
	TIOCGWINSZ, /* exec -t: the terminal's new size for PROGRAM's pty */
};
/* A vCPU: the serial port's interrupt line on the VM; these on its own vCPU. */
static const unsigned long sandbox_vcpu_vm_ioctls[] = { KVM_IRQ_LINE };
static const unsigned long sandbox_vcpu_own_ioctls[] = {
	/* and the register dump when a vCPU fails */
#ifdef __aarch64__
	KVM_RUN, KVM_GET_ONE_REG,
#else
	KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS,
#endif
};
/*
 * And the terminal's modes put back (tcsetattr TCSANOW, console_restore) on
 * standard input, the console's, when the process ends on a vCPU thread.
 */
static const unsigned long sandbox_vcpu_stdin_ioctls[] = { TCSETS };

/*
 * What to undo before the process ends on a refused call (the terminal's
 * mode). A signal handler takes no argument, so this is the one pointer the
 * handler reaches: written by sandbox_set_cleanup() only, read by the handler.
 */
static _Atomic(const struct sandbox_cleanup *) sandbox_cleanup_hook;

void sandbox_set_cleanup(const struct sandbox_cleanup *c)
{
	atomic_store(&sandbox_cleanup_hook, c);
}

/*
 * A refused call: one line and the exit status, with what is safe in a signal
 * handler. The cleanup runs on the main thread, whose filter lets it restore
 * the terminal: another thread forwards the signal there (tgkill to this
 * process is on every list) and waits for the end, which a second to spare
 * brings itself should the main thread not take the signal.
 */
static void sandbox_sigsys(int sig, siginfo_t *si, void *uc)
{
	static const char head[] = "kvmrun: error: sandbox: system call ";
	static const char tail[] = " refused by the seccomp filter (a bug in kvmrun; "
				   "--sandbox off runs without it)\n";
	const struct sandbox_cleanup *c = atomic_load(&sandbox_cleanup_hook);
	struct timespec second = { .tv_sec = 1 };
	int never = 0;
	pid_t pid = getpid();
	char num[12];
	int n = (int)sizeof(num);
	unsigned int nr = (unsigned int)si->si_syscall;

	(void)uc;
	if (si->si_code == SI_TKILL && si->si_pid == pid) {
		/* Forwarded from another thread, which has said what was refused. */
	} else {
		do {
			num[--n] = (char)('0' + nr % 10);
			nr /= 10;
		} while (nr && n > 0);
		if (write(STDERR_FILENO, head, sizeof(head) - 1) < 0 ||
		    write(STDERR_FILENO, num + n, sizeof(num) - (size_t)n) < 0 ||
		    write(STDERR_FILENO, tail, sizeof(tail) - 1) < 0) {
			/* nothing more to say */
		}
		if (c && gettid() != pid) {
			syscall(SYS_tgkill, pid, pid, sig);
			/* futex, not nanosleep: on a vCPU's list, which has no sleep */
			syscall(SYS_futex, &never, FUTEX_WAIT_PRIVATE, 0, &second, NULL, 0);
			_exit(KVMRUN_ERR_SANDBOX);
		}
	}
	if (c)
		c->fn(c->opaque);
	_exit(KVMRUN_ERR_SANDBOX);
}

static int sandbox_add_list(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);

		if (ret)
			return ret;
	}
	return 0;
}

/* Argument arg, masked, equals value: all four fields given (the macros leave one out). */
static int sandbox_rule_arg(scmp_filter_ctx ctx, int nr, unsigned int arg, uint64_t mask,
			    uint64_t value)
{
	const struct scmp_arg_cmp cmp = {
		.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = value,
	};

	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
}

/* ioctl with one of reqs, on descriptor fd; on any descriptor when fd is SANDBOX_ANY_FD. */
#define SANDBOX_ANY_FD (-2)
static int sandbox_add_ioctls(scmp_filter_ctx ctx, int fd, const unsigned long *reqs, size_t n)
{
	if (fd < 0 && fd != SANDBOX_ANY_FD)
		return 0; /* no such descriptor: nothing allowed */
	for (size_t i = 0; i < n; i++) {
		const struct scmp_arg_cmp cmp[2] = {
			{ .arg = 1, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffU,
			  .datum_b = (uint32_t)reqs[i] },
			{ .arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffU,
			  .datum_b = (uint32_t)fd },
		};
		int ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl),
						 fd == SANDBOX_ANY_FD ? 1 : 2, cmp);

		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The loop's vhost-user requests (devices/vhost: a queue started or stopped when the
 * driver sets DRIVER_OK or resets): one message, file descriptors attached, sent
 * without blocking or SIGPIPE; the reply received without blocking, any descriptor in
 * it close-on-exec; the wait for it on the one socket. Only these flags pass, so no
 * other send or receive (blocking, or peeking) does; the descriptor is not checked
 * (the sockets come and go with the devices).
 */
static int sandbox_add_vhost_user(scmp_filter_ctx ctx)
{
	int ret;

	ret = sandbox_rule_arg(ctx, SCMP_SYS(sendmsg), 2, 0xffffffffU, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (!ret)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(recvmsg), 2, 0xffffffffU,
				       MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
#ifdef __NR_poll
	if (!ret)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(poll), 1, 0xffffffffU, 1);
#else
	if (!ret)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(ppoll), 1, 0xffffffffU, 1);
#endif
	return ret;
}

/*
 * Teardown ends the daemons the VM started (virtiofsd): SIGTERM, then SIGKILL, to each
 * of those processes by its pid, and reaps it (wait4 of that pid). No other process,
 * no process group, no -1; without daemons, neither call at all.
 */
static int sandbox_add_daemon_stop(scmp_filter_ctx ctx, const struct sandbox_fds *fds)
{
	static const int sigs[] = { SIGTERM, SIGKILL };
	unsigned int n = fds ? fds->nr_daemons : 0;
	int ret = 0;

	for (unsigned int d = 0; d < n && d < SANDBOX_MAX_DAEMONS && !ret; d++) {
		const struct scmp_arg_cmp pid = {
			.arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffU,
			.datum_b = (uint32_t)fds->daemons[d],
		};

		if (fds->daemons[d] <= 0)
			return -EINVAL;
		for (size_t i = 0; i < ARRAY_SIZE(sigs) && !ret; i++) {
			const struct scmp_arg_cmp cmp[2] = {
				pid,
				{ .arg = 1, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffU,
				  .datum_b = (uint32_t)sigs[i] },
			};

			ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 2, cmp);
		}
		if (!ret)
			ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 1, &pid);
	}
	return ret;
}

/*
 * Mappings and protection changes, never executable (not on a vCPU thread: it
 * allocates nothing); signals only to this process; the loop's scheduling
 * policy, its own only.
 */
static int sandbox_add_checked(scmp_filter_ctx ctx, enum sandbox_role role, bool mappings,
			       const struct sandbox_fds *fds)
{
	int ret = 0;

	if (mappings)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(mmap), 2, PROT_EXEC, 0);
	if (!ret && mappings)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(mprotect), 2, PROT_EXEC, 0);
	if (!ret)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(tgkill), 0, 0xffffffffU, (uint32_t)getpid());
	if (!ret && role == SANDBOX_LOOP)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(sched_setscheduler), 0, 0xffffffffU, 0);
	/* The loop puts stdout's flags back (console_restore), F_SETFL only. */
	if (!ret && role == SANDBOX_LOOP)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(fcntl), 1, 0xffffffffU, F_SETFL);
	if (!ret && role == SANDBOX_LOOP)
		ret = sandbox_add_vhost_user(ctx);
	if (!ret && role == SANDBOX_LOOP)
		ret = sandbox_add_daemon_stop(ctx, fds);
	return ret;
}

static int sandbox_add_role(scmp_filter_ctx ctx, enum sandbox_role role,
			    const struct sandbox_fds *fds)
{
	int vm = fds ? fds->vm : -1, own = fds ? fds->vcpu : -1;
	bool full = role != SANDBOX_VCPU;
	int ret;

#ifdef __SANITIZE_ADDRESS__
	full = true;
#endif
	ret = full ? sandbox_add_list(ctx, sandbox_common, ARRAY_SIZE(sandbox_common))
		   : sandbox_add_list(ctx, sandbox_vcpu, ARRAY_SIZE(sandbox_vcpu));
	if (!ret)
		ret = sandbox_add_checked(ctx, role, full, fds);
#ifdef __SANITIZE_ADDRESS__
	if (!ret)
		ret = sandbox_add_list(ctx, sandbox_sanitizer, ARRAY_SIZE(sandbox_sanitizer));
#endif
	if (!ret && role == SANDBOX_DISK) /* a disk worker takes no ioctl at all */
		return sandbox_add_list(ctx, sandbox_disk, ARRAY_SIZE(sandbox_disk));
	if (!ret && role == SANDBOX_VCPU) {
		ret = sandbox_add_ioctls(ctx, vm, sandbox_vcpu_vm_ioctls,
					 ARRAY_SIZE(sandbox_vcpu_vm_ioctls));
		if (!ret)
			ret = sandbox_add_ioctls(ctx, own, sandbox_vcpu_own_ioctls,
						 ARRAY_SIZE(sandbox_vcpu_own_ioctls));
		if (!ret)
			ret = sandbox_add_ioctls(ctx, STDIN_FILENO, sandbox_vcpu_stdin_ioctls,
						 ARRAY_SIZE(sandbox_vcpu_stdin_ioctls));
		return ret;
	}
	if (!ret)
		ret = sandbox_add_list(ctx, sandbox_loop, ARRAY_SIZE(sandbox_loop));
	if (!ret)
		ret = sandbox_add_ioctls(ctx, vm, sandbox_loop_vm_ioctls,
					 ARRAY_SIZE(sandbox_loop_vm_ioctls));
	if (!ret)
		ret = sandbox_add_ioctls(ctx, SANDBOX_ANY_FD, sandbox_loop_any_ioctls,
					 ARRAY_SIZE(sandbox_loop_any_ioctls));
	return ret;
}

/* The role's filter, not loaded yet: *out for seccomp_load or seccomp_export_bpf. */
static int sandbox_build(enum sandbox_role role, const struct sandbox_fds *fds,
			 scmp_filter_ctx *out)
{
	scmp_filter_ctx ctx;
	int ret;

	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	/*
	 * A binary tree of syscall numbers: ioctl(KVM_RUN), which the kernel cannot
	 * allow from its per-call cache (the request is checked), passes few tests.
	 */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	/* A refused call also goes to the kernel's audit log (a SIGSYS may be blocked). */
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (!ret)
		ret = sandbox_add_role(ctx, role, fds);
	if (ret) {
		seccomp_release(ctx);
		return ret;
	}
	*out = ctx;
	return 0;
}

int sandbox_export_bpf(enum sandbox_role role, const struct sandbox_fds *fds, int out_fd)
{
	scmp_filter_ctx ctx;
	int ret;

	ret = sandbox_build(role, fds, &ctx);
	if (ret)
		return ret;
	ret = seccomp_export_bpf(ctx, out_fd);
	seccomp_release(ctx);
	return ret;
}

int sandbox_apply(enum sandbox_role role, const struct sandbox_fds *fds)
{
	struct sigaction sa = { .sa_sigaction = sandbox_sigsys, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx;
	sigset_t sys;
	int ret;

	sigemptyset(&sa.sa_mask);
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	/* A blocked SIGSYS would kill the process without the line. */
	ret = pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	if (ret)
		return -ret;
	ret = sandbox_build(role, fds, &ctx);
	if (ret)
		return ret;
	ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}
