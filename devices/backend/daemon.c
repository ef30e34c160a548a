// SPDX-License-Identifier: Apache-2.0
/* Starting, watching and ending the helper processes kvmrun runs. See daemon.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvmrun/log.h"
#include "daemon.h"

/* The report of a failed start, on the child's side. */
#define DAEMON_REPORT_FD (DAEMON_SOCK_FD + 1)
/* How long daemon_stop waits after SIGTERM, and daemon_exited for an exit. */
#define DAEMON_STOP_WAIT_MS 2000
#define DAEMON_EXIT_WAIT_MS 1000

struct daemon_report {
	int stage;
	int err;
};

/* The child's view: daemon_child and the descriptors daemon_spawn made for it. */
struct daemon_start {
	const struct daemon_child *c;
	pid_t parent;
	int out_fd, null_fd, report_fd;
};

void daemon_init(struct daemon *d, const char *prog, const char *what)
{
	d->pid = -1;
	d->reaped = false;
	d->err_fd = -1;
	d->prog = prog;
	snprintf(d->what, sizeof(d->what), "%s", what);
	d->partial_len = 0;
	d->last[0] = '\0';
}

bool daemon_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static _Noreturn void daemon_child_fail(int report_fd, int stage)
{
	struct daemon_report r = { .stage = stage, .err = errno };

	if (write(report_fd, &r, sizeof(r)) < 0)
		_exit(126);
	_exit(126);
}

/* Between fork and exec: system calls only (the parent may have other threads). */
static _Noreturn void daemon_child_run(const struct daemon_start *s)
{
	const struct daemon_child *c = s->c;
	int sock, out, null, report, stage = DAEMON_STAGE_HOOK;
	struct rlimit rl;
	sigset_t all;

	/* The child dies with kvmrun, also when kvmrun died before this call. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != s->parent)
		_exit(125);
	/* kvmrun blocks signals for its signalfd and ignores SIGPIPE: not the child. */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	/* Out of the way of 0 to 4 first, then into place. */
	sock = fcntl(c->sock_fd, F_DUPFD_CLOEXEC, 10);
	out = fcntl(s->out_fd, F_DUPFD_CLOEXEC, 10);
	null = fcntl(s->null_fd, F_DUPFD_CLOEXEC, 10);
	report = fcntl(s->report_fd, F_DUPFD_CLOEXEC, 10);
	if (report < 0)
		_exit(126);
	if (sock < 0 || out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(out, 2) < 0 || dup2(sock, DAEMON_SOCK_FD) < 0 ||
	    dup3(report, DAEMON_REPORT_FD, O_CLOEXEC) < 0)
		daemon_child_fail(report, DAEMON_STAGE_FDS);
	if (syscall(SYS_close_range, DAEMON_REPORT_FD + 1, ~0U, 0) < 0) {
		unsigned int max = 65536;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < max)
			max = (unsigned int)rl.rlim_cur;
		for (unsigned int fd = DAEMON_REPORT_FD + 1; fd < max; fd++)
			close((int)fd);
	}
	if (c->pre_exec && c->pre_exec(c->arg, &stage) < 0)
		daemon_child_fail(DAEMON_REPORT_FD, stage);
	execv(c->path, c->argv);
	daemon_child_fail(DAEMON_REPORT_FD, DAEMON_STAGE_EXEC);
}

int daemon_spawn(struct daemon *d, const struct daemon_child *c, int *stage, int *err)
{
	struct daemon_start s = { .c = c };
	int out[2], rep[2], ret;
	struct daemon_report r;
	ssize_t n;

	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(rep, O_CLOEXEC) < 0) {
		ret = -errno;
		goto err_out;
	}
	/*
	 * The child never blocks on its stderr: when kvmrun has not read it yet and
	 * the pipe is full, its lines are dropped instead.
	 */
	fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
	if (fcntl(out[1], F_SETFL, O_NONBLOCK) < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
		ret = -errno;
		goto err_rep;
	}
	s.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (s.null_fd < 0) {
		ret = -errno;
		goto err_rep;
	}
	s.out_fd = out[1];
	s.report_fd = rep[1];
	s.parent = getpid();
	d->pid = fork();
	if (d->pid < 0) {
		ret = -errno;
		close(s.null_fd);
		goto err_rep;
	}
	if (d->pid == 0)
		daemon_child_run(&s);
	close(s.null_fd);
	close(out[1]);
	close(rep[1]);
	d->reaped = false;
	d->err_fd = out[0];
	do
		n = read(rep[0], &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	close(rep[0]);
	if (n == 0)
		return 0; /* exec'd: the report pipe closed on exec */
	if (n != (ssize_t)sizeof(r))
		r = (struct daemon_report){ .stage = DAEMON_STAGE_PARENT,
					    .err = n < 0 ? errno : EPROTO };
	waitpid(d->pid, &d->wstatus, 0);
	d->reaped = true;
	*stage = r.stage;
	*err = r.err;
	return 1;

err_rep:
	close(rep[0]);
	close(rep[1]);
err_out:
	close(out[0]);
	close(out[1]);
	return ret;
}

