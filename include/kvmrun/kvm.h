/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one way kvmrun calls a KVM ioctl: through one of the three macros below,
 * each of which checks the argument against the size the request number encodes
 * (_IOC_SIZE), at compile time where the size is fixed, and names the ioctl in
 * what it logs. Each returns the ioctl's result (>= 0) or -errno (EINTR retried,
 * but for KVM_RUN); a failure is logged at debug level as "NAME: error" (KVM_RUN's
 * by its caller), and the caller's own message names the ioctl and the error too
 * (most are setup failures that end the process; the guest can provoke a few, such
 * as KVM_SET_GSI_ROUTING or KVM_IOEVENTFD, whose callers rate-limit what they log).
 */
#ifndef KVMRUN_KVM_H
#define KVMRUN_KVM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include "kvmrun/compiler.h"

/* The call behind the macros; use them instead. */
int kvm_ioctl_named(int fd, unsigned long req, unsigned long arg, const char *name);

/*
 * 0 if a header of hdr_size bytes followed by n entries of entry_size bytes fits in
 * the `bytes` allocated for the argument, else -EINVAL (logged, naming the ioctl).
 */
int kvm_var_size_check(const char *name, size_t hdr_size, uint64_t n, size_t entry_size,
		       size_t bytes) WARN_UNUSED;

/* A request that takes no struct: a plain value (KVM_CREATE_VCPU, KVM_RUN...). */
#define kvm_ioctl_val(fd, req, val)                                                                \
	({                                                                                         \
		_Static_assert(_IOC_SIZE(req) == 0 && _IOC_DIR(req) == _IOC_NONE,                  \
			       #req " carries a struct: use kvm_ioctl_ptr");                       \
		kvm_ioctl_named((fd), (req), (unsigned long)(val), #req);                          \
	})

/* A request whose argument is a struct of fixed size: *arg must have that size. */
#define kvm_ioctl_ptr(fd, req, arg)                                                                \
	({                                                                                         \
		_Static_assert(_IOC_SIZE(req) != 0 && _IOC_SIZE(req) == sizeof(*(arg)),            \
			       #req ": argument size is not the size in the request");             \
		kvm_ioctl_named((fd), (req), (unsigned long)(arg), #req);                          \
	})

/*
 * A request whose argument is a header struct followed by entries (KVM_SET_CPUID2,
 * KVM_SET_MSRS, KVM_SET_GSI_ROUTING...): hdr points to the header, whose type must
 * have the request's size and end in its flexible array `entries`; its member
 * count_field holds the number of entries; bytes is what was allocated at hdr, which
 * must hold the header and that many entries, or the call fails with -EINVAL
 * before reaching the kernel.
 */
#define kvm_ioctl_var(fd, req, hdr, count_field, bytes)                                            \
	({                                                                                         \
		__typeof__(hdr) kvm_hdr_ = (hdr);                                                  \
		_Static_assert(_IOC_SIZE(req) != 0 && _IOC_SIZE(req) == sizeof(*kvm_hdr_),         \
			       #req ": header size is not the size in the request");               \
		_Static_assert(offsetof(__typeof__(*kvm_hdr_), entries) == sizeof(*kvm_hdr_),      \
			       #req ": entries do not follow the header");                         \
		kvm_var_size_check(#req, sizeof(*kvm_hdr_), kvm_hdr_->count_field,                 \
				   sizeof(kvm_hdr_->entries[0]), (bytes))                          \
		    ?: kvm_ioctl_named((fd), (req), (unsigned long)kvm_hdr_, #req);                \
	})

#endif
