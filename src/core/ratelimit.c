// SPDX-License-Identifier: Apache-2.0
/*
 * Token buckets (ratelimit.h). Tokens are whole; what a refill gains in
 * fractions of a token is kept in frac as rate * ns, so that no time is lost to
 * rounding. Products of a rate and a time are taken in 128 bits: neither a large
 * rate (100 GB/s) nor a long idle time can overflow them.
 */
#include "kvmrun/ratelimit.h"

static uint64_t rl_cap(uint64_t v)
{
	return v < RL_MAX ? v : RL_MAX;
}

void rl_bucket_init(struct rl_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	rate = rl_cap(rate);
	burst = rl_cap(burst ? burst : rate);
	*b = (struct rl_bucket){
	    .rate = rate,
	    .burst = (int64_t)burst,
	    .tokens = (int64_t)burst,
	    .last_ns = now_ns,
	};
}

static void rl_refill(struct rl_bucket *b, uint64_t now_ns)
{
	unsigned __int128 gained;
	uint64_t room;

	if (now_ns <= b->last_ns) {
		/* Backwards (or no time): start again from now, nothing gained. */
		b->last_ns = now_ns;
		return;
	}
	gained = (unsigned __int128)(now_ns - b->last_ns) * b->rate + b->frac;
	b->last_ns = now_ns;
	room = (uint64_t)(b->burst - b->tokens); /* burst >= tokens, both within +-2^62 */
	if (gained / RL_NS_PER_S >= room) {
		b->tokens = b->burst;
		b->frac = 0;
		return;
	}
	b->tokens += (int64_t)(gained / RL_NS_PER_S);
	b->frac = (uint64_t)(gained % RL_NS_PER_S);
}

uint64_t rl_bucket_wait(struct rl_bucket *b, uint64_t n, uint64_t now_ns)
{
	unsigned __int128 need_ns;
	uint64_t want;

	if (!b->rate)
		return 0;
	rl_refill(b, now_ns);
	want = n < (uint64_t)b->burst ? n : (uint64_t)b->burst;
	if (b->tokens >= 0 && (uint64_t)b->tokens >= want)
		return 0;
	/* tokens short: (want - tokens) * 1e9 - frac, in rate * ns, rounded up to whole ns */
	need_ns = (unsigned __int128)(uint64_t)((int64_t)want - b->tokens) * RL_NS_PER_S - b->frac;
	need_ns = (need_ns + b->rate - 1) / b->rate;
	return need_ns < RL_WAIT_MAX_NS ? (uint64_t)need_ns : RL_WAIT_MAX_NS;
}

void rl_bucket_take(struct rl_bucket *b, uint64_t n)
{
	/* The debt stops at -RL_MAX: wait times stay far below 2^64 ns. */
	int64_t floor = -(int64_t)RL_MAX;

	if (!b->rate)
		return;
	n = rl_cap(n);
	b->tokens = b->tokens - (int64_t)n < floor ? floor : b->tokens - (int64_t)n;
}

void rl_limiter_init(struct rl_limiter *l, uint64_t ops, uint64_t ops_burst, uint64_t bytes,
		     uint64_t bytes_burst, uint64_t now_ns)
{
	*l = (struct rl_limiter){0};
	rl_bucket_init(&l->ops, ops, ops_burst, now_ns);
	rl_bucket_init(&l->bytes, bytes, bytes_burst, now_ns);
}

static void rl_wait_end(struct rl_limiter *l, struct rl_wait *w, uint64_t now_ns)
{
	if (!w->on)
		return;
	if (now_ns > w->since)
		l->waited_ns += now_ns - w->since;
	w->on = false;
}

uint64_t rl_admit(struct rl_limiter *l, struct rl_wait *w, uint64_t len, uint64_t now_ns)
{
	uint64_t a = rl_bucket_wait(&l->ops, 1, now_ns);
	uint64_t b = rl_bucket_wait(&l->bytes, len, now_ns);
	uint64_t wait = a > b ? a : b;

	if (wait) {
		if (!w->on) {
			l->throttled++;
			w->on = true;
			w->since = now_ns;
		}
		return wait;
	}
	rl_wait_end(l, w, now_ns);
	rl_bucket_take(&l->ops, 1);
	rl_bucket_take(&l->bytes, len);
	return 0;
}

void rl_wait_drop(struct rl_limiter *l, struct rl_wait *w, uint64_t now_ns)
{
	rl_wait_end(l, w, now_ns);
}
