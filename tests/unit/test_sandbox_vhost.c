// SPDX-License-Identifier: Apache-2.0
/*
 * The event loop's seccomp filter and the vhost-user requests it makes at run time
 * (a virtio-fs queue started at DRIVER_OK, stopped at reset): installed for real in
 * a child, a message with a file descriptor attached goes out, the wait for the
 * reply and the reply with a descriptor come in, with exactly the flags the
 * vhost-user frontend uses; and at teardown a daemon is ended (SIGTERM, SIGKILL)
 * and reaped. The same calls with other flags, other signals, process groups,
 * waits for any child, and socket calls the frontend never makes stop the child
 * with KVMRUN_ERR_SANDBOX and a line naming the call.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmrun/compiler.h"
#include "kvmrun/exit_status.h"
#include "kvmrun/sandbox.h"

enum { CHILD_OK = 0, CHILD_SETUP_FAILED = 40, CHILD_PROBE_FAILED = 41 };

/*
 * A connected pair (frontend, backend), an eventfd to pass, and a process standing
 * in for a daemon (it waits; it dies with the child), made before the filter.
 */
struct child_fds {
	int front, back, efd;
	pid_t daemon;
};

typedef int (*probe_fn)(const struct child_fds *f);

struct thread_arg {
	probe_fn probe;
	const struct child_fds *f;
};

static void *child_thread(void *p)
{
	const struct thread_arg *a = p;

	struct sandbox_fds fds = { .vm = -1, .vcpu = -1, .daemons = { a->f->daemon },
				   .nr_daemons = 1 };

	if (sandbox_apply(SANDBOX_LOOP, &fds))
		return (void *)(intptr_t)CHILD_SETUP_FAILED;
	return (void *)(intptr_t)(a->probe(a->f) ? CHILD_PROBE_FAILED : CHILD_OK);
}

/* Runs probe under the loop's filter in a child; its exit status, and its stderr in err. */
static int run_child(probe_fn probe, char *err, size_t errlen)
{
	int errp[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(errp), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int sv[2];
		struct child_fds f;
		struct thread_arg a = {probe, &f};
		pid_t me = getpid();
		pthread_t t;
		void *ret;

		dup2(errp[1], STDERR_FILENO);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			_exit(CHILD_SETUP_FAILED);
		f = (struct child_fds){sv[0], sv[1], eventfd(0, EFD_CLOEXEC), fork()};
		if (f.daemon == 0) {
			/* Holds no end of the test's pipe, and never outlives the child. */
			close(STDERR_FILENO);
			close(errp[0]);
			close(errp[1]);
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != me)
				_exit(0);
			for (;;)
				pause();
		}
		if (f.efd < 0 || f.daemon < 0 || pthread_create(&t, NULL, child_thread, &a) ||
		    pthread_join(t, &ret))
			_exit(CHILD_SETUP_FAILED);
		_exit((int)(intptr_t)ret);
	}
	close(errp[1]);
	while (got < (ssize_t)errlen - 1 &&
	       (n = read(errp[0], err + got, errlen - 1 - (size_t)got)) > 0)
		got += n;
	err[got] = '\0';
	close(errp[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status)) {
		print_error("child ended by signal %d; stderr: %s\n", WTERMSIG(status), err);
		fail();
	}
	return WEXITSTATUS(status);
}

