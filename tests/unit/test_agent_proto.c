// SPDX-License-Identifier: Apache-2.0
/*
 * The agent protocol's decoder and encoders (src/exec/proto.c): frames built
 * by the encoders decode to what went in, whole or a byte at a time; every
 * kind of malformed frame is refused, and as early as its header allows.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exec/proto.h"

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

/* Feeds all of @len; returns the last result and the message count in *nmsg. */
static int feed_all(struct proto_dec *d, const void *buf, size_t len, struct proto_msg *last,
		    int *nmsg)
{
	const uint8_t *p = buf;
	int r = 0;

	*nmsg = 0;
	while (len) {
		size_t used;

		r = proto_dec_feed(d, p, len, &used, last);
		assert_true(used <= len);
		p += used;
		len -= used;
		if (r < 0)
			return r;
		if (r == 1)
			(*nmsg)++;
	}
	return r;
}

/* One frame: 1 (decoded) or -EPROTO. */
static int feed_one(struct proto_dec *d, const void *buf, size_t len, struct proto_msg *m)
{
	int n, r = feed_all(d, buf, len, m, &n);

	if (r < 0)
		return r;
	assert_int_equal(n, 1);
	return 1;
}

static size_t frame(uint8_t *out, uint32_t type, const void *payload, uint32_t len)
{
	proto_enc_hdr(out, type, len);
	memcpy(out + AGENT_HDR_SIZE, payload, len);
	return AGENT_HDR_SIZE + len;
}

/* A CREDIT frame with any values, past the encoder's checks. */
static int enc_two_raw(uint8_t *buf, uint32_t stream, uint32_t bytes)
{
	proto_enc_hdr(buf, AGENT_MSG_CREDIT, 8);
	put32(buf + 8, stream);
	put32(buf + 12, bytes);
	return AGENT_HDR_SIZE + 8;
}

/* A host-side decoder that has had its HELLO. */
static void host_ready(struct proto_dec *d)
{
	uint8_t f[PROTO_CTRL_MAX];
	struct proto_msg m;

	proto_dec_init(d, PROTO_HOST);
	assert_int_equal(feed_one(d, f, (size_t)proto_enc_hello(f), &m), 1);
	assert_int_equal(m.type, AGENT_MSG_HELLO);
	assert_int_equal(m.u.hello.version, AGENT_PROTO_VERSION);
}

static const char *const job_argv[] = {"sh", "-c", "echo \"$A\"", "", NULL};
static const char *const job_env[] = {"A=1", "PATH=/bin:/usr/bin", "EMPTY=", NULL};

static int enc_job(uint8_t *buf, const char *workdir)
{
	struct proto_job job = {.uid = 1000,
				.gid = 100,
				.tty = true,
				.rows = 24,
				.cols = 80,
				.argv = job_argv,
				.envp = job_env,
				.workdir = workdir};

	return proto_enc_start(buf, AGENT_FRAME_MAX, &job);
}

/* An agent-side decoder that has had a START. */
static void agent_started(struct proto_dec *d, uint8_t *buf)
{
	struct proto_msg m;
	int n = enc_job(buf, "/tmp");

	proto_dec_init(d, PROTO_AGENT);
	assert_true(n > 0);
	assert_int_equal(feed_one(d, buf, (size_t)n, &m), 1);
}

static void check_start(const struct proto_msg *m)
{
	const char *argv[5], *envp[4];

	assert_int_equal(m->type, AGENT_MSG_START);
	assert_int_equal(m->u.start.uid, 1000);
	assert_int_equal(m->u.start.gid, 100);
	assert_int_equal(m->u.start.flags, AGENT_START_TTY);
	assert_int_equal(m->u.start.rows, 24);
	assert_int_equal(m->u.start.cols, 80);
	assert_int_equal(m->u.start.argc, 4);
	assert_int_equal(m->u.start.envc, 3);
	proto_strlist(m->u.start.argv, 4, argv);
	proto_strlist(m->u.start.envp, 3, envp);
	for (int i = 0; i < 4; i++)
		assert_string_equal(argv[i], job_argv[i]);
	assert_null(argv[4]);
	for (int i = 0; i < 3; i++)
		assert_string_equal(envp[i], job_env[i]);
	assert_null(envp[3]);
	assert_string_equal(m->u.start.workdir, "/work dir");
}

