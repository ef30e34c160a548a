// SPDX-License-Identifier: Apache-2.0
/*
 * The host side of a console: stdin (raw mode on a terminal) into the device
 * through the event loop, guest output to stdout and to an optional log file.
 *
 * Threads: input state (pending bytes, escape state, whether stdin is watched)
 * lives on the loop thread only. Output may come from any vCPU thread and is
 * serialised by out_lock, which is never held while calling into the device,
 * so a device may call console_write() with its own mutex held.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <unistd.h>

#include "devices.h"
#include "kvmrun/log.h"

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */
#define CONSOLE_QUIT 'x'
#define CONSOLE_READ_MAX 64

struct console {
	struct ev_loop *loop;
	bool use_stdio;
	int in_fd;
	int out_fd;
	int log_fd;
	int ready_fd; /* eventfd: console_input_ready() from any thread */

	console_quit_fn quit;
	void *quit_opaque;
	console_push_fn push;
	void *push_opaque;

	/* Loop thread only. */
	bool in_watched;
	bool in_eof;
	bool escape;
	uint8_t pending[CONSOLE_READ_MAX];
	size_t pending_off;
	size_t pending_len;

	/* Terminal state to put back; raw is cleared by whoever restores first. */
	atomic_bool raw;
	struct termios saved;

	pthread_mutex_t out_lock;
	bool out_gone;
};

/* Writes all of buf to fd; false when fd is gone or broken. */
static bool console_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };

				if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
					return false;
				continue;
			}
			return false;
		}
		if (n == 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

void console_write(struct console *con, const uint8_t *buf, size_t len)
{
	if (!len)
		return;
	pthread_mutex_lock(&con->out_lock);
	if (con->use_stdio && !con->out_gone && !console_write_all(con->out_fd, buf, len))
		con->out_gone = true; /* stdout is gone: drop output from now on */
	if (con->log_fd >= 0 && !console_write_all(con->log_fd, buf, len)) {
		/* A full disk must not stop the guest: the log just loses bytes. */
	}
	pthread_mutex_unlock(&con->out_lock);
}

static int console_watch_input(struct console *con, bool on);

/* Offers the pending bytes to the device; true when it took them all. */
static bool console_flush_pending(struct console *con)
{
	size_t left = con->pending_len - con->pending_off;
	size_t took;

	if (!left)
		return true;
	if (!con->push) {
		/* Nobody listens: input is dropped. */
		con->pending_off = con->pending_len = 0;
		return true;
	}
	took = con->push(con->push_opaque, con->pending + con->pending_off, left);
	if (took >= left) {
		con->pending_off = con->pending_len = 0;
		return true;
	}
	con->pending_off += took;
	return false;
}

/*
 * Filters the escape sequences out of buf in place: Ctrl-A x quits, Ctrl-A
 * Ctrl-A is one Ctrl-A, Ctrl-A followed by anything else passes both bytes.
 * The result is never longer than the input. Returns its length.
 */
static size_t console_filter(struct console *con, uint8_t *buf, size_t len, bool *quit)
{
	size_t out = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (con->escape) {
			con->escape = false;
			if (c == CONSOLE_QUIT) {
				*quit = true;
				return out;
			}
			if (c != CONSOLE_ESCAPE)
				buf[out++] = CONSOLE_ESCAPE;
			buf[out++] = c;
		} else if (c == CONSOLE_ESCAPE) {
			con->escape = true;
		} else {
			buf[out++] = c;
		}
	}
	return out;
}

static void console_input_event(void *opaque, uint32_t events)
{
	struct console *con = opaque;
	bool quit = false;
	ssize_t n;

	n = read(con->in_fd, con->pending, sizeof(con->pending));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input (or a broken stdin): stop watching, don't spin. */
		con->in_eof = true;
		console_watch_input(con, false);
		return;
	}
	con->pending_off = 0;
	con->pending_len = console_filter(con, con->pending, (size_t)n, &quit);
	if (quit) {
		/* What came before the escape still goes to the device, if it has room. */
		console_flush_pending(con);
		con->pending_off = con->pending_len = 0;
		if (con->quit)
			con->quit(con->quit_opaque);
		return;
	}
	if (!console_flush_pending(con))
		console_watch_input(con, false); /* until console_input_ready() */
}

