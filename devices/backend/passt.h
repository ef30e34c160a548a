/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_BACKEND_PASST_H
#define KVMRUN_DEVICES_BACKEND_PASST_H

/*
 * passt as virtio-net's backend (netbe.h): frames on a connected SOCK_STREAM
 * socket, each behind its length as a 4-byte big-endian word, no virtio-net
 * header and no offloads.
 *
 * Receive: the stream is reassembled, partial length words and partial
 * frames included, one frame per read call: each read takes the rest of the
 * current frame and at most the next length word, so that no whole frame ever
 * waits in kvmrun while the socket is empty (the loop watches the socket). A
 * zero 12-byte header goes in front of it. A length below an Ethernet header
 * or above PASST_FRAME_MAX is a broken peer: the backend is dead from then on
 * (-EBADMSG, and -EPIPE after that).
 *
 * Transmit: the header is stripped and the length put in front. What the
 * socket does not take at once (it is full) waits in a buffer of the
 * backend's, in order, sent as soon as the socket takes it (a duplicate of
 * the socket watched for EPOLLOUT while bytes wait); a frame that does not
 * fit in that buffer is dropped and counted (tx_refused), as a tap's full
 * queue drops, and the call reports it taken.
 */
#include <stddef.h>
#include <stdint.h>

#include "backend/netbe.h"
#include "kvmrun/compiler.h"

struct ev_loop;

/* The largest frame either way: 64 KiB of IP packet and an Ethernet header. */
#define PASST_FRAME_MAX 65550
#define PASST_ETH_HLEN 14
/* What waits for the socket, at most. */
#define PASST_TX_BUF (1024 * 1024)

struct passt_stats {
	uint64_t tx_queued; /* frames (or their rests) that waited for the socket */
	uint64_t tx_refused; /* frames dropped: the buffer was full */
	uint64_t rx_frames;  /* frames read */
	uint64_t rx_split;   /* of them, frames that came in more than one piece */
};

/*
 * Takes over fd (a connected stream socket, made non-blocking here) even on
 * failure. mtu is what the device offers. loop may be NULL: waiting bytes are
 * then sent only by the next read or write call. -errno on failure.
 */
int passt_open_fd(struct netbe **out, int fd, unsigned int mtu, struct ev_loop *loop) WARN_UNUSED;

const struct passt_stats *passt_stats(const struct netbe *be);

#endif
