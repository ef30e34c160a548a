/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of the agent session (kvmrun/agent_proto.h) on the event loop:
 * the agent's frames from the port go through the decoder; STDOUT and STDERR
 * are written, never blocking, to kvmrun's own descriptors, and their credit
 * is granted back as those take the bytes (a slow reader slows PROGRAM, and
 * nothing is dropped); kvmrun's stdin goes out as STDIN frames within the
 * window the agent grants, its end as STDIN_EOF; EXIT ends the run with
 * PROGRAM's status once its output is written. Two deadlines: HELLO within
 * EXEC_HELLO_TIMEOUT_MS (else 125, agent-lost) and --timeout (124).
 *
 * The port is any byte stream: a virtio-console port (its from_guest and
 * writable callbacks call exec_relay_from_port and exec_relay_port_writable),
 * or, for tests, a socket (exec_relay_attach_fd).
 */
#ifndef KVMRUN_EXEC_RELAY_H
#define KVMRUN_EXEC_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec/exec.h"
#include "exec/proto.h"
#include "exec/report.h"
#include "kvmrun/compiler.h"

/* The stdout and stderr window kvmrun grants: what it holds for its own stdout at most. */
#define EXEC_OUT_WINDOW (256u * 1024)
/*
 * After kvmrun passed a stopping signal on to PROGRAM: how long PROGRAM may
 * take to end before the VM is stopped all the same (status 128 + the signal).
 */
#define EXEC_SIGNAL_GRACE_MS 10000
/* Frames waiting for the port at most: one data frame and the control frames around it. */
#define EXEC_TX_MAX (2 * AGENT_FRAME_MAX)

struct ev_loop;

/* Puts up to len bytes on the port; returns how many went (0..len). */
typedef size_t (*exec_port_send_fn)(void *opaque, const uint8_t *buf, size_t len);
/* The run has ended with this exit status (once). */
typedef void (*exec_done_fn)(void *opaque, int status);

struct exec_relay_config {
	struct ev_loop *loop;
	int in_fd, out_fd, err_fd; /* kvmrun's stdin (-1: none), stdout and stderr */
	const struct proto_job *job;
	uint64_t hello_ms;   /* the HELLO deadline */
	uint64_t timeout_ms; /* --timeout; 0: none */
	exec_port_send_fn send;
	void *send_opaque;
	exec_done_fn done;
	void *done_opaque;
	int winch_fd; /* -t: a signalfd for SIGWINCH (the size read on in_fd); -1: none */
	uint64_t grace_ms; /* after a signal passed on; 0: EXEC_SIGNAL_GRACE_MS */
};

struct exec_relay_out {
	int fd;
	bool watched;	  /* fd is in the loop (EPOLLOUT armed or not) */
	bool armed;	  /* waiting for EPOLLOUT */
	bool broken;	  /* the reader went away: the rest is discarded */
	uint8_t *buf;	  /* EXEC_OUT_WINDOW bytes */
	size_t off, len;  /* what is not yet written: buf[off..len) */
	uint32_t drained; /* written since the last CREDIT */
	int saved_fl;	  /* fd's flags before O_NONBLOCK; -1: untouched */
};

struct exec_relay {
	struct exec_relay_config cfg;
	struct proto_dec dec; /* PROTO_HOST */
	int hello_tfd, timeout_tfd, grace_tfd;
	uint64_t signals; /* bit N-1: signal N was passed on to PROGRAM */
	int grace_signo;  /* the first signal passed on, for the grace's end */
	bool hello, exited, finished;
	bool in_watched, in_armed, in_poll; /* stdin: in the loop, waiting, or read when asked */
	bool in_eof_sent;
	int in_saved_fl;
	struct exec_relay_out out[2]; /* STDOUT, STDERR */
	uint8_t *tx;		      /* EXEC_TX_MAX bytes for the port */
	size_t tx_off, tx_len;
	bool winch_watched;
	int port_fd; /* exec_relay_attach_fd's socket, or -1 */
	bool port_armed;

	/* the result */
	enum exec_outcome outcome;
	int status;
	int exit_code, signal;
	char reason[AGENT_ERROR_MAX + 64];
	uint64_t bytes[3];			       /* stdin, stdout, stderr */
	uint64_t agent_ready_ns, started_ns, ended_ns; /* CLOCK_MONOTONIC */
};

/*
 * Sets the relay up on cfg->loop (the descriptors in it, the deadlines armed,
 * stdout and stderr made non-blocking until exec_relay_fini). 0 or -errno.
 */
int exec_relay_init(struct exec_relay *r, const struct exec_relay_config *cfg) WARN_UNUSED;
/* Takes everything out of the loop and puts the descriptors' flags back. */
void exec_relay_fini(struct exec_relay *r);

/* Bytes from the agent; takes all of them (the windows bound what they hold). */
size_t exec_relay_from_port(struct exec_relay *r, const uint8_t *buf, size_t len);
/* The port takes bytes again after a send that took fewer. */
void exec_relay_port_writable(struct exec_relay *r);
/* The agent's side of the port closed (false) or opened (true). */
void exec_relay_port_open(struct exec_relay *r, bool open);

/*
 * kvmrun received the stopping signal @signo (SIGINT, SIGTERM, SIGHUP): once
 * PROGRAM's job went out and until its EXIT arrived, it goes on to PROGRAM's
 * process group (SIGNAL) and the run goes on, its status PROGRAM's; true then.
 * The first one passed on arms the grace (cfg->grace_ms), after which the run ends
 * with 128 + that signal (vmm-error) when PROGRAM has not ended. False (the VM
 * is to stop now, 128 + @signo) before the job went out, after EXIT, and for
 * a signal passed on before: a second Ctrl-C stops the VM.
 */
bool exec_relay_signal(struct exec_relay *r, int signo);

/* The port is the socket @fd (tests, and a transport on a descriptor): read and written here. */
int exec_relay_attach_fd(struct exec_relay *r, int fd) WARN_UNUSED;

/* The run's timings and counts into a report (the fields the relay knows). */
void exec_relay_report(const struct exec_relay *r, struct exec_report *rep);

/* CLOCK_MONOTONIC in ns. */
uint64_t exec_now_ns(void);

#endif
