// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>

#include "kvmrun/bus.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

int bus_add(struct bus *bus, uint64_t base, uint64_t len, bus_fn fn, void *opaque,
	    pthread_mutex_t *lock, const char *name)
{
	uint64_t end;
	unsigned int i;

	if (!len || !fn || __builtin_add_overflow(base, len - 1, &end))
		return -EINVAL;
	if (bus->nr >= BUS_MAX_RANGES)
		return -ENOSPC;
	for (i = 0; i < bus->nr; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (base <= r->base + (r->len - 1) && r->base <= end)
			return -EEXIST;
	}
	/* Keep the array sorted by base for the binary search in bus_access(). */
	for (i = bus->nr; i > 0 && bus->ranges[i - 1].base > base; i--)
		bus->ranges[i] = bus->ranges[i - 1];
	bus->ranges[i] = (struct bus_range){
		.base = base, .len = len, .fn = fn, .opaque = opaque, .lock = lock, .name = name,
	};
	bus->nr++;
	return 0;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr);

	if (!r) {
		if (!is_write)
			memset(data, 0xff, len);
		return -ENOENT;
	}
	if (r->lock)
		pthread_mutex_lock(r->lock);
	r->fn(r->opaque, addr - r->base, data, len, is_write);
	if (r->lock)
		pthread_mutex_unlock(r->lock);
	return 0;
}
