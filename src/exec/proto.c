// SPDX-License-Identifier: Apache-2.0
/*
 * The agent protocol's decoder and encoders (see kvmrun/agent_proto.h). Every
 * byte the decoder gets comes from the other side and is hostile: a header is
 * judged (type, direction, length) before its payload is waited for, so a
 * frame never needs more than AGENT_FRAME_MAX bytes of buffer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exec/proto.h"

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void proto_dec_init(struct proto_dec *d, enum proto_side side)
{
	memset(d, 0, offsetof(struct proto_dec, buf));
	d->side = side;
}

__attribute__((format(printf, 2, 3))) static int dec_fail(struct proto_dec *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	d->error = -EPROTO;
	return -EPROTO;
}

/* Whether frames of @type travel towards @side. */
static bool type_towards(uint32_t type, enum proto_side side)
{
	switch (type) {
	case AGENT_MSG_HELLO:
	case AGENT_MSG_STDOUT:
	case AGENT_MSG_STDERR:
	case AGENT_MSG_EXIT:
	case AGENT_MSG_ERROR:
		return side == PROTO_HOST;
	case AGENT_MSG_START:
	case AGENT_MSG_STDIN:
	case AGENT_MSG_STDIN_EOF:
	case AGENT_MSG_WINCH:
	case AGENT_MSG_SIGNAL:
		return side == PROTO_AGENT;
	case AGENT_MSG_CREDIT:
		return true;
	}
	return false;
}

/* The header's length against what its type allows. */
static int check_len(struct proto_dec *d)
{
	uint32_t lo = 0, hi = 0;

	switch (d->type) {
	case AGENT_MSG_HELLO:
	case AGENT_MSG_CREDIT:
	case AGENT_MSG_EXIT:
		lo = hi = 8;
		break;
	case AGENT_MSG_WINCH:
	case AGENT_MSG_SIGNAL:
		lo = hi = 4;
		break;
	case AGENT_MSG_STDIN_EOF:
		break;
	case AGENT_MSG_START:
		lo = AGENT_START_FIXED + 3; /* one argv[0] of one byte and the workdir's NUL */
		hi = AGENT_PAYLOAD_MAX;
		break;
	case AGENT_MSG_STDIN:
	case AGENT_MSG_STDOUT:
	case AGENT_MSG_STDERR:
		lo = 1;
		hi = AGENT_PAYLOAD_MAX;
		break;
	case AGENT_MSG_ERROR:
		lo = 1;
		hi = AGENT_ERROR_MAX;
		break;
	}
	if (d->len < lo || d->len > hi)
		return dec_fail(d, "frame type %u with length %u (allowed %u..%u)", d->type, d->len,
				lo, hi);
	return 0;
}

static int check_header(struct proto_dec *d)
{
	d->type = get_le32(d->buf);
	d->len = get_le32(d->buf + 4);
	if (d->type == 0 || d->type > AGENT_MSG_TYPE_MAX)
		return dec_fail(d, "unknown frame type %u", d->type);
	if (!type_towards(d->type, d->side))
		return dec_fail(d, "frame type %u sent in the wrong direction", d->type);
	if (d->side == PROTO_HOST) {
		if (d->ended)
			return dec_fail(d, "frame type %u after EXIT", d->type);
		if (!d->first_seen && d->type != AGENT_MSG_HELLO && d->type != AGENT_MSG_ERROR)
			return dec_fail(d, "frame type %u before HELLO", d->type);
		if (d->first_seen && d->type == AGENT_MSG_HELLO)
			return dec_fail(d, "a second HELLO");
	} else {
		if (!d->first_seen && d->type != AGENT_MSG_START)
			return dec_fail(d, "frame type %u before START", d->type);
		if (d->first_seen && d->type == AGENT_MSG_START)
			return dec_fail(d, "a second START");
		if (d->stdin_eof && (d->type == AGENT_MSG_STDIN || d->type == AGENT_MSG_STDIN_EOF))
			return dec_fail(d, "stdin after its EOF");
	}
	return check_len(d);
}

/*
 * Checks that @n NUL-terminated strings start at @p within @end and returns
 * where they end, or NULL. @what names them; @env asks for NAME=VALUE.
 */
static const uint8_t *check_strings(struct proto_dec *d, const uint8_t *p, const uint8_t *end,
				    uint32_t n, bool env, const char *what)
{
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
		const uint8_t *eq;

		if (!nul) {
			dec_fail(d, "START: %s string %u runs past the frame", what, i);
			return NULL;
		}
		eq = memchr(p, '=', (size_t)(nul - p));
		if (env && (!eq || eq == p)) {
			dec_fail(d, "START: environment string %u is not NAME=VALUE", i);
			return NULL;
		}
		p = nul + 1;
	}
	return p;
}

