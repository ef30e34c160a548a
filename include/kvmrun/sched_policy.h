/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_SCHED_POLICY_H
#define KVMRUN_SCHED_POLICY_H

/*
 * The scheduling policy of the event loop's thread, and the notification
 * choices that follow from it (docs/performance.md gives the reasons and the
 * measurements). Devices feed it one report per pass (sp_report); it decides
 * how the loop thread waits (SCHED_BATCH or SCHED_OTHER, set from the loop's
 * before-wait hook), and answers a device's questions before it notifies a
 * pass's completion: hold the notification back (sp_hold_ns), or let other
 * threads run first (sp_before_notify). One per VM; loop thread only. A
 * device without a policy (NULL) reports nothing, holds nothing, yields never.
 */

#include <stddef.h>

#include "kvmrun/compiler.h"

struct ev_loop;
struct sp_policy;

/* What a pass served. */
enum sp_kind {
	SP_REQUESTS,  /* requests the guest waits on one by one (a disk's) */
	SP_RX_FRAMES, /* frames handed to the guest */
	SP_TX_FRAMES, /* frames the guest sent */
};

/* One pass of a device over a queue (a kick's, a batch of backend events). */
struct sp_pass {
	enum sp_kind kind;
	unsigned int count; /* requests or frames the pass served */
	size_t largest;	    /* frames: the longest one's length, without the virtio header */
};

/* A policy that starts out batching, and hooks itself before each wait of loop. */
int sp_create(struct sp_policy **out, struct ev_loop *loop) WARN_UNUSED;
/* Unhooks and frees (the loop must still exist); NULL is fine. */
void sp_destroy(struct sp_policy *sp);

/* A device served a pass (count 0: nothing, ignored). */
void sp_report(struct sp_policy *sp, const struct sp_pass *pass);

/*
 * The pass (not yet reported) is about to notify the driver of its
 * completions: how many nanoseconds to hold the notification back (the device
 * then sends it itself, later), or 0 to send it now.
 */
long sp_hold_ns(const struct sp_policy *sp, const struct sp_pass *pass);

/*
 * The device notifies the pass's completions now (sp_hold_ns said 0, or it
 * could not hold): the policy may let the threads ready on this CPU run first.
 */
void sp_before_notify(struct sp_policy *sp, const struct sp_pass *pass);

#endif
