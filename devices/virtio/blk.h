/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_DEVICES_VIRTIO_BLK_H
#define KVMRUN_DEVICES_VIRTIO_BLK_H

#include <stddef.h>
#include <stdint.h>

#include "kvmrun/compiler.h"
#include "kvmrun/virtio.h"
#include "kvmrun/config.h"
#include "kvmrun/exit_status.h"
#include "virtio/devices.h"

/* Feature bits and request types (virtio 1.x, section 5.2). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_WZ_F_UNMAP 1

#define VIRTIO_BLK_QUEUE_MAX 1024 /* seg_max 1022: a 1 MiB request in one chain */
#define VIRTIO_BLK_SEG_MAX (VIRTIO_BLK_QUEUE_MAX - 2)
#define VIRTIO_BLK_MAX_DISCARD_SEG 32
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1U << 22) /* 2 GiB per segment */

/* Config space offsets (struct virtio_blk_config, little-endian). */
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_BLK_SIZE 20
#define VIRTIO_BLK_CFG_NUM_QUEUES 34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN 44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG 52
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP 56
#define VIRTIO_BLK_CFG_SIZE 60

struct rl_limiter;

/* The device's rate limiter and its counters; NULL without --disk iops= or bw=. */
const struct rl_limiter *virtio_blk_limiter(const struct virtio_dev *vdev);
/* The device's counters, of requests completed (the loop thread's; read them once it stopped). */
struct blk_stats {
	uint64_t reads, read_bytes;   /* VIRTIO_BLK_T_IN completed without error */
	uint64_t writes, write_bytes; /* VIRTIO_BLK_T_OUT completed without error */
	uint64_t flushes;	      /* VIRTIO_BLK_T_FLUSH completed without error */
	uint64_t discards;	      /* DISCARD and WRITE_ZEROES completed without error */
	uint64_t errors;	      /* any request completed with IOERR or UNSUPP */
};

const struct blk_stats *virtio_blk_stats(const struct virtio_dev *vdev);

struct disk_stats;
/* The backend's counters (a snapshot disk's overlay). */
void virtio_blk_disk_stats(const struct virtio_dev *vdev, struct disk_stats *st);

#endif
