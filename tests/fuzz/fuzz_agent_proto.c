// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the agent protocol's decoder (src/exec/proto.c), on
 * either side. Byte 0: bit 0 picks the side (0 kvmrun, 1 the agent), the rest
 * the chunk size the stream is fed in (1..128 bytes). Byte 1: the window, in
 * KiB, that the receiver grants on each of its streams at the start and again
 * after every data frame. The rest is the stream. Every frame that comes out
 * must keep the protocol's rules: its type towards this side, its payload in
 * bounds, a START that encodes back to the very same bytes, an EXIT that maps
 * to a status 0..255, windows within their bound; an error stays.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* START must be canonical: encoding what was decoded gives the frame back. */
static void check_start(const struct proto_dec *d, const struct proto_msg *m)
{
	const struct proto_start *s = &m->u.start;
	const char **argv = calloc(s->argc + 1, sizeof(*argv));
	const char **envp = calloc(s->envc + 1, sizeof(*envp));
	uint8_t *out = malloc(AGENT_FRAME_MAX);
	struct proto_job job = {.uid = s->uid,
				.gid = s->gid,
				.tty = s->flags & AGENT_START_TTY,
				.rows = s->rows,
				.cols = s->cols,
				.argv = argv,
				.envp = envp,
				.workdir = s->workdir};
	int n;

	if (!argv || !envp || !out)
		abort();
	if (s->argc < 1 || s->argc > AGENT_ARGC_MAX || s->envc > AGENT_ENVC_MAX)
		abort();
	proto_strlist(s->argv, s->argc, argv);
	proto_strlist(s->envp, s->envc, envp);
	if (proto_strlist_end(s->workdir, 1) != (const char *)m->data + m->len)
		abort();
	n = proto_enc_start(out, AGENT_FRAME_MAX, &job);
	if (n != (int)(AGENT_HDR_SIZE + m->len) || memcmp(out, d->buf, (size_t)n))
		abort();
	free(out);
	free(argv);
	free(envp);
}

static void check_msg(struct proto_dec *d, const struct proto_msg *m, uint32_t grant)
{
	bool to_host = d->side == PROTO_HOST;

	if (m->len > AGENT_PAYLOAD_MAX || m->data != d->buf + AGENT_HDR_SIZE)
		abort();
	switch (m->type) {
	case AGENT_MSG_START:
		if (to_host)
			abort();
		check_start(d, m);
		break;
	case AGENT_MSG_STDIN:
	case AGENT_MSG_STDOUT:
	case AGENT_MSG_STDERR:
		if (m->len == 0 || to_host != (m->type != AGENT_MSG_STDIN))
			abort();
		if (grant)
			proto_dec_granted(d,
					  m->type == AGENT_MSG_STDIN	? AGENT_STREAM_STDIN
					  : m->type == AGENT_MSG_STDOUT ? AGENT_STREAM_STDOUT
									: AGENT_STREAM_STDERR,
					  m->len);
		break;
	case AGENT_MSG_EXIT: {
		int st = proto_exit_status(m->u.exit.kind, m->u.exit.value);

		if (!to_host || st < 0 || st > 255)
			abort();
		break;
	}
	case AGENT_MSG_ERROR:
		if (!to_host || m->len > AGENT_ERROR_MAX)
			abort();
		for (uint32_t i = 0; i < m->len; i++) {
			if ((m->data[i] < 0x20 && m->data[i] != '\t') || m->data[i] == 0x7f)
				abort();
		}
		break;
	case AGENT_MSG_SIGNAL:
		if (to_host || m->u.signo < 1 || m->u.signo > AGENT_SIGNAL_MAX)
			abort();
		break;
	case AGENT_MSG_HELLO:
		if (!to_host || m->u.hello.version != AGENT_PROTO_VERSION)
			abort();
		break;
	case AGENT_MSG_STDIN_EOF:
	case AGENT_MSG_WINCH:
		if (to_host)
			abort();
		break;
	case AGENT_MSG_CREDIT:
		if (m->u.credit.bytes == 0 || m->u.credit.stream >= AGENT_STREAMS)
			abort();
		break;
	default:
		abort();
	}
	for (int i = 0; i < AGENT_STREAMS; i++) {
		if (d->recv_window[i] > AGENT_WINDOW_MAX || d->send_window[i] > AGENT_WINDOW_MAX)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_dec *d;
	size_t chunk, off = 2;
	uint32_t grant;

	if (size < 2)
		return 0;
	d = malloc(sizeof(*d));
	if (!d)
		abort();
	proto_dec_init(d, data[0] & 1 ? PROTO_AGENT : PROTO_HOST);
	chunk = (size_t)(data[0] >> 1) + 1;
	grant = (uint32_t)data[1] * 1024;
	for (unsigned int s = 0; s < AGENT_STREAMS && grant; s++)
		proto_dec_granted(d, s, grant);
	while (off < size) {
		size_t len = size - off < chunk ? size - off : chunk, used;
		struct proto_msg m;
		int r = proto_dec_feed(d, data + off, len, &used, &m);

		if (used > len || (r == 0 && used != len))
			abort();
		off += used;
		if (r < 0) {
			if (!d->why[0] || proto_dec_feed(d, data, size, &used, &m) != r || used)
				abort();
			break;
		}
		if (r == 1)
			check_msg(d, &m, grant);
	}
	free(d);
	return 0;
}
