/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol between kvmrun (the host) and its guest agent in exec mode.
 * Shared by both sides: plain C, no host-only headers.
 *
 * Transport: one byte stream in each direction (a virtio-console port, or on
 * the host a socket for tests). The agent finds it on the kernel command line
 * as kvmrun.agent=DEV.
 *
 * Frames: an 8-byte header, then the payload.
 *     le32 type      one of enum agent_msg_type
 *     le32 length    payload bytes, 0 .. AGENT_PAYLOAD_MAX (64 KiB)
 *     payload        all integers in it little-endian
 * A receiver refuses (and ends the session on) an unknown type, a type that
 * does not travel in its direction, a length over the bound or not the one the
 * type has, and a payload that breaks the rules below. A frame split across
 * reads is waited for; nothing is acted on before the frame is whole.
 *
 * Agent -> host:
 *   HELLO    le32 version (AGENT_PROTO_VERSION), le32 flags (AGENT_HELLO_READY).
 *            The first frame, once. Then the agent waits for START.
 *   STDOUT   PROGRAM's output bytes (1 .. 64 KiB). With a tty, the pty's output.
 *   STDERR   the same for its stderr (never sent with a tty).
 *   CREDIT   le32 stream (AGENT_STREAM_STDIN), le32 bytes: see flow control.
 *   EXIT     le32 kind, le32 value: how PROGRAM ended (enum agent_exit_kind):
 *              EXITED       value = exit status 0..255
 *              SIGNALED     value = signal number 1..64 (a shell reports 128+N)
 *              EXEC_FAILED  value = errno of execve (or of the PATH search):
 *                           ENOENT, ENOTDIR, ENAMETOOLONG -> 127, others 126
 *              SETUP_FAILED value = errno of setgid/setuid/chdir/pipe/fork
 *                           before exec (125, as env(1) has it)
 *            Sent once, after PROGRAM's stdout and stderr were relayed to their
 *            end; nothing follows it. The agent then powers the VM off.
 *   ERROR    a text line (1 .. 1024 bytes, no NUL, no control characters but
 *            tab) saying what went wrong in the agent; it may come at any time,
 *            and after it the agent ends (without EXIT when it came first).
 *
 * Host -> agent:
 *   START    the job, once, after HELLO:
 *              le32 uid, le32 gid, le32 flags (AGENT_START_TTY),
 *              le16 rows, le16 cols (the pty's window size; 0 0 without one),
 *              le32 argc (1 .. AGENT_ARGC_MAX), le32 envc (0 .. AGENT_ENVC_MAX),
 *              then argc NUL-terminated strings (argv; argv[0] not empty), envc
 *              NUL-terminated strings (each NAME=VALUE with a non-empty NAME),
 *              and one NUL-terminated workdir (empty: "/"; else absolute,
 *              shorter than AGENT_WORKDIR_MAX); nothing after it.
 *            PROGRAM is found through PATH of the given environment (as
 *            execvp does; a default PATH when it has none).
 *   STDIN    bytes for PROGRAM's stdin (1 .. 64 KiB). Not after STDIN_EOF.
 *   STDIN_EOF PROGRAM's stdin ends (with a tty: the pty's EOF character).
 *   WINCH    le16 rows, le16 cols: the pty's new window size.
 *   SIGNAL   le32 signo (1 .. 64): sent to PROGRAM's process group.
 *   CREDIT   le32 stream (AGENT_STREAM_STDOUT or _STDERR), le32 bytes.
 *   Every frame but START only after START.
 *
 * Flow control: the data of each stream (stdin, stdout, stderr) is bounded by
 * a window its receiver grants with CREDIT frames; every window starts at 0.
 * A data frame may carry at most the window left, which shrinks by its length;
 * a CREDIT adds to it (the sum never above AGENT_WINDOW_MAX). A sender holds
 * back what exceeds the window; over-sending is a protocol violation. So the
 * host grants stdout/stderr credit as its own stdout/stderr take the bytes:
 * while it does not, the agent stops reading PROGRAM's pipe and PROGRAM blocks
 * on a full pipe; nothing is dropped. The agent grants stdin credit as PROGRAM
 * takes its input. Control frames are never held back: each side reads the
 * stream at all times.
 */
#ifndef KVMRUN_AGENT_PROTO_H
#define KVMRUN_AGENT_PROTO_H

#include <stdint.h>

#define AGENT_PROTO_VERSION 1
#define AGENT_HDR_SIZE 8
#define AGENT_PAYLOAD_MAX (64 * 1024)
#define AGENT_FRAME_MAX (AGENT_HDR_SIZE + AGENT_PAYLOAD_MAX)

#define AGENT_ARGC_MAX 4096
#define AGENT_ENVC_MAX 4096
#define AGENT_WORKDIR_MAX 4096 /* with its NUL */
#define AGENT_ERROR_MAX 1024
#define AGENT_WINDOW_MAX (64u * 1024 * 1024)
#define AGENT_SIGNAL_MAX 64

#define AGENT_HELLO_READY 0x1u
#define AGENT_START_TTY 0x1u

/* Fixed part of START before its strings. */
#define AGENT_START_FIXED 24

enum agent_msg_type {
	AGENT_MSG_HELLO = 1,
	AGENT_MSG_START = 2,
	AGENT_MSG_STDIN = 3,
	AGENT_MSG_STDIN_EOF = 4,
	AGENT_MSG_STDOUT = 5,
	AGENT_MSG_STDERR = 6,
	AGENT_MSG_WINCH = 7,
	AGENT_MSG_SIGNAL = 8,
	AGENT_MSG_CREDIT = 9,
	AGENT_MSG_EXIT = 10,
	AGENT_MSG_ERROR = 11,
	AGENT_MSG_TYPE_MAX = 11,
};

enum agent_stream {
	AGENT_STREAM_STDIN = 0,
	AGENT_STREAM_STDOUT = 1,
	AGENT_STREAM_STDERR = 2,
	AGENT_STREAMS = 3,
};

enum agent_exit_kind {
	AGENT_EXIT_EXITED = 0,
	AGENT_EXIT_SIGNALED = 1,
	AGENT_EXIT_EXEC_FAILED = 2,
	AGENT_EXIT_SETUP_FAILED = 3,
};

#endif
