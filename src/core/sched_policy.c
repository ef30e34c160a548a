// SPDX-License-Identifier: Apache-2.0
/*
 * A guest that posts one request and waits for it (a disk at queue depth 1)
 * gets the quickest answer from a loop that preempts it on the kick
 * (SCHED_OTHER). A guest that posts many, or a stream of packets, is served
 * better by a loop that lets it run on and then takes everything in one pass
 * (SCHED_BATCH): fewer switches between the two, and fewer exits. The loop
 * waits as SCHED_BATCH until the devices report SP_SINGLES passes in a row
 * that served one request each; then as SCHED_OTHER for SP_PROBE reported
 * passes, in which it cannot see whether batching would pay (each kick is
 * served at once, so each pass finds one request); then it tries SCHED_BATCH
 * again. Only devices whose requests the guest waits on report: a disk each
 * pass, by its requests; a network device each pass of frames, a pass of
 * frames of at most SP_SMALL_FRAME bytes by their count and one with a larger
 * frame as a batch, so that a stream never looks like a guest waiting on each
 * frame while a ping and its reply do.
 *
 * While the loop preempts, the completion of a transmit pass of one small
 * frame is held back SP_TX_HOLD_NS: the vCPU preempted at the kick still holds
 * the guest's transmit lock, and the completion's interrupt would wake another
 * vCPU that spins on it. Any other transmit completion goes after a yield:
 * the sent frames' receiver first, then the vCPU (which on a shared CPU would
 * run first, having slept longer).
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kvmrun/event_loop.h"
#include "kvmrun/log.h"
#include "kvmrun/sched_policy.h"

#define SP_SINGLES 8
#define SP_PROBE 64
/* A frame (without the header) a request and reply is made of: a ping, an ACK. */
#define SP_SMALL_FRAME 256
/* How long a transmit completion is held back while the loop preempts (4 ms). */
#define SP_TX_HOLD_NS 4000000L

struct sp_policy {
	struct ev_loop *loop;
	int want;	  /* how the loop should wait: SCHED_OTHER or SCHED_BATCH */
	int set;	  /* as last set on the loop thread; -1 before */
	unsigned int run; /* singles in a row (BATCH), or passes (OTHER) */
};

/* Before each wait of the loop: the loop thread takes the wanted policy. */
static void sp_before_wait(void *opaque)
{
	struct sp_policy *sp = opaque;
	struct sched_param param = {.sched_priority = 0};

	if (sp->want == sp->set)
		return;
	/* On failure the thread stays as it is; the next change tries again. */
	if (sched_setscheduler(0, sp->want, &param) < 0)
		log_debug("event loop: sched_setscheduler: %s", strerror(errno));
	sp->set = sp->want;
}

int sp_create(struct sp_policy **out, struct ev_loop *loop)
{
	struct sp_policy *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return -ENOMEM;
	sp->loop = loop;
	sp->want = SCHED_BATCH;
	sp->set = -1;
	ev_before_wait(loop, sp_before_wait, sp);
	*out = sp;
	return 0;
}

void sp_destroy(struct sp_policy *sp)
{
	if (!sp)
		return;
	ev_before_wait(sp->loop, NULL, NULL);
	free(sp);
}

/* The requests a pass counts as: a pass of frames with a large one is a batch. */
static unsigned int sp_requests(const struct sp_pass *pass)
{
	if (pass->kind != SP_REQUESTS && pass->largest > SP_SMALL_FRAME)
		return MAX(pass->count, 2U);
	return pass->count;
}

void sp_report(struct sp_policy *sp, const struct sp_pass *pass)
{
	unsigned int n = sp_requests(pass);

	if (!sp || !n)
		return;
	if (sp->want == SCHED_BATCH) {
		sp->run = n == 1 ? sp->run + 1 : 0;
		if (sp->run >= SP_SINGLES) {
			sp->want = SCHED_OTHER;
			sp->run = 0;
		}
	} else if (++sp->run >= SP_PROBE) {
		sp->want = SCHED_BATCH;
		sp->run = 0;
	}
}

/* Whether the loop preempts the guest: it waited as SCHED_OTHER last. */
static bool sp_preempting(const struct sp_policy *sp)
{
	return sp && sp->set == SCHED_OTHER;
}

long sp_hold_ns(const struct sp_policy *sp, const struct sp_pass *pass)
{
	if (pass->kind == SP_TX_FRAMES && pass->count == 1 && pass->largest <= SP_SMALL_FRAME &&
	    sp_preempting(sp))
		return SP_TX_HOLD_NS;
	return 0;
}

void sp_before_notify(struct sp_policy *sp, const struct sp_pass *pass)
{
	if (sp && pass->kind == SP_TX_FRAMES)
		sched_yield();
}
