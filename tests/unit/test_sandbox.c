// SPDX-License-Identifier: Apache-2.0
/*
 * The seccomp filters, installed for real in a child process: the calls each
 * role needs still work, and each refused one stops the child with status
 * KVMRUN_ERR_SANDBOX and a line naming the system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
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

#include "devices.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/sandbox.h"
#include "kvmrun/vm.h"

typedef int (*probe_fn)(int fd);

/* Exit statuses of the child besides KVMRUN_ERR_SANDBOX. */
enum { CHILD_OK = 0, CHILD_APPLY_FAILED = 40, CHILD_PROBE_FAILED = 41 };

/*
 * Runs probe in a child under role's filter, with fd a pipe's read end (a file
 * that is no tty, no tap and no KVM object). Returns the child's exit status and
 * what it wrote to stderr.
 */
static int run_child(enum sandbox_role role, probe_fn probe, char *err, size_t errlen)
{
	int errp[2], fds[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(errp), 0);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(errp[1], STDERR_FILENO);
		if (sandbox_apply(role))
			_exit(CHILD_APPLY_FAILED);
		_exit(probe(fds[0]) ? CHILD_PROBE_FAILED : CHILD_OK);
	}
	close(errp[1]);
	while (got < (ssize_t)errlen - 1 &&
	       (n = read(errp[0], err + got, errlen - 1 - (size_t)got)) > 0)
		got += n;
	err[got] = '\0';
	close(errp[0]);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
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

/* ---- what both roles may do ---- */

static int probe_common(int fd)
{
	struct timespec ts;
	void *big;

	/* malloc's large blocks (mmap, munmap), time, a write. */
	big = malloc(8 << 20);
	if (!big)
		return -1;
	memset(big, 1, 8 << 20);
	free(big);
	if (clock_gettime(CLOCK_MONOTONIC, &ts) || sched_yield())
		return -1;
	return write(STDOUT_FILENO, "", 0) < 0 ? -1 : 0;
}

static int probe_loop_calls(int fd)
{
	struct sched_param sp = {.sched_priority = 0};
	struct epoll_event ev;
	char r[16];

	if (probe_common(fd))
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
	if (fcntl(fd, F_SETFL, 0))
		return -1;
	/* Listed requests reach the kernel, which refuses them on a pipe. */
	if (ioctl(fd, TCGETS, NULL) != -1 || ioctl(fd, TUNSETOFFLOAD, 0) != -1 ||
	    ioctl(fd, KVM_IRQFD, NULL) != -1)
		return -1;
	return 0;
}

static int probe_vcpu_calls(int fd)
{
	if (probe_common(fd))
		return -1;
	if (ioctl(fd, KVM_RUN, 0) != -1 || ioctl(fd, KVM_IRQ_LINE, NULL) != -1 ||
	    ioctl(fd, KVM_GET_REGS, NULL) != -1)
		return -1;
	return 0;
}

static int probe_disk_calls(int fd)
{
	struct iovec iov = {.iov_base = &fd, .iov_len = 1};

	if (probe_common(fd))
		return -1;
	/* A worker's calls on the image (on no object: the kernel answers EBADF). */
	if (preadv(-1, &iov, 1, 0) != -1 || errno != EBADF)
		return -1;
	if (pwritev(-1, &iov, 1, 0) != -1 || errno != EBADF)
		return -1;
	if (pwrite(-1, &fd, 1, 0) != -1 || errno != EBADF)
		return -1;
	if (fdatasync(-1) != -1 || errno != EBADF)
		return -1;
	if (fallocate(-1, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 512) != -1 ||
	    errno != EBADF)
		return -1;
	return 0;
}

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

/* ---- refused in both roles ---- */

static UNUSED int probe_open(int fd)
{
	return open("/dev/null", O_RDONLY) < 0 ? 0 : -1;
}

static int probe_socket(int fd)
{
	return socket(AF_INET, SOCK_STREAM, 0) < 0 ? 0 : -1;
}

static int probe_exec(int fd)
{
	char *argv[] = {"true", NULL};

	execv("/bin/true", argv);
	return 0;
}

static UNUSED int probe_fork(int fd)
{
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);

	if (pid == 0)
		_exit(CHILD_OK);
	return -1;
}

