// SPDX-License-Identifier: Apache-2.0
/*
 * The exec agent (firmware/agent), run on the host as an ordinary process on
 * a socketpair, with the protocol's decoder and encoders (src/exec/proto.c)
 * playing kvmrun: exit statuses, byte-exact stdio both ways, stdin's EOF,
 * flow control that stops PROGRAM while kvmrun grants no credit, environment,
 * working directory, user, signals, a pty, and hostile frames. Every wait has a
 * deadline. The agent's path is the first argument; without one (no
 * musl-gcc) the test is skipped (77).
 *
 * The test binary is its own helper program: `test_agent emit FD` writes the
 * 256 byte values to FD; `test_agent flood N FILE` writes N bytes to stdout in
 * 4 KiB steps, keeping the count written so far in FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "exec/proto.h"

#define DEADLINE_MS 30000
#define GRANT_STEP (1024 * 1024)

struct test_paths {
	char agent[PATH_MAX];
	char self[PATH_MAX];
};

/* kvmrun's side of one session. */
struct host {
	pid_t agent;
	int fd;
	struct proto_dec dec;
	bool auto_grant; /* grants output credit back as it arrives */
	uint8_t *out[AGENT_STREAMS];
	size_t out_len[AGENT_STREAMS];
	uint8_t *tx;
	size_t tx_len;
	const uint8_t *in; /* stdin to send */
	size_t in_len, in_sent;
	bool send_eof, eof_sent;
	bool got_exit, got_error, closed;
	uint32_t exit_kind, exit_value;
	char error[AGENT_ERROR_MAX + 1];
	int64_t deadline;
	const struct test_paths *paths;
	uint8_t rx[AGENT_PAYLOAD_MAX];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void host_queue(struct host *h, const void *buf, size_t len)
{
	h->tx = realloc(h->tx, h->tx_len + len);
	assert_non_null(h->tx);
	memcpy(h->tx + h->tx_len, buf, len);
	h->tx_len += len;
}

static void host_grant(struct host *h, unsigned int stream, uint32_t n)
{
	uint8_t f[PROTO_CTRL_MAX];

	assert_int_equal(proto_dec_granted(&h->dec, stream, n), 0);
	host_queue(h, f, (size_t)proto_enc_credit(f, stream, n));
}

static struct host *host_start(const struct test_paths *paths)
{
	struct host *h = calloc(1, sizeof(*h));
	int sv[2];

	assert_non_null(h);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	h->agent = fork();
	assert_true(h->agent >= 0);
	if (h->agent == 0) {
		close(sv[0]);
		if (sv[1] != 3) {
			dup2(sv[1], 3);
			close(sv[1]);
		}
		execl(paths->agent, "kvmrun-agent", "--channel", "3", (char *)NULL);
		_exit(99);
	}
	close(sv[1]);
	h->fd = sv[0];
	fcntl(h->fd, F_SETFL, O_NONBLOCK);
	fcntl(h->fd, F_SETFD, FD_CLOEXEC);
	proto_dec_init(&h->dec, PROTO_HOST);
	h->auto_grant = true;
	h->deadline = now_ms() + DEADLINE_MS;
	h->paths = paths;
	return h;
}

static void host_on_msg(struct host *h, const struct proto_msg *m)
{
	unsigned int s;

	switch (m->type) {
	case AGENT_MSG_STDOUT:
	case AGENT_MSG_STDERR:
		s = m->type == AGENT_MSG_STDOUT ? AGENT_STREAM_STDOUT : AGENT_STREAM_STDERR;
		h->out[s] = realloc(h->out[s], h->out_len[s] + m->len);
		assert_non_null(h->out[s]);
		memcpy(h->out[s] + h->out_len[s], m->data, m->len);
		h->out_len[s] += m->len;
		if (h->auto_grant)
			host_grant(h, s, m->len);
		break;
	case AGENT_MSG_EXIT:
		h->got_exit = true;
		h->exit_kind = m->u.exit.kind;
		h->exit_value = m->u.exit.value;
		break;
	case AGENT_MSG_ERROR:
		h->got_error = true;
		memcpy(h->error, m->data, m->len);
		h->error[m->len] = 0;
		break;
	}
}

static void host_read(struct host *h)
{
	uint8_t *buf = h->rx;
	ssize_t n = read(h->fd, buf, sizeof(h->rx));
	size_t off = 0;

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		h->closed = true;
		return;
	}
	while (off < (size_t)n) {
		struct proto_msg m;
		size_t used;
		int r = proto_dec_feed(&h->dec, buf + off, (size_t)n - off, &used, &m);

		if (r < 0)
			fail_msg("the agent broke the protocol: %s", h->dec.why);
		off += used;
		if (r == 1)
			host_on_msg(h, &m);
	}
}

