// SPDX-License-Identifier: Apache-2.0
/*
 * kvmrun's side of the agent session (src/exec/relay.c) on a real event loop,
 * against the real agent (firmware/agent) running on the host on a socketpair
 * that stands in for the virtio-console port: exit statuses, byte-exact stdout
 * and stderr, stdin to its end through a slow reader (back-pressure both
 * ways), --timeout, the HELLO deadline, and a peer that breaks the protocol.
 * The agent's path is the first argument; without one (no musl-gcc) the test
 * is skipped (77). `test_exec_relay emit` is a helper PROGRAM: the 256 byte
 * values on stdout, then reversed on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "exec/relay.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/exit_status.h"

static char agent_path[PATH_MAX];
static char self_path[PATH_MAX];

struct collector {
	int fd;
	uint8_t *buf;
	size_t len, cap;
	unsigned int delay_us; /* a slow reader: sleeps between reads of 4 KiB */
	int notify_fd;	       /* an eventfd told once the first bytes came; -1: none */
	pthread_t thread;
};

static void *collect(void *opaque)
{
	struct collector *c = opaque;

	for (;;) {
		size_t want = c->delay_us ? 4096 : 65536;
		ssize_t n;

		if (c->len + want > c->cap) {
			c->cap = (c->cap + want) * 2;
			c->buf = realloc(c->buf, c->cap);
			if (!c->buf)
				abort();
		}
		n = read(c->fd, c->buf + c->len, want);
		if (n <= 0)
			break;
		c->len += (size_t)n;
		if (c->notify_fd >= 0) {
			uint64_t one = 1;

			if (write(c->notify_fd, &one, sizeof(one)) != sizeof(one))
				abort();
			c->notify_fd = -1;
		}
		if (c->delay_us)
			usleep(c->delay_us);
	}
	return NULL;
}

struct feeder {
	int fd;
	const uint8_t *buf;
	size_t len;
	pthread_t thread;
};

