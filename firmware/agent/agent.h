/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest agent of exec mode: PID 1 of the guest, or (for tests) an ordinary
 * process on an inherited channel. It runs one program for kvmrun and relays
 * its stdio over the channel (kvmrun/agent_proto.h).
 */
#ifndef KVMRUN_AGENT_H
#define KVMRUN_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "exec/proto.h"

/* The stdin window the agent grants: what it buffers for PROGRAM at most. */
#define AGENT_STDIN_WINDOW (256 * 1024)
/* After PROGRAM's end, how long its output may stay silent before it counts as ended. */
#define AGENT_DRAIN_IDLE_MS 1000

struct agent {
	int chan;  /* the channel to kvmrun */
	int sigfd; /* SIGCHLD */
	struct proto_dec dec;

	pid_t pid; /* PROGRAM, 0 before START */
	bool tty;
	int in_fd;	       /* PROGRAM's stdin (pipe or pty master), -1 once closed */
	int out_fd;	       /* PROGRAM's stdout (pipe or pty master), -1 at its end */
	int err_fd;	       /* PROGRAM's stderr, -1 at its end or with a tty */
	bool out_hup, err_hup; /* writers gone, bytes left that wait for credit */

	uint8_t *inbuf; /* stdin bytes not yet taken by PROGRAM */
	size_t in_off, in_len;
	uint32_t in_unreturned; /* stdin window taken and not yet granted again */
	bool in_eof;		/* STDIN_EOF arrived */
	bool in_dead;		/* PROGRAM's stdin is closed: stdin is discarded */

	bool exited; /* PROGRAM was reaped */
	unsigned int exit_kind;
	uint32_t exit_value;

	uint8_t frame[AGENT_FRAME_MAX]; /* a frame being sent */
	uint8_t rx[AGENT_PAYLOAD_MAX];	/* bytes read from the channel */
};

/* Sends @len bytes to kvmrun whole. Returns 0 or -errno. */
int agent_send(struct agent *a, const void *buf, size_t len);
/* Sends an ERROR frame and writes the line to stderr too. */
void agent_error(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Starts PROGRAM as @s says. Returns 0 with a->pid set, or, when PROGRAM could
 * not be started, 0 with a->exited and the exit kind and value set; -errno on
 * an agent failure.
 */
int agent_spawn(struct agent *a, const struct proto_start *s);

/*
 * The session on a->chan: HELLO, START, the relay, EXIT. Returns 0 once EXIT
 * was sent, -EPROTO when kvmrun broke the protocol, -EPIPE when it went away.
 */
int agent_session(struct agent *a);

/* Brings up eth0.. as kvmrun.ethN= on the kernel command line says (agent_net.c). */
void agent_net_init(void);

#endif