/* Queues stdin within the window the agent granted, then its EOF. */
static void host_feed_stdin(struct host *h)
{
	uint32_t win = proto_dec_send_window(&h->dec, AGENT_STREAM_STDIN);
	uint8_t hdr[PROTO_CTRL_MAX];
	size_t n;

	if (h->tx_len > AGENT_FRAME_MAX || h->closed)
		return;
	n = h->in_len - h->in_sent;
	if (n > win)
		n = win;
	if (n > AGENT_PAYLOAD_MAX)
		n = AGENT_PAYLOAD_MAX;
	if (n) {
		proto_enc_hdr(hdr, AGENT_MSG_STDIN, (uint32_t)n);
		host_queue(h, hdr, AGENT_HDR_SIZE);
		host_queue(h, h->in + h->in_sent, n);
		proto_dec_sent(&h->dec, AGENT_STREAM_STDIN, (uint32_t)n);
		h->in_sent += n;
	} else if (h->send_eof && !h->eof_sent && h->in_sent == h->in_len) {
		h->eof_sent = true;
		host_queue(h, hdr, (size_t)proto_enc_eof(hdr));
	}
}

/* Runs the session until @done (or, with NULL, for @ms). Returns whether @done came. */
static bool host_pump(struct host *h, bool (*done)(const struct host *), int64_t ms)
{
	int64_t end = ms ? now_ms() + ms : h->deadline;

	for (;;) {
		struct pollfd p = {.fd = h->fd, .events = POLLIN};
		int64_t left = end - now_ms();
		ssize_t n;

		if (done && done(h))
			return true;
		if (left <= 0 || (h->closed && !done))
			return false;
		if (h->closed)
			return done(h);
		host_feed_stdin(h);
		if (h->tx_len)
			p.events |= POLLOUT;
		if (poll(&p, 1, (int)(left < 50 ? left : 50)) < 0)
			fail_msg("poll: %s", strerror(errno));
		if (p.revents & POLLOUT) {
			n = write(h->fd, h->tx, h->tx_len);
			if (n > 0) {
				memmove(h->tx, h->tx + n, h->tx_len - (size_t)n);
				h->tx_len -= (size_t)n;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			host_read(h);
	}
}

static bool got_hello(const struct host *h)
{
	return h->dec.first_seen;
}

static bool got_exit(const struct host *h)
{
	return h->got_exit;
}

static bool got_end(const struct host *h)
{
	return h->closed;
}

/* The agent's exit status, within the deadline. */
static int host_wait_agent(struct host *h)
{
	int status;

	while (h->deadline > now_ms()) {
		pid_t r = waitpid(h->agent, &status, WNOHANG);

		if (r == h->agent) {
			h->agent = 0;
			if (WIFSIGNALED(status))
				fail_msg("the agent died of signal %d", WTERMSIG(status));
			return WEXITSTATUS(status);
		}
		usleep(10000);
	}
	kill(h->agent, SIGKILL);
	waitpid(h->agent, NULL, 0);
	h->agent = 0;
	fail_msg("the agent did not end within %d ms", DEADLINE_MS);
	return -1;
}

static void host_free(struct host *h)
{
	if (h->agent > 0) {
		kill(h->agent, SIGKILL);
		waitpid(h->agent, NULL, 0);
	}
	close(h->fd);
	for (int i = 0; i < AGENT_STREAMS; i++)
		free(h->out[i]);
	free(h->tx);
	free(h);
}

static const char *const test_env[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};

/* Starts the agent and sends START for @argv with the usual environment. */
static struct host *host_run(void **state, const char *const *argv, bool grant)
{
	struct proto_job job = {.uid = getuid(), .gid = getgid(), .argv = argv, .envp = test_env};
	struct host *h = host_start(*state);
	uint8_t *f = malloc(AGENT_FRAME_MAX);
	int n;

	assert_true(host_pump(h, got_hello, 0));
	n = proto_enc_start(f, AGENT_FRAME_MAX, &job);
	assert_true(n > 0);
	host_queue(h, f, (size_t)n);
	free(f);
	h->auto_grant = grant;
	if (grant) {
		host_grant(h, AGENT_STREAM_STDOUT, GRANT_STEP);
		host_grant(h, AGENT_STREAM_STDERR, GRANT_STEP);
	}
	h->send_eof = true;
	return h;
}

/* Runs the session to its end: the status a shell would report. */
static int host_finish(struct host *h)
{
	if (!host_pump(h, got_exit, 0))
		fail_msg("no EXIT within the deadline%s%s", h->got_error ? ": " : "", h->error);
	assert_true(host_pump(h, got_end, 0));
	assert_int_equal(host_wait_agent(h), 0);
	return proto_exit_status(h->exit_kind, h->exit_value);
}

static int run_status(void **state, const char *const *argv)
{
	struct host *h = host_run(state, argv, true);
	int status = host_finish(h);

	host_free(h);
	return status;
}

static void test_exit_statuses(void **state)
{
	const char *t[] = {"true", NULL}, *f[] = {"false", NULL};
	const char *seven[] = {"sh", "-c", "exit 7", NULL};
	const char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
	const char *missing[] = {"/nonexistent/program", NULL};
	const char *unlisted[] = {"no-such-program-in-path", NULL};

	assert_int_equal(run_status(state, t), 0);
	assert_int_equal(run_status(state, f), 1);
	assert_int_equal(run_status(state, seven), 7);
	assert_int_equal(run_status(state, killed), 137);
	assert_int_equal(run_status(state, missing), 127);
	assert_int_equal(run_status(state, unlisted), 127);
}

static void test_not_executable(void **state)
{
	char path[] = "/tmp/kvmrun-test-agent-XXXXXX";
	int fd = mkstemp(path);
	const char *argv[] = {path, NULL};
	struct host *h;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
	close(fd);
	chmod(path, 0644);
	h = host_run(state, argv, true);
	assert_int_equal(host_finish(h), 126);
	assert_int_equal(h->exit_kind, AGENT_EXIT_EXEC_FAILED);
	assert_int_equal(h->exit_value, EACCES);
	host_free(h);
	unlink(path);
}

/* Found through PATH but not executable: 126, though a later PATH entry lacks it (ENOENT). */
static void test_not_executable_in_path(void **state)
{
	char dir[] = "/tmp/kvmrun-test-agent-dir-XXXXXX", file[64], env_path[80];
	const char *argv[] = {"not-runnable", NULL}, *envp[] = {env_path, NULL};
	struct proto_job job = {.uid = getuid(), .gid = getgid(), .argv = argv, .envp = envp};
	uint8_t *f = malloc(AGENT_FRAME_MAX);
	struct host *h;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/not-runnable", dir);
	snprintf(env_path, sizeof(env_path), "PATH=%s:/usr/bin:/bin", dir);
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	h = host_start(*state);
	assert_true(host_pump(h, got_hello, 0));
	host_queue(h, f, (size_t)proto_enc_start(f, AGENT_FRAME_MAX, &job));
	assert_int_equal(host_finish(h), 126);
	assert_int_equal(h->exit_value, EACCES);
	host_free(h);
	unlink(file);
	rmdir(dir);
	free(f);
}

static void check_bytes(void **state, int fd_arg)
{
	const struct test_paths *paths = *state;
	const char *argv[] = {paths->self, "emit", fd_arg == 1 ? "1" : "2", NULL};
	unsigned int s = fd_arg == 1 ? AGENT_STREAM_STDOUT : AGENT_STREAM_STDERR;
	struct host *h = host_run(state, argv, true);
	uint8_t all[256];

	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	assert_int_equal(host_finish(h), 0);
	assert_int_equal(h->out_len[s], 256);
	assert_memory_equal(h->out[s], all, 256);
	assert_int_equal(h->out_len[3 - s], 0);
	host_free(h);
}

static void test_all_bytes(void **state)
{
	check_bytes(state, 1);
	check_bytes(state, 2);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t x = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		x = (x ^ p[i]) * 0x100000001b3ull;
	return x;
}

/* 8 MiB through cat and back: equal checksums, equal bytes. */
static void test_stdin_roundtrip(void **state)
{
	const size_t len = 8 * 1024 * 1024;
	const char *argv[] = {"cat", NULL};
	uint8_t *data = malloc(len);
	uint32_t x = 12345;
	struct host *h;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		data[i] = (uint8_t)(x >> 16);
	}
	h = host_run(state, argv, true);
	h->in = data;
	h->in_len = len;
	assert_int_equal(host_finish(h), 0);
	assert_int_equal(h->out_len[AGENT_STREAM_STDOUT], len);
	assert_true(fnv1a(h->out[AGENT_STREAM_STDOUT], len) == fnv1a(data, len));
	assert_memory_equal(h->out[AGENT_STREAM_STDOUT], data, len);
	host_free(h);
	free(data);
}

/* EOF on stdin reaches PROGRAM: wc counts and ends; cat with no input ends at once. */
static void test_stdin_eof(void **state)
{
	const char *wc[] = {"wc", "-c", NULL}, *cat[] = {"cat", NULL};
	struct host *h = host_run(state, wc, true);

	h->in = (const uint8_t *)"twelve bytes";
	h->in_len = 12;
	assert_int_equal(host_finish(h), 0);
	assert_int_equal(h->out_len[AGENT_STREAM_STDOUT], 3);
	assert_memory_equal(h->out[AGENT_STREAM_STDOUT], "12\n", 3);
	host_free(h);

	h = host_run(state, cat, true);
	assert_int_equal(host_finish(h), 0);
	assert_int_equal(h->out_len[AGENT_STREAM_STDOUT], 0);
	host_free(h);

	/* Without EOF, cat keeps waiting. */
	h = host_run(state, cat, true);
	h->send_eof = false;
	assert_false(host_pump(h, got_exit, 500));
	h->send_eof = true;
	assert_int_equal(host_finish(h), 0);
	host_free(h);
}

static long read_count(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : 0;
}

/*
 * No stdout credit: the agent reads nothing, PROGRAM fills its pipe and stops.
 * With credit granted, everything arrives and PROGRAM ends.
 */
static void test_credit_stops_program(void **state)
{
	const long total = 1024 * 1024;
	char file[] = "/tmp/kvmrun-test-agent-count-XXXXXX";
	int fd = mkstemp(file);
	const struct test_paths *paths = *state;
	const char *argv[] = {paths->self, "flood", "1048576", file, NULL};
	struct host *h;
	long c1, c2;

	assert_true(fd >= 0);
	close(fd);
	h = host_run(state, argv, false);
	host_grant(h, AGENT_STREAM_STDERR, GRANT_STEP);
	assert_false(host_pump(h, got_exit, 1500));
	c1 = read_count(file);
	assert_false(host_pump(h, got_exit, 500));
	c2 = read_count(file);
	/* Blocked on a full pipe (64 KiB here), nowhere near the end. */
	assert_int_equal(h->out_len[AGENT_STREAM_STDOUT], 0);
	assert_true(c1 > 0);
	assert_true(c1 <= 1024 * 1024 / 4);
	assert_int_equal(c1, c2);

	/* A small grant: exactly that much arrives, then it stops again. */
	host_grant(h, AGENT_STREAM_STDOUT, 10000);
	assert_false(host_pump(h, got_exit, 800));
	assert_int_equal(h->out_len[AGENT_STREAM_STDOUT], 10000);

	h->auto_grant = true;
	host_grant(h, AGENT_STREAM_STDOUT, GRANT_STEP);
	assert_int_equal(host_finish(h), 0);
	assert_int_equal(h->out_len[AGENT_STREAM_STDOUT], total);
	for (long i = 0; i < total; i++) {
		if (h->out[AGENT_STREAM_STDOUT][i] != (uint8_t)(i * 7))
			fail_msg("stdout byte %ld differs", i);
	}
	assert_int_equal(read_count(file), total);
	host_free(h);
	unlink(file);
}

/* The environment is exactly the one given; the working directory and user as given. */
static void test_env_workdir_user(void **state)
{
	const char *env_argv[] = {"env", NULL};
	const char *envp[] = {"PATH=/usr/bin:/bin", "FOO=bar baz", "EMPTY=", NULL};
	const char *pwd_argv[] = {"sh", "-c", "pwd; id -u; id -g", NULL};
	struct proto_job job = {.uid = getuid(), .gid = getgid(), .argv = env_argv, .envp = envp};
	const char *want = "PATH=/usr/bin:/bin\nFOO=bar baz\nEMPTY=\n";
	char expect[128];
	uint8_t *f = malloc(AGENT_FRAME_MAX);
	struct host *h = host_start(*state);

	assert_true(host_pump(h, got_hello, 0));
	host_queue(h, f, (size_t)proto_enc_start(f, AGENT_FRAME_MAX, &job));
	host_grant(h, AGENT_STREAM_STDOUT, GRANT_STEP);
	h->send_eof = true;
	assert_int_equal(host_finish(h), 0);
	assert_int_equal(h->out_len[AGENT_STREAM_STDOUT], strlen(want));
	assert_memory_equal(h->out[AGENT_STREAM_STDOUT], want, strlen(want));
	host_free(h);

	job.argv = pwd_argv;
	job.workdir = "/usr/share";
	if (getuid() == 0)
		job.uid = job.gid = 65534;
	snprintf(expect, sizeof(expect), "/usr/share\n%u\n%u\n", job.uid, job.gid);
	h = host_start(*state);
	assert_true(host_pump(h, got_hello, 0));
	host_queue(h, f, (size_t)proto_enc_start(f, AGENT_FRAME_MAX, &job));
	host_grant(h, AGENT_STREAM_STDOUT, GRANT_STEP);
	h->send_eof = true;
	assert_int_equal(host_finish(h), 0);
	assert_int_equal(h->out_len[AGENT_STREAM_STDOUT], strlen(expect));
	assert_memory_equal(h->out[AGENT_STREAM_STDOUT], expect, strlen(expect));
	host_free(h);

	/* A workdir that is not there: the setup fails, 125. */
	job.workdir = "/nonexistent/dir";
	h = host_start(*state);
	assert_true(host_pump(h, got_hello, 0));
	host_queue(h, f, (size_t)proto_enc_start(f, AGENT_FRAME_MAX, &job));
	assert_int_equal(host_finish(h), 125);
	assert_int_equal(h->exit_kind, AGENT_EXIT_SETUP_FAILED);
	assert_int_equal(h->exit_value, ENOENT);
	host_free(h);
	free(f);
}

/* SIGNAL reaches PROGRAM; Ctrl-C as SIGINT to a shell's child. */
static void test_signal(void **state)
{
	const char *argv[] = {"sleep", "100", NULL};
	struct host *h = host_run(state, argv, true);
	uint8_t f[PROTO_CTRL_MAX];

	h->send_eof = false;
	assert_false(host_pump(h, got_exit, 300));
	host_queue(h, f, (size_t)proto_enc_signal(f, SIGTERM));
	assert_int_equal(host_finish(h), 128 + SIGTERM);
	host_free(h);
}

/* A pty: PROGRAM sees terminals of the given size, and WINCH changes it. */
static void test_tty(void **state)
{
	const char *argv[] = {"sh", "-c",
			      "test -t 0 && test -t 1 && test -t 2 && stty size && "
			      "read x && stty size",
			      NULL};
	struct proto_job job = {.uid = getuid(),
				.gid = getgid(),
				.tty = true,
				.rows = 33,
				.cols = 77,
				.argv = argv,
				.envp = test_env};
	uint8_t *f = malloc(AGENT_FRAME_MAX);
	struct host *h = host_start(*state);
	char *out;

	assert_true(host_pump(h, got_hello, 0));
	host_queue(h, f, (size_t)proto_enc_start(f, AGENT_FRAME_MAX, &job));
	host_grant(h, AGENT_STREAM_STDOUT, GRANT_STEP);
	h->auto_grant = true;
	assert_false(host_pump(h, got_exit, 500));
	host_queue(h, f, (size_t)proto_enc_winch(f, 44, 99));
	h->in = (const uint8_t *)"go\n";
	h->in_len = 3;
	assert_int_equal(host_finish(h), 0);
	out = strndup((const char *)h->out[AGENT_STREAM_STDOUT], h->out_len[AGENT_STREAM_STDOUT]);
	if (!strstr(out, "33 77\r\n") || !strstr(out, "44 99\r\n"))
		fail_msg("pty output: %s", out);
	assert_int_equal(h->out_len[AGENT_STREAM_STDERR], 0);
	free(out);
	host_free(h);
	free(f);
}

/* A background child that keeps stdout open does not hold up EXIT for long. */
static void test_orphan_holds_stdout(void **state)
{
	const char *argv[] = {"sh", "-c", "sleep 20 & echo started; exit 3", NULL};
	struct host *h = host_run(state, argv, true);
	int64_t t0 = now_ms();

	assert_int_equal(host_finish(h), 3);
	assert_true(now_ms() - t0 < 10000);
	assert_memory_equal(h->out[AGENT_STREAM_STDOUT], "started\n", 8);
	host_free(h);
}

/* Hostile bytes from kvmrun: an ERROR frame and the agent's end, never a crash. */
static void check_hostile(void **state, const void *bytes, size_t len, bool after_start)
{
	const char *argv[] = {"sleep", "100", NULL};
	struct host *h;

	if (after_start) {
		h = host_run(state, argv, true);
		h->send_eof = false;
		assert_false(host_pump(h, got_exit, 200));
	} else {
		h = host_start(*state);
		assert_true(host_pump(h, got_hello, 0));
	}
	host_queue(h, bytes, len);
	assert_true(host_pump(h, got_end, 0));
	assert_true(h->got_error);
	assert_false(h->got_exit);
	assert_non_null(strstr(h->error, "protocol"));
	assert_int_equal(host_wait_agent(h), 3);
	host_free(h);
}

static void test_hostile_frames(void **state)
{
	uint8_t *f = malloc(8 * AGENT_FRAME_MAX);
	uint32_t seed = 99;

	proto_enc_hdr(f, 99, 0);
	check_hostile(state, f, 8, false);
	check_hostile(state, f, 8, true);
	proto_enc_hdr(f, AGENT_MSG_STDIN, 0x7fffffff);
	check_hostile(state, f, 8, true);
	proto_enc_hdr(f, AGENT_MSG_STDOUT, 4);
	check_hostile(state, f, 12, true);
	proto_enc_hdr(f, AGENT_MSG_STDIN, 1);
	check_hostile(state, f, 9, false);
	/*
	 * Eight full frames of stdin against a window of four (and one more that
	 * PROGRAM's pipe may take and the agent grant again).
	 */
	for (int i = 0; i < 8; i++) {
		proto_enc_hdr(f + i * AGENT_FRAME_MAX, AGENT_MSG_STDIN, AGENT_PAYLOAD_MAX);
		memset(f + i * AGENT_FRAME_MAX + AGENT_HDR_SIZE, 'z', AGENT_PAYLOAD_MAX);
	}
	check_hostile(state, f, 8 * AGENT_FRAME_MAX, true);
	/* Random bytes, before and after START. */
	for (int round = 0; round < 16; round++) {
		size_t len = 16 + round * 37;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			f[i] = (uint8_t)(seed >> 16);
		}
		check_hostile(state, f, len, round & 1);
	}
	free(f);
}

