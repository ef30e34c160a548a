// SPDX-License-Identifier: Apache-2.0
/* The host side of the agent session on the event loop (relay.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "exec/relay.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/exit_status.h"
#include "kvmrun/log.h"

/* Room kept in the port's buffer for control frames (credits, EOF) behind stdin data. */
#define RELAY_CTRL_RESERVE 1024

uint64_t exec_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void relay_timer_set(int tfd, uint64_t ms)
{
	struct itimerspec its = {
	    .it_value = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000},
	};

	if (tfd >= 0)
		timerfd_settime(tfd, 0, &its, NULL);
}

static void relay_in_arm(struct exec_relay *r, bool on)
{
	if (!r->in_watched || r->in_armed == on)
		return;
	if (!ev_mod(r->cfg.loop, r->cfg.in_fd, on ? EPOLLIN : 0))
		r->in_armed = on;
}

static void relay_finish(struct exec_relay *r, enum exec_outcome o, int status, const char *fmt,
			 ...) PRINTF_FMT(4, 5);
static void relay_finish(struct exec_relay *r, enum exec_outcome o, int status, const char *fmt,
			 ...)
{
	va_list ap;

	if (r->finished)
		return;
	r->finished = true;
	r->outcome = o;
	r->status = status;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
		va_end(ap);
	}
	relay_timer_set(r->hello_tfd, 0);
	relay_timer_set(r->timeout_tfd, 0);
	relay_timer_set(r->grace_tfd, 0);
	relay_in_arm(r, false);
	if (r->cfg.done)
		r->cfg.done(r->cfg.done_opaque, status);
}

/* Sends what waits for the port, as far as it takes it. */
static void relay_flush(struct exec_relay *r)
{
	while (r->tx_off < r->tx_len) {
		size_t n =
		    r->cfg.send(r->cfg.send_opaque, r->tx + r->tx_off, r->tx_len - r->tx_off);

		if (!n)
			break;
		r->tx_off += MIN(n, r->tx_len - r->tx_off);
	}
	if (r->tx_off == r->tx_len)
		r->tx_off = r->tx_len = 0;
}

/* Makes @len bytes of room at the tail of the port's buffer; false if they do not fit. */
static bool relay_tx_room(struct exec_relay *r, size_t len)
{
	if (r->tx_len - r->tx_off + len > EXEC_TX_MAX)
		return false;
	if (r->tx_len + len > EXEC_TX_MAX) {
		memmove(r->tx, r->tx + r->tx_off, r->tx_len - r->tx_off);
		r->tx_len -= r->tx_off;
		r->tx_off = 0;
	}
	return true;
}

static void relay_queue(struct exec_relay *r, const uint8_t *frame, int len)
{
	if (len < 0 || !relay_tx_room(r, (size_t)len)) {
		relay_finish(r, EXEC_AGENT_LOST, KVMRUN_EXEC_FAILED,
			     "the agent does not take what kvmrun sends");
		return;
	}
	memcpy(r->tx + r->tx_len, frame, (size_t)len);
	r->tx_len += (size_t)len;
	relay_flush(r);
}

static void relay_grant(struct exec_relay *r, unsigned int stream, uint32_t bytes)
{
	uint8_t f[PROTO_CTRL_MAX];

	if (!bytes || r->finished)
		return;
	if (proto_dec_granted(&r->dec, stream, bytes)) {
		relay_finish(r, EXEC_VMM_ERROR, KVMRUN_EXEC_FAILED, "credit beyond the window");
		return;
	}
	relay_queue(r, f, proto_enc_credit(f, stream, bytes));
}

/* Reads kvmrun's stdin into STDIN frames while the window and the port's buffer allow. */
static void relay_pump_stdin(struct exec_relay *r)
{
	if (!r->hello || r->finished || r->in_eof_sent || r->cfg.in_fd < 0)
		return;
	for (;;) {
		uint32_t win = proto_dec_send_window(&r->dec, AGENT_STREAM_STDIN);
		size_t want = MIN((size_t)win, (size_t)AGENT_PAYLOAD_MAX);
		uint8_t f[PROTO_CTRL_MAX];
		ssize_t n;

		if (!want || !relay_tx_room(r, AGENT_FRAME_MAX + RELAY_CTRL_RESERVE)) {
			relay_in_arm(r, false);
			return;
		}
		n = read(r->cfg.in_fd, r->tx + r->tx_len + AGENT_HDR_SIZE, want);
		if (n > 0) {
			proto_enc_hdr(r->tx + r->tx_len, AGENT_MSG_STDIN, (uint32_t)n);
			proto_dec_sent(&r->dec, AGENT_STREAM_STDIN, (uint32_t)n);
			r->tx_len += AGENT_HDR_SIZE + (size_t)n;
			r->bytes[AGENT_STREAM_STDIN] += (uint64_t)n;
			relay_flush(r);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			relay_in_arm(r, true);
			return;
		}
		if (n < 0)
			log_warn("exec: reading stdin: %s (PROGRAM gets its end)", strerror(errno));
		r->in_eof_sent = true;
		relay_in_arm(r, false);
		relay_queue(r, f, proto_enc_eof(f));
		return;
	}
}