static void test_start_roundtrip(void **state)
{
	uint8_t *buf = malloc(AGENT_FRAME_MAX);
	struct proto_dec *d = malloc(sizeof(*d));
	struct proto_msg m;
	int n = enc_job(buf, "/work dir");

	assert_true(n > 0);
	proto_dec_init(d, PROTO_AGENT);
	assert_int_equal(feed_one(d, buf, (size_t)n, &m), 1);
	check_start(&m);

	/* A byte at a time: nothing before the last byte. */
	proto_dec_init(d, PROTO_AGENT);
	for (int i = 0; i < n; i++) {
		size_t used;
		int r = proto_dec_feed(d, buf + i, 1, &used, &m);

		assert_int_equal(used, 1);
		assert_int_equal(r, i == n - 1 ? 1 : 0);
	}
	check_start(&m);
	free(buf);
	free(d);
}

/* Several frames in one chunk come out one per call, each saying how much it took. */
static void test_frames_in_one_chunk(void **state)
{
	struct proto_dec *d = malloc(sizeof(*d));
	uint8_t buf[64];
	size_t len = 0, used;
	struct proto_msg m;

	host_ready(d);
	assert_int_equal(proto_dec_granted(d, AGENT_STREAM_STDOUT, 100), 0);
	len += frame(buf + len, AGENT_MSG_STDOUT, "abc", 3);
	len += (size_t)proto_enc_credit(buf + len, AGENT_STREAM_STDIN, 4096);
	len += frame(buf + len, AGENT_MSG_STDOUT, "de", 2);
	assert_int_equal(proto_dec_feed(d, buf, len, &used, &m), 1);
	assert_int_equal(used, 11);
	assert_int_equal(m.type, AGENT_MSG_STDOUT);
	assert_memory_equal(m.data, "abc", 3);
	assert_int_equal(proto_dec_feed(d, buf + 11, len - 11, &used, &m), 1);
	assert_int_equal(used, 16);
	assert_int_equal(m.type, AGENT_MSG_CREDIT);
	assert_int_equal(proto_dec_send_window(d, AGENT_STREAM_STDIN), 4096);
	assert_int_equal(proto_dec_feed(d, buf + 27, len - 27, &used, &m), 1);
	assert_int_equal(m.len, 2);
	assert_int_equal(d->recv_window[AGENT_STREAM_STDOUT], 95);
	free(d);
}

/* A truncated frame is waited for; an empty feed changes nothing. */
static void test_truncated_waits(void **state)
{
	struct proto_dec *d = malloc(sizeof(*d));
	uint8_t buf[16];
	struct proto_msg m;
	size_t used;
	int n;

	host_ready(d);
	n = proto_enc_exit(buf, AGENT_EXIT_EXITED, 7);
	assert_int_equal(proto_dec_feed(d, buf, 0, &used, &m), 0);
	assert_int_equal(proto_dec_feed(d, buf, 5, &used, &m), 0);
	assert_int_equal(proto_dec_feed(d, buf + 5, 6, &used, &m), 0);
	assert_int_equal(proto_dec_feed(d, buf + 11, (size_t)n - 11, &used, &m), 1);
	assert_int_equal(m.u.exit.value, 7);
	assert_int_equal(proto_exit_status(m.u.exit.kind, m.u.exit.value), 7);
	free(d);
}

