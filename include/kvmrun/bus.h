/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_BUS_H
#define KVMRUN_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "kvmrun/compiler.h"

/*
 * A device's handler for its range. offset is relative to the range's base;
 * data holds len bytes (1, 2, 4 or 8), little endian. Reads fill data.
 */
typedef void (*bus_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		       bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_fn fn;
	void *opaque;
	pthread_mutex_t *lock; /* held around fn; may be NULL */
	const char *name;
};

#define BUS_MAX_RANGES 64

/* Ranges are added before any vCPU runs; lookups take no lock. */
struct bus {
	const char *name;
	struct bus_range ranges[BUS_MAX_RANGES];
	unsigned int nr;
};

/*
 * For byte-wide registers: false for any other width, after filling a read
 * with all ones (what an unclaimed or ignored access returns).
 */
static inline bool bus_byte_access(uint8_t *data, uint32_t len, bool is_write)
{
	if (len == 1)
		return true;
	if (!is_write)
		for (uint32_t i = 0; i < len; i++)
			data[i] = 0xff;
	return false;
}

void bus_init(struct bus *bus, const char *name);
int bus_add(struct bus *bus, uint64_t base, uint64_t len, bus_fn fn, void *opaque,
	    pthread_mutex_t *lock, const char *name) WARN_UNUSED;
/* Returns 0, or -ENOENT when no device claims the address (reads then see all ones). */
int bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