static void relay_check_exit(struct exec_relay *r)
{
	if (r->exited && r->out[0].off == r->out[0].len && r->out[1].off == r->out[1].len)
		relay_finish(r, r->outcome, r->status, NULL);
}

static void relay_out_arm(struct exec_relay *r, struct exec_relay_out *o, bool on)
{
	if (!o->watched || o->armed == on)
		return;
	if (!ev_mod(r->cfg.loop, o->fd, on ? EPOLLOUT : 0))
		o->armed = on;
}

/* Writes what stdout or stderr holds, never blocking, and grants back what went. */
static void relay_out_write(struct exec_relay *r, unsigned int s)
{
	struct exec_relay_out *o = &r->out[s];

	while (o->off < o->len) {
		ssize_t n;

		if (o->broken) {
			o->drained += (uint32_t)(o->len - o->off);
			o->off = o->len;
			break;
		}
		n = write(o->fd, o->buf + o->off, o->len - o->off);
		if (n > 0) {
			o->off += (size_t)n;
			o->drained += (uint32_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && o->watched) {
			relay_out_arm(r, o, true);
			break;
		}
		/* the reader is gone: PROGRAM's further output is discarded */
		log_warn("exec: writing PROGRAM's %s: %s", s ? "stderr" : "stdout",
			 n < 0 ? strerror(errno) : "nothing written");
		o->broken = true;
	}
	if (o->off == o->len) {
		o->off = o->len = 0;
		relay_out_arm(r, o, false);
	}
	if (o->drained && (o->drained >= EXEC_OUT_WINDOW / 4 || !o->len)) {
		uint32_t d = o->drained;

		o->drained = 0;
		relay_grant(r, s ? AGENT_STREAM_STDERR : AGENT_STREAM_STDOUT, d);
	}
	relay_check_exit(r);
}

static void relay_out_data(struct exec_relay *r, unsigned int s, const uint8_t *p, size_t len)
{
	struct exec_relay_out *o = &r->out[s];

	if (o->len + len > EXEC_OUT_WINDOW) {
		memmove(o->buf, o->buf + o->off, o->len - o->off);
		o->len -= o->off;
		o->off = 0;
	}
	if (o->len + len > EXEC_OUT_WINDOW) { /* the decoder's window makes this impossible */
		relay_finish(r, EXEC_AGENT_LOST, KVMRUN_EXEC_FAILED, "output beyond the window");
		return;
	}
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	r->bytes[s + 1] += len;
	relay_out_write(r, s);
}

static void relay_hello(struct exec_relay *r)
{
	uint8_t *f = malloc(AGENT_FRAME_MAX);
	int len;

	r->hello = true;
	r->agent_ready_ns = exec_now_ns();
	relay_timer_set(r->hello_tfd, 0);
	if (!f) {
		relay_finish(r, EXEC_VMM_ERROR, KVMRUN_EXEC_FAILED, "out of memory");
		return;
	}
	len = proto_enc_start(f, AGENT_FRAME_MAX, r->cfg.job);
	if (len < 0)
		relay_finish(r, EXEC_VMM_ERROR, KVMRUN_EXEC_FAILED,
			     "PROGRAM's job does not fit "
			     "in one frame");
	else
		relay_queue(r, f, len);
	free(f);
	r->started_ns = exec_now_ns();
	relay_grant(r, AGENT_STREAM_STDOUT, EXEC_OUT_WINDOW);
	relay_grant(r, AGENT_STREAM_STDERR, EXEC_OUT_WINDOW);
}

static void relay_msg(struct exec_relay *r, const struct proto_msg *m)
{
	switch (m->type) {
	case AGENT_MSG_HELLO:
		relay_hello(r);
		break;
	case AGENT_MSG_STDOUT:
	case AGENT_MSG_STDERR:
		relay_out_data(r, m->type == AGENT_MSG_STDERR, m->data, m->len);
		break;
	case AGENT_MSG_CREDIT: /* the decoder has added it to the stdin window */
		break;
	case AGENT_MSG_EXIT:
		r->ended_ns = exec_now_ns();
		r->exited = true;
		relay_timer_set(r->grace_tfd, 0);
		r->status = exec_exit_status(m->u.exit.kind, m->u.exit.value, &r->outcome);
		if (m->u.exit.kind == AGENT_EXIT_EXITED && r->status == (int)m->u.exit.value)
			r->exit_code = r->status;
		else if (r->outcome == EXEC_SIGNALED)
			r->signal = (int)m->u.exit.value;
		if (m->u.exit.kind == AGENT_EXIT_EXEC_FAILED)
			snprintf(r->reason, sizeof(r->reason), "PROGRAM %s: %s",
				 r->status == KVMRUN_EXEC_NOTFOUND ? "not found" : "cannot run",
				 strerror((int)m->u.exit.value));
		else if (m->u.exit.kind == AGENT_EXIT_SETUP_FAILED)
			snprintf(r->reason, sizeof(r->reason),
				 "the agent could not set PROGRAM up: %s",
				 strerror((int)m->u.exit.value));
		relay_check_exit(r);
		break;
	case AGENT_MSG_ERROR:
		relay_finish(r, EXEC_AGENT_LOST, KVMRUN_EXEC_FAILED, "the agent failed: %.*s",
			     (int)m->len, (const char *)m->data);
		break;
	}
}

size_t exec_relay_from_port(struct exec_relay *r, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len && !r->finished) {
		struct proto_msg m;
		size_t used = 0;
		int ret = proto_dec_feed(&r->dec, buf + off, len - off, &used, &m);

		if (ret < 0) {
			relay_finish(r, EXEC_AGENT_LOST, KVMRUN_EXEC_FAILED,
				     "the agent broke the protocol: %s", r->dec.why);
			break;
		}
		off += used;
		if (ret == 0)
			break;
		relay_msg(r, &m);
	}
	relay_pump_stdin(r);
	return len;
}