/* A bad header is refused as soon as its 8 bytes are in, before any payload. */
static void test_bad_headers(void **state)
{
	static const uint32_t bad[][2] = {
	    {0, 0},
	    {12, 0},
	    {0xffffffff, 4},
	    {AGENT_MSG_STDOUT, AGENT_PAYLOAD_MAX + 1},
	    {AGENT_MSG_STDOUT, 0xffffffff},
	    {AGENT_MSG_STDOUT, 0},
	    {AGENT_MSG_CREDIT, 7},
	    {AGENT_MSG_CREDIT, 9},
	    {AGENT_MSG_EXIT, 0},
	    {AGENT_MSG_ERROR, 0},
	    {AGENT_MSG_ERROR, AGENT_ERROR_MAX + 1},
	    /* the wrong direction for the host */
	    {AGENT_MSG_START, 40},
	    {AGENT_MSG_STDIN, 1},
	    {AGENT_MSG_STDIN_EOF, 0},
	    {AGENT_MSG_WINCH, 4},
	    {AGENT_MSG_SIGNAL, 4},
	    {AGENT_MSG_HELLO, 8},
	};
	struct proto_dec *d = malloc(sizeof(*d));
	struct proto_msg m;
	uint8_t h[8];
	size_t used;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		host_ready(d);
		put32(h, bad[i][0]);
		put32(h + 4, bad[i][1]);
		assert_int_equal(proto_dec_feed(d, h, 8, &used, &m), -EPROTO);
		assert_true(d->why[0]);
		/* Sticky: nothing more is taken. */
		assert_int_equal(proto_dec_feed(d, h, 8, &used, &m), -EPROTO);
		assert_int_equal(used, 0);
	}
	free(d);
}

/* What the agent must refuse: host-bound types, wrong lengths, order. */
static void test_agent_side_refuses(void **state)
{
	static const uint32_t bad[][2] = {
	    {AGENT_MSG_STDOUT, 1},
	    {AGENT_MSG_STDERR, 1},
	    {AGENT_MSG_EXIT, 8},
	    {AGENT_MSG_HELLO, 8},
	    {AGENT_MSG_ERROR, 3},
	    {AGENT_MSG_WINCH, 5},
	    {AGENT_MSG_SIGNAL, 8},
	    {AGENT_MSG_STDIN_EOF, 1},
	    {AGENT_MSG_START, 20},
	    {AGENT_MSG_START, 26},
	    {AGENT_MSG_STDIN, AGENT_PAYLOAD_MAX + 1},
	};
	uint8_t *buf = malloc(AGENT_FRAME_MAX);
	struct proto_dec *d = malloc(sizeof(*d));
	struct proto_msg m;
	size_t used;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		agent_started(d, buf);
		put32(buf, bad[i][0]);
		put32(buf + 4, bad[i][1]);
		assert_int_equal(proto_dec_feed(d, buf, 8, &used, &m), -EPROTO);
	}
	/* Anything but START first. */
	proto_dec_init(d, PROTO_AGENT);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_eof(buf), &m), -EPROTO);
	proto_dec_init(d, PROTO_AGENT);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_credit(buf, 1, 5), &m), -EPROTO);
	/* A second START. */
	agent_started(d, buf);
	assert_int_equal(feed_one(d, buf, (size_t)enc_job(buf, ""), &m), -EPROTO);
	/* STDIN after EOF, EOF twice. */
	agent_started(d, buf);
	assert_int_equal(proto_dec_granted(d, AGENT_STREAM_STDIN, 10), 0);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_eof(buf), &m), 1);
	assert_int_equal(feed_one(d, buf, frame(buf, AGENT_MSG_STDIN, "x", 1), &m), -EPROTO);
	agent_started(d, buf);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_eof(buf), &m), 1);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_eof(buf), &m), -EPROTO);
	free(buf);
	free(d);
}

