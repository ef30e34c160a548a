// SPDX-License-Identifier: Apache-2.0
/*
 * The session with kvmrun: HELLO, then one poll loop until PROGRAM's end has
 * been reported. Output is read from PROGRAM only while kvmrun's window for
 * that stream is open, so a slow reader on the host leaves the bytes in
 * PROGRAM's pipe and PROGRAM blocks on it. Stdin is buffered up to the window
 * the agent granted, and granted again as PROGRAM takes it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

enum { PFD_CHAN, PFD_SIG, PFD_IN, PFD_OUT, PFD_ERR, PFD_N };

int agent_send(struct agent *a, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(a->chan, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = a->chan, .events = POLLOUT};

			poll(&pfd, 1, -1);
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void agent_error(struct agent *a, const char *fmt, ...)
{
	uint8_t frame[AGENT_HDR_SIZE + AGENT_ERROR_MAX];
	char line[AGENT_ERROR_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "kvmrun-agent: %s\n", line);
	if (a->chan >= 0 && agent_send(a, frame, (size_t)proto_enc_error(frame, line)))
		fprintf(stderr, "kvmrun-agent: the channel is gone\n");
}

static int relay_credit(struct agent *a, unsigned int stream, uint32_t bytes)
{
	uint8_t f[PROTO_CTRL_MAX];

	if (proto_dec_granted(&a->dec, stream, bytes))
		return -EINVAL;
	return agent_send(a, f, (size_t)proto_enc_credit(f, stream, bytes));
}

/* Grants the stdin window PROGRAM freed, in steps, and all of it once nothing is buffered. */
static int relay_return_stdin(struct agent *a)
{
	uint32_t n = a->in_unreturned;

	if (!n || (a->in_len && n < AGENT_STDIN_WINDOW / 4))
		return 0;
	a->in_unreturned = 0;
	return relay_credit(a, AGENT_STREAM_STDIN, n);
}

/* Ends PROGRAM's stdin once EOF arrived and its bytes are written. */
static void relay_stdin_eof(struct agent *a)
{
	if (!a->in_eof || a->in_len || a->in_fd < 0)
		return;
	if (a->tty) {
		char eof = 4;
		struct termios t;

		if (tcgetattr(a->in_fd, &t) == 0)
			eof = (char)t.c_cc[VEOF];
		if (write(a->in_fd, &eof, 1) < 0)
			return;
	}
	close(a->in_fd);
	a->in_fd = -1;
}

static int relay_write_stdin(struct agent *a)
{
	ssize_t n = write(a->in_fd, a->inbuf + a->in_off, a->in_len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* PROGRAM closed its stdin: what is left, and comes, is dropped. */
		n = (ssize_t)a->in_len;
		close(a->in_fd);
		a->in_fd = -1;
		a->in_dead = true;
	}
	a->in_off += (size_t)n;
	a->in_len -= (size_t)n;
	a->in_unreturned += (uint32_t)n;
	if (!a->in_len)
		a->in_off = 0;
	relay_stdin_eof(a);
	return relay_return_stdin(a);
}

static int relay_stdin(struct agent *a, const struct proto_msg *m)
{
	if (a->in_dead || a->in_fd < 0)
		return relay_credit(a, AGENT_STREAM_STDIN, m->len);
	if (a->in_off + a->in_len + m->len > AGENT_STDIN_WINDOW) {
		memmove(a->inbuf, a->inbuf + a->in_off, a->in_len);
		a->in_off = 0;
	}
	/* The window bounds the buffer: the decoder refused anything over it. */
	if (a->in_len + m->len > AGENT_STDIN_WINDOW)
		return -EPROTO;
	memcpy(a->inbuf + a->in_off + a->in_len, m->data, m->len);
	a->in_len += m->len;
	return 0;
}