/* kvmrun going away ends the agent (and PROGRAM with it). */
static void test_host_gone(void **state)
{
	const char *argv[] = {"sleep", "100", NULL};
	struct host *h = host_run(state, argv, true);

	h->send_eof = false;
	assert_false(host_pump(h, got_exit, 200));
	shutdown(h->fd, SHUT_RDWR);
	assert_int_equal(host_wait_agent(h), 3);
	host_free(h);
}

static int helper_emit(int fd)
{
	uint8_t all[256];

	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	return write(fd, all, sizeof(all)) == (ssize_t)sizeof(all) ? 0 : 1;
}

static int helper_flood(long total, const char *file)
{
	uint8_t buf[4096];
	long done = 0;
	int cfd = open(file, O_WRONLY);

	if (cfd < 0)
		return 1;
	while (done < total) {
		char num[32];
		int l;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)((done + (long)i) * 7);
		if (write(1, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			return 1;
		done += (long)sizeof(buf);
		l = snprintf(num, sizeof(num), "%-20ld\n", done);
		if (pwrite(cfd, num, (size_t)l, 0) != l)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct test_paths paths;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_prestate(test_exit_statuses, &paths),
	    cmocka_unit_test_prestate(test_not_executable, &paths),
	    cmocka_unit_test_prestate(test_not_executable_in_path, &paths),
	    cmocka_unit_test_prestate(test_all_bytes, &paths),
	    cmocka_unit_test_prestate(test_stdin_roundtrip, &paths),
	    cmocka_unit_test_prestate(test_stdin_eof, &paths),
	    cmocka_unit_test_prestate(test_credit_stops_program, &paths),
	    cmocka_unit_test_prestate(test_env_workdir_user, &paths),
	    cmocka_unit_test_prestate(test_signal, &paths),
	    cmocka_unit_test_prestate(test_tty, &paths),
	    cmocka_unit_test_prestate(test_orphan_holds_stdout, &paths),
	    cmocka_unit_test_prestate(test_hostile_frames, &paths),
	    cmocka_unit_test_prestate(test_host_gone, &paths),
	};
	ssize_t n;

	if (argc == 3 && !strcmp(argv[1], "emit"))
		return helper_emit(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "flood"))
		return helper_flood(atol(argv[2]), argv[3]);
	if (argc < 2 || !argv[1][0]) {
		printf("no agent was built (musl-gcc not found): skipped\n");
		return 77;
	}
	snprintf(paths.agent, sizeof(paths.agent), "%s", argv[1]);
	n = readlink("/proc/self/exe", paths.self, sizeof(paths.self) - 1);
	if (n <= 0)
		return 1;
	paths.self[n] = 0;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
