/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The frontend (driver) side of the vhost-user protocol: kvmrun hands a device's
 * virtqueues to a backend process over a connected unix stream socket, together with
 * guest RAM (the memory table, as file descriptors) and the queues' kick and call
 * eventfds. The backend then serves the rings itself; kvmrun only sets them up,
 * starts and stops them. Devices built on it (virtio-fs; later vhost-user-blk or
 * -net) call these functions; nothing here knows a device type.
 *
 * Every reply is hostile input: a short, oversized or unexpected message, a wrong
 * request code, file descriptors where none belong, or silence past the timeout
 * fail the call with a negative errno and leave a one-line reason in vu_error().
 * The connection is then broken for good: every later call fails at once with
 * -EPIPE, without touching the socket. The errors:
 *   -ETIMEDOUT   no (whole) reply within timeout_ms of the call's start
 *   -ECONNRESET  the backend closed the connection (EOF, or a send it refused)
 *   -EMSGSIZE    a reply's size over the bound (4096 bytes), not read
 *   -EPROTO      a malformed reply: wrong size, request code, version or flags
 *                (no reply bit), file descriptors attached (closed), a
 *                GET_VRING_BASE answer for another queue
 *   -EIO         a REPLY_ACK ack that is not 0 (the backend refused a request)
 * Arguments refused before anything is sent (-EINVAL, -EBADF, -EFAULT for a ring
 * outside guest RAM) also set vu_error() but leave the connection usable.
 *
 * Calls block until the backend answers or the timeout passes; they run during
 * setup on the main thread and later on the event loop (the driver sets its queues
 * up at run time), one call at a time: a connection has no lock of its own.
 */
#ifndef KVMRUN_DEVICES_VHOST_USER_H
#define KVMRUN_DEVICES_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

struct guest_mem;
struct msghdr;
struct vu_conn;

/* Protocol feature bits (vhost-user specification). */
#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_CONFIG 9

/* The feature bit that says the backend speaks protocol features. */
#define VU_F_PROTOCOL_FEATURES 30

/* One queue, as the driver set it up (guest physical addresses). */
struct vu_vring {
	uint16_t index; /* at most 255 (the protocol's kick/call messages carry 8 bits) */
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t base;	/* the next avail index to serve (0 after a reset) */
	int kick_fd;	/* the backend waits on it; kvmrun's doorbell eventfd */
	int call_fd;	/* the backend signals it when it used buffers */
};

/*
 * Take over the connected socket fd (closed by vu_close, or here on failure);
 * name is for log lines ("fs0"); timeout_ms (> 0) bounds each call as a whole:
 * no call blocks longer, however many messages it sends.
 */
int vu_open(struct vu_conn **out, int fd, const char *name, int timeout_ms) WARN_UNUSED;
void vu_close(struct vu_conn *c);
/* The socket, for the loop to watch for the backend hanging up or talking unasked. */
int vu_fd(const struct vu_conn *c);
/*
 * Why the last failing call failed, one line such as "fs0: vhost-user GET_FEATURES:
 * reply of 9 bytes, expected 8" ("" when none has). Calls refused with -EPIPE on a
 * broken connection leave the line that broke it.
 */
const char *vu_error(const struct vu_conn *c);
/* Whether a reply broke the connection (every call now fails with -EPIPE). */
bool vu_broken(const struct vu_conn *c);
/* The protocol feature bits negotiated by vu_handshake (0 before, or without any). */
uint64_t vu_protocol_features(const struct vu_conn *c);

/*
 * The start of every session: SET_OWNER, GET_FEATURES, and when the backend offers
 * VU_F_PROTOCOL_FEATURES, GET/SET_PROTOCOL_FEATURES with the bits of want_protocol
 * it also offers (REPLY_ACK is always asked for) and, with MQ, GET_QUEUE_NUM.
 * *features gets the backend's virtio feature bits; *queues its queue count (0:
 * not said).
 */
int vu_handshake(struct vu_conn *c, uint64_t want_protocol, uint64_t *features,
		 uint64_t *queues) WARN_UNUSED;
/* SET_FEATURES: what the driver accepted (plus VU_F_PROTOCOL_FEATURES if offered). */
int vu_set_features(struct vu_conn *c, uint64_t features) WARN_UNUSED;
/*
 * SET_MEM_TABLE: every region of gm, each backed by a file descriptor (guest_mem.h),
 * one fd per region with its fd_offset; a region without one: -EINVAL, nothing sent.
 */
int vu_set_mem_table(struct vu_conn *c, const struct guest_mem *gm) WARN_UNUSED;
/*
 * Hand one queue to the backend and start it: SET_VRING_NUM, _ADDR (the rings
 * translated to kvmrun's addresses through gm, their lengths checked), _BASE,
 * _KICK, _CALL, and _ENABLE when protocol features were negotiated. The size must
 * be a power of two up to 32768; each ring (descriptors 16 * size bytes, available
 * 6 + 2 * size, used 6 + 8 * size) must lie inside one region of gm, else -EFAULT
 * with nothing sent.
 */
int vu_vring_start(struct vu_conn *c, const struct guest_mem *gm,
		   const struct vu_vring *r) WARN_UNUSED;
/* Stop a queue (GET_VRING_BASE); *base gets where the backend stopped (may be NULL). */
int vu_vring_stop(struct vu_conn *c, uint16_t index, uint16_t *base) WARN_UNUSED;
/* Point a started queue's interrupts at another eventfd (SET_VRING_CALL). */
int vu_vring_set_call(struct vu_conn *c, uint16_t index, int call_fd) WARN_UNUSED;

/*
 * Attach fds to mh as one SCM_RIGHTS message in ctl, which has room for it
 * (CMSG_SPACE(nfds * sizeof(int)) bytes at least, aligned for struct cmsghdr).
 * Also for a backend's side of the socket, e.g. a test's.
 */
void vu_attach_fds(struct msghdr *mh, void *ctl, size_t ctl_size, const int *fds,
		   unsigned int nfds);

#endif
