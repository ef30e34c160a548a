// SPDX-License-Identifier: Apache-2.0
/*
 * seccomp allowlists, one per thread role (DESIGN.md, threads). The lists hold
 * what the role does after its setup, glibc's own calls under it included
 * (malloc, thread exit, pthread_kill); setup itself (open, socket, mmap of
 * kvm_run, thread creation) happens before a filter is installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <stdatomic.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/sandbox.h"
#include "kvmrun/vm.h"

/* Both roles: memory, locks, signals, time, output, thread and process exit. */
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
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(io_submit),
	SCMP_SYS(io_getevents), SCMP_SYS(io_destroy), SCMP_SYS(pread64), SCMP_SYS(pwrite64),
	SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(fdatasync), SCMP_SYS(fsync),
	SCMP_SYS(fallocate), SCMP_SYS(getrandom), SCMP_SYS(timerfd_settime),
};

/* A disk's worker thread: the image's reads, writes, flushes and fallocate. */
static const int sandbox_disk[] = {
	SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(pwrite64), SCMP_SYS(fdatasync),
	SCMP_SYS(fallocate),
};

#ifdef __SANITIZE_ADDRESS__
/*
 * Sanitizer builds only: the runtime's own calls. It switches signal stacks, and
 * its leak check at exit stops the threads from a cloned task with ptrace after
 * reading /proc/self/task and /proc/self/maps.
 */
static const int sandbox_sanitizer[] = {
	SCMP_SYS(sigaltstack), SCMP_SYS(rt_sigaction), SCMP_SYS(clone), SCMP_SYS(ptrace),
	SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(getdents),
	SCMP_SYS(getdents64), SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(readlink), SCMP_SYS(sched_getaffinity), SCMP_SYS(lseek), SCMP_SYS(kill),
	SCMP_SYS(pipe2), SCMP_SYS(getppid), SCMP_SYS(setrlimit), SCMP_SYS(getrlimit),
	SCMP_SYS(prlimit64),
};
#endif

/* ioctl requests, by role (the kernel reads the request's low 32 bits only). */
static const unsigned long sandbox_loop_ioctls[] = {
	KVM_IRQ_LINE, KVM_IRQFD, KVM_IOEVENTFD, KVM_SET_GSI_ROUTING, TUNSETOFFLOAD,
	TCGETS, TCSETS, TCSETSW, TCSETSF,
};
static const unsigned long sandbox_vcpu_ioctls[] = {
	KVM_RUN, KVM_IRQ_LINE, KVM_IRQFD, KVM_IOEVENTFD, KVM_SET_GSI_ROUTING,
	KVM_GET_REGS, KVM_GET_SREGS, /* the register dump when a vCPU fails */
};

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
			nanosleep(&second, NULL);
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

static int sandbox_add_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret = sandbox_rule_arg(ctx, SCMP_SYS(ioctl), 1, 0xffffffffU,
					   (uint32_t)reqs[i]);

		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Mappings and protection changes, never executable; signals only to this
 * process; the loop's scheduling policy, its own only.
 */
static int sandbox_add_checked(scmp_filter_ctx ctx, enum sandbox_role role)
{
	int ret;

	ret = sandbox_rule_arg(ctx, SCMP_SYS(mmap), 2, PROT_EXEC, 0);
	if (!ret)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(mprotect), 2, PROT_EXEC, 0);
	if (!ret)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(tgkill), 0, 0xffffffffU, (uint32_t)getpid());
	if (!ret && role == SANDBOX_LOOP)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(sched_setscheduler), 0, 0xffffffffU, 0);
	/* The loop puts stdout's flags back (console_restore), F_SETFL only. */
	if (!ret && role == SANDBOX_LOOP)
		ret = sandbox_rule_arg(ctx, SCMP_SYS(fcntl), 1, 0xffffffffU, F_SETFL);
	return ret;
}

int sandbox_apply(enum sandbox_role role)
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
		ret = sandbox_add_list(ctx, sandbox_common, ARRAY_SIZE(sandbox_common));
	if (!ret)
		ret = sandbox_add_checked(ctx, role);
#ifdef __SANITIZE_ADDRESS__
	if (!ret)
		ret = sandbox_add_list(ctx, sandbox_sanitizer, ARRAY_SIZE(sandbox_sanitizer));
#endif
	if (!ret && role == SANDBOX_LOOP)
		ret = sandbox_add_list(ctx, sandbox_loop, ARRAY_SIZE(sandbox_loop));
	if (!ret && role == SANDBOX_DISK)
		ret = sandbox_add_list(ctx, sandbox_disk, ARRAY_SIZE(sandbox_disk));
	if (!ret && role != SANDBOX_DISK) /* a disk worker takes no ioctl at all */
		ret = role == SANDBOX_LOOP
			      ? sandbox_add_ioctls(ctx, sandbox_loop_ioctls,
						   ARRAY_SIZE(sandbox_loop_ioctls))
			      : sandbox_add_ioctls(ctx, sandbox_vcpu_ioctls,
						   ARRAY_SIZE(sandbox_vcpu_ioctls));
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}