void exec_relay_port_writable(struct exec_relay *r)
{
	relay_flush(r);
	relay_pump_stdin(r);
}

void exec_relay_port_open(struct exec_relay *r, bool open)
{
	if (open) {
		exec_relay_port_writable(r);
		return;
	}
	if (r->hello && !r->exited)
		relay_finish(r, EXEC_AGENT_LOST, KVMRUN_EXEC_FAILED,
			     "the agent went away without PROGRAM's status");
}

static void relay_in_event(void *opaque, uint32_t events)
{
	(void)events;
	relay_pump_stdin(opaque);
}

static void relay_stdout_event(void *opaque, uint32_t events)
{
	(void)events;
	relay_out_write(opaque, 0);
}

static void relay_stderr_event(void *opaque, uint32_t events)
{
	(void)events;
	relay_out_write(opaque, 1);
}

/* The terminal's size changed: PROGRAM's pty follows (WINCH). */
static void relay_winch_event(void *opaque, uint32_t events)
{
	struct exec_relay *r = opaque;
	struct signalfd_siginfo si;
	struct winsize ws;
	uint8_t f[PROTO_CTRL_MAX];

	(void)events;
	if (read(r->cfg.winch_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (!r->hello || r->finished || ioctl(r->cfg.in_fd, TIOCGWINSZ, &ws) < 0)
		return;
	relay_queue(r, f, proto_enc_winch(f, ws.ws_row, ws.ws_col));
}

static void relay_hello_event(void *opaque, uint32_t events)
{
	struct exec_relay *r = opaque;
	uint64_t n;

	(void)events;
	if (read(r->hello_tfd, &n, sizeof(n)) != sizeof(n) || r->hello)
		return;
	relay_finish(r, EXEC_AGENT_LOST, KVMRUN_EXEC_FAILED,
		     "agent not ready: no HELLO within %llu ms",
		     (unsigned long long)r->cfg.hello_ms);
}

static void relay_timeout_event(void *opaque, uint32_t events)
{
	struct exec_relay *r = opaque;
	uint64_t n;

	(void)events;
	if (read(r->timeout_tfd, &n, sizeof(n)) != sizeof(n))
		return;
	relay_finish(r, EXEC_TIMEOUT, KVMRUN_EXEC_TIMEOUT, "--timeout expired after %llu ms",
		     (unsigned long long)r->cfg.timeout_ms);
}

static void relay_grace_event(void *opaque, uint32_t events)
{
	struct exec_relay *r = opaque;
	uint64_t n;

	(void)events;
	if (read(r->grace_tfd, &n, sizeof(n)) != sizeof(n) || r->exited)
		return;
	relay_finish(r, EXEC_VMM_ERROR, 128 + r->grace_signo,
		     "PROGRAM did not end within %llu ms of signal %d; the VM was stopped",
		     (unsigned long long)r->cfg.grace_ms, r->grace_signo);
}

bool exec_relay_signal(struct exec_relay *r, int signo)
{
	uint8_t f[PROTO_CTRL_MAX];

	if (signo < 1 || signo > AGENT_SIGNAL_MAX || !r->hello || r->exited || r->finished ||
	    r->signals & 1ULL << (signo - 1))
		return false;
	r->signals |= 1ULL << (signo - 1);
	relay_queue(r, f, proto_enc_signal(f, signo));
	if (r->finished) /* the port took nothing more */
		return false;
	if (!r->grace_signo) {
		r->grace_signo = signo;
		relay_timer_set(r->grace_tfd, r->cfg.grace_ms);
	}
	return true;
}

/* A descriptor kvmrun waits on; -EPERM (a regular file, /dev/null) means it never has to. */
static int relay_watch(struct exec_relay *r, int fd, uint32_t events, ev_fn fn, bool *watched)
{
	int ret = ev_add(r->cfg.loop, fd, events, fn, r);

	*watched = !ret;
	if (ret == -EPERM)
		return 0;
	if (!ret)
		ret = ev_mod(r->cfg.loop, fd, 0);
	return ret;
}

static int relay_nonblock(int fd, int *saved)
{
	int fl = fcntl(fd, F_GETFL);

	*saved = -1;
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK)) {
		if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
		*saved = fl;
	}
	return 0;
}

