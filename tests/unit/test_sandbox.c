// SPDX-License-Identifier: Apache-2.0
/*
 * The seccomp filters, installed for real in a child process: the calls each
 * role needs still work, and each refused one stops the child with status
 * KVMRUN_ERR_SANDBOX and a line naming the system call. And the filters as
 * data: each role's BPF program, run here for every system call number, allows
 * exactly the calls listed below, KVM ioctls only on their descriptors, and in
 * a build without sanitizers none of the sanitizer runtime's extra calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <pthread.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "backend/console.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/exit_status.h"
#include "kvmrun/irq.h"
#include "kvmrun/sandbox.h"

/*
 * The child's descriptors, three pipe ends (no tty, no tap, no KVM object: the
 * kernel answers every ioctl the filter lets through with an error): the filter
 * is told vm is the VM and, on a vCPU, vcpu its vCPU; other is neither.
 */
struct child_fds {
	int vm, vcpu, other;
};

typedef int (*probe_fn)(const struct child_fds *f);

/* Exit statuses of the child besides KVMRUN_ERR_SANDBOX. */
enum { CHILD_OK = 0, CHILD_APPLY_FAILED = 40, CHILD_PROBE_FAILED = 41 };

struct thread_arg {
	enum sandbox_role role;
	probe_fn probe;
	const struct child_fds *f;
};

/* A thread of its own installs the filter and probes, then ends (as a vCPU thread does). */
static void *child_thread(void *p)
{
	const struct thread_arg *a = p;
	struct sandbox_fds sf = { .vm = a->f->vm, .vcpu = a->role == SANDBOX_VCPU ? a->f->vcpu : -1 };

	if (sandbox_apply(a->role, &sf))
		return (void *)(intptr_t)CHILD_APPLY_FAILED;
	return (void *)(intptr_t)(a->probe(a->f) ? CHILD_PROBE_FAILED : CHILD_OK);
}

/*
 * Runs probe in a child under role's filter, on a thread of the child that
 * installs it and then ends, while the child's first thread (no filter) waits
 * for it. Returns the child's wait status and what it wrote to stderr.
 */
static int run_child_raw(enum sandbox_role role, probe_fn probe, char *err, size_t errlen)
{
	int errp[2], p1[2], p2[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(errp), 0);
	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const struct child_fds f = { .vm = p1[0], .vcpu = p1[1], .other = p2[0] };
		struct thread_arg a = { role, probe, &f };
		pthread_t t;
		void *ret;

		dup2(errp[1], STDERR_FILENO);
		if (pthread_create(&t, NULL, child_thread, &a) || pthread_join(t, &ret))
			_exit(CHILD_APPLY_FAILED);
		_exit((int)(intptr_t)ret);
	}
	close(errp[1]);
	while (got < (ssize_t)errlen - 1 &&
	       (n = read(errp[0], err + got, errlen - 1 - (size_t)got)) > 0)
		got += n;
	err[got] = '\0';
	close(errp[0]);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* The same; the child must exit (not die of a signal): its exit status. */
static int run_child(enum sandbox_role role, probe_fn probe, char *err, size_t errlen)
{
	int status = run_child_raw(role, probe, err, errlen);

	if (!WIFEXITED(status)) {
		print_error("child ended by signal %d; stderr: %s\n", WTERMSIG(status), err);
		fail();
	}
	return WEXITSTATUS(status);
}

static void expect_allowed(enum sandbox_role role, probe_fn probe)
{
	char err[512];
	int st = run_child(role, probe, err, sizeof(err));

	if (st != CHILD_OK)
		print_error("status %d; stderr: %s\n", st, err);
	assert_int_equal(st, CHILD_OK);
	assert_string_equal(err, "");
}

static void expect_refused(enum sandbox_role role, probe_fn probe, long nr)
{
	char err[512], want[64];
	int st = run_child(role, probe, err, sizeof(err));

	if (st != KVMRUN_ERR_SANDBOX)
		print_error("status %d; stderr: %s\n", st, err);
	assert_int_equal(st, KVMRUN_ERR_SANDBOX);
	snprintf(want, sizeof(want), "sandbox: system call %ld refused", nr);
	if (!strstr(err, want))
		print_error("stderr: %s\n", err);
	assert_non_null(strstr(err, want));
	/* One line. */
	assert_non_null(strchr(err, '\n'));
	assert_string_equal(strchr(err, '\n'), "\n");
}