/* The host side: HELLO first and once, its version and flags; nothing after EXIT. */
static void test_host_order(void **state)
{
	struct proto_dec *d = malloc(sizeof(*d));
	uint8_t buf[AGENT_HDR_SIZE + AGENT_ERROR_MAX];
	struct proto_msg m;

	proto_dec_init(d, PROTO_HOST);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_exit(buf, 0, 0), &m), -EPROTO);
	proto_dec_init(d, PROTO_HOST);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_error(buf, "early\tfailure"), &m), 1);
	assert_int_equal(m.type, AGENT_MSG_ERROR);
	assert_memory_equal(m.data, "early\tfailure", 13);
	host_ready(d);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_hello(buf), &m), -EPROTO);
	proto_dec_init(d, PROTO_HOST);
	proto_enc_hello(buf);
	put32(buf + 8, 2);
	assert_int_equal(feed_one(d, buf, 16, &m), -EPROTO);
	proto_dec_init(d, PROTO_HOST);
	proto_enc_hello(buf);
	put32(buf + 12, 3);
	assert_int_equal(feed_one(d, buf, 16, &m), -EPROTO);
	host_ready(d);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_exit(buf, 1, 9), &m), 1);
	assert_int_equal(proto_exit_status(m.u.exit.kind, m.u.exit.value), 137);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_error(buf, "late"), &m), -EPROTO);
	free(d);
}

static void test_exit_values(void **state)
{
	static const struct {
		uint32_t kind, value;
		int status; /* -1: refused */
	} t[] = {
	    {AGENT_EXIT_EXITED, 0, 0},
	    {AGENT_EXIT_EXITED, 255, 255},
	    {AGENT_EXIT_EXITED, 256, -1},
	    {AGENT_EXIT_SIGNALED, 15, 143},
	    {AGENT_EXIT_SIGNALED, 0, -1},
	    {AGENT_EXIT_SIGNALED, 65, -1},
	    {AGENT_EXIT_EXEC_FAILED, ENOENT, 127},
	    {AGENT_EXIT_EXEC_FAILED, ENOTDIR, 127},
	    {AGENT_EXIT_EXEC_FAILED, EACCES, 126},
	    {AGENT_EXIT_EXEC_FAILED, ENOEXEC, 126},
	    {AGENT_EXIT_EXEC_FAILED, 0, -1},
	    {AGENT_EXIT_EXEC_FAILED, 4096, -1},
	    {AGENT_EXIT_SETUP_FAILED, ENOENT, 125},
	    {4, 0, -1},
	    {0xffffffff, 1, -1},
	};
	struct proto_dec *d = malloc(sizeof(*d));
	uint8_t buf[16];
	struct proto_msg m;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		host_ready(d);
		proto_enc_hdr(buf, AGENT_MSG_EXIT, 8);
		put32(buf + 8, t[i].kind);
		put32(buf + 12, t[i].value);
		if (t[i].status < 0) {
			assert_int_equal(feed_one(d, buf, 16, &m), -EPROTO);
			continue;
		}
		assert_int_equal(feed_one(d, buf, 16, &m), 1);
		assert_int_equal(proto_exit_status(m.u.exit.kind, m.u.exit.value), t[i].status);
	}
	free(d);
}

