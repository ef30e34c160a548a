/* SPDX-License-Identifier: Apache-2.0 */
/* Thin wrappers over /dev/kvm ioctls: each names its ioctl in the error it logs. */
#ifndef KVMRUN_KVM_H
#define KVMRUN_KVM_H

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include "kvmrun/compiler.h"

/* Returns the ioctl's result (>= 0) or -errno; logs "NAME: error" at debug level. */
int kvm_ioctl_named(int fd, unsigned long req, unsigned long arg, const char *name);

/* An ioctl whose argument is a pointer: the size encoded in req must match *arg. */
#define kvm_ioctl_ptr(fd, req, arg)                                                           \
	({                                                                                    \
		_Static_assert(_IOC_SIZE(req) == sizeof(*(arg)), #req ": argument size");     \
		kvm_ioctl_named((fd), (req), (unsigned long)(arg), #req);                      \
	})

/* An ioctl that takes a plain value (or nothing). */
#define kvm_ioctl_val(fd, req, val) kvm_ioctl_named((fd), (req), (unsigned long)(val), #req)

/* An ioctl whose struct ends in a flexible array (size checked on the header). */
#define kvm_ioctl_var(fd, req, arg) kvm_ioctl_named((fd), (req), (unsigned long)(arg), #req)

#endif
