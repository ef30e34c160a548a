/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent protocol (kvmrun/agent_proto.h) in code: an incremental decoder
 * for the frames one side receives, with the flow-control windows of both
 * directions, and encoders for every frame. Both kvmrun and the agent use it;
 * it needs nothing but libc.
 */
#ifndef KVMRUN_EXEC_PROTO_H
#define KVMRUN_EXEC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/agent_proto.h"

/* Which side a decoder reads for. */
enum proto_side {
	PROTO_HOST,  /* kvmrun: reads what the agent sends */
	PROTO_AGENT, /* the agent: reads what kvmrun sends */
};

/* The largest control frame (everything but START, ERROR and data). */
#define PROTO_CTRL_MAX (AGENT_HDR_SIZE + 8)

struct proto_start {
	uint32_t uid, gid, flags;
	uint16_t rows, cols;
	uint32_t argc, envc;
	const char *argv;    /* argc NUL-terminated strings, back to back */
	const char *envp;    /* envc of them */
	const char *workdir; /* "" for "/" */
};

/* One decoded frame; its pointers stay valid until the next proto_dec_feed(). */
struct proto_msg {
	uint32_t type;
	uint32_t len;
	const uint8_t *data; /* the payload */
	union {
		struct {
			uint32_t version, flags;
		} hello;
		struct proto_start start;
		struct {
			uint16_t rows, cols;
		} winch;
		uint32_t signo;
		struct {
			uint32_t stream, bytes;
		} credit;
		struct {
			uint32_t kind, value;
		} exit;
	} u;
};

struct proto_dec {
	enum proto_side side;
	bool first_seen;		     /* HELLO (host) or START (agent) arrived */
	bool ended;			     /* EXIT arrived (host) */
	bool stdin_eof;			     /* STDIN_EOF arrived (agent) */
	int error;			     /* 0, or -EPROTO once the peer broke the protocol */
	uint32_t recv_window[AGENT_STREAMS]; /* what the peer may still send us */
	uint32_t send_window[AGENT_STREAMS]; /* what we may still send the peer */
	size_t have;			     /* bytes of the current frame in buf */
	uint32_t type, len;		     /* its header, once have >= AGENT_HDR_SIZE */
	char why[128];			     /* what the peer did wrong */
	uint8_t buf[AGENT_FRAME_MAX];
};

/* The job START carries, as kvmrun encodes it. */
struct proto_job {
	uint32_t uid, gid;
	bool tty;
	uint16_t rows, cols;
	const char *const *argv; /* NULL-terminated */
	const char *const *envp; /* NULL-terminated; NULL for none */
	const char *workdir;	 /* NULL or "" for "/" */
};

void proto_dec_init(struct proto_dec *d, enum proto_side side);

/*
 * Takes up to @len bytes of @data. Returns 1 with a whole frame in @msg
 * (*used says how many bytes it took; feed the rest again), 0 when all bytes
 * were taken without completing a frame, or -EPROTO when the peer broke the
 * protocol (d->why says how; every later call fails the same way).
 */
int proto_dec_feed(struct proto_dec *d, const void *data, size_t len, size_t *used,
		   struct proto_msg *msg);

/* Records that we granted the peer @bytes on @stream (before sending the CREDIT). */
int proto_dec_granted(struct proto_dec *d, unsigned int stream, uint32_t bytes);
/* What we may send on @stream now; proto_dec_sent() spends it. */
uint32_t proto_dec_send_window(const struct proto_dec *d, unsigned int stream);
void proto_dec_sent(struct proto_dec *d, unsigned int stream, uint32_t bytes);

/* Frame encoders: each returns the frame's length, or -E2BIG / -EINVAL. */
void proto_enc_hdr(uint8_t *out, uint32_t type, uint32_t len);
int proto_enc_start(uint8_t *out, size_t size, const struct proto_job *job);
int proto_enc_hello(uint8_t out[PROTO_CTRL_MAX]);
int proto_enc_eof(uint8_t out[PROTO_CTRL_MAX]);
int proto_enc_winch(uint8_t out[PROTO_CTRL_MAX], uint16_t rows, uint16_t cols);
int proto_enc_signal(uint8_t out[PROTO_CTRL_MAX], int signo);
int proto_enc_credit(uint8_t out[PROTO_CTRL_MAX], unsigned int stream, uint32_t bytes);
int proto_enc_exit(uint8_t out[PROTO_CTRL_MAX], unsigned int kind, uint32_t value);
/* ERROR from @text: cut at AGENT_ERROR_MAX, control characters made '?'. */
int proto_enc_error(uint8_t out[AGENT_HDR_SIZE + AGENT_ERROR_MAX], const char *text);

/* Fills @out[0..n-1] with the @n strings of @list and @out[n] with NULL. */
void proto_strlist(const char *list, uint32_t n, const char **out);

/* Where the next string after @n strings from @list starts. */
const char *proto_strlist_end(const char *list, uint32_t n);

/* The status a shell reports for EXIT (kind, value): 0..255. */
int proto_exit_status(uint32_t kind, uint32_t value);

/* Whether an execve errno means "not found" (127) rather than "cannot run" (126). */
bool proto_errno_not_found(int err);

#endif
