/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_LOG_H
#define KVMRUN_LOG_H

#include <stdint.h>
#include "kvmrun/compiler.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/*
 * The level is the one piece of process-wide state: it is set once, from the
 * command line, before any thread starts, and only read afterwards.
 */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_parse_level(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) PRINTF_FMT(2, 3);

#define log_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* For messages a guest can trigger: at most a few per second per site. */
struct log_ratelimit {
	int64_t window_start_ns;
	unsigned int count;
	unsigned int suppressed;
};

void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
	PRINTF_FMT(3, 4);

#endif