static int relay_start(struct agent *a, const struct proto_start *s)
{
	int err = agent_spawn(a, s);

	if (err)
		return err;
	if (a->exited)
		return 0;
	return relay_credit(a, AGENT_STREAM_STDIN, AGENT_STDIN_WINDOW);
}

static int relay_msg(struct agent *a, const struct proto_msg *m)
{
	switch (m->type) {
	case AGENT_MSG_START:
		return relay_start(a, &m->u.start);
	case AGENT_MSG_STDIN:
		return relay_stdin(a, m);
	case AGENT_MSG_STDIN_EOF:
		a->in_eof = true;
		relay_stdin_eof(a);
		return 0;
	case AGENT_MSG_WINCH:
		if (a->tty && a->out_fd >= 0) {
			struct winsize ws = {.ws_row = m->u.winch.rows, .ws_col = m->u.winch.cols};

			ioctl(a->out_fd, TIOCSWINSZ, &ws);
		}
		return 0;
	case AGENT_MSG_SIGNAL:
		if (a->pid > 0 && !a->exited && kill(-a->pid, (int)m->u.signo) < 0)
			kill(a->pid, (int)m->u.signo);
		return 0;
	}
	return 0; /* CREDIT: the decoder keeps the window */
}

/* Reads what the channel has and acts on each whole frame. */
static int relay_chan(struct agent *a)
{
	ssize_t n = read(a->chan, a->rx, sizeof(a->rx));
	size_t off = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -EPIPE;
	while (off < (size_t)n) {
		struct proto_msg m;
		size_t used;
		int r = proto_dec_feed(&a->dec, a->rx + off, (size_t)n - off, &used, &m);

		off += used;
		if (r < 0) {
			agent_error(a, "protocol error: %s", a->dec.why);
			return -EPROTO;
		}
		if (r == 1) {
			r = relay_msg(a, &m);
			if (r)
				return r;
		}
	}
	return 0;
}

/*
 * An output stream is read while its window is open. Without a window it is
 * still watched for its writers' end (POLLHUP comes without asking), unless
 * that was seen already and bytes wait in it for credit.
 */
static bool relay_poll_output(struct agent *a, struct pollfd *p, int fd, bool hup,
			      unsigned int stream)
{
	bool open = proto_dec_send_window(&a->dec, stream) > 0;

	if (fd < 0 || (!open && hup))
		return false;
	*p = (struct pollfd){.fd = fd, .events = open ? POLLIN : 0};
	return open;
}

static void relay_close_output(int *fd)
{
	close(*fd);
	*fd = -1;
}

/* Relays a chunk of PROGRAM's output within the window; closes the stream at its end. */
static int relay_output(struct agent *a, int *fd, bool *hup, unsigned int stream, short revents)
{
	uint32_t win = proto_dec_send_window(&a->dec, stream);
	size_t max = win < AGENT_PAYLOAD_MAX ? win : AGENT_PAYLOAD_MAX;
	ssize_t n;
	int pending = 0;

	if (!win) {
		/* The writers are gone: the end, unless bytes wait for credit. */
		if (ioctl(*fd, FIONREAD, &pending) < 0 || pending <= 0)
			relay_close_output(fd);
		else
			*hup = true;
		return 0;
	}
	n = read(*fd, a->frame + AGENT_HDR_SIZE, max);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* EOF, or EIO from a pty master once the last slave is closed. */
		relay_close_output(fd);
		return 0;
	}
	proto_enc_hdr(a->frame, stream == AGENT_STREAM_STDOUT ? AGENT_MSG_STDOUT : AGENT_MSG_STDERR,
		      (uint32_t)n);
	proto_dec_sent(&a->dec, stream, (uint32_t)n);
	return agent_send(a, a->frame, AGENT_HDR_SIZE + (size_t)n);
}