/* ---- what each role may do ---- */

static int probe_common(const struct child_fds *f)
{
	struct timespec ts;

	/* Time, a write, the process's own id. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) || getpid() <= 0)
		return -1;
	return write(STDOUT_FILENO, "", 0) < 0 ? -1 : 0;
}

static int probe_loop_calls(const struct child_fds *f)
{
	struct sched_param sp = {.sched_priority = 0};
	struct epoll_event ev;
	char r[16];
	void *big;

	if (probe_common(f))
		return -1;
	/* malloc's large blocks (mmap, munmap). */
	big = malloc(8 << 20);
	if (!big)
		return -1;
	memset(big, 1, 8 << 20);
	free(big);
	if (sched_yield())
		return -1;
	/* The loop's own calls (on no object: the kernel answers EBADF). */
	if (epoll_wait(-1, &ev, 1, 0) != -1 || errno != EBADF)
		return -1;
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) < 0 && errno != EAGAIN)
		return -1;
	if (fdatasync(-1) != -1 || errno != EBADF)
		return -1;
	if (pwrite(-1, r, 1, 0) != -1 || errno != EBADF)
		return -1;
	if (sched_setscheduler(0, SCHED_BATCH, &sp))
		return -1;
	/* stdout's flags put back (console_restore): F_SETFL only. */
	if (fcntl(f->other, F_SETFL, 0))
		return -1;
	/* Listed requests reach the kernel, which refuses them on a pipe. */
	if (ioctl(f->other, TCGETS, NULL) != -1 || ioctl(f->other, TUNSETOFFLOAD, 0) != -1 ||
	    ioctl(f->vm, KVM_IRQFD, NULL) != -1 || ioctl(f->vm, KVM_IOEVENTFD, NULL) != -1 ||
	    ioctl(f->vm, KVM_SET_GSI_ROUTING, NULL) != -1)
		return -1;
	return 0;
}

/* The register dump of a failed vCPU: what each architecture reads its registers with. */
#ifdef __aarch64__
#define VCPU_DUMP_IOCTLS KVM_GET_ONE_REG
#define VCPU_DUMP_REFUSED(fd) (ioctl(fd, KVM_GET_ONE_REG, NULL) != -1)
#else
#define VCPU_DUMP_IOCTLS KVM_GET_REGS, KVM_GET_SREGS
#define VCPU_DUMP_REFUSED(fd)                                                                      \
	(ioctl(fd, KVM_GET_REGS, NULL) != -1 || ioctl(fd, KVM_GET_SREGS, NULL) != -1)
#endif

static int probe_vcpu_calls(const struct child_fds *f)
{
	if (probe_common(f))
		return -1;
	if (ioctl(f->vcpu, KVM_RUN, 0) != -1 || ioctl(f->vm, KVM_IRQ_LINE, NULL) != -1 ||
	    VCPU_DUMP_REFUSED(f->vcpu))
		return -1;
	return 0;
}

static int probe_disk_calls(const struct child_fds *f)
{
	int buf = 0;
	struct iovec iov = {.iov_base = &buf, .iov_len = 1};

	if (probe_common(f))
		return -1;
	/* A worker's calls on the image (on no object: the kernel answers EBADF). */
	if (preadv(-1, &iov, 1, 0) != -1 || errno != EBADF)
		return -1;
	if (pwritev(-1, &iov, 1, 0) != -1 || errno != EBADF)
		return -1;
	if (pwrite(-1, &buf, 1, 0) != -1 || errno != EBADF)
		return -1;
	if (fdatasync(-1) != -1 || errno != EBADF)
		return -1;
	if (fallocate(-1, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 512) != -1 ||
	    errno != EBADF)
		return -1;
	return 0;
}

/* Each probe runs on a thread that then ends: glibc's thread exit passes too. */
static void test_loop_allowed(void **state)
{
	(void)state;
	expect_allowed(SANDBOX_LOOP, probe_loop_calls);
}