static int probe_unshare(int fd)
{
	return unshare(CLONE_NEWUSER);
}

static int probe_mmap_exec(int fd)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? 0 : -1;
}

static int probe_mprotect_exec(int fd)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	return mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static int probe_kill_other(int fd)
{
	/* tgkill to another process (init; signal 0 would only probe it). */
	return (int)syscall(SYS_tgkill, 1, 1, 0);
}

static int probe_setscheduler_other(int fd)
{
	struct sched_param sp = {.sched_priority = 0};

	return sched_setscheduler(1, SCHED_OTHER, &sp);
}

static int probe_ioctl_create_vm(int fd)
{
	return ioctl(fd, KVM_CREATE_VM, 0);
}

static int probe_ioctl_tiocsti(int fd)
{
	char c = 'x';

	return ioctl(fd, TIOCSTI, &c);
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
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_refused(SANDBOX_LOOP, cases[i].probe, cases[i].nr);
		expect_refused(SANDBOX_VCPU, cases[i].probe, cases[i].nr);
		expect_refused(SANDBOX_DISK, cases[i].probe, cases[i].nr);
	}
}

/* ---- the loop's calls are refused on a vCPU thread, KVM_RUN on the loop ---- */

static int probe_epoll(int fd)
{
	struct epoll_event ev;

	return epoll_wait(-1, &ev, 1, 0);
}

static int probe_getrandom(int fd)
{
	char r[4];

	return (int)getrandom(r, sizeof(r), GRND_NONBLOCK);
}

static int probe_pwrite(int fd)
{
	return (int)pwrite(-1, "x", 1, 0);
}

static int probe_tunsetoffload(int fd)
{
	return ioctl(fd, TUNSETOFFLOAD, 0);
}

static int probe_kvm_run(int fd)
{
	return ioctl(fd, KVM_RUN, 0);
}

static int probe_fcntl_setfl(int fd)
{
	return fcntl(fd, F_SETFL, O_NONBLOCK);
}

static int probe_fcntl_getfl(int fd)
{
	return fcntl(fd, F_GETFL);
}

static int probe_io_submit(int fd)
{
	(void)fd;
	return (int)syscall(SYS_io_submit, 0, 0, NULL);
}

static void test_refused_by_role(void **state)
{
	(void)state;
	expect_refused(SANDBOX_VCPU, probe_epoll, SYS_epoll_wait);
	expect_refused(SANDBOX_VCPU, probe_getrandom, SYS_getrandom);
	expect_refused(SANDBOX_VCPU, probe_pwrite, SYS_pwrite64);
	expect_refused(SANDBOX_VCPU, probe_tunsetoffload, SYS_ioctl);
	expect_refused(SANDBOX_LOOP, probe_kvm_run, SYS_ioctl);
	expect_refused(SANDBOX_VCPU, probe_fcntl_setfl, SYS_fcntl);
	expect_refused(SANDBOX_LOOP, probe_fcntl_getfl, SYS_fcntl);
	/* The loop sets its own policy only. */
	expect_refused(SANDBOX_LOOP, probe_setscheduler_other, SYS_sched_setscheduler);
	expect_refused(SANDBOX_VCPU, probe_setscheduler_other, SYS_sched_setscheduler);
	/* A disk worker: the image's calls only, no ioctl at all. */
	expect_refused(SANDBOX_DISK, probe_epoll, SYS_epoll_wait);
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

	if (read(go[0], &c, 1) != 1 || sandbox_apply(SANDBOX_VCPU))
		_exit(CHILD_APPLY_FAILED);
	probe_socket(-1);
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

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0)
		skip();
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
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
		if (sandbox_apply(SANDBOX_LOOP))
			_exit(CHILD_APPLY_FAILED);
		if (!on_vcpu)
			probe_socket(-1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loop_allowed),
	    cmocka_unit_test(test_vcpu_allowed),
	    cmocka_unit_test(test_disk_allowed),
	    cmocka_unit_test(test_refused_in_both),
	    cmocka_unit_test(test_refused_by_role),
	    cmocka_unit_test(test_refusal_restores_terminal_loop),
	    cmocka_unit_test(test_refusal_restores_terminal_vcpu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