static void *feed(void *opaque)
{
	struct feeder *f = opaque;
	size_t off = 0;

	while (off < f->len) {
		ssize_t n = write(f->fd, f->buf + off, f->len - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(f->fd);
	return NULL;
}

struct run {
	const char *const *argv; /* PROGRAM; NULL: a peer that is no agent (peer_bytes) */
	const uint8_t *peer_bytes;
	size_t peer_len;
	const uint8_t *in; /* stdin; NULL: none (-1) */
	size_t in_len;
	unsigned int out_delay_us;
	uint64_t timeout_ms, hello_ms;
	int signo;	   /* passed on (twice) once PROGRAM's first output came; 0: none */
	uint64_t grace_ms; /* the relay's grace after it */

	/* results */
	bool sig_early, sig_first, sig_second; /* exec_relay_signal's answers */
	int status;
	bool done;
	struct collector out, err;
	struct exec_relay relay;
};

static void on_done(void *opaque, int status)
{
	struct run *r = opaque;

	assert_false(r->done);
	r->done = true;
	r->status = status;
}

struct done_ctx {
	struct run *run;
	struct ev_loop *loop;
	int efd;
};

/* PROGRAM has written: kvmrun gets run->signo, then the same again. */
static void on_output(void *opaque, uint32_t events)
{
	struct done_ctx *d = opaque;
	uint64_t n;

	(void)events;
	if (read(d->efd, &n, sizeof(n)) != sizeof(n))
		return;
	d->run->sig_first = exec_relay_signal(&d->run->relay, d->run->signo);
	d->run->sig_second = exec_relay_signal(&d->run->relay, d->run->signo);
}

static void done_stop(void *opaque, int status)
{
	struct done_ctx *d = opaque;

	on_done(d->run, status);
	ev_stop(d->loop, status);
}

static void run_session(struct run *r)
{
	struct proto_job job = {.argv = r->argv};
	int sv[2], outp[2], errp[2], inp[2] = {-1, -1};
	struct done_ctx dc = {.run = r, .efd = -1};
	struct exec_relay_config cfg;
	struct feeder fd_in = {0};
	pid_t pid = -1;
	int ret;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(outp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	if (r->in)
		assert_int_equal(pipe2(inp, O_CLOEXEC), 0);
	if (r->argv) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dup2(sv[1], 3);
			execl(agent_path, "kvmrun-agent", "--channel", "3", (char *)NULL);
			_exit(99);
		}
	} else {
		assert_int_equal(write(sv[1], r->peer_bytes, r->peer_len), (ssize_t)r->peer_len);
	}
	assert_int_equal(ev_loop_create(&dc.loop), 0);
	cfg = (struct exec_relay_config){
	    .loop = dc.loop,
	    .in_fd = inp[0],
	    .out_fd = outp[1],
	    .err_fd = errp[1],
	    .job = &job,
	    .hello_ms = r->hello_ms ? r->hello_ms : 20000,
	    .timeout_ms = r->timeout_ms ? r->timeout_ms : 60000,
	    .done = done_stop,
	    .done_opaque = &dc, .winch_fd = -1,
	    .grace_ms = r->grace_ms,
	};
	ret = exec_relay_init(&r->relay, &cfg);
	assert_int_equal(ret, 0);
	if (r->signo) {
		r->sig_early = exec_relay_signal(&r->relay, r->signo);
		dc.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(dc.efd >= 0);
		assert_int_equal(ev_add(dc.loop, dc.efd, EPOLLIN, on_output, &dc), 0);
	}
	assert_int_equal(exec_relay_attach_fd(&r->relay, sv[0]), 0);
	r->out = (struct collector){
	    .fd = outp[0], .delay_us = r->out_delay_us, .notify_fd = dc.efd};
	r->err = (struct collector){.fd = errp[0], .notify_fd = -1};
	assert_int_equal(pthread_create(&r->out.thread, NULL, collect, &r->out), 0);
	assert_int_equal(pthread_create(&r->err.thread, NULL, collect, &r->err), 0);
	if (r->in) {
		fd_in = (struct feeder){.fd = inp[1], .buf = r->in, .len = r->in_len};
		assert_int_equal(pthread_create(&fd_in.thread, NULL, feed, &fd_in), 0);
	}
	ret = ev_run(dc.loop);
	assert_true(r->done);
	assert_int_equal(ret, r->status);
	exec_relay_fini(&r->relay);
	close(outp[1]);
	close(errp[1]);
	pthread_join(r->out.thread, NULL);
	pthread_join(r->err.thread, NULL);
	close(outp[0]);
	close(errp[0]);
	close(sv[0]);
	close(sv[1]);
	if (r->in) {
		close(inp[0]); /* the feeder sees EPIPE if it is not done */
		pthread_join(fd_in.thread, NULL);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (dc.efd >= 0) {
		ev_del(dc.loop, dc.efd);
		close(dc.efd);
	}
	ev_loop_destroy(dc.loop);
}

static void run_free(struct run *r)
{
	free(r->out.buf);
	free(r->err.buf);
}

static int setup(void **state)
{
	(void)state;
	return 0;
}

static void test_statuses(void **state)
{
	static const struct {
		const char *argv[4];
		int status;
		enum exec_outcome outcome;
		int exit_code, signal;
	} cases[] = {
	    {{"true"}, 0, EXEC_EXITED, 0, 0},
	    {{"sh", "-c", "exit 7"}, 7, EXEC_EXITED, 7, 0},
	    {{"sh", "-c", "kill -9 $$"}, 137, EXEC_SIGNALED, -1, 9},
	    {{"no-such-program-kvmrun"}, 127, EXEC_EXITED, -1, 0},
	    {{"/etc/hostname"}, 126, EXEC_EXITED, -1, 0},
	};

	(void)state;
	for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++) {
		struct run r = {.argv = cases[i].argv};
		struct exec_report rep = {0};

		run_session(&r);
		if (r.status != cases[i].status || r.relay.outcome != cases[i].outcome)
			fail_msg("%s: status %d outcome %d (%s)", cases[i].argv[0], r.status,
				 r.relay.outcome, r.relay.reason);
		exec_relay_report(&r.relay, &rep);
		assert_int_equal(rep.exit_code, cases[i].exit_code);
		assert_int_equal(rep.signal, cases[i].signal);
		assert_true(rep.phase_ns[EXEC_PHASE_AGENT_READY] > 0);
		assert_true(rep.phase_ns[EXEC_PHASE_PROGRAM_ENDED] >=
			    rep.phase_ns[EXEC_PHASE_PROGRAM_STARTED]);
		run_free(&r);
	}
}

static void test_all_bytes(void **state)
{
	const char *argv[] = {self_path, "emit", NULL};
	struct run r = {.argv = argv};
	uint8_t want[256];

	(void)state;
	run_session(&r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out.len, 256);
	assert_int_equal(r.err.len, 256);
	for (unsigned int i = 0; i < 256; i++)
		want[i] = (uint8_t)i;
	assert_memory_equal(r.out.buf, want, 256);
	for (unsigned int i = 0; i < 256; i++)
		want[i] = (uint8_t)(255 - i);
	assert_memory_equal(r.err.buf, want, 256);
	assert_int_equal(r.relay.bytes[1], 256);
	assert_int_equal(r.relay.bytes[2], 256);
	run_free(&r);
}

/* 4 MiB through cat, with a stdout reader slower than PROGRAM: all of it, in order. */
static void test_stdin_roundtrip_slow_reader(void **state)
{
	const char *argv[] = {"cat", NULL};
	size_t len = 4u << 20;
	uint8_t *in = malloc(len);
	struct run r = {0};

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		in[i] = (uint8_t)(i * 7 + (i >> 12));
	r = (struct run){.argv = argv, .in = in, .in_len = len, .out_delay_us = 200};
	run_session(&r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.out.len, len);
	assert_memory_equal(r.out.buf, in, len);
	assert_int_equal(r.relay.bytes[0], len);
	assert_int_equal(r.relay.bytes[1], len);
	run_free(&r);
	free(in);
}

/* stdin's end reaches PROGRAM: wc -c counts what came and ends. */
static void test_stdin_eof(void **state)
{
	const char *argv[] = {"wc", "-c", NULL};
	static const uint8_t in[] = "hello\n";
	struct run r = {.argv = argv, .in = in, .in_len = 6};

	(void)state;
	run_session(&r);
	assert_int_equal(r.status, 0);
	assert_true(r.out.len >= 2);
	assert_int_equal(atoi((const char *)r.out.buf), 6);
	run_free(&r);
}

static void test_timeout(void **state)
{
	const char *argv[] = {"sleep", "100", NULL};
	struct run r = {.argv = argv, .timeout_ms = 300};
	struct exec_report rep = {0};

	(void)state;
	run_session(&r);
	assert_int_equal(r.status, KVMRUN_EXEC_TIMEOUT);
	assert_int_equal(r.relay.outcome, EXEC_TIMEOUT);
	exec_relay_report(&r.relay, &rep);
	assert_int_equal(rep.exit_code, -1);
	assert_non_null(strstr(rep.reason, "--timeout"));
	run_free(&r);
}

/*
 * A signal to kvmrun while PROGRAM runs goes on to PROGRAM, whose status is
 * then the run's: a trap's exit status, or 128 + N when it dies of it. Not
 * before the job went out, and not twice.
 */
static void test_signal_passed_on(void **state)
{
	static const struct {
		const char *argv[4];
		int signo, status;
		enum exec_outcome outcome;
	} cases[] = {
	    {{"sh", "-c", "trap 'exit 42' TERM; echo ready; sleep 100 & wait"}, SIGTERM, 42,
	     EXEC_EXITED},
	    {{"sh", "-c", "echo ready; exec sleep 100"}, SIGINT, 130, EXEC_SIGNALED},
	    {{"sh", "-c", "echo ready; exec sleep 100"}, SIGHUP, 129, EXEC_SIGNALED},
	};

	(void)state;
	for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++) {
		struct run r = {.argv = cases[i].argv, .signo = cases[i].signo};

		run_session(&r);
		assert_false(r.sig_early);
		assert_true(r.sig_first);
		assert_false(r.sig_second);
		if (r.status != cases[i].status || r.relay.outcome != cases[i].outcome)
			fail_msg("signal %d: status %d outcome %d (%s)", cases[i].signo, r.status,
				 r.relay.outcome, r.relay.reason);
		run_free(&r);
	}
}