static void test_vcpu_allowed(void **state)
{
	(void)state;
	expect_allowed(SANDBOX_VCPU, probe_vcpu_calls);
}

static void test_disk_allowed(void **state)
{
	(void)state;
	expect_allowed(SANDBOX_DISK, probe_disk_calls);
}

static int probe_abort(const struct child_fds *f)
{
	abort();
}

/* A failed assert() on a vCPU thread still ends in SIGABRT, not in the filter. */
static void test_vcpu_abort(void **state)
{
	char err[512];
	int st;

	(void)state;
	st = run_child_raw(SANDBOX_VCPU, probe_abort, err, sizeof(err));
	if (!WIFSIGNALED(st))
		print_error("status 0x%x; stderr: %s\n", st, err);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

/* ---- refused in both roles ---- */

static UNUSED int probe_open(const struct child_fds *f)
{
	return open("/dev/null", O_RDONLY) < 0 ? 0 : -1;
}

static int probe_socket(const struct child_fds *f)
{
	return socket(AF_INET, SOCK_STREAM, 0) < 0 ? 0 : -1;
}

static int probe_exec(const struct child_fds *f)
{
	char *argv[] = {"true", NULL};

	execv("/bin/true", argv);
	return 0;
}

static UNUSED int probe_fork(const struct child_fds *f)
{
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);

	if (pid == 0)
		_exit(CHILD_OK);
	return -1;
}

static int probe_unshare(const struct child_fds *f)
{
	return unshare(CLONE_NEWUSER);
}

static int probe_mmap_exec(const struct child_fds *f)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? 0 : -1;
}

static int probe_mprotect_exec(const struct child_fds *f)
{
	static uint8_t page[4096] __attribute__((aligned(4096)));

	return mprotect(page, sizeof(page), PROT_READ | PROT_EXEC);
}

static int probe_kill_other(const struct child_fds *f)
{
	/* tgkill to another process (init; signal 0 would only probe it). */
	return (int)syscall(SYS_tgkill, 1, 1, 0);
}

static int probe_setscheduler_other(const struct child_fds *f)
{
	struct sched_param sp = {.sched_priority = 0};

	return sched_setscheduler(1, SCHED_OTHER, &sp);
}

static int probe_ioctl_create_vm(const struct child_fds *f)
{
	return ioctl(f->vm, KVM_CREATE_VM, 0);
}

static int probe_ioctl_tiocsti(const struct child_fds *f)
{
	char c = 'x';

	return ioctl(f->other, TIOCSTI, &c);
}

static int probe_kvm_run_other(const struct child_fds *f)
{
	return ioctl(f->other, KVM_RUN, 0);
}

static int probe_irqfd_other(const struct child_fds *f)
{
	return ioctl(f->other, KVM_IRQFD, NULL);
}

static void test_refused_in_both(void **state)
{
	static const struct {
		probe_fn probe;
		long nr;
	} cases[] = {
#ifndef __SANITIZE_ADDRESS__ /* the sanitizer runtime needs these two (sandbox.c) */
	    {probe_open, SYS_openat},
	    {probe_fork, SYS_clone},
#endif
	    {probe_socket, SYS_socket},
	    {probe_exec, SYS_execve},
	    {probe_unshare, SYS_unshare},
	    {probe_mmap_exec, SYS_mmap},
	    {probe_mprotect_exec, SYS_mprotect},
	    {probe_kill_other, SYS_tgkill},
	    {probe_ioctl_create_vm, SYS_ioctl},
	    {probe_ioctl_tiocsti, SYS_ioctl},
	    {probe_kvm_run_other, SYS_ioctl},
	    {probe_irqfd_other, SYS_ioctl},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_refused(SANDBOX_LOOP, cases[i].probe, cases[i].nr);
		expect_refused(SANDBOX_VCPU, cases[i].probe, cases[i].nr);
		expect_refused(SANDBOX_DISK, cases[i].probe, cases[i].nr);
	}
}

/* ---- by role: the loop's calls on a vCPU thread, a vCPU's on the loop ---- */

/* The call epoll_wait() makes: arm64 has epoll_pwait only. */
#ifdef SYS_epoll_wait
#define SYS_EPOLL_WAIT SYS_epoll_wait
#else
#define SYS_EPOLL_WAIT SYS_epoll_pwait
#endif

