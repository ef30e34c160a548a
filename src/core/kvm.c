// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "kvmrun/kvm.h"
#include "kvmrun/log.h"

int kvm_ioctl_named(int fd, unsigned long req, unsigned long arg, const char *name)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && errno == EINTR && req != KVM_RUN);
	if (ret < 0) {
		ret = -errno;
		if (req != KVM_RUN)
			log_debug("%s: %s", name, strerror(-ret));
	}
	return ret;
}

int kvm_var_size_check(const char *name, size_t hdr_size, uint64_t n, size_t entry_size,
		       size_t bytes)
{
	uint64_t need;

	if (__builtin_mul_overflow(n, (uint64_t)entry_size, &need) ||
	    __builtin_add_overflow(need, (uint64_t)hdr_size, &need) || need > bytes) {
		log_err("%s: %" PRIu64 " entries of %zu bytes after a %zu-byte header"
			" overflow the %zu bytes allocated",
			name, n, entry_size, hdr_size, bytes);
		return -EINVAL;
	}
	return 0;
}