/* A whole line the child wrote: to kvmrun's log (debug), and kept as the last one. */
static void daemon_line(struct daemon *d)
{
	d->partial[d->partial_len] = '\0';
	if (d->partial_len) {
		log_debug("%s: %s: %s", d->what, d->prog, d->partial);
		memcpy(d->last, d->partial, d->partial_len + 1);
	}
	d->partial_len = 0;
}

/* What the child wrote so far. */
static void daemon_drain(struct daemon *d)
{
	char buf[4096];
	ssize_t n;

	if (d->err_fd < 0)
		return;
	while ((n = read(d->err_fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			char ch = buf[i];

			if (ch == '\n')
				daemon_line(d);
			else if (d->partial_len < sizeof(d->partial) - 1)
				d->partial[d->partial_len++] =
					(unsigned char)ch < 0x20 || ch == 0x7f ? '?' : ch;
		}
	}
	if (n == 0) { /* every writer gone: a line without its newline counts too */
		daemon_line(d);
		close(d->err_fd);
		d->err_fd = -1;
	}
}

/* wait4 for the child (flags: 0 or WNOHANG); on reaping it, its CPU time too. */
static pid_t daemon_wait(struct daemon *d, int flags)
{
	struct rusage ru;
	pid_t p = wait4(d->pid, &d->wstatus, flags, &ru);

	if (p == d->pid) {
		d->cpu.user_ns = (uint64_t)ru.ru_utime.tv_sec * 1000000000ULL +
				 (uint64_t)ru.ru_utime.tv_usec * 1000ULL;
		d->cpu.sys_ns = (uint64_t)ru.ru_stime.tv_sec * 1000000000ULL +
				(uint64_t)ru.ru_stime.tv_usec * 1000ULL;
		d->cpu_known = true;
	}
	return p;
}

bool daemon_cpu(const struct daemon *d, struct daemon_cpu *cpu)
{
	if (!d || !d->reaped || !d->cpu_known)
		return false;
	if (cpu)
		*cpu = d->cpu;
	return true;
}

/* Reap the child if it has ended, waiting up to ms for it; whether it has. */
static bool daemon_reap(struct daemon *d, unsigned int ms)
{
	const struct timespec step = { .tv_nsec = 10 * 1000 * 1000 };

	for (unsigned int waited = 0; !d->reaped; waited += 10) {
		pid_t p = daemon_wait(d, WNOHANG);

		if (p == d->pid || (p < 0 && errno == ECHILD)) {
			d->reaped = true;
			break;
		}
		if (waited >= ms)
			break;
		nanosleep(&step, NULL);
	}
	return d->reaped;
}

int daemon_exited(struct daemon *d, char *err, size_t errlen)
{
	char how[48];

	if (!d || d->pid < 0)
		return 0;
	if (!daemon_reap(d, DAEMON_EXIT_WAIT_MS)) {
		daemon_drain(d);
		return 0;
	}
	/* Its stderr ends with it (unless a child of its own holds it): read what is left. */
	for (unsigned int i = 0; i < 50 && d->err_fd >= 0; i++) {
		const struct timespec step = { .tv_nsec = 10 * 1000 * 1000 };

		daemon_drain(d);
		if (d->err_fd >= 0)
			nanosleep(&step, NULL);
	}
	if (WIFEXITED(d->wstatus))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(d->wstatus));
	else if (WIFSIGNALED(d->wstatus))
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(d->wstatus));
	else
		snprintf(how, sizeof(how), "ended");
	snprintf(err, errlen, "%s: %s %s%s%s", d->what, d->prog, how, d->last[0] ? ": " : "",
		 d->last);
	return 1;
}

void daemon_stop(struct daemon *d)
{
	char line[DAEMON_WHAT_MAX + 2 * DAEMON_LINE_MAX];

	if (!d)
		return;
	/* One that ended by itself with a failure says why (e.g. passt's own set-up). */
	if (d->pid > 0 && !d->reaped && daemon_reap(d, 0) &&
	    !(WIFEXITED(d->wstatus) && WEXITSTATUS(d->wstatus) == 0) &&
	    daemon_exited(d, line, sizeof(line)))
		log_warn("%s", line);
	if (d->pid > 0 && !d->reaped) {
		kill(d->pid, SIGTERM);
		if (!daemon_reap(d, DAEMON_STOP_WAIT_MS)) {
			log_warn("%s: %s did not end on SIGTERM: SIGKILL", d->what, d->prog);
			kill(d->pid, SIGKILL);
			while (daemon_wait(d, 0) < 0 && errno == EINTR)
				;
			d->reaped = true;
		}
	}
	daemon_drain(d);
	if (d->err_fd >= 0)
		close(d->err_fd);
	d->err_fd = -1;
}

pid_t daemon_pid(const struct daemon *d)
{
	return d && d->pid > 0 && !d->reaped ? d->pid : -1;
}