static int probe_epoll(const struct child_fds *f)
{
	struct epoll_event ev;

	return epoll_wait(-1, &ev, 1, 0);
}

static int probe_getrandom(const struct child_fds *f)
{
	char r[4];

	return (int)getrandom(r, sizeof(r), GRND_NONBLOCK);
}

static int probe_pwrite(const struct child_fds *f)
{
	return (int)pwrite(-1, "x", 1, 0);
}

static UNUSED int probe_read(const struct child_fds *f)
{
	char c;

	return (int)read(-1, &c, 1);
}

static UNUSED int probe_malloc(const struct child_fds *f)
{
	uint8_t *volatile big = malloc(8 << 20); /* volatile: the pair is not optimised away */

	if (big)
		big[0] = 1;
	free(big);
	return 0;
}

static int probe_tunsetoffload(const struct child_fds *f)
{
	return ioctl(f->other, TUNSETOFFLOAD, 0);
}

static int probe_kvm_run(const struct child_fds *f)
{
	return ioctl(f->vcpu, KVM_RUN, 0);
}

static int probe_kvm_run_on_vm(const struct child_fds *f)
{
	return ioctl(f->vm, KVM_RUN, 0);
}

static int probe_ioeventfd(const struct child_fds *f)
{
	return ioctl(f->vm, KVM_IOEVENTFD, NULL);
}

static int probe_gsi_routing(const struct child_fds *f)
{
	return ioctl(f->vm, KVM_SET_GSI_ROUTING, NULL);
}

static int probe_irq_line_on_vcpu(const struct child_fds *f)
{
	return ioctl(f->vcpu, KVM_IRQ_LINE, NULL);
}

static int probe_fcntl_setfl(const struct child_fds *f)
{
	return fcntl(f->other, F_SETFL, O_NONBLOCK);
}

static int probe_fcntl_getfl(const struct child_fds *f)
{
	return fcntl(f->other, F_GETFL);
}

static int probe_io_submit(const struct child_fds *f)
{
	return (int)syscall(SYS_io_submit, 0, 0, NULL);
}

static void test_refused_by_role(void **state)
{
	(void)state;
	expect_refused(SANDBOX_VCPU, probe_epoll, SYS_EPOLL_WAIT);
	expect_refused(SANDBOX_VCPU, probe_getrandom, SYS_getrandom);
	expect_refused(SANDBOX_VCPU, probe_pwrite, SYS_pwrite64);
#ifndef __SANITIZE_ADDRESS__ /* the sanitizer runtime maps memory and reads on any thread */
	expect_refused(SANDBOX_VCPU, probe_read, SYS_read);
	expect_refused(SANDBOX_VCPU, probe_malloc, SYS_mmap);
#endif
	expect_refused(SANDBOX_VCPU, probe_tunsetoffload, SYS_ioctl);
	/* Doorbells and MSI routes are the loop's; KVM_RUN on the thread's own vCPU only. */
	expect_refused(SANDBOX_VCPU, probe_ioeventfd, SYS_ioctl);
	expect_refused(SANDBOX_VCPU, probe_gsi_routing, SYS_ioctl);
	expect_refused(SANDBOX_VCPU, probe_kvm_run_on_vm, SYS_ioctl);
	expect_refused(SANDBOX_VCPU, probe_irq_line_on_vcpu, SYS_ioctl);
	expect_refused(SANDBOX_LOOP, probe_kvm_run, SYS_ioctl);
	expect_refused(SANDBOX_VCPU, probe_fcntl_setfl, SYS_fcntl);
	expect_refused(SANDBOX_LOOP, probe_fcntl_getfl, SYS_fcntl);
	expect_refused(SANDBOX_LOOP, probe_kvm_run_on_vm, SYS_ioctl);
	/* The loop sets its own policy only. */
	expect_refused(SANDBOX_LOOP, probe_setscheduler_other, SYS_sched_setscheduler);
	expect_refused(SANDBOX_VCPU, probe_setscheduler_other, SYS_sched_setscheduler);
	/* A disk worker: the image's calls only, no ioctl at all. */
	expect_refused(SANDBOX_DISK, probe_epoll, SYS_EPOLL_WAIT);
	expect_refused(SANDBOX_DISK, probe_getrandom, SYS_getrandom);
	expect_refused(SANDBOX_DISK, probe_io_submit, SYS_io_submit);
	expect_refused(SANDBOX_DISK, probe_kvm_run, SYS_ioctl);
	expect_refused(SANDBOX_DISK, probe_tunsetoffload, SYS_ioctl);
}