/* Data within the window only; credit only for the peer's stream and within the bound. */
static void test_windows(void **state)
{
	struct proto_dec *d = malloc(sizeof(*d));
	uint8_t *buf = malloc(AGENT_FRAME_MAX);
	struct proto_msg m;

	host_ready(d);
	assert_int_equal(feed_one(d, buf, frame(buf, AGENT_MSG_STDOUT, "a", 1), &m), -EPROTO);
	host_ready(d);
	assert_int_equal(proto_dec_granted(d, AGENT_STREAM_STDERR, 10), 0);
	assert_int_equal(feed_one(d, buf, frame(buf, AGENT_MSG_STDOUT, "a", 1), &m), -EPROTO);
	host_ready(d);
	assert_int_equal(proto_dec_granted(d, AGENT_STREAM_STDERR, 10), 0);
	memset(buf + 8, 0, 10);
	assert_int_equal(feed_one(d, buf, frame(buf, AGENT_MSG_STDERR, buf + 8, 10), &m), 1);
	assert_memory_equal(m.data, "\0\0\0\0\0\0\0\0\0\0", 10);
	assert_int_equal(feed_one(d, buf, frame(buf, AGENT_MSG_STDERR, "b", 1), &m), -EPROTO);

	/* Granting past the bound is refused locally. */
	host_ready(d);
	assert_int_equal(proto_dec_granted(d, AGENT_STREAM_STDOUT, AGENT_WINDOW_MAX), 0);
	assert_int_equal(proto_dec_granted(d, AGENT_STREAM_STDOUT, 1), -EINVAL);
	assert_int_equal(proto_dec_granted(d, 3, 1), -EINVAL);

	/* Credit from the peer: its direction, not zero, the sum bounded. */
	host_ready(d);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_credit(buf, 1, 5), &m), -EPROTO);
	host_ready(d);
	assert_int_equal(feed_one(d, buf, (size_t)enc_two_raw(buf, 0, 0), &m), -EPROTO);
	host_ready(d);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_credit(buf, 0, AGENT_WINDOW_MAX), &m),
			 1);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_credit(buf, 0, 1), &m), -EPROTO);
	host_ready(d);
	assert_int_equal(feed_one(d, buf, (size_t)enc_two_raw(buf, 7, 1), &m), -EPROTO);

	/* The agent: stdin within its window, credit for stdout and stderr only. */
	agent_started(d, buf);
	assert_int_equal(proto_dec_granted(d, AGENT_STREAM_STDIN, AGENT_PAYLOAD_MAX), 0);
	memset(buf + 8, 'x', AGENT_PAYLOAD_MAX);
	proto_enc_hdr(buf, AGENT_MSG_STDIN, AGENT_PAYLOAD_MAX);
	assert_int_equal(feed_one(d, buf, AGENT_FRAME_MAX, &m), 1);
	assert_int_equal(m.len, AGENT_PAYLOAD_MAX);
	assert_int_equal(feed_one(d, buf, frame(buf, AGENT_MSG_STDIN, "y", 1), &m), -EPROTO);
	agent_started(d, buf);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_credit(buf, 0, 5), &m), -EPROTO);
	agent_started(d, buf);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_credit(buf, 2, 5), &m), 1);
	assert_int_equal(proto_dec_send_window(d, 2), 5);
	proto_dec_sent(d, 2, 3);
	assert_int_equal(proto_dec_send_window(d, 2), 2);
	proto_dec_sent(d, 2, 30);
	assert_int_equal(proto_dec_send_window(d, 2), 0);
	free(buf);
	free(d);
}

/* Builds START payloads by hand: each breaks one rule. */
static size_t raw_start(uint8_t *buf, uint32_t flags, uint32_t argc, uint32_t envc,
			const void *strings, size_t slen)
{
	uint8_t *p = buf + AGENT_HDR_SIZE;

	memset(p, 0, AGENT_START_FIXED);
	put32(p + 8, flags);
	put32(p + 16, argc);
	put32(p + 20, envc);
	memcpy(p + AGENT_START_FIXED, strings, slen);
	proto_enc_hdr(buf, AGENT_MSG_START, (uint32_t)(AGENT_START_FIXED + slen));
	return AGENT_HDR_SIZE + AGENT_START_FIXED + slen;
}

