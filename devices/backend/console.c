// SPDX-License-Identifier: Apache-2.0
/*
 * The host side of a console: stdin (raw mode on a terminal) into the device
 * through the event loop, guest output to stdout and to an optional log file.
 *
 * Output never blocks its writer. stdout is written non-blocking: a pipe or a
 * terminal is reopened through /proc/self/fd with O_NONBLOCK (a description of
 * our own, so the shell's stdin and stderr stay as they are); anything else
 * that may block (a socket) gets O_NONBLOCK itself, and its flags are put back
 * by console_restore(), like the terminal's mode. What stdout does not take at
 * once waits in a bounded buffer, written from the loop when the fd reports
 * EPOLLOUT. When that buffer is full too, console_write() takes fewer bytes
 * than offered: the device holds the rest (the UART keeps its transmitter
 * busy, virtio-console its chain) and is called back (console_writer_fn) on
 * the loop thread once the buffer has drained to half. A stdout that is gone
 * (EPIPE, EBADF, any other error) takes everything, dropped and counted.
 *
 * The log file gets what stdout took, up to log_max bytes per run; the rest
 * is cut and counted (as is whatever a full disk or a non-blocking pipe
 * refuses): the log never holds the guest up.
 *
 * Threads: input state (pending bytes, escape state, whether stdin is watched)
 * and which fds the loop watches live on the loop thread only. Output may come
 * from any vCPU thread and is serialised by out_lock, which is never held
 * while calling into a device, so a device may call console_write() with its
 * own mutex held. The output callbacks run on the loop thread without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "backend/console.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/log.h"

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */
#define CONSOLE_QUIT 'x'
#define CONSOLE_READ_MAX 64
#define CONSOLE_MAX_WRITERS 4

struct console_writer {
	console_writer_fn fn;
	void *opaque;
};

struct console {
	struct ev_loop *loop;
	bool use_stdio;
	int in_fd;
	int out_fd; /* stdout, or our own non-blocking description of it (out_own) */
	bool out_own;
	int log_fd;
	int wake_fd; /* eventfd: the loop looks at input and output state again */

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
	bool out_watched;
	struct console_writer writers[CONSOLE_MAX_WRITERS];

	/* Terminal state and stdout flags to put back; cleared by whoever restores first. */
	atomic_bool raw;
	struct termios saved;
	atomic_bool out_flags_changed;
	int out_flags;

	pthread_mutex_t out_lock;
	/* Under out_lock. */
	bool out_gone;
	bool out_blocked; /* obuf holds bytes that wait for EPOLLOUT */
	bool out_refused; /* a writer was refused bytes: call the writers back */
	size_t obuf_off, obuf_len;
	uint64_t log_max;
	struct console_stats stats;
	uint64_t tail_total; /* bytes the guest printed; the last CONSOLE_TAIL are in tail */
	uint8_t tail[CONSOLE_TAIL];
	uint8_t obuf[CONSOLE_OUT_BUF];
};

/*
 * Writes what fd takes now. Returns the bytes written, or -1 when fd is gone
 * or broken (errno set). A full non-blocking fd is not an error: fewer bytes.
 */
