// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmrun/guest_mem.h"
#include "kvmrun/log.h"

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

/*
 * Guest RAM, aligned to 2 MiB and offered transparent huge pages (as QEMU and
 * cloud-hypervisor do): KVM then maps the guest with 2 MiB pages, which takes
 * far fewer faults and TLB misses. Without THP it is ordinary anonymous memory.
 * With *fd >= 0 on return, the RAM is a memfd mapped shared (a vhost-user backend
 * maps the same pages): asked for with shared, sealed at its size so that nobody
 * who holds the descriptor can shrink it under the guest.
 */
uint8_t *gm_map_ram(uint64_t len, bool shared, int *fd)
{
	const uint64_t align = 2ULL << 20;
	uint8_t *p, *start;
	uint64_t head;

	*fd = -1;
	if (shared) {
		*fd = memfd_create("kvmrun-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (*fd < 0 || ftruncate(*fd, (off_t)len) < 0 ||
		    fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
			goto err_fd;
	}
	/* An aligned stretch of address space, then the RAM in it. */
	p = mmap(NULL, len + align, shared ? PROT_NONE : PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		goto err_fd;
	start = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	head = (uint64_t)(start - p);
	if (shared && mmap(start, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE,
			   *fd, 0) == MAP_FAILED) {
		munmap(p, len + align);
		goto err_fd;
	}
	if (head)
		munmap(p, head);
	munmap(start + len, align - head);
	if (madvise(start, len, MADV_HUGEPAGE) < 0)
		log_debug("guest RAM: MADV_HUGEPAGE: %s", strerror(errno));
	return start;

err_fd:
	if (*fd >= 0) {
		int e = errno;

		close(*fd);
		errno = e;
	}
	*fd = -1;
	return NULL;
}
