// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
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
