// SPDX-License-Identifier: Apache-2.0
/*
 * Starting PROGRAM: pipes (or a pty), its own session, the user, group and
 * working directory START names, and execve through PATH as execvp searches
 * it, but in PROGRAM's environment. A failure in the child reaches the agent
 * through a close-on-exec pipe as (kind, errno).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

#define AGENT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* execve of @file, searched in PATH of @envp when it has no slash. Returns with errno set. */
static void spawn_exec(const char *file, char *const argv[], char *const envp[])
{
	const char *path = AGENT_DEFAULT_PATH, *p;
	char full[PATH_MAX];
	bool denied = false;
	size_t flen = strlen(file);

	if (strchr(file, '/')) {
		execve(file, argv, envp);
		return;
	}
	for (char *const *e = envp; *e; e++) {
		if (!strncmp(*e, "PATH=", 5))
			path = *e + 5;
	}
	errno = ENOENT;
	for (p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);

		if (dlen + 1 + flen + 1 > sizeof(full)) {
			errno = ENAMETOOLONG;
		} else {
			if (dlen) {
				memcpy(full, p, dlen);
				full[dlen++] = '/';
			}
			memcpy(full + dlen, file, flen + 1);
			execve(full, argv, envp);
			if (errno == EACCES)
				denied = true;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG)
				return;
		}
		if (!*end)
			break;
		p = end;
	}
	if (denied)
		errno = EACCES;
}

/* The child: never returns. */
static void spawn_child(const struct proto_start *s, bool tty, int fds[3], int slave, int errpipe,
			char *const argv[], char *const envp[])
{
	uint32_t report[2] = {AGENT_EXIT_SETUP_FAILED, 0};
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (setsid() < 0)
		goto fail;
	if (tty) {
		if (ioctl(slave, TIOCSCTTY, 0) < 0)
			goto fail;
		fds[0] = fds[1] = fds[2] = slave;
	}
	for (int i = 0; i < 3; i++) {
		if (dup2(fds[i], i) < 0)
			goto fail;
	}
	if (s->gid != getgid() || s->gid != getegid()) {
		if (setgid(s->gid) < 0)
			goto fail;
	}
	if (geteuid() == 0 && setgroups(0, NULL) < 0)
		goto fail;
	if (s->uid != getuid() || s->uid != geteuid()) {
		if (setuid(s->uid) < 0)
			goto fail;
	}
	if (chdir(s->workdir[0] ? s->workdir : "/") < 0)
		goto fail;
	report[0] = AGENT_EXIT_EXEC_FAILED;
	spawn_exec(argv[0], argv, envp);
fail:
	report[1] = errno ? (uint32_t)errno : EIO;
	if (write(errpipe, report, sizeof(report)) < 0)
		_exit(127);
	_exit(127);
}

/* The agent's ends of pipes (or the pty master) for PROGRAM's stdio; @child gets the others. */
static int spawn_stdio(struct agent *a, const struct proto_start *s, int child[3], int *slave)
{
	int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
	struct winsize ws = {.ws_row = s->rows, .ws_col = s->cols};
	int master;

	if (a->tty) {
		if (openpty(&master, slave, NULL, NULL, &ws) < 0)
			return -errno;
		fcntl(master, F_SETFD, FD_CLOEXEC);
		fcntl(*slave, F_SETFD, FD_CLOEXEC);
		a->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
		if (a->in_fd < 0) {
			close(master);
			close(*slave);
			return -errno;
		}
		a->out_fd = master;
		a->err_fd = -1;
		fcntl(master, F_SETFL, O_NONBLOCK);
		return 0;
	}
	for (int i = 0; i < 3; i++) {
		if (pipe2(p[i], O_CLOEXEC) < 0) {
			int err = -errno;

			for (int k = 0; k < i; k++) {
				close(p[k][0]);
				close(p[k][1]);
			}
			return err;
		}
	}
	a->in_fd = p[0][1];
	child[0] = p[0][0];
	a->out_fd = p[1][0];
	child[1] = p[1][1];
	a->err_fd = p[2][0];
	child[2] = p[2][1];
	fcntl(a->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(a->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(a->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

static void spawn_close_agent_ends(struct agent *a)
{
	if (a->in_fd >= 0)
		close(a->in_fd);
	if (a->out_fd >= 0)
		close(a->out_fd);
	if (a->err_fd >= 0)
		close(a->err_fd);
	a->in_fd = a->out_fd = a->err_fd = -1;
}

static void spawn_failed(struct agent *a, unsigned int kind, int err)
{
	spawn_close_agent_ends(a);
	a->exited = true;
	a->exit_kind = kind;
	a->exit_value = (uint32_t)err;
}

int agent_spawn(struct agent *a, const struct proto_start *s)
{
	int child[3] = {-1, -1, -1}, slave = -1, errpipe[2], err;
	uint32_t report[2];
	const char **argv, **envp;
	ssize_t n;
	pid_t pid;

	a->tty = s->flags & AGENT_START_TTY;
	argv = calloc(s->argc + 1, sizeof(*argv));
	envp = calloc(s->envc + 1, sizeof(*envp));
	if (!argv || !envp) {
		free(argv);
		free(envp);
		return -ENOMEM;
	}
	proto_strlist(s->argv, s->argc, argv);
	proto_strlist(s->envp, s->envc, envp);
	err = spawn_stdio(a, s, child, &slave);
	if (err) {
		spawn_failed(a, AGENT_EXIT_SETUP_FAILED, -err);
		goto out;
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		spawn_failed(a, AGENT_EXIT_SETUP_FAILED, errno);
		goto out_child;
	}
	pid = fork();
	if (pid == 0)
		spawn_child(s, a->tty, child, slave, errpipe[1], (char *const *)argv,
			    (char *const *)envp);
	close(errpipe[1]);
	if (pid < 0) {
		spawn_failed(a, AGENT_EXIT_SETUP_FAILED, errno);
		close(errpipe[0]);
		goto out_child;
	}
	do
		n = read(errpipe[0], report, sizeof(report));
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == (ssize_t)sizeof(report)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		spawn_failed(a, report[0], (int)report[1]);
	} else {
		a->pid = pid;
	}
out_child:
	for (int i = 0; i < 3; i++) {
		if (child[i] >= 0)
			close(child[i]);
	}
	if (slave >= 0)
		close(slave);
out:
	free(argv);
	free(envp);
	return 0;
}
