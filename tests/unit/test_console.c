// SPDX-License-Identifier: Apache-2.0
/*
 * The console backend: log file output, stdout output, escape handling, input
 * flow control and EOF, raw mode on a terminal. stdin and stdout are replaced
 * by pipes (or a pseudo terminal) with dup2 for the duration of each test.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "loop_thread.h"
#include "test_stdio.h"

#include "backend/console.h"
#include "kvmrun/event_loop.h"
#include "kvmrun/sandbox.h"

#define WAIT_MS 3000

struct sink {
	pthread_mutex_t lock;
	uint8_t buf[256];
	size_t len;
	size_t budget; /* bytes push() still accepts */
	unsigned int pushes;
	unsigned int quits;
	struct ev_loop *loop;
};

struct fixture {
	struct loop_thread lt;
	struct console *con;
	struct sink sink;
	struct test_stdio io; /* io.in_w: the write end of the pipe that is stdin */
	char log_path[64];
};

static size_t sink_push(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *s = opaque;
	size_t n;

	pthread_mutex_lock(&s->lock);
	s->pushes++;
	n = MIN(len, s->budget);
	n = MIN(n, sizeof(s->buf) - s->len);
	memcpy(s->buf + s->len, buf, n);
	s->len += n;
	s->budget -= n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void sink_quit(void *opaque)
{
	struct sink *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->quits++;
	pthread_mutex_unlock(&s->lock);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Waits until the sink holds want (exactly), or times out. */
static bool sink_wait(struct sink *s, const char *want, size_t want_len)
{
	for (unsigned int i = 0; i < WAIT_MS; i++) {
		bool done;

		pthread_mutex_lock(&s->lock);
		done = s->len == want_len && !memcmp(s->buf, want, want_len);
		pthread_mutex_unlock(&s->lock);
		if (done)
			return true;
		sleep_ms(1);
	}
	return false;
}

/* A counter another thread updates under lock. */
static unsigned int locked_read(pthread_mutex_t *lock, const unsigned int *counter)
{
	unsigned int n;

	pthread_mutex_lock(lock);
	n = *counter;
	pthread_mutex_unlock(lock);
	return n;
}

static unsigned int sink_quits(struct sink *s)
{
	return locked_read(&s->lock, &s->quits);
}

static bool sink_wait_quit(struct sink *s, unsigned int quits)
{
	for (unsigned int i = 0; i < WAIT_MS; i++) {
		bool done;

		pthread_mutex_lock(&s->lock);
		done = s->quits >= quits;
		pthread_mutex_unlock(&s->lock);
		if (done)
			return true;
		sleep_ms(1);
	}
	return false;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	pthread_mutex_init(&f->sink.lock, NULL);
	test_stdio_init(&f->io);
	test_stdio_save(&f->io);
	loop_thread_create(&f->lt);
	f->sink.loop = f->lt.loop;
	test_log_path(f->log_path, sizeof(f->log_path), "console");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	loop_thread_stop(&f->lt);
	console_destroy(f->con);
	ev_loop_destroy(f->lt.loop);
	test_stdio_restore(&f->io);
	unlink(f->log_path);
	pthread_mutex_destroy(&f->sink.lock);
	free(f);
	return 0;
}


static void test_log_file_appends(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int fd;

	fd = open(f->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old:", 4), 4);
	close(fd);

	assert_int_equal(
	    console_create(&f->con, f->lt.loop, false, f->log_path, UINT64_MAX, NULL, NULL), 0);
	console_write(f->con, (const uint8_t *)"hello", 5);
	console_write(f->con, (const uint8_t *)"", 0);
	console_write(f->con, (const uint8_t *)" world", 6);
	assert_int_equal(test_read_file(f->log_path, buf, sizeof(buf)), 15);
	assert_memory_equal(buf, "old:hello world", 15);
}

static void test_log_file_open_failure(void **state)
{
	struct fixture *f = *state;
	struct console *con = NULL;

	assert_int_equal(console_create(&con, f->lt.loop, false, "/nonexistent-dir/x.log",
					UINT64_MAX, NULL, NULL),
			 -ENOENT);
	assert_null(con);
}

/*
 * A console with stdin a pipe, stdout another (returns its read end) and its log
 * bound at log_max.
 */
static int start_stdout(struct fixture *f, uint64_t log_max)
{
	int rd;

	test_stdin_pipe(&f->io);
	rd = test_stdout_pipe(&f->io);
	assert_int_equal(console_create(&f->con, f->lt.loop, true, f->log_path, log_max, NULL, NULL),
			 0);
	return rd;
}

/*
 * A console on the running loop that reads a stdin pipe (f->io.in_w) and quits
 * into the sink; attached, the sink takes up to budget bytes of input.
 */
static void start_input(struct fixture *f, bool attach, size_t budget)
{
	test_stdin_pipe(&f->io);
	f->sink.budget = budget;
	assert_int_equal(
	    console_create(&f->con, f->lt.loop, true, NULL, UINT64_MAX, sink_quit, &f->sink), 0);
	if (attach)
		console_attach(f->con, sink_push, &f->sink);
	loop_thread_start(&f->lt);
}

static void test_stdout_output_and_gone(void **state)
{
	struct fixture *f = *state;
	struct console_stats st;
	char buf[64];
	int rd;

	rd = start_stdout(f, UINT64_MAX);

	console_write(f->con, (const uint8_t *)"guest\r\n", 7);
	assert_int_equal(read(rd, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "guest\r\n", 7);

	/* The reader goes away: output to stdout is dropped, the log still gets it. */
	close(rd);
	console_write(f->con, (const uint8_t *)"more", 4);
	console_write(f->con, (const uint8_t *)"!", 1);
	assert_int_equal(test_read_file(f->log_path, buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "guest\r\nmore!", 12);
	console_get_stats(f->con, &st);
	assert_int_equal(st.out_dropped, 5);
	assert_int_equal(st.log_cut, 0);
}

static void test_input_and_escapes(void **state)
{
	struct fixture *f = *state;
	static const char want[] = "a\x01" "b\x01" "cd";

	start_input(f, true, SIZE_MAX);

	/* Ctrl-A Ctrl-A is one Ctrl-A; Ctrl-A then another key passes both. */
	assert_int_equal(write(f->io.in_w, "a\x01\x01" "b\x01" "cd", 7), 7);
	assert_true(sink_wait(&f->sink, want, 6));
	assert_int_equal(sink_quits(&f->sink), 0);

	/* An escape split across two reads still works. */
	assert_int_equal(write(f->io.in_w, "\x01", 1), 1);
	sleep_ms(20);
	assert_int_equal(sink_quits(&f->sink), 0);
	assert_int_equal(write(f->io.in_w, "x", 1), 1);
	assert_true(sink_wait_quit(&f->sink, 1));
	assert_true(sink_wait(&f->sink, want, 6));

	/* Ctrl-A x in the middle of other input: what came before is delivered. */
	assert_int_equal(write(f->io.in_w, "e\x01xf", 4), 4);
	assert_true(sink_wait_quit(&f->sink, 2));
	assert_true(sink_wait(&f->sink, "a\x01" "b\x01" "cde", 7));
}

static void test_flow_control(void **state)
{
	struct fixture *f = *state;
	unsigned int pushes;

	start_input(f, true, 2);

	assert_int_equal(write(f->io.in_w, "hello", 5), 5);
	assert_true(sink_wait(&f->sink, "he", 2));
	pthread_mutex_lock(&f->sink.lock);
	pushes = f->sink.pushes;
	pthread_mutex_unlock(&f->sink.lock);

	/* Refused: stdin is no longer watched, more input stays in the pipe. */
	assert_int_equal(write(f->io.in_w, "XYZ", 3), 3);
	sleep_ms(50);
	pthread_mutex_lock(&f->sink.lock);
	assert_int_equal(f->sink.pushes, pushes);
	assert_int_equal(f->sink.len, 2);
	pthread_mutex_unlock(&f->sink.lock);

	/* Room for one more byte: the rest stays pending, in order. */
	pthread_mutex_lock(&f->sink.lock);
	f->sink.budget = 1;
	pthread_mutex_unlock(&f->sink.lock);
	console_input_ready(f->con);
	assert_true(sink_wait(&f->sink, "hel", 3));
	sleep_ms(30);
	pthread_mutex_lock(&f->sink.lock);
	assert_int_equal(f->sink.len, 3);
	f->sink.budget = 100;
	pthread_mutex_unlock(&f->sink.lock);

	/* Ready again from another thread: nothing lost, nothing reordered. */
	console_input_ready(f->con);
	assert_true(sink_wait(&f->sink, "helloXYZ", 8));

	/* A spurious ready with nothing pending is harmless, and input flows on. */
	console_input_ready(f->con);
	assert_int_equal(write(f->io.in_w, "!", 1), 1);
	assert_true(sink_wait(&f->sink, "helloXYZ!", 9));
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_eof_stops_watching(void **state)
{
	struct fixture *f = *state;
	double before;

	start_input(f, true, SIZE_MAX);

	assert_int_equal(write(f->io.in_w, "bye", 3), 3);
	assert_true(sink_wait(&f->sink, "bye", 3));
	close(f->io.in_w);
	f->io.in_w = -1;

	/* A loop spinning on the hung-up pipe would burn the whole interval. */
	sleep_ms(20);
	before = cpu_seconds();
	sleep_ms(200);
	assert_true(cpu_seconds() - before < 0.1);
	pthread_mutex_lock(&f->sink.lock);
	assert_int_equal(f->sink.pushes, 1);
	assert_int_equal(f->sink.quits, 0);
	pthread_mutex_unlock(&f->sink.lock);

	/* A ready after EOF does not bring stdin back either. */
	console_input_ready(f->con);
	sleep_ms(20);
	before = cpu_seconds();
	sleep_ms(100);
	assert_true(cpu_seconds() - before < 0.05);
}

static void test_no_device_attached(void **state)
{
	struct fixture *f = *state;

	start_input(f, false, 0);
	/* Input without a device is dropped, but the escape still quits. */
	assert_int_equal(write(f->io.in_w, "abc\x01x", 5), 5);
	assert_true(sink_wait_quit(&f->sink, 1));
}

static void test_raw_mode_on_terminal(void **state)
{
	struct fixture *f = *state;
	struct termios before, raw, after;
	int master, slave;

	master = test_open_pty(&slave);
	assert_int_equal(dup2(slave, STDIN_FILENO), STDIN_FILENO);
	close(slave);
	assert_int_equal(tcgetattr(STDIN_FILENO, &before), 0);
	assert_true(before.c_lflag & ICANON);
	assert_true(before.c_lflag & ECHO);

	assert_int_equal(console_create(&f->con, f->lt.loop, true, NULL, UINT64_MAX, NULL, NULL),
			 0);
	assert_int_equal(tcgetattr(STDIN_FILENO, &raw), 0);
	assert_false(raw.c_lflag & (ICANON | ECHO | ISIG));
	assert_false(raw.c_iflag & (IXON | ICRNL));
	assert_int_equal(raw.c_oflag & (OPOST | ONLCR), before.c_oflag & (OPOST | ONLCR));
	assert_int_equal(raw.c_cc[VMIN], 1);

	console_restore(f->con);
	assert_int_equal(tcgetattr(STDIN_FILENO, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	assert_int_equal(after.c_oflag, before.c_oflag);

	/* Restoring again, then destroying, leaves a later change alone. */
	after.c_lflag &= ~(tcflag_t)ECHO;
	assert_int_equal(tcsetattr(STDIN_FILENO, TCSANOW, &after), 0);
	console_restore(f->con);
	console_destroy(f->con);
	f->con = NULL;
	assert_int_equal(tcgetattr(STDIN_FILENO, &after), 0);
	assert_false(after.c_lflag & ECHO);
	close(master);
}

static void test_destroy_restores_terminal(void **state)
{
	struct fixture *f = *state;
	struct termios before, after;
	int master, slave;

	master = test_open_pty(&slave);
	assert_int_equal(dup2(slave, STDIN_FILENO), STDIN_FILENO);
	close(slave);
	assert_int_equal(tcgetattr(STDIN_FILENO, &before), 0);

	assert_int_equal(console_create(&f->con, f->lt.loop, true, NULL, UINT64_MAX, NULL, NULL),
			 0);
	console_destroy(f->con);
	f->con = NULL;
	assert_int_equal(tcgetattr(STDIN_FILENO, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	close(master);
}


/* ---- output: a full stdout, the log's bound ---- */

/* Counts the console's call backs. */
struct writer {
	pthread_mutex_t lock;
	unsigned int calls;
};

static void writer_fn(void *opaque)
{
	struct writer *w = opaque;

	pthread_mutex_lock(&w->lock);
	w->calls++;
	pthread_mutex_unlock(&w->lock);
}

static unsigned int writer_calls(struct writer *w)
{
	return locked_read(&w->lock, &w->calls);
}

/* Byte i of the guest's output in these tests. */
static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

/* Reads exactly len bytes from fd (blocking), with a deadline; returns them in buf. */
static void read_exactly(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	alarm(10);
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	alarm(0);
}

/*
 * The guest prints into a full stdout: console_write() never blocks, holds up
 * to CONSOLE_OUT_BUF, then refuses; once the reader drains the pipe, the held
 * bytes come out in order, the writer is called back, and output goes on.
 */
static void check_full_stdout(struct fixture *f, bool nonblock)
{
	struct writer w = { .lock = PTHREAD_MUTEX_INITIALIZER };
	size_t fill, taken = 0, total;
	uint8_t chunk[1000], *got;
	int rd, fl;

	test_stdin_pipe(&f->io);
	rd = test_stdout_pipe(&f->io);
	fill = test_stdout_fill(nonblock);
	fl = fcntl(STDOUT_FILENO, F_GETFL);
	assert_int_equal(
	    console_create(&f->con, f->lt.loop, true, f->log_path, UINT64_MAX, NULL, NULL), 0);
	assert_int_equal(console_add_writer(f->con, writer_fn, &w), 0);
	loop_thread_start(&f->lt);

	/* A hang here (the old poll() on stdout) ends the test by SIGALRM. */
	alarm(10);
	for (;;) {
		size_t n;

		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = pattern(taken + i);
		n = console_write(f->con, chunk, sizeof(chunk));
		taken += n;
		if (n < sizeof(chunk))
			break;
	}
	/* Refused again, and nothing taken, while the reader sleeps. */
	assert_int_equal(console_write(f->con, chunk, 1), 0);
	alarm(0);
	assert_int_equal(taken, CONSOLE_OUT_BUF);
	sleep_ms(50);
	assert_int_equal(writer_calls(&w), 0);
	/* The launcher's description of stdout keeps its flags. */
	assert_int_equal(fcntl(STDOUT_FILENO, F_GETFL), fl);

	/* The reader drains the pipe: the held output follows what was there. */
	total = fill + taken;
	got = malloc(total);
	assert_non_null(got);
	read_exactly(rd, got, total);
	for (size_t i = 0; i < taken; i++)
		if (got[fill + i] != pattern(i))
			fail_msg("byte %zu of the output differs", i);
	free(got);
	for (unsigned int i = 0; i < WAIT_MS && !writer_calls(&w); i++)
		sleep_ms(1);
	assert_int_equal(writer_calls(&w), 1);

	/* Output goes on, straight through. */
	assert_int_equal(console_write(f->con, (const uint8_t *)"more", 4), 4);
	read_exactly(rd, chunk, 4);
	assert_memory_equal(chunk, "more", 4);
	close(rd);
	console_remove_writer(f->con, &w);
}

static void test_full_stdout_nonblocking(void **state)
{
	check_full_stdout(*state, true);
}

static void test_full_stdout_blocking(void **state)
{
	check_full_stdout(*state, false);
}

/*
 * The same under the vCPU's seccomp filter, in a child: before, the wait in
 * poll() was a refused call and ended kvmrun with status 8.
 */
static void test_full_stdout_sandboxed(void **state)
{
	struct fixture *f = *state;
	int status, rd;
	pid_t pid;

	rd = test_stdout_pipe(&f->io);
	test_stdout_fill(true);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static const uint8_t line[100];
		size_t taken = 0;
		int null_fd = open("/dev/null", O_RDONLY);

		alarm(10);
		if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
		    console_create(&f->con, f->lt.loop, true, NULL, UINT64_MAX, NULL, NULL) ||
		    sandbox_apply(SANDBOX_VCPU, NULL))
			_exit(40);
		for (int i = 0; i < 10000; i++)
			taken += console_write(f->con, line, sizeof(line));
		_exit(taken == CONSOLE_OUT_BUF ? 0 : 41);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(rd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The log takes log_max bytes per run; the rest is cut and counted, stdout gets it all. */
static void test_log_bound(void **state)
{
	struct fixture *f = *state;
	struct console_stats st;
	char buf[64];
	int rd;

	rd = start_stdout(f, 10);
	assert_int_equal(console_write(f->con, (const uint8_t *)"abcdef", 6), 6);
	assert_int_equal(console_write(f->con, (const uint8_t *)"ghijkl", 6), 6);
	assert_int_equal(console_write(f->con, (const uint8_t *)"mnopqrstu", 9), 9);
	assert_int_equal(test_read_file(f->log_path, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "abcdefghij", 10);
	console_get_stats(f->con, &st);
	assert_int_equal(st.log_bytes, 10);
	assert_int_equal(st.log_cut, 11);
	assert_int_equal(st.out_dropped, 0);
	assert_int_equal(read(rd, buf, sizeof(buf)), 21);
	assert_memory_equal(buf, "abcdefghijklmnopqrstu", 21);
	close(rd);
}

/* The last CONSOLE_TAIL bytes printed, in order, across the ring's wrap, with no log and no stdout. */
static void test_tail(void **state)
{
	struct fixture *f = *state;
	static uint8_t all[3 * CONSOLE_TAIL + 123], got[CONSOLE_TAIL + 16];
	size_t off = 0;

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)(i * 13 + (i >> 8));
	assert_int_equal(console_create(&f->con, f->lt.loop, false, NULL, 0, NULL, NULL), 0);
	assert_int_equal(console_tail(f->con, got, sizeof(got)), 0);
	assert_int_equal(console_write(f->con, all, 5), 5);
	assert_int_equal(console_tail(f->con, got, sizeof(got)), 5);
	assert_memory_equal(got, all, 5);
	assert_int_equal(console_tail(f->con, got, 3), 3);
	assert_memory_equal(got, all + 2, 3);
	off = 5;
	for (size_t step = 1; off < sizeof(all); step = step * 3 + 1) {
		size_t n = MIN(step, sizeof(all) - off);

		assert_int_equal(console_write(f->con, all + off, n), n);
		off += n;
		size_t want = MIN(off, (size_t)CONSOLE_TAIL);

		assert_int_equal(console_tail(f->con, got, sizeof(got)), want);
		assert_memory_equal(got, all + off - want, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_file_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_file_open_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stdout_output_and_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_and_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flow_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_stops_watching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_device_attached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_mode_on_terminal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_restores_terminal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_stdout_nonblocking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_stdout_blocking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_stdout_sandboxed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tail, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
