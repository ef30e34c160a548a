// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>

#include "kvmrun/guest_mem.h"

int gm_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host)
{
	return gm_add_region_fd(gm, gpa, size, host, -1, 0);
}

int gm_add_region_fd(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host, int fd,
		     uint64_t fd_offset)
{
	uint64_t end;

	if (!size || !host || __builtin_add_overflow(gpa, size, &end))
		return -EINVAL;
	if (gm->nr_regions >= GM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (gpa < r->gpa + r->size && r->gpa < end)
			return -EEXIST;
	}
	gm->regions[gm->nr_regions++] = (struct gm_region){
		.gpa = gpa, .size = size, .host = host, .fd = fd, .fd_offset = fd_offset };
	return 0;
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (!len || __builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (gpa >= r->gpa && end <= r->gpa + r->size)
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int gm_read(const struct guest_mem *gm, void *dst, uint64_t gpa, uint64_t len)
{
	const void *p = gm_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gm_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

uint64_t gm_total(const struct guest_mem *gm)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < gm->nr_regions; i++)
		total += gm->regions[i].size;
	return total;
}
