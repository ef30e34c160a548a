/* SPDX-License-Identifier: Apache-2.0 */
/* The host side of a console: the terminal and the log file (backend/console.c). */
#ifndef KVMRUN_DEVICES_BACKEND_CONSOLE_H
#define KVMRUN_DEVICES_BACKEND_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

struct console;
struct ev_loop;

/* Input from the host, pushed to the device; returns how many bytes it took. */
typedef size_t (*console_push_fn)(void *opaque, const uint8_t *buf, size_t len);
typedef void (*console_quit_fn)(void *opaque);
/* console_write() takes bytes again after it took fewer than offered (loop thread). */
typedef void (*console_writer_fn)(void *opaque);

/* Output stdout has not taken yet, held for it at most; beyond it writers are refused. */
#define CONSOLE_OUT_BUF (64u << 10)

struct console_stats {
	uint64_t log_bytes;   /* appended to the log */
	uint64_t log_cut;     /* not appended: past log_max, or refused by the file */
	uint64_t out_dropped; /* never reached stdout: it was gone (a closed pipe, EIO) */
};

/*
 * use_stdio: read stdin (raw mode when it is a terminal, restored by
 * console_restore and on destroy) and write stdout, never blocking on it.
 * log_path: also append every output byte there (NULL: none), at most log_max
 * bytes (UINT64_MAX: no bound); what is cut is counted. The escape Ctrl-A x
 * calls quit.
 */
int console_create(struct console **out, struct ev_loop *loop, bool use_stdio,
		   const char *log_path, uint64_t log_max, console_quit_fn quit,
		   void *quit_opaque) WARN_UNUSED;
/*
 * Output from the guest; any thread, never blocks. Returns the bytes taken
 * (written, held for stdout, or dropped when stdout is gone): fewer than len
 * when stdout is full and the buffer too. The writer then keeps the rest and
 * tries again when its console_writer_fn is called.
 */
size_t console_write(struct console *con, const uint8_t *buf, size_t len);
/* Register (at setup, up to four) or remove a writer to call back; 0 or -ENOSPC. */
int console_add_writer(struct console *con, console_writer_fn fn, void *opaque) WARN_UNUSED;
void console_remove_writer(struct console *con, void *opaque);
void console_get_stats(struct console *con, struct console_stats *st);
/* The last bytes the guest printed, up to CONSOLE_TAIL (and size); returns how many. */
#define CONSOLE_TAIL 4096u
size_t console_tail(struct console *con, uint8_t *buf, size_t size);
/* Where input goes. */
void console_attach(struct console *con, console_push_fn push, void *opaque);
/* The device has room again after refusing input; any thread. */
void console_input_ready(struct console *con);
/*
 * Puts the terminal (and stdout's flags) back as they were; safe to call more
 * than once, from any exit path, and from a signal handler (tcsetattr and
 * fcntl only, each at most once).
 */
void console_restore(struct console *con);
void console_destroy(struct console *con);

#endif