static void console_ready_event(void *opaque, uint32_t events)
{
	struct console *con = opaque;
	uint64_t v;

	if (read(con->ready_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a spurious wakeup; nothing to do but look at the state. */
	}
	if (console_flush_pending(con) && !con->in_eof)
		console_watch_input(con, true);
}

static int console_watch_input(struct console *con, bool on)
{
	int ret;

	if (on == con->in_watched)
		return 0;
	/*
	 * A registered fd reports EPOLLHUP even with no events asked for, so
	 * pausing input means taking stdin out of the loop altogether.
	 */
	if (on)
		ret = ev_add(con->loop, con->in_fd, EPOLLIN, console_input_event, con);
	else
		ret = ev_del(con->loop, con->in_fd);
	if (ret == 0)
		con->in_watched = on;
	return ret;
}

void console_input_ready(struct console *con)
{
	uint64_t one = 1;

	if (con->ready_fd < 0)
		return;
	if (write(con->ready_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so the loop wakes anyway. */
	}
}

void console_attach(struct console *con, console_push_fn push, void *opaque)
{
	con->push = push;
	con->push_opaque = opaque;
}

void console_restore(struct console *con)
{
	/* Only tcsetattr() after the exchange: fine from a signal handler too. */
	if (con && atomic_exchange(&con->raw, false))
		tcsetattr(con->in_fd, TCSANOW, &con->saved);
}

static int console_make_raw(struct console *con)
{
	struct termios t;

	if (!isatty(con->in_fd))
		return 0;
	if (tcgetattr(con->in_fd, &con->saved) < 0)
		return -errno;
	t = con->saved;
	/* Output processing stays on so that host log lines still end in CR LF. */
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHONL | ISIG | IEXTEN);
	t.c_iflag &= ~(tcflag_t)(IXON | ICRNL | INLCR | IGNCR | BRKINT | ISTRIP);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(con->in_fd, TCSANOW, &t) < 0)
		return -errno;
	atomic_store(&con->raw, true);
	return 0;
}

static int console_setup_stdio(struct console *con)
{
	struct sigaction sa;
	int ret;

	/*
	 * A closed stdout must not kill the VM: writes then fail with EPIPE and
	 * the output is dropped. Only a default disposition is changed.
	 */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
	}
	ret = console_make_raw(con);
	if (ret)
		return ret;
	ret = console_watch_input(con, true);
	if (ret == -EPERM || ret == -EBADF) {
		/* stdin is a regular file, /dev/null (epoll refuses those) or closed. */
		log_debug("console: stdin cannot be polled, input disabled");
		con->in_eof = true;
		ret = 0;
	}
	if (ret)
		console_restore(con);
	return ret;
}

int console_create(struct console **out, struct ev_loop *loop, bool use_stdio,
		   const char *log_path, console_quit_fn quit, void *quit_opaque)
{
	struct console *con;
	int ret;

	con = calloc(1, sizeof(*con));
	if (!con)
		return -ENOMEM;
	con->loop = loop;
	con->use_stdio = use_stdio;
	con->in_fd = STDIN_FILENO;
	con->out_fd = STDOUT_FILENO;
	con->log_fd = -1;
	con->quit = quit;
	con->quit_opaque = quit_opaque;
	atomic_init(&con->raw, false);
	ret = -pthread_mutex_init(&con->out_lock, NULL);
	if (ret)
		goto err_free;

	if (log_path) {
		con->log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (con->log_fd < 0) {
			ret = -errno;
			goto err_mutex;
		}
	}
	con->ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (con->ready_fd < 0) {
		ret = -errno;
		goto err_log;
	}
	ret = ev_add(loop, con->ready_fd, EPOLLIN, console_ready_event, con);
	if (ret)
		goto err_ready;
	if (use_stdio) {
		ret = console_setup_stdio(con);
		if (ret)
			goto err_ev;
	}
	*out = con;
	return 0;

err_ev:
	ev_del(loop, con->ready_fd);
err_ready:
	close(con->ready_fd);
err_log:
	if (con->log_fd >= 0)
		close(con->log_fd);
err_mutex:
	pthread_mutex_destroy(&con->out_lock);
err_free:
	free(con);
	return ret;
}

void console_destroy(struct console *con)
{
	if (!con)
		return;
	console_restore(con);
	console_watch_input(con, false);
	ev_del(con->loop, con->ready_fd);
	close(con->ready_fd);
	if (con->log_fd >= 0)
		close(con->log_fd);
	pthread_mutex_destroy(&con->out_lock);
	free(con);
}