static ssize_t console_write_some(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* stdout is gone: what the buffer holds is dropped, and so is all output from now on. */
static void console_out_gone(struct console *con)
{
	con->out_gone = true;
	con->stats.out_dropped += con->obuf_len;
	con->obuf_off = con->obuf_len = 0;
	con->out_blocked = false;
}

/* Appends what the log may still take; out_lock held. */
static void console_log(struct console *con, const uint8_t *buf, size_t len)
{
	uint64_t room = con->log_max - con->stats.log_bytes;
	ssize_t n = 0;

	if (con->log_fd < 0 || !len)
		return;
	if (room)
		n = console_write_some(con->log_fd, buf, (size_t)MIN((uint64_t)len, room));
	if (n < 0)
		n = 0; /* a full disk must not stop the guest: the log just loses bytes */
	con->stats.log_bytes += (uint64_t)n;
	con->stats.log_cut += len - (size_t)n;
}

/* Keeps the last CONSOLE_TAIL bytes; out_lock held. */
static void console_keep_tail(struct console *con, const uint8_t *buf, size_t len)
{
	if (len > CONSOLE_TAIL) {
		con->tail_total += len - CONSOLE_TAIL;
		buf += len - CONSOLE_TAIL;
		len = CONSOLE_TAIL;
	}
	while (len) {
		size_t pos = (size_t)(con->tail_total % CONSOLE_TAIL);
		size_t n = MIN(len, CONSOLE_TAIL - pos);

		memcpy(con->tail + pos, buf, n);
		con->tail_total += n;
		buf += n;
		len -= n;
	}
}

size_t console_tail(struct console *con, uint8_t *buf, size_t size)
{
	size_t len, start;

	pthread_mutex_lock(&con->out_lock);
	len = (size_t)MIN(con->tail_total, (uint64_t)MIN(size, (size_t)CONSOLE_TAIL));
	start = (size_t)((con->tail_total - len) % CONSOLE_TAIL);
	for (size_t i = 0; i < len; i++)
		buf[i] = con->tail[(start + i) % CONSOLE_TAIL];
	pthread_mutex_unlock(&con->out_lock);
	return len;
}

/* Takes what fits into the buffer; out_lock held. Returns the bytes taken. */
static size_t console_buffer(struct console *con, const uint8_t *buf, size_t len)
{
	size_t n = MIN(len, sizeof(con->obuf) - con->obuf_len);

	if (con->obuf_off + con->obuf_len + n > sizeof(con->obuf)) {
		memmove(con->obuf, con->obuf + con->obuf_off, con->obuf_len);
		con->obuf_off = 0;
	}
	memcpy(con->obuf + con->obuf_off + con->obuf_len, buf, n);
	con->obuf_len += n;
	return n;
}

static void console_wake(struct console *con)
{
	uint64_t one = 1;

	if (write(con->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so the loop wakes anyway. */
	}
}

size_t console_write(struct console *con, const uint8_t *buf, size_t len)
{
	bool wake = false;
	size_t took = 0;

	if (!len)
		return 0;
	pthread_mutex_lock(&con->out_lock);
	if (con->use_stdio && !con->out_gone && !con->out_blocked) {
		ssize_t n = console_write_some(con->out_fd, buf, len);

		if (n < 0)
			console_out_gone(con); /* stdout is gone: drop output from now on */
		else
			took = (size_t)n;
	}
	if (!con->use_stdio || con->out_gone) {
		con->stats.out_dropped += con->use_stdio ? len - took : 0;
		took = len;
	} else if (took < len) {
		took += console_buffer(con, buf + took, len - took);
		if (con->obuf_len && !con->out_blocked) {
			con->out_blocked = true;
			wake = true; /* the loop watches for EPOLLOUT */
		}
		if (took < len)
			con->out_refused = true;
	}
	console_log(con, buf, took);
	console_keep_tail(con, buf, took);
	pthread_mutex_unlock(&con->out_lock);
	if (wake)
		console_wake(con);
	return took;
}

/* The loop thread tells the writers that the buffer has room again. */
static void console_call_writers(struct console *con)
{
	for (unsigned int i = 0; i < CONSOLE_MAX_WRITERS; i++)
		if (con->writers[i].fn)
			con->writers[i].fn(con->writers[i].opaque);
}

static int console_watch_output(struct console *con, bool on);

/* stdout can take more (or is gone): write the buffer, call the writers back. */
static void console_output_event(void *opaque, uint32_t events)
{
	struct console *con = opaque;
	bool call = false, unwatch = false;

	pthread_mutex_lock(&con->out_lock);
	if (!con->out_gone && con->obuf_len) {
		ssize_t n =
		    console_write_some(con->out_fd, con->obuf + con->obuf_off, con->obuf_len);

		if (n < 0) {
			console_out_gone(con);
		} else {
			con->obuf_off += (size_t)n;
			con->obuf_len -= (size_t)n;
		}
	}
	if (!con->obuf_len) {
		con->obuf_off = 0;
		con->out_blocked = false;
		unwatch = true;
	}
	if (con->out_refused && con->obuf_len <= sizeof(con->obuf) / 2) {
		con->out_refused = false;
		call = true;
	}
	pthread_mutex_unlock(&con->out_lock);
	if (unwatch)
		console_watch_output(con, false);
	if (call)
		console_call_writers(con);
}

static int console_watch_output(struct console *con, bool on)
{
	int ret;

	if (on == con->out_watched)
		return 0;
	if (on)
		ret = ev_add(con->loop, con->out_fd, EPOLLOUT, console_output_event, con);
	else
		ret = ev_del(con->loop, con->out_fd);
	if (ret == 0)
		con->out_watched = on;
	return ret;
}

/* Loop thread: start watching stdout when the buffer holds bytes for it. */
static void console_check_output(struct console *con)
{
	bool blocked, call = false;

	pthread_mutex_lock(&con->out_lock);
	blocked = con->out_blocked;
	pthread_mutex_unlock(&con->out_lock);
	if (!blocked || console_watch_output(con, true) == 0)
		return;
	/* An fd epoll refuses never reports room: treat it as gone rather than wait forever. */
	pthread_mutex_lock(&con->out_lock);
	console_out_gone(con);
	call = con->out_refused;
	con->out_refused = false;
	pthread_mutex_unlock(&con->out_lock);
	if (call)
		console_call_writers(con);
}

int console_add_writer(struct console *con, console_writer_fn fn, void *opaque)
{
	for (unsigned int i = 0; i < CONSOLE_MAX_WRITERS; i++) {
		if (!con->writers[i].fn) {
			con->writers[i] = (struct console_writer){ .fn = fn, .opaque = opaque };
			return 0;
		}
	}
	return -ENOSPC;
}

void console_remove_writer(struct console *con, void *opaque)
{
	for (unsigned int i = 0; i < CONSOLE_MAX_WRITERS; i++)
		if (con->writers[i].fn && con->writers[i].opaque == opaque)
			con->writers[i] = (struct console_writer){ 0 };
}

void console_get_stats(struct console *con, struct console_stats *st)
{
	pthread_mutex_lock(&con->out_lock);
	*st = con->stats;
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

static void console_wake_event(void *opaque, uint32_t events)
{
	struct console *con = opaque;
	uint64_t v;

	if (read(con->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a spurious wakeup; nothing to do but look at the state. */
	}
	if (console_flush_pending(con) && !con->in_eof)
		console_watch_input(con, true);
	console_check_output(con);
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
	console_wake(con);
}

void console_attach(struct console *con, console_push_fn push, void *opaque)
{
	con->push = push;
	con->push_opaque = opaque;
}

void console_restore(struct console *con)
{
	/* tcsetattr() and fcntl() after the exchanges only: fine from a signal handler too. */
	if (!con)
		return;
	if (atomic_exchange(&con->raw, false))
		tcsetattr(con->in_fd, TCSANOW, &con->saved);
	if (atomic_exchange(&con->out_flags_changed, false))
		fcntl(STDOUT_FILENO, F_SETFL, con->out_flags);
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

/*
 * Where output goes: stdout itself when writing it never blocks (a regular
 * file, a block device, or already O_NONBLOCK), else a non-blocking
 * description of our own of the same pipe or terminal, else (a socket) stdout
 * made non-blocking until console_restore().
 */
static int console_setup_output(struct console *con)
{
	char path[32];
	struct stat st;
	int fl, fd;

	fl = fcntl(STDOUT_FILENO, F_GETFL);
	if (fl < 0 || fstat(STDOUT_FILENO, &st) < 0) {
		log_debug("console: no stdout, output goes to the log only");
		con->out_gone = true;
		return 0;
	}
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || (fl & O_NONBLOCK))
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", STDOUT_FILENO);
	fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		con->out_fd = fd;
		con->out_own = true;
		return 0;
	}
	if (fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	con->out_flags = fl;
	atomic_store(&con->out_flags_changed, true);
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
	ret = console_setup_output(con);
	if (ret)
		return ret;
	ret = console_make_raw(con);
	if (ret)
		goto err_restore;
	ret = console_watch_input(con, true);
	if (ret == -EPERM || ret == -EBADF) {
		/* stdin is a regular file, /dev/null (epoll refuses those) or closed. */
		log_debug("console: stdin cannot be polled, input disabled");
		con->in_eof = true;
		ret = 0;
	}
	if (!ret)
		return 0;
err_restore:
	console_restore(con);
	return ret;
}

int console_create(struct console **out, struct ev_loop *loop, bool use_stdio, const char *log_path,
		   uint64_t log_max, console_quit_fn quit, void *quit_opaque)
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
	con->log_max = log_max;
	con->quit = quit;
	con->quit_opaque = quit_opaque;
	atomic_init(&con->raw, false);
	atomic_init(&con->out_flags_changed, false);
	ret = -pthread_mutex_init(&con->out_lock, NULL);
	if (ret)
		goto err_free;

	if (log_path) {
		/* Non-blocking: a FIFO that does not drain loses log bytes, not guest time. */
		con->log_fd =
		    open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0644);
		if (con->log_fd < 0) {
			ret = -errno;
			goto err_mutex;
		}
	}
	con->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (con->wake_fd < 0) {
		ret = -errno;
		goto err_log;
	}
	ret = ev_add(loop, con->wake_fd, EPOLLIN, console_wake_event, con);
	if (ret)
		goto err_wake;
	if (use_stdio) {
		ret = console_setup_stdio(con);
		if (ret)
			goto err_ev;
	}
	*out = con;
	return 0;

err_ev:
	ev_del(loop, con->wake_fd);
err_wake:
	close(con->wake_fd);
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
	/* What stdout takes now of the held output; the rest is dropped. */
	pthread_mutex_lock(&con->out_lock);
	if (con->obuf_len && !con->out_gone) {
		ssize_t n =
		    console_write_some(con->out_fd, con->obuf + con->obuf_off, con->obuf_len);

		con->stats.out_dropped += con->obuf_len - (n > 0 ? (size_t)n : 0);
	}
	pthread_mutex_unlock(&con->out_lock);
	console_restore(con);
	console_watch_input(con, false);
	console_watch_output(con, false);
	ev_del(con->loop, con->wake_fd);
	close(con->wake_fd);
	if (con->out_own)
		close(con->out_fd);
	if (con->stats.log_cut)
		log_info("console: %llu bytes of guest output were not logged (the log's limit "
			 "is %llu bytes)",
			 (unsigned long long)con->stats.log_cut, (unsigned long long)con->log_max);
	if (con->stats.out_dropped)
		log_info("console: %llu bytes of guest output were dropped (stdout gone)",
			 (unsigned long long)con->stats.out_dropped);
	if (con->log_fd >= 0)
		close(con->log_fd);
	pthread_mutex_destroy(&con->out_lock);
	free(con);
}