/* ---- a refused call puts the terminal back ---- */

static void restore_console(void *opaque)
{
	console_restore(opaque);
}

static void *refuse_on_vcpu(void *opaque)
{
	int *go = opaque;
	char c;

	if (read(go[0], &c, 1) != 1 || sandbox_apply(SANDBOX_VCPU, NULL))
		_exit(CHILD_APPLY_FAILED);
	probe_socket(NULL);
	_exit(CHILD_OK);
}

/*
 * A child whose stdin is a terminal in raw mode (the console's), with the
 * console's restore as the sandbox's cleanup, makes a refused call on the
 * main thread (the loop) or on a second thread (a vCPU, which forwards the
 * signal to the main thread). It ends with status 8 and the terminal's mode
 * as it was before the console.
 */
static void check_refusal_restores(bool on_vcpu)
{
	struct termios before, after;
	int master, slave, status, errp[2];
	char err[512];
	size_t got;
	ssize_t n;
	pid_t pid;

	master = test_open_pty(&slave);
	assert_int_equal(tcgetattr(slave, &before), 0);
	assert_true(before.c_lflag & ICANON);
	assert_int_equal(pipe(errp), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sandbox_cleanup c = { .fn = restore_console };
		struct ev_loop *loop;
		struct console *con;
		struct termios raw;
		pthread_t t;
		int go[2];

		dup2(errp[1], STDERR_FILENO);
		dup2(slave, STDIN_FILENO);
		if (pipe(go) || ev_loop_create(&loop) ||
		    console_create(&con, loop, true, NULL, UINT64_MAX, NULL, NULL) ||
		    tcgetattr(STDIN_FILENO, &raw) || (raw.c_lflag & ICANON))
			_exit(CHILD_PROBE_FAILED);
		c.opaque = con;
		sandbox_set_cleanup(&c);
		if (on_vcpu && pthread_create(&t, NULL, refuse_on_vcpu, go))
			_exit(CHILD_PROBE_FAILED);
		if (sandbox_apply(SANDBOX_LOOP, NULL))
			_exit(CHILD_APPLY_FAILED);
		if (!on_vcpu)
			probe_socket(NULL);
		else if (write(go[1], "g", 1) == 1)
			pthread_join(t, NULL);
		_exit(CHILD_OK);
	}
	close(errp[1]);
	got = 0;
	while (got < sizeof(err) - 1 && (n = read(errp[0], err + got, sizeof(err) - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(errp[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != KVMRUN_ERR_SANDBOX)
		print_error("status %d; stderr: %s\n", WEXITSTATUS(status), err);
	assert_int_equal(WEXITSTATUS(status), KVMRUN_ERR_SANDBOX);
	assert_non_null(strstr(err, "refused by the seccomp filter"));
	assert_int_equal(tcgetattr(slave, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	assert_int_equal(after.c_cc[VMIN], before.c_cc[VMIN]);
	close(slave);
	close(master);
}

static void test_refusal_restores_terminal_loop(void **state)
{
	(void)state;
	check_refusal_restores(false);
}

static void test_refusal_restores_terminal_vcpu(void **state)
{
	(void)state;
	check_refusal_restores(true);
}

/* ---- the filters as data ---- */

#define FD_VM 100
#define FD_VCPU 101
#define NR_MAX 1024 /* past every x86-64 and arm64 system call number */
/* The filters' own architecture, and a 32-bit one whose numbers must never pass. */
#ifdef __aarch64__
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define TEST_AUDIT_ARCH_COMPAT AUDIT_ARCH_ARM
#else
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#define TEST_AUDIT_ARCH_COMPAT AUDIT_ARCH_I386
#endif

/* The role's BPF program, as sandbox_apply would install it (*n instructions). */
static struct sock_filter *export_bpf(enum sandbox_role role, size_t *n)
{
	const struct sandbox_fds fds = { .vm = FD_VM, .vcpu = role == SANDBOX_VCPU ? FD_VCPU : -1 };
	struct sock_filter *prog;
	FILE *tmp = tmpfile();
	long len;

	assert_non_null(tmp);
	assert_int_equal(sandbox_export_bpf(role, &fds, fileno(tmp)), 0);
	len = lseek(fileno(tmp), 0, SEEK_END);
	assert_true(len > 0 && len % (long)sizeof(*prog) == 0);
	prog = malloc((size_t)len);
	assert_non_null(prog);
	assert_int_equal(pread(fileno(tmp), prog, (size_t)len, 0), len);
	fclose(tmp);
	*n = (size_t)len / sizeof(*prog);
	return prog;
}

/* Runs a classic BPF program over d, as the kernel would: its return value. */
static uint32_t bpf_run(const struct sock_filter *prog, size_t n, const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};

	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *in = &prog[pc];
		uint32_t k = in->k, src = BPF_SRC(in->code) == BPF_X ? x : k;

		switch (in->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(k % 4 == 0 && k + 4 <= sizeof(*d));
			memcpy(&a, (const uint8_t *)d + k, 4);
			break;
		case BPF_LD | BPF_IMM:
			a = k;
			break;
		case BPF_LDX | BPF_IMM:
			x = k;
			break;
		case BPF_LD | BPF_MEM:
			assert_true(k < BPF_MEMWORDS);
			a = mem[k];
			break;
		case BPF_LDX | BPF_MEM:
			assert_true(k < BPF_MEMWORDS);
			x = mem[k];
			break;
		case BPF_ST:
			assert_true(k < BPF_MEMWORDS);
			mem[k] = a;
			break;
		case BPF_STX:
			assert_true(k < BPF_MEMWORDS);
			mem[k] = x;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= k;
			break;
		case BPF_ALU | BPF_OR | BPF_K:
			a |= k;
			break;
		case BPF_MISC | BPF_TAX:
			x = a;
			break;
		case BPF_MISC | BPF_TXA:
			a = x;
			break;
		case BPF_JMP | BPF_JA:
			pc += k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
		case BPF_JMP | BPF_JEQ | BPF_X:
			pc += a == src ? in->jt : in->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
		case BPF_JMP | BPF_JGT | BPF_X:
			pc += a > src ? in->jt : in->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
		case BPF_JMP | BPF_JGE | BPF_X:
			pc += a >= src ? in->jt : in->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
		case BPF_JMP | BPF_JSET | BPF_X:
			pc += a & src ? in->jt : in->jf;
			break;
		case BPF_RET | BPF_K:
			return k;
		case BPF_RET | BPF_A:
			return a;
		default:
			fail_msg("BPF opcode 0x%x at %zu: not understood here", in->code, pc);
		}
	}
	fail_msg("the BPF program ran off its end");
	return 0;
}

static bool bpf_allows(const struct sock_filter *prog, size_t n, int nr, const uint64_t args[6])
{
	struct seccomp_data d = { .nr = nr, .arch = TEST_AUDIT_ARCH };

	memcpy(d.args, args, sizeof(d.args));
	return (bpf_run(prog, n, &d) & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ALLOW;
}

static const unsigned long all_ioctls[] = {
	KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS, KVM_SET_REGS, KVM_SET_SREGS, KVM_IRQ_LINE, KVM_IRQFD,
#ifdef __aarch64__
	KVM_GET_ONE_REG, KVM_SET_ONE_REG,
#endif
	KVM_IOEVENTFD, KVM_SET_GSI_ROUTING, KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION,
	KVM_SIGNAL_MSI, TUNSETOFFLOAD, TUNSETIFF, TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCSTI, FIONREAD,
};

/*
 * Whether any of a few argument vectors gets nr through: all zero, all ones, and
 * each of all_ioctls on each of a few descriptors (arg1 the request, arg0 the
 * descriptor: also the tgkill and sched_setscheduler checks' own-process cases).
 */
static bool bpf_allows_any(const struct sock_filter *prog, size_t n, int nr)
{
	static const int fds[] = { 0, 2, FD_VM, FD_VCPU, FD_VCPU + 1 };
	uint64_t args[6] = {0};

	if (bpf_allows(prog, n, nr, args))
		return true;
	args[0] = (uint64_t)getpid();
	if (bpf_allows(prog, n, nr, args))
		return true;
	memset(args, 0xff, sizeof(args));
	if (bpf_allows(prog, n, nr, args))
		return true;
	memset(args, 0, sizeof(args));
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(all_ioctls); j++) {
			args[0] = (uint64_t)fds[i];
			args[1] = all_ioctls[j];
			if (bpf_allows(prog, n, nr, args))
				return true;
		}
	}
	return false;
}

/* What a vCPU thread may call in a build without sanitizers: no more, no less. */
static const int vcpu_calls[] = {
	SYS_ioctl, SYS_futex, SYS_write, SYS_clock_gettime, SYS_rt_sigreturn, SYS_rt_sigprocmask,
	SYS_madvise, SYS_exit, SYS_exit_group, SYS_getpid, SYS_gettid, SYS_tgkill,
};

/* Calls only the sanitizer runtime makes (sandbox.c adds them to sanitizer builds). */
static const int sanitizer_calls[] = {
	SYS_sigaltstack, SYS_rt_sigaction, SYS_clone, SYS_ptrace, SYS_wait4, SYS_prctl,
	SYS_openat, SYS_getdents64,
#ifdef SYS_open
	SYS_open, SYS_getdents, SYS_stat, SYS_lstat, SYS_readlink,
#else
	SYS_readlinkat,
#endif
	SYS_sched_getaffinity, SYS_lseek, SYS_kill, SYS_pipe2, SYS_getppid, SYS_setrlimit,
	SYS_getrlimit, SYS_prlimit64,
};

static bool in_ulist(const unsigned long *list, size_t n, unsigned long v)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

static bool in_list(const int *list, size_t n, int nr)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == nr)
			return true;
	return false;
}

static void test_vcpu_filter_exact(void **state)
{
	struct sock_filter *prog;
	unsigned int calls = 0;
	size_t n;

	(void)state;
	prog = export_bpf(SANDBOX_VCPU, &n);
	for (int nr = 0; nr < NR_MAX; nr++) {
		bool allowed = bpf_allows_any(prog, n, nr);

		calls += allowed;
#ifdef __SANITIZE_ADDRESS__
		/* The runtime's calls come on top: the list only has to be in there. */
		if (in_list(vcpu_calls, ARRAY_SIZE(vcpu_calls), nr) ||
		    in_list(sanitizer_calls, ARRAY_SIZE(sanitizer_calls), nr))
			assert_true(allowed);
#else
		if (allowed != in_list(vcpu_calls, ARRAY_SIZE(vcpu_calls), nr))
			fail_msg("system call %d: %s on a vCPU thread", nr,
				 allowed ? "allowed" : "refused");
#endif
	}
	print_message("vCPU filter: %u system calls, %zu BPF instructions\n", calls, n);
	/* Another architecture's numbers (i386 or arm, x32 on x86-64) never pass. */
	{
		struct seccomp_data d = { .nr = SYS_write, .arch = TEST_AUDIT_ARCH_COMPAT };

		assert_int_not_equal(bpf_run(prog, n, &d) & SECCOMP_RET_ACTION_FULL,
				     SECCOMP_RET_ALLOW);
#ifndef __aarch64__
		d = (struct seccomp_data){ .nr = SYS_write | 0x40000000, .arch = AUDIT_ARCH_X86_64 };
		assert_int_not_equal(bpf_run(prog, n, &d) & SECCOMP_RET_ACTION_FULL,
				     SECCOMP_RET_ALLOW);
#endif
	}
	free(prog);
}

/* In a build without sanitizers, neither role allows any of the runtime's calls. */
static void test_no_sanitizer_calls(void **state)
{
	(void)state;
#ifdef __SANITIZE_ADDRESS__
	/* This build is a sanitizer build: the calls are there, in both roles. */
	for (int role = SANDBOX_LOOP; role <= SANDBOX_VCPU; role++) {
		size_t n;
		struct sock_filter *prog = export_bpf((enum sandbox_role)role, &n);

		for (size_t i = 0; i < ARRAY_SIZE(sanitizer_calls); i++)
			assert_true(bpf_allows_any(prog, n, sanitizer_calls[i]));
		free(prog);
	}
#else
	for (int role = SANDBOX_LOOP; role <= SANDBOX_VCPU; role++) {
		size_t n;
		struct sock_filter *prog = export_bpf((enum sandbox_role)role, &n);

		for (size_t i = 0; i < ARRAY_SIZE(sanitizer_calls); i++) {
			int nr = sanitizer_calls[i];

			/* The loop ends its daemons: kill and wait4 of one pid (test_sandbox_vhost). */
			if (role == SANDBOX_LOOP && (nr == SYS_kill || nr == SYS_wait4))
				continue;
			if (bpf_allows_any(prog, n, nr))
				fail_msg("role %d allows system call %d", role, nr);
		}
		free(prog);
	}
#endif
}

/* Which (descriptor, request) pairs each role's ioctl rules let through. */
static void test_ioctls_by_descriptor(void **state)
{
	static const int fds[] = { 0, 1, 2, FD_VM, FD_VCPU, FD_VCPU + 1, 1000 };
	static const unsigned long loop_any[] = { TUNSETOFFLOAD, TCGETS, TCSETS, TCSETSW, TCSETSF };
	static const unsigned long loop_vm[] = { KVM_IRQ_LINE, KVM_IRQFD, KVM_IOEVENTFD,
						 KVM_SET_GSI_ROUTING };
	static const unsigned long vcpu_own[] = { KVM_RUN, VCPU_DUMP_IOCTLS };
	unsigned int pairs[2] = {0};

	(void)state;
	for (int role = SANDBOX_LOOP; role <= SANDBOX_VCPU; role++) {
		size_t n;
		struct sock_filter *prog = export_bpf((enum sandbox_role)role, &n);

		for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
			for (size_t j = 0; j < ARRAY_SIZE(all_ioctls); j++) {
				unsigned long req = all_ioctls[j];
				int fd = fds[i];
				/* The kernel reads 32 bits of each: the upper ones do not matter. */
				uint64_t args[6] = { (uint64_t)fd | 0xabcd00000000ULL,
						     req | 0x1234ULL << 32 };
				bool want;

				if (role == SANDBOX_LOOP)
					want = (fd == FD_VM && in_ulist(loop_vm, ARRAY_SIZE(loop_vm), req)) ||
					       in_ulist(loop_any, ARRAY_SIZE(loop_any), req);
				else
					want = (fd == FD_VCPU &&
						in_ulist(vcpu_own, ARRAY_SIZE(vcpu_own), req)) ||
					       (fd == FD_VM && req == KVM_IRQ_LINE) ||
					       (fd == STDIN_FILENO && req == TCSETS);
				if (bpf_allows(prog, n, SYS_ioctl, args) != want)
					fail_msg("role %d: ioctl 0x%lx on %d %s", role, req, fd,
						 want ? "refused" : "allowed");
				if (fd != STDIN_FILENO && !in_ulist(loop_any, ARRAY_SIZE(loop_any), req))
					pairs[role] += want;
			}
		}
		free(prog);
	}
	print_message("KVM (descriptor, request) pairs allowed: loop %u, vCPU %u\n",
		      pairs[SANDBOX_LOOP], pairs[SANDBOX_VCPU]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loop_allowed),
	    cmocka_unit_test(test_vcpu_allowed),
	    cmocka_unit_test(test_disk_allowed),
	    cmocka_unit_test(test_vcpu_abort),
	    cmocka_unit_test(test_refused_in_both),
	    cmocka_unit_test(test_refused_by_role),
	    cmocka_unit_test(test_refusal_restores_terminal_loop),
	    cmocka_unit_test(test_refusal_restores_terminal_vcpu),
	    cmocka_unit_test(test_vcpu_filter_exact),
	    cmocka_unit_test(test_no_sanitizer_calls),
	    cmocka_unit_test(test_ioctls_by_descriptor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