static void test_bad_start(void **state)
{
	static const struct {
		uint32_t flags, argc, envc;
		const char *s;
		size_t len;
	} t[] = {
	    {0, 1, 0, "ls\0/", 4},  /* workdir not terminated */
	    {0, 1, 0, "ls\0", 3},   /* workdir missing */
	    {0, 0, 0, "ls\0\0", 4}, /* argc 0 */
	    {0, AGENT_ARGC_MAX + 1, 0, "ls\0\0", 4},
	    {0, 1, AGENT_ENVC_MAX + 1, "ls\0\0", 4},
	    {0, 2, 0, "ls\0\0", 4}, /* argv runs into nothing */
	    {0, 3, 0, "ls\0\0\0", 5},
	    {0, 1, 0, "\0x\0\0", 4},	/* empty argv[0] */
	    {0, 1, 1, "ls\0A\0\0", 6},	/* env without = */
	    {0, 1, 1, "ls\0=1\0\0", 7}, /* env with an empty name */
	    {0, 1, 1, "ls\0A=1", 6},	/* env not terminated */
	    {0, 1, 0, "ls\0tmp\0", 7},	/* relative workdir */
	    {0, 1, 0, "ls\0/\0x", 6},	/* bytes after the workdir */
	    {0, 1, 0, "ls\0/\0\0", 6},
	    {2, 1, 0, "ls\0/\0", 5}, /* unknown flag */
	    {0x80000000, 1, 0, "ls\0/\0", 5},
	};
	uint8_t *buf = malloc(AGENT_FRAME_MAX);
	struct proto_dec *d = malloc(sizeof(*d));
	struct proto_msg m;
	size_t n;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		proto_dec_init(d, PROTO_AGENT);
		n = raw_start(buf, t[i].flags, t[i].argc, t[i].envc, t[i].s, t[i].len);
		if (feed_one(d, buf, n, &m) != -EPROTO)
			fail_msg("START case %zu was taken", i);
	}
	/* A workdir of AGENT_WORKDIR_MAX - 1 bytes is fine, one more is not. */
	for (size_t wl = AGENT_WORKDIR_MAX - 1; wl <= AGENT_WORKDIR_MAX; wl++) {
		char *s = calloc(1, wl + 8);

		memcpy(s, "ls", 3);
		memset(s + 3, 'w', wl);
		s[3] = '/';
		proto_dec_init(d, PROTO_AGENT);
		n = raw_start(buf, 0, 1, 0, s, 3 + wl + 1);
		assert_int_equal(feed_one(d, buf, n, &m), wl < AGENT_WORKDIR_MAX ? 1 : -EPROTO);
		free(s);
	}
	/* Shorter than the smallest START: refused on its header. */
	proto_dec_init(d, PROTO_AGENT);
	proto_enc_hdr(buf, AGENT_MSG_START, AGENT_START_FIXED + 2);
	assert_int_equal(proto_dec_feed(d, buf, 8, &n, &m), -EPROTO);
	/* The good minimal one. */
	proto_dec_init(d, PROTO_AGENT);
	assert_int_equal(feed_one(d, buf, raw_start(buf, 0, 1, 0, "x\0\0", 3), &m), 1);
	assert_string_equal(m.u.start.workdir, "");
	free(buf);
	free(d);
}

/* ERROR text: control bytes refused; the encoder cleans and bounds what it is given. */
static void test_error_text(void **state)
{
	struct proto_dec *d = malloc(sizeof(*d));
	uint8_t *buf = malloc(4096);
	char *big = malloc(3000);
	struct proto_msg m;

	host_ready(d);
	assert_int_equal(feed_one(d, buf, frame(buf, AGENT_MSG_ERROR, "a\nb", 3), &m), -EPROTO);
	host_ready(d);
	assert_int_equal(feed_one(d, buf, frame(buf, AGENT_MSG_ERROR, "a\0b", 3), &m), -EPROTO);
	host_ready(d);
	assert_int_equal(feed_one(d, buf, frame(buf, AGENT_MSG_ERROR, "a\x7f", 2), &m), -EPROTO);
	host_ready(d);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_error(buf, "x\ny\x1b"), &m), 1);
	assert_memory_equal(m.data, "x?y?", 4);
	memset(big, 'e', 2999);
	big[2999] = 0;
	host_ready(d);
	assert_int_equal(proto_enc_error(buf, big), AGENT_HDR_SIZE + AGENT_ERROR_MAX);
	assert_int_equal(feed_one(d, buf, AGENT_HDR_SIZE + AGENT_ERROR_MAX, &m), 1);
	free(big);
	free(buf);
	free(d);
}