static int parse_start(struct proto_dec *d, const uint8_t *p, struct proto_start *s)
{
	const uint8_t *end = p + d->len, *q;
	size_t wlen;

	s->uid = get_le32(p);
	s->gid = get_le32(p + 4);
	s->flags = get_le32(p + 8);
	s->rows = get_le16(p + 12);
	s->cols = get_le16(p + 14);
	s->argc = get_le32(p + 16);
	s->envc = get_le32(p + 20);
	if (s->flags & ~AGENT_START_TTY)
		return dec_fail(d, "START: unknown flags %#x", s->flags);
	if (s->argc < 1 || s->argc > AGENT_ARGC_MAX)
		return dec_fail(d, "START: argc %u (allowed 1..%u)", s->argc, AGENT_ARGC_MAX);
	if (s->envc > AGENT_ENVC_MAX)
		return dec_fail(d, "START: envc %u (allowed 0..%u)", s->envc, AGENT_ENVC_MAX);
	q = p + AGENT_START_FIXED;
	if (*q == 0)
		return dec_fail(d, "START: empty argv[0]");
	s->argv = (const char *)q;
	q = check_strings(d, q, end, s->argc, false, "argv");
	if (!q)
		return -EPROTO;
	s->envp = (const char *)q;
	q = check_strings(d, q, end, s->envc, true, "environment");
	if (!q)
		return -EPROTO;
	s->workdir = (const char *)q;
	if (q == end || !memchr(q, 0, (size_t)(end - q)))
		return dec_fail(d, "START: workdir missing or not terminated");
	wlen = strlen(s->workdir);
	if (q + wlen + 1 != end)
		return dec_fail(d, "START: %zu bytes after the workdir",
				(size_t)(end - q) - wlen - 1);
	if (wlen >= AGENT_WORKDIR_MAX || (wlen && s->workdir[0] != '/'))
		return dec_fail(d, "START: workdir not an absolute path shorter than %u",
				AGENT_WORKDIR_MAX);
	return 0;
}

/* Takes a data frame out of the stream's window. */
static int take_window(struct proto_dec *d, unsigned int stream)
{
	if (d->len > d->recv_window[stream])
		return dec_fail(d, "%u bytes on stream %u over its window of %u", d->len, stream,
				d->recv_window[stream]);
	d->recv_window[stream] -= d->len;
	return 0;
}

static int parse_credit(struct proto_dec *d, const uint8_t *p, struct proto_msg *m)
{
	uint32_t stream = get_le32(p), bytes = get_le32(p + 4);
	bool ours = d->side == PROTO_HOST
			? stream == AGENT_STREAM_STDIN
			: stream == AGENT_STREAM_STDOUT || stream == AGENT_STREAM_STDERR;

	if (!ours)
		return dec_fail(d, "CREDIT for stream %u in the wrong direction", stream);
	if (bytes == 0 || bytes > AGENT_WINDOW_MAX - d->send_window[stream])
		return dec_fail(d, "CREDIT of %u on stream %u (window %u, at most %u)", bytes,
				stream, d->send_window[stream], AGENT_WINDOW_MAX);
	d->send_window[stream] += bytes;
	m->u.credit.stream = stream;
	m->u.credit.bytes = bytes;
	return 0;
}

static int parse_exit(struct proto_dec *d, const uint8_t *p, struct proto_msg *m)
{
	uint32_t kind = get_le32(p), value = get_le32(p + 4);
	bool ok = false;

	switch (kind) {
	case AGENT_EXIT_EXITED:
		ok = value <= 255;
		break;
	case AGENT_EXIT_SIGNALED:
		ok = value >= 1 && value <= AGENT_SIGNAL_MAX;
		break;
	case AGENT_EXIT_EXEC_FAILED:
	case AGENT_EXIT_SETUP_FAILED:
		ok = value >= 1 && value < 4096;
		break;
	}
	if (!ok)
		return dec_fail(d, "EXIT of kind %u with value %u", kind, value);
	m->u.exit.kind = kind;
	m->u.exit.value = value;
	d->ended = true;
	return 0;
}