static int relay_timer(struct exec_relay *r, int *tfd, uint64_t ms, ev_fn fn)
{
	*tfd = -1;
	if (!ms)
		return 0;
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (*tfd < 0)
		return -errno;
	if (ev_add(r->cfg.loop, *tfd, EPOLLIN, fn, r)) {
		close(*tfd);
		*tfd = -1;
		return -ENOMEM;
	}
	relay_timer_set(*tfd, ms);
	return 0;
}

int exec_relay_init(struct exec_relay *r, const struct exec_relay_config *cfg)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	if (!r->cfg.grace_ms)
		r->cfg.grace_ms = EXEC_SIGNAL_GRACE_MS;
	r->hello_tfd = r->timeout_tfd = r->grace_tfd = r->port_fd = -1;
	r->in_saved_fl = r->out[0].saved_fl = r->out[1].saved_fl = -1;
	r->exit_code = -1;
	proto_dec_init(&r->dec, PROTO_HOST);
	r->out[0].fd = cfg->out_fd;
	r->out[1].fd = cfg->err_fd;
	r->tx = malloc(EXEC_TX_MAX);
	r->out[0].buf = malloc(EXEC_OUT_WINDOW);
	r->out[1].buf = malloc(EXEC_OUT_WINDOW);
	if (!r->tx || !r->out[0].buf || !r->out[1].buf) {
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned int s = 0; s < 2; s++) {
		ret = relay_nonblock(r->out[s].fd, &r->out[s].saved_fl);
		if (!ret)
			ret = relay_watch(r, r->out[s].fd, EPOLLOUT,
					  s ? relay_stderr_event : relay_stdout_event,
					  &r->out[s].watched);
		if (ret)
			goto err;
	}
	if (cfg->in_fd >= 0) {
		ret = relay_nonblock(cfg->in_fd, &r->in_saved_fl);
		if (!ret)
			ret = relay_watch(r, cfg->in_fd, EPOLLIN, relay_in_event, &r->in_watched);
		if (ret)
			goto err;
	}
	r->winch_watched = cfg->winch_fd >= 0 && cfg->in_fd >= 0 &&
			   !ev_add(r->cfg.loop, cfg->winch_fd, EPOLLIN, relay_winch_event, r);
	ret = relay_timer(r, &r->hello_tfd, cfg->hello_ms, relay_hello_event);
	if (!ret)
		ret = relay_timer(r, &r->timeout_tfd, cfg->timeout_ms, relay_timeout_event);
	if (!ret) /* armed only once a signal was passed on */
		ret = relay_timer(r, &r->grace_tfd, r->cfg.grace_ms, relay_grace_event);
	relay_timer_set(r->grace_tfd, 0);
	if (ret)
		goto err;
	return 0;
