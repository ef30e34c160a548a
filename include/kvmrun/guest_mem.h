/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_GUEST_MEM_H
#define KVMRUN_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

#define GM_MAX_REGIONS 4

struct gm_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
	int fd;		    /* the memfd behind host, for a vhost-user backend; -1: anonymous */
	uint64_t fd_offset; /* where host starts in fd */
};

struct guest_mem {
	struct gm_region regions[GM_MAX_REGIONS];
	unsigned int nr_regions;
};

/* Add a region backed by host memory; refuses overlaps and wrapping ranges. */
int gm_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host) WARN_UNUSED;
/* The same for memory mapped shared from fd at fd_offset (not owned: the caller closes it). */
int gm_add_region_fd(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host, int fd,
		     uint64_t fd_offset) WARN_UNUSED;

/*
 * Host pointer for [gpa, gpa + len), or NULL when any byte of it lies outside
 * one region or the range wraps. len 0 is refused.
 */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

int gm_read(const struct guest_mem *gm, void *dst, uint64_t gpa, uint64_t len) WARN_UNUSED;
int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len) WARN_UNUSED;

/*
 * Maps len bytes of guest RAM, 2 MiB aligned, transparent huge pages offered; with
 * shared, a sealed memfd mapped shared (its descriptor in *fd, else -1) for vhost-user
 * backends. NULL with errno on failure. The caller unmaps it (and closes *fd).
 */
uint8_t *gm_map_ram(uint64_t len, bool shared, int *fd);

/* Total bytes of guest RAM. */
uint64_t gm_total(const struct guest_mem *gm);

#endif