/* PROGRAM ignores the signal: the grace ends the run with 128 + N. */
static void test_signal_grace(void **state)
{
	const char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; sleep 5", NULL};
	struct run r = {.argv = argv, .signo = SIGTERM, .grace_ms = 300};

	(void)state;
	run_session(&r);
	assert_true(r.sig_first);
	assert_int_equal(r.status, 128 + SIGTERM);
	assert_int_equal(r.relay.outcome, EXEC_VMM_ERROR);
	assert_non_null(strstr(r.relay.reason, "did not end"));
	run_free(&r);
}

static void test_no_hello(void **state)
{
	static const uint8_t nothing[1];
	struct run r = {.peer_bytes = nothing, .peer_len = 0, .hello_ms = 200};

	(void)state;
	run_session(&r);
	assert_int_equal(r.status, KVMRUN_EXEC_FAILED);
	assert_int_equal(r.relay.outcome, EXEC_AGENT_LOST);
	assert_non_null(strstr(r.relay.reason, "agent not ready"));
	run_free(&r);
}

static void test_garbage(void **state)
{
	/* a frame type that does not exist */
	static const uint8_t junk[] = {0x63, 0, 0, 0, 0, 0, 0, 0};
	struct run r = {.peer_bytes = junk, .peer_len = sizeof(junk)};

	(void)state;
	run_session(&r);
	assert_int_equal(r.status, KVMRUN_EXEC_FAILED);
	assert_int_equal(r.relay.outcome, EXEC_AGENT_LOST);
	assert_non_null(strstr(r.relay.reason, "protocol"));
	run_free(&r);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_statuses),
	    cmocka_unit_test(test_all_bytes),
	    cmocka_unit_test(test_stdin_roundtrip_slow_reader),
	    cmocka_unit_test(test_stdin_eof),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_signal_passed_on),
	    cmocka_unit_test(test_signal_grace),
	    cmocka_unit_test(test_no_hello),
	    cmocka_unit_test(test_garbage),
	};
	ssize_t n;

	if (argc == 2 && !strcmp(argv[1], "emit")) {
		uint8_t b[256];

		for (unsigned int i = 0; i < 256; i++)
			b[i] = (uint8_t)i;
		if (write(1, b, 256) != 256)
			return 1;
		for (unsigned int i = 0; i < 256; i++)
			b[i] = (uint8_t)(255 - i);
		return write(2, b, 256) == 256 ? 0 : 1;
	}
	if (argc < 2 || !argv[1][0]) {
		fprintf(stderr, "no agent built (musl-gcc missing): skipped\n");
		return 77;
	}
	snprintf(agent_path, sizeof(agent_path), "%s", argv[1]);
	n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 1;
	self_path[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, NULL);
}