/* One 12-byte message (a vhost-user header's size) with fd attached, or none when fd < 0. */
static ssize_t send_fd(int sock, int fd, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	char msg[12] = "vhost-user";
	struct iovec iov = {msg, sizeof(msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	}
	return sendmsg(sock, &mh, flags);
}

/* Receives one message; *fd gets a descriptor that came with it, or -1. */
static ssize_t recv_fd(int sock, int *fd, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	char msg[12];
	struct iovec iov = {msg, sizeof(msg)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *cm;
	ssize_t n = recvmsg(sock, &mh, flags);

	*fd = -1;
	cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(*fd));
	return n;
}

/* The frontend's round trip: a request with a descriptor, the wait, a reply with one. */
static int probe_vhost_round_trip(const struct child_fds *f)
{
	struct pollfd pfd = {.fd = f->back, .events = POLLIN};
	uint64_t one = 1, got = 0;
	int fd;

	if (send_fd(f->front, f->efd, MSG_NOSIGNAL | MSG_DONTWAIT) != 12)
		return -1;
	if (poll(&pfd, 1, 5000) != 1)
		return -1;
	if (recv_fd(f->back, &fd, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 12 || fd < 0)
		return -1;
	/* The descriptor that arrived is the eventfd that was sent. */
	if (write(fd, &one, sizeof(one)) != sizeof(one) ||
	    read(f->efd, &got, sizeof(got)) != sizeof(got) || got != 1)
		return -1;
	close(fd);
	/* The reply, back the other way, without a descriptor; then nothing more waits. */
	pfd.fd = f->front;
	if (send_fd(f->back, -1, MSG_NOSIGNAL | MSG_DONTWAIT) != 12 || poll(&pfd, 1, 5000) != 1 ||
	    recv_fd(f->front, &fd, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 12 || fd != -1)
		return -1;
	if (recv_fd(f->front, &fd, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != -1 || errno != EAGAIN)
		return -1;
	return 0;
}

static void test_vhost_user_calls_allowed(void **state)
{
	char err[512];
	int st;

	(void)state;
	st = run_child(probe_vhost_round_trip, err, sizeof(err));
	if (st != CHILD_OK)
		print_error("status %d; stderr: %s\n", st, err);
	assert_int_equal(st, CHILD_OK);
	assert_string_equal(err, "");
}

/* Teardown ends a daemon: SIGTERM (or SIGKILL) to its pid, and reaps it. */
static int probe_daemon_stop(const struct child_fds *f)
{
	int st;

	if (kill(f->daemon, SIGTERM) || waitpid(f->daemon, &st, 0) != f->daemon)
		return -1;
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
		return -1;
	/* Gone: SIGKILL now finds nothing, and nothing is left to reap. */
	if (kill(f->daemon, SIGKILL) != -1 || errno != ESRCH)
		return -1;
	return waitpid(f->daemon, &st, WNOHANG) == -1 && errno == ECHILD ? 0 : -1;
}

static void test_daemon_stop_allowed(void **state)
{
	char err[512];
	int st;

	(void)state;
	st = run_child(probe_daemon_stop, err, sizeof(err));
	if (st != CHILD_OK)
		print_error("status %d; stderr: %s\n", st, err);
	assert_int_equal(st, CHILD_OK);
	assert_string_equal(err, "");
}

static int probe_kill_other_signal(const struct child_fds *f)
{
	return kill(f->daemon, SIGHUP) ? 0 : -1;
}

/* A pid that is not the daemon's (nothing runs there: were it allowed, ESRCH). */
static int probe_kill_other_pid(const struct child_fds *f)
{
	return kill(f->daemon ^ 0x100000, SIGTERM) ? 0 : -1;
}

static int probe_wait_other_pid(const struct child_fds *f)
{
	int st;

	return waitpid(f->daemon ^ 0x100000, &st, WNOHANG) < 0 ? 0 : -1;
}

static int probe_kill_group(const struct child_fds *f)
{
	return kill(-f->daemon, SIGTERM) ? 0 : -1;
}

static int probe_kill_all(const struct child_fds *f)
{
	return kill(-1, SIGKILL) ? 0 : -1;
}

static int probe_wait_any(const struct child_fds *f)
{
	int st;

	return waitpid(-1, &st, WNOHANG) < 0 ? 0 : -1;
}

static int probe_sendmsg_blocking(const struct child_fds *f)
{
	return send_fd(f->front, f->efd, MSG_NOSIGNAL) == 12 ? -1 : 0;
}

static int probe_recvmsg_peek(const struct child_fds *f)
{
	int fd;

	return recv_fd(f->back, &fd, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_PEEK) < 0 ? 0 : -1;
}

static int probe_poll_two(const struct child_fds *f)
{
	struct pollfd pfd[2] = {{.fd = f->front, .events = POLLIN},
				{.fd = f->back, .events = POLLIN}};

	return poll(pfd, 2, 0) < 0 ? 0 : -1;
}

static int probe_send(const struct child_fds *f)
{
	return send(f->front, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? -1 : 0;
}

static int probe_connect(const struct child_fds *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "/nonexistent"};

	return connect(f->front, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? 0 : -1;
}

static int probe_accept(const struct child_fds *f)
{
	return accept4(f->front, NULL, NULL, SOCK_CLOEXEC) < 0 ? 0 : -1;
}

static void expect_refused(probe_fn probe, long nr)
{
	char err[512], want[64];
	int st = run_child(probe, err, sizeof(err));

	if (st != KVMRUN_ERR_SANDBOX)
		print_error("status %d; stderr: %s\n", st, err);
	assert_int_equal(st, KVMRUN_ERR_SANDBOX);
	snprintf(want, sizeof(want), "sandbox: system call %ld refused", nr);
	if (!strstr(err, want))
		print_error("stderr: %s\n", err);
	assert_non_null(strstr(err, want));
}

static void test_other_socket_calls_refused(void **state)
{
	(void)state;
	expect_refused(probe_sendmsg_blocking, SYS_sendmsg);
	expect_refused(probe_recvmsg_peek, SYS_recvmsg);
#ifdef SYS_poll
	expect_refused(probe_poll_two, SYS_poll);
#else
	expect_refused(probe_poll_two, SYS_ppoll);
#endif
	expect_refused(probe_send, SYS_sendto);
	expect_refused(probe_connect, SYS_connect);
	expect_refused(probe_accept, SYS_accept4);
}

/*
 * Not in a sanitizer build: there the runtime's own list (sandbox.c) allows kill and
 * wait4 with any arguments, and this test is left out of the run.
 */
static UNUSED void test_other_signals_refused(void **state)
{
	(void)state;
	expect_refused(probe_kill_other_signal, SYS_kill);
	expect_refused(probe_kill_other_pid, SYS_kill);
	expect_refused(probe_wait_other_pid, SYS_wait4);
	expect_refused(probe_kill_group, SYS_kill);
	expect_refused(probe_kill_all, SYS_kill);
	expect_refused(probe_wait_any, SYS_wait4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vhost_user_calls_allowed),
	    cmocka_unit_test(test_other_socket_calls_refused),
	    cmocka_unit_test(test_daemon_stop_allowed),
#ifndef __SANITIZE_ADDRESS__
	    cmocka_unit_test(test_other_signals_refused),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