err:
	exec_relay_fini(r);
	return ret;
}

void exec_relay_fini(struct exec_relay *r)
{
	int fds[] = {r->hello_tfd, r->timeout_tfd, r->grace_tfd};

	for (unsigned int i = 0; i < ARRAY_SIZE(fds); i++) {
		if (fds[i] < 0)
			continue;
		ev_del(r->cfg.loop, fds[i]);
		close(fds[i]);
	}
	r->hello_tfd = r->timeout_tfd = r->grace_tfd = -1;
	if (r->winch_watched)
		ev_del(r->cfg.loop, r->cfg.winch_fd);
	r->winch_watched = false;
	if (r->port_fd >= 0)
		ev_del(r->cfg.loop, r->port_fd);
	r->port_fd = -1;
	if (r->in_watched)
		ev_del(r->cfg.loop, r->cfg.in_fd);
	r->in_watched = false;
	if (r->in_saved_fl >= 0)
		fcntl(r->cfg.in_fd, F_SETFL, r->in_saved_fl);
	r->in_saved_fl = -1;
	for (unsigned int s = 0; s < 2; s++) {
		struct exec_relay_out *o = &r->out[s];

		if (o->watched)
			ev_del(r->cfg.loop, o->fd);
		o->watched = false;
		if (o->saved_fl >= 0)
			fcntl(o->fd, F_SETFL, o->saved_fl);
		o->saved_fl = -1;
		free(o->buf);
		o->buf = NULL;
	}
	free(r->tx);
	r->tx = NULL;
}

static void relay_port_event(void *opaque, uint32_t events)
{
	struct exec_relay *r = opaque;
	uint8_t buf[16384];
	ssize_t n;

	if (events & EPOLLOUT) {
		r->port_armed = false;
		ev_mod(r->cfg.loop, r->port_fd, EPOLLIN);
		exec_relay_port_writable(r);
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || r->port_fd < 0)
		return;
	n = read(r->port_fd, buf, sizeof(buf));
	if (n > 0) {
		exec_relay_from_port(r, buf, (size_t)n);
	} else if (n == 0 || errno != EAGAIN) {
		ev_del(r->cfg.loop, r->port_fd);
		r->port_fd = -1;
		exec_relay_port_open(r, false);
		if (!r->finished)
			relay_finish(r, EXEC_AGENT_LOST, KVMRUN_EXEC_FAILED,
				     "the agent's channel closed before it was ready");
	}
}

static size_t relay_fd_send(void *opaque, const uint8_t *buf, size_t len)
{
	struct exec_relay *r = opaque;
	ssize_t n;

	if (r->port_fd < 0)
		return 0;
	n = write(r->port_fd, buf, len);
	if (n > 0)
		return (size_t)n;
	if (n < 0 && errno == EAGAIN && !r->port_armed &&
	    !ev_mod(r->cfg.loop, r->port_fd, EPOLLIN | EPOLLOUT))
		r->port_armed = true;
	return 0;
}

int exec_relay_attach_fd(struct exec_relay *r, int fd)
{
	int ret, saved;

	ret = relay_nonblock(fd, &saved);
	if (ret)
		return ret;
	ret = ev_add(r->cfg.loop, fd, EPOLLIN, relay_port_event, r);
	if (ret)
		return ret;
	r->port_fd = fd;
	r->cfg.send = relay_fd_send;
	r->cfg.send_opaque = r;
	return 0;
}

void exec_relay_report(const struct exec_relay *r, struct exec_report *rep)
{
	rep->outcome = r->outcome;
	rep->status = r->status;
	rep->exit_code = r->outcome == EXEC_EXITED ? r->exit_code : -1;
	rep->signal = r->outcome == EXEC_SIGNALED ? r->signal : 0;
	rep->reason = r->reason[0] ? r->reason : NULL;
	rep->phase_ns[EXEC_PHASE_AGENT_READY] = r->agent_ready_ns;
	rep->phase_ns[EXEC_PHASE_PROGRAM_STARTED] = r->started_ns;
	rep->phase_ns[EXEC_PHASE_PROGRAM_ENDED] = r->ended_ns;
	memcpy(rep->bytes, r->bytes, sizeof(rep->bytes));
}
