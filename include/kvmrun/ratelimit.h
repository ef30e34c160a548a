/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token buckets for the rate limits of --disk (iops=, bw=) and --net (pps=, bw=).
 * Pure logic: every call takes the time (CLOCK_MONOTONIC ns) from its caller,
 * so that tests can drive it; integer math only.
 *
 * A bucket holds up to burst tokens and gains rate tokens a second. A request
 * of n tokens may go once the bucket holds min(n, burst) of them; it then takes
 * all n, so a request larger than the burst goes when the bucket is full and
 * leaves it in debt (below zero), which later requests wait out. Nothing waits
 * forever, and over any stretch no more than burst + rate * seconds (plus one
 * request's overshoot) goes through.
 *
 * A limiter is a device's (or a direction's) two buckets, one counting requests
 * (iops, pps), one counting bytes (bw), with the counters of the waits.
 */
#ifndef KVMRUN_RATELIMIT_H
#define KVMRUN_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvmrun/compiler.h"

/* The largest rate or burst a bucket takes (larger values are cut to it). */
#define RL_MAX (1ULL << 50)
#define RL_NS_PER_S 1000000000ULL
/* The longest wait rl_bucket_wait answers: ask again after it (a deep debt at a tiny rate). */
#define RL_WAIT_MAX_NS (3600 * RL_NS_PER_S)

struct rl_bucket {
	uint64_t rate;	  /* tokens a second; 0: no limit */
	int64_t burst;	  /* the most it holds */
	int64_t tokens;	  /* below 0: debt */
	uint64_t frac;	  /* rate * ns gained toward the next token, < RL_NS_PER_S */
	uint64_t last_ns; /* when tokens were last brought up to date */
};

/* rate 0: no limit; burst 0: one second's worth. Starts full at now_ns. */
void rl_bucket_init(struct rl_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);

/*
 * Bring the bucket up to now_ns and answer how long (ns) a request of n tokens
 * must still wait: 0 when it may go now, at most RL_WAIT_MAX_NS. Time that goes
 * backwards adds nothing.
 */
uint64_t rl_bucket_wait(struct rl_bucket *b, uint64_t n, uint64_t now_ns);

/* Take n tokens (after a wait of 0), into debt if need be. */
void rl_bucket_take(struct rl_bucket *b, uint64_t n);

/* Where one waiting request stands (a queue's, a direction's). */
struct rl_wait {
	bool on;	/* a request waits */
	uint64_t since; /* since when */
};

struct rl_limiter {
	struct rl_bucket ops;	/* tokens are requests */
	struct rl_bucket bytes; /* tokens are bytes */
	uint64_t throttled;	/* requests that had to wait */
	uint64_t waited_ns;	/* the time they waited, summed */
};

/* ops and bytes: rates a second (0: no limit); bursts 0: one second's worth. */
void rl_limiter_init(struct rl_limiter *l, uint64_t ops, uint64_t ops_burst, uint64_t bytes,
		     uint64_t bytes_burst, uint64_t now_ns);

/* Does l limit anything? */
static inline bool rl_limited(const struct rl_limiter *l)
{
	return l->ops.rate || l->bytes.rate;
}

/*
 * May a request of one op and len bytes go now? 0: yes, both buckets charged
 * and the wait w (if any) ended and added up. Otherwise the ns to wait before
 * asking again; the first refusal of a request counts it as throttled and
 * starts w.
 */
uint64_t rl_admit(struct rl_limiter *l, struct rl_wait *w, uint64_t len, uint64_t now_ns);

/* Forget a waiting request (a reset): its wait so far is added up. */
void rl_wait_drop(struct rl_limiter *l, struct rl_wait *w, uint64_t now_ns);

#endif