/* Reaps every child that ended (PID 1 inherits orphans); notes PROGRAM's status. */
static void relay_reap(struct agent *a)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(a->sigfd, &si, sizeof(si)) > 0)
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != a->pid || a->exited)
			continue;
		a->exited = true;
		if (WIFSIGNALED(status)) {
			a->exit_kind = AGENT_EXIT_SIGNALED;
			a->exit_value = (uint32_t)WTERMSIG(status);
		} else {
			a->exit_kind = AGENT_EXIT_EXITED;
			a->exit_value = (uint32_t)WEXITSTATUS(status);
		}
	}
}

static void relay_close_all(struct agent *a)
{
	int *fds[] = {&a->in_fd, &a->out_fd, &a->err_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static void relay_kill(struct agent *a)
{
	if (a->pid > 0 && !a->exited) {
		kill(-a->pid, SIGKILL);
		kill(a->pid, SIGKILL);
	}
	relay_close_all(a);
}

static int relay_loop(struct agent *a)
{
	struct pollfd pfd[PFD_N];
	int r;

	for (;;) {
		bool draining = a->exited && (a->out_fd >= 0 || a->err_fd >= 0);
		bool reading = false;
		int timeout = -1;

		if (a->exited && a->out_fd < 0 && a->err_fd < 0)
			return 0;
		for (int i = 0; i < PFD_N; i++)
			pfd[i] = (struct pollfd){.fd = -1};
		pfd[PFD_CHAN] = (struct pollfd){.fd = a->chan, .events = POLLIN};
		pfd[PFD_SIG] = (struct pollfd){.fd = a->sigfd, .events = POLLIN};
		if (a->in_fd >= 0 && a->in_len)
			pfd[PFD_IN] = (struct pollfd){.fd = a->in_fd, .events = POLLOUT};
		reading |=
		    relay_poll_output(a, &pfd[PFD_OUT], a->out_fd, a->out_hup, AGENT_STREAM_STDOUT);
		reading |=
		    relay_poll_output(a, &pfd[PFD_ERR], a->err_fd, a->err_hup, AGENT_STREAM_STDERR);
		if (draining && reading)
			timeout = AGENT_DRAIN_IDLE_MS;
		r = poll(pfd, PFD_N, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			/* PROGRAM ended and something it left behind keeps its output open. */
			relay_close_all(a);
			continue;
		}
		if (pfd[PFD_SIG].revents)
			relay_reap(a);
		if (pfd[PFD_OUT].revents) {
			r = relay_output(a, &a->out_fd, &a->out_hup, AGENT_STREAM_STDOUT,
					 pfd[PFD_OUT].revents);
			if (r)
				return r;
		}
		if (pfd[PFD_ERR].revents) {
			r = relay_output(a, &a->err_fd, &a->err_hup, AGENT_STREAM_STDERR,
					 pfd[PFD_ERR].revents);
			if (r)
				return r;
		}
		if (pfd[PFD_IN].revents && a->in_fd >= 0) {
			r = relay_write_stdin(a);
			if (r)
				return r;
		}
		if (pfd[PFD_CHAN].revents) {
			r = relay_chan(a);
			if (r)
				return r;
		}
	}
}

int agent_session(struct agent *a)
{
	uint8_t f[PROTO_CTRL_MAX];
	sigset_t chld;
	int err;

	a->pid = 0;
	a->in_fd = a->out_fd = a->err_fd = -1;
	proto_dec_init(&a->dec, PROTO_AGENT);
	a->inbuf = malloc(AGENT_STDIN_WINDOW);
	if (!a->inbuf)
		return -ENOMEM;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	a->sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sigfd < 0) {
		err = -errno;
		goto out;
	}
	err = agent_send(a, f, (size_t)proto_enc_hello(f));
	if (!err)
		err = relay_loop(a);
	if (!err)
		err = agent_send(a, f, (size_t)proto_enc_exit(f, a->exit_kind, a->exit_value));
	if (err)
		relay_kill(a);
	close(a->sigfd);
out:
	free(a->inbuf);
	a->inbuf = NULL;
	return err;
}