/* The payload of a whole frame, against the rules of its type. */
static int parse_payload(struct proto_dec *d, struct proto_msg *m)
{
	const uint8_t *p = d->buf + AGENT_HDR_SIZE;

	memset(m, 0, sizeof(*m));
	m->type = d->type;
	m->len = d->len;
	m->data = p;
	switch (d->type) {
	case AGENT_MSG_HELLO:
		m->u.hello.version = get_le32(p);
		m->u.hello.flags = get_le32(p + 4);
		if (m->u.hello.version != AGENT_PROTO_VERSION)
			return dec_fail(d, "HELLO of protocol version %u, not %u",
					m->u.hello.version, AGENT_PROTO_VERSION);
		if (m->u.hello.flags != AGENT_HELLO_READY)
			return dec_fail(d, "HELLO with flags %#x", m->u.hello.flags);
		d->first_seen = true;
		return 0;
	case AGENT_MSG_START:
		if (parse_start(d, p, &m->u.start))
			return -EPROTO;
		d->first_seen = true;
		return 0;
	case AGENT_MSG_STDIN:
		return take_window(d, AGENT_STREAM_STDIN);
	case AGENT_MSG_STDOUT:
		return take_window(d, AGENT_STREAM_STDOUT);
	case AGENT_MSG_STDERR:
		return take_window(d, AGENT_STREAM_STDERR);
	case AGENT_MSG_STDIN_EOF:
		d->stdin_eof = true;
		return 0;
	case AGENT_MSG_WINCH:
		m->u.winch.rows = get_le16(p);
		m->u.winch.cols = get_le16(p + 2);
		return 0;
	case AGENT_MSG_SIGNAL:
		m->u.signo = get_le32(p);
		if (m->u.signo < 1 || m->u.signo > AGENT_SIGNAL_MAX)
			return dec_fail(d, "SIGNAL %u", m->u.signo);
		return 0;
	case AGENT_MSG_CREDIT:
		return parse_credit(d, p, m);
	case AGENT_MSG_EXIT:
		return parse_exit(d, p, m);
	case AGENT_MSG_ERROR:
		for (uint32_t i = 0; i < d->len; i++) {
			if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
				return dec_fail(d, "ERROR text with control byte %#x", p[i]);
		}
		return 0;
	}
	return dec_fail(d, "unknown frame type %u", d->type);
}

int proto_dec_feed(struct proto_dec *d, const void *data, size_t len, size_t *used,
		   struct proto_msg *msg)
{
	const uint8_t *in = data;
	size_t n, taken = 0;

	*used = 0;
	if (d->error)
		return d->error;
	while (taken < len) {
		size_t want = AGENT_HDR_SIZE;

		if (d->have >= AGENT_HDR_SIZE)
			want += d->len;
		n = want - d->have;
		if (n > len - taken)
			n = len - taken;
		memcpy(d->buf + d->have, in + taken, n);
		d->have += n;
		taken += n;
		*used = taken;
		if (d->have == AGENT_HDR_SIZE && check_header(d))
			return -EPROTO;
		if (d->have >= AGENT_HDR_SIZE && d->have == AGENT_HDR_SIZE + (size_t)d->len) {
			d->have = 0;
			return parse_payload(d, msg) ? -EPROTO : 1;
		}
	}
	return 0;
}

int proto_dec_granted(struct proto_dec *d, unsigned int stream, uint32_t bytes)
{
	if (stream >= AGENT_STREAMS || bytes > AGENT_WINDOW_MAX - d->recv_window[stream])
		return -EINVAL;
	d->recv_window[stream] += bytes;
	return 0;
}

uint32_t proto_dec_send_window(const struct proto_dec *d, unsigned int stream)
{
	return stream < AGENT_STREAMS ? d->send_window[stream] : 0;
}

void proto_dec_sent(struct proto_dec *d, unsigned int stream, uint32_t bytes)
{
	if (stream < AGENT_STREAMS)
		d->send_window[stream] -=
		    bytes < d->send_window[stream] ? bytes : d->send_window[stream];
}

void proto_enc_hdr(uint8_t *out, uint32_t type, uint32_t len)
{
	put_le32(out, type);
	put_le32(out + 4, len);
}

/* Appends the strings of @list (NULL-terminated) at @out + *pos; returns their count or -E2BIG. */
static int enc_strings(uint8_t *out, size_t size, size_t *pos, const char *const *list)
{
	int n = 0;

	for (; list && *list; list++, n++) {
		size_t l = strlen(*list) + 1;

		if (l > size - *pos)
			return -E2BIG;
		memcpy(out + *pos, *list, l);
		*pos += l;
	}
	return n;
}