static void test_signal_winch(void **state)
{
	uint8_t *buf = malloc(AGENT_FRAME_MAX);
	struct proto_dec *d = malloc(sizeof(*d));
	struct proto_msg m;

	agent_started(d, buf);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_signal(buf, 2), &m), 1);
	assert_int_equal(m.u.signo, 2);
	assert_int_equal(feed_one(d, buf, (size_t)proto_enc_winch(buf, 50, 132), &m), 1);
	assert_int_equal(m.u.winch.rows, 50);
	assert_int_equal(m.u.winch.cols, 132);
	for (uint32_t bad = 0; bad < 2; bad++) {
		agent_started(d, buf);
		proto_enc_hdr(buf, AGENT_MSG_SIGNAL, 4);
		put32(buf + 8, bad ? 65 : 0);
		assert_int_equal(feed_one(d, buf, 12, &m), -EPROTO);
	}
	assert_int_equal(proto_enc_signal(buf, 0), -EINVAL);
	assert_int_equal(proto_enc_signal(buf, 65), -EINVAL);
	free(buf);
	free(d);
}

static void test_encoder_bounds(void **state)
{
	uint8_t *buf = malloc(AGENT_FRAME_MAX);
	const char **many = calloc(AGENT_ARGC_MAX + 2, sizeof(*many));
	char *big = malloc(AGENT_PAYLOAD_MAX + 1);
	const char *one[] = {"x", NULL}, *empty[] = {"", NULL}, *none[] = {NULL};
	const char *badenv[] = {"NOEQUALS", NULL}, *bigarg[] = {big, NULL};
	struct proto_job job = {.argv = one};

	assert_true(proto_enc_start(buf, AGENT_FRAME_MAX, &job) > 0);
	job.workdir = "relative";
	assert_int_equal(proto_enc_start(buf, AGENT_FRAME_MAX, &job), -EINVAL);
	job.workdir = NULL;
	job.envp = badenv;
	assert_int_equal(proto_enc_start(buf, AGENT_FRAME_MAX, &job), -EINVAL);
	job.envp = NULL;
	job.argv = empty;
	assert_int_equal(proto_enc_start(buf, AGENT_FRAME_MAX, &job), -EINVAL);
	job.argv = none;
	assert_int_equal(proto_enc_start(buf, AGENT_FRAME_MAX, &job), -EINVAL);
	for (int i = 0; i <= AGENT_ARGC_MAX; i++)
		many[i] = "a";
	job.argv = many;
	assert_int_equal(proto_enc_start(buf, AGENT_FRAME_MAX, &job), -E2BIG);
	memset(big, 'b', AGENT_PAYLOAD_MAX);
	big[AGENT_PAYLOAD_MAX] = 0;
	job.argv = bigarg;
	assert_int_equal(proto_enc_start(buf, AGENT_FRAME_MAX, &job), -E2BIG);
	job.argv = one;
	assert_int_equal(proto_enc_start(buf, 20, &job), -E2BIG);
	assert_int_equal(proto_enc_credit(buf, 3, 1), -EINVAL);
	assert_int_equal(proto_enc_credit(buf, 0, 0), -EINVAL);
	assert_int_equal(proto_enc_exit(buf, 4, 0), -EINVAL);
	free(big);
	free(many);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_roundtrip),    cmocka_unit_test(test_frames_in_one_chunk),
	    cmocka_unit_test(test_truncated_waits),    cmocka_unit_test(test_bad_headers),
	    cmocka_unit_test(test_agent_side_refuses), cmocka_unit_test(test_host_order),
	    cmocka_unit_test(test_exit_values),	       cmocka_unit_test(test_windows),
	    cmocka_unit_test(test_bad_start),	       cmocka_unit_test(test_error_text),
	    cmocka_unit_test(test_signal_winch),       cmocka_unit_test(test_encoder_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
