/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_TAP_H
#define KVMRUN_DEVICES_TAP_H

/*
 * Tap backend: a Linux tap interface opened with IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR and a 12-byte virtio 1.x header (with num_buffers) in front of
 * every frame, non-blocking. Each read returns one frame, each write sends
 * one. All calls but tap_open are for the event-loop thread.
 */

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "kvmrun/compiler.h"
#include "kvmrun/config.h"
#include "kvmrun/exit_status.h"
#include "backend/netbe.h"

/* Offload flags of TUNSETOFFLOAD (linux/if_tun.h); USO came with Linux 6.2. */
#include <linux/if_tun.h>
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define TAP_VNET_HDR_LEN NETBE_HDR_LEN

struct tap;

/*
 * cfg->ifname: open /dev/net/tun and attach to that tap (created, and gone
 * again when kvmrun exits, when it does not exist and CAP_NET_ADMIN allows).
 * cfg->fd: check that the descriptor is a tap with IFF_NO_PI and IFF_VNET_HDR
 * and take it over (it is closed by tap_close). Both set the header size and
 * probe which offloads the tap accepts, then turn them all off. On error
 * returns -errno with one line naming the option in err; the caller exits
 * with KVMRUN_ERR_INPUT.
 */
int tap_open(struct tap **out, const struct net_config *cfg, char *err, size_t errlen) WARN_UNUSED;

/*
 * Any descriptor that carries one header + frame per read and write (a
 * SOCK_SEQPACKET socket in the unit tests): no ioctl is made, the offloads
 * are taken as given, tap_set_offload only records them. Takes over fd.
 */
int tap_open_fd(struct tap **out, int fd, const char *name, unsigned int offloads) WARN_UNUSED;

void tap_close(struct tap *t);

/* The tap as virtio-net's backend; netbe_close(tap_backend(t)) is tap_close(t). */
struct netbe *tap_backend(struct tap *t);

int tap_fd(const struct tap *t);
const char *tap_name(const struct tap *t);
/* TUN_F_* flags the tap accepted when probed. */
unsigned int tap_offloads(const struct tap *t);
/* The interface's MTU, or 0 when unknown. */
unsigned int tap_mtu(const struct tap *t);
/* What the reader (the guest) takes: TUN_F_* flags, a subset of tap_offloads(). */
int tap_set_offload(struct tap *t, unsigned int flags) WARN_UNUSED;
unsigned int tap_offload_set(const struct tap *t);

/* One frame with its header; bytes read or written, or -errno (-EAGAIN: none). */
ssize_t tap_read(struct tap *t, void *buf, size_t len);
ssize_t tap_writev(struct tap *t, const struct iovec *iov, int iovcnt);

#endif