int proto_enc_start(uint8_t *out, size_t size, const struct proto_job *job)
{
	const char *wd = job->workdir ? job->workdir : "";
	size_t pos = AGENT_HDR_SIZE + AGENT_START_FIXED, wl = strlen(wd) + 1;
	int argc, envc;

	if (size > AGENT_FRAME_MAX)
		size = AGENT_FRAME_MAX;
	if (size < pos)
		return -E2BIG;
	if (!job->argv || !job->argv[0] || !job->argv[0][0] || wl > AGENT_WORKDIR_MAX ||
	    (wl > 1 && wd[0] != '/'))
		return -EINVAL;
	argc = enc_strings(out, size, &pos, job->argv);
	if (argc < 0)
		return argc;
	envc = enc_strings(out, size, &pos, job->envp);
	if (envc < 0)
		return envc;
	if (argc > AGENT_ARGC_MAX || envc > AGENT_ENVC_MAX)
		return -E2BIG;
	for (int i = 0; i < envc; i++) {
		const char *eq = strchr(job->envp[i], '=');

		if (!eq || eq == job->envp[i])
			return -EINVAL;
	}
	if (wl > size - pos)
		return -E2BIG;
	memcpy(out + pos, wd, wl);
	pos += wl;
	proto_enc_hdr(out, AGENT_MSG_START, (uint32_t)(pos - AGENT_HDR_SIZE));
	put_le32(out + 8, job->uid);
	put_le32(out + 12, job->gid);
	put_le32(out + 16, job->tty ? AGENT_START_TTY : 0);
	put_le16(out + 20, job->rows);
	put_le16(out + 22, job->cols);
	put_le32(out + 24, (uint32_t)argc);
	put_le32(out + 28, (uint32_t)envc);
	return (int)pos;
}

static int enc_two(uint8_t *out, uint32_t type, uint32_t a, uint32_t b)
{
	proto_enc_hdr(out, type, 8);
	put_le32(out + 8, a);
	put_le32(out + 12, b);
	return AGENT_HDR_SIZE + 8;
}

int proto_enc_hello(uint8_t out[PROTO_CTRL_MAX])
{
	return enc_two(out, AGENT_MSG_HELLO, AGENT_PROTO_VERSION, AGENT_HELLO_READY);
}

int proto_enc_eof(uint8_t out[PROTO_CTRL_MAX])
{
	proto_enc_hdr(out, AGENT_MSG_STDIN_EOF, 0);
	return AGENT_HDR_SIZE;
}

int proto_enc_winch(uint8_t out[PROTO_CTRL_MAX], uint16_t rows, uint16_t cols)
{
	proto_enc_hdr(out, AGENT_MSG_WINCH, 4);
	put_le16(out + 8, rows);
	put_le16(out + 10, cols);
	return AGENT_HDR_SIZE + 4;
}

int proto_enc_signal(uint8_t out[PROTO_CTRL_MAX], int signo)
{
	if (signo < 1 || signo > AGENT_SIGNAL_MAX)
		return -EINVAL;
	proto_enc_hdr(out, AGENT_MSG_SIGNAL, 4);
	put_le32(out + 8, (uint32_t)signo);
	return AGENT_HDR_SIZE + 4;
}

int proto_enc_credit(uint8_t out[PROTO_CTRL_MAX], unsigned int stream, uint32_t bytes)
{
	if (stream >= AGENT_STREAMS || bytes == 0 || bytes > AGENT_WINDOW_MAX)
		return -EINVAL;
	return enc_two(out, AGENT_MSG_CREDIT, stream, bytes);
}

int proto_enc_exit(uint8_t out[PROTO_CTRL_MAX], unsigned int kind, uint32_t value)
{
	if (kind > AGENT_EXIT_SETUP_FAILED)
		return -EINVAL;
	return enc_two(out, AGENT_MSG_EXIT, kind, value);
}

int proto_enc_error(uint8_t out[AGENT_HDR_SIZE + AGENT_ERROR_MAX], const char *text)
{
	size_t n = strnlen(text, AGENT_ERROR_MAX);
	uint8_t *p = out + AGENT_HDR_SIZE;

	if (n == 0)
		text = "error", n = 5;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)text[i];

		p[i] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : c;
	}
	proto_enc_hdr(out, AGENT_MSG_ERROR, (uint32_t)n);
	return (int)(AGENT_HDR_SIZE + n);
}

const char *proto_strlist_end(const char *list, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		list += strlen(list) + 1;
	return list;
}

void proto_strlist(const char *list, uint32_t n, const char **out)
{
	for (uint32_t i = 0; i < n; i++) {
		out[i] = list;
		list += strlen(list) + 1;
	}
	out[n] = NULL;
}

bool proto_errno_not_found(int err)
{
	return err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG;
}

int proto_exit_status(uint32_t kind, uint32_t value)
{
	switch (kind) {
	case AGENT_EXIT_EXITED:
		return (int)(value & 0xff);
	case AGENT_EXIT_SIGNALED:
		return 128 + (int)(value & 0x7f);
	case AGENT_EXIT_EXEC_FAILED:
		return proto_errno_not_found((int)value) ? 127 : 126;
	}
	return 125;
}
