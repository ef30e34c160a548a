// SPDX-License-Identifier: Apache-2.0
/* Tap interfaces with a virtio-net header, for virtio-net. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/tap.h"

#define TAP_DEV "/dev/net/tun"
/* What the tap must accept for the basic offloads (CSUM and TSO) to be offered. */
#define TAP_OFFLOAD_BASE (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)

struct tap {
	struct netbe be; /* first: the backend virtio-net sees */
	int fd;
	bool raw; /* tap_open_fd: not a tap, no ioctls */
	unsigned int offloads;
	unsigned int offload_set;
	unsigned int mtu;
	char name[NET_IFNAME_MAX];
};

static const struct netbe_ops tap_netbe_ops;

struct netbe *tap_backend(struct tap *t)
{
	return &t->be;
}

int tap_fd(const struct tap *t)
{
	return t->fd;
}

const char *tap_name(const struct tap *t)
{
	return t->name;
}

unsigned int tap_offloads(const struct tap *t)
{
	return t->offloads;
}

unsigned int tap_mtu(const struct tap *t)
{
	return t->mtu;
}

unsigned int tap_offload_set(const struct tap *t)
{
	return t->offload_set;
}

int tap_set_offload(struct tap *t, unsigned int flags)
{
	if (flags & ~t->offloads)
		return -EINVAL;
	if (!t->raw && ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)flags) < 0)
		return -errno;
	t->offload_set = flags;
	return 0;
}

ssize_t tap_read(struct tap *t, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(t->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t tap_writev(struct tap *t, const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	do
		n = writev(t->fd, iov, iovcnt);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* Which offloads the tap takes: the base set, then UFO and USO each on top of it. */
static unsigned int tap_probe_offloads(int fd)
{
	static const unsigned int extra[] = {TUN_F_UFO, TUN_F_USO4 | TUN_F_USO6};
	unsigned int ok = 0;

	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)TAP_OFFLOAD_BASE) < 0)
		goto out;
	ok = TAP_OFFLOAD_BASE;
	for (unsigned int i = 0; i < ARRAY_SIZE(extra); i++)
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TAP_OFFLOAD_BASE | extra[i])) == 0)
			ok |= extra[i];
out:
	/* Nothing until the guest says what it takes (at activation). */
	ioctl(fd, TUNSETOFFLOAD, 0UL);
	return ok;
}

static unsigned int tap_get_mtu(const char *name)
{
	struct ifreq ifr = {0};
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned int mtu = 0;

	if (s < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		mtu = (unsigned int)ifr.ifr_mtu;
	close(s);
	return mtu;
}

/* The rest of the set-up for a descriptor that is a tap with the flags we need. */
static int tap_setup(struct tap *t, const char *opt, char *err, size_t errlen)
{
	int hdr = TAP_VNET_HDR_LEN, fl;

	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "--net %s: TUNSETVNETHDRSZ: %s", opt, strerror(-ret));
		return ret;
	}
	fl = fcntl(t->fd, F_GETFL);
	if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(t->fd, F_SETFD, FD_CLOEXEC) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "--net %s: fcntl: %s", opt, strerror(-ret));
		return ret;
	}
	t->offloads = tap_probe_offloads(t->fd);
	t->mtu = tap_get_mtu(t->name);
	return 0;
}

static int tap_attach_fd(struct tap *t, int fd, const char *opt, char *err, size_t errlen)
{
	struct ifreq ifr = {0};

	if (fcntl(fd, F_GETFD) < 0) {
		snprintf(err, errlen, "--net %s: descriptor %d is not open", opt, fd);
		return -EBADF;
	}
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		snprintf(err, errlen, "--net %s: descriptor %d is not a tap (TUNGETIFF: %s)", opt,
			 fd, strerror(errno));
		return -ENOTTY;
	}
	if ((ifr.ifr_flags & (IFF_TUN | IFF_TAP)) != IFF_TAP) {
		snprintf(err, errlen, "--net %s: %s is a tun, not a tap (IFF_TAP)", opt,
			 ifr.ifr_name);
		return -EINVAL;
	}
	if (!(ifr.ifr_flags & IFF_NO_PI) || !(ifr.ifr_flags & IFF_VNET_HDR)) {
		snprintf(err, errlen,
			 "--net %s: tap %s must be opened with IFF_NO_PI and IFF_VNET_HDR", opt,
			 ifr.ifr_name);
		return -EINVAL;
	}
	t->fd = fd;
	snprintf(t->name, sizeof(t->name), "%.*s", (int)sizeof(t->name) - 1, ifr.ifr_name);
	return 0;
}

static int tap_attach_name(struct tap *t, const char *name, const char *opt, char *err,
			   size_t errlen)
{
	struct ifreq ifr = {0};
	int fd, ret;

	fd = open(TAP_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "--net %s: %s: %s", opt, TAP_DEV, strerror(-ret));
		return ret;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		snprintf(err, errlen, "--net %s: cannot attach or create tap %s: %s%s", opt, name,
			 strerror(-ret),
			 ret == -EPERM ? " (creating one needs CAP_NET_ADMIN; an existing tap "
					 "must belong to this user)"
				       : "");
		close(fd);
		return ret;
	}
	t->fd = fd;
	snprintf(t->name, sizeof(t->name), "%.*s", (int)sizeof(t->name) - 1, ifr.ifr_name);
	return 0;
}

int tap_open(struct tap **out, const struct net_config *cfg, char *err, size_t errlen)
{
	char opt[32];
	struct tap *t;
	int ret;

	if (cfg->ifname[0])
		snprintf(opt, sizeof(opt), "tap=%s", cfg->ifname);
	else
		snprintf(opt, sizeof(opt), "fd=%d", cfg->fd);
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "--net %s: out of memory", opt);
		return -ENOMEM;
	}
	t->be.ops = &tap_netbe_ops;
	t->fd = -1;
	if (cfg->ifname[0])
		ret = tap_attach_name(t, cfg->ifname, opt, err, errlen);
	else
		ret = tap_attach_fd(t, cfg->fd, opt, err, errlen);
	if (ret)
		goto err_free;
	ret = tap_setup(t, opt, err, errlen);
	if (ret)
		goto err_close;
	*out = t;
	return 0;

err_close:
	close(t->fd);
err_free:
	free(t);
	return ret;
}

int tap_open_fd(struct tap **out, int fd, const char *name, unsigned int offloads)
{
	struct tap *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->be.ops = &tap_netbe_ops;
	t->fd = fd;
	t->raw = true;
	t->offloads = offloads;
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "");
	*out = t;
	return 0;
}

void tap_close(struct tap *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

/* ---- the backend interface, for virtio-net ---- */

static struct tap *to_tap(struct netbe *be)
{
	return container_of(be, struct tap, be);
}

static const struct tap *to_tap_const(const struct netbe *be)
{
	return container_of(be, const struct tap, be);
}

static int tap_be_fd(const struct netbe *be)
{
	return tap_fd(to_tap_const(be));
}

static ssize_t tap_be_read(struct netbe *be, void *buf, size_t len)
{
	return tap_read(to_tap(be), buf, len);
}

static ssize_t tap_be_writev(struct netbe *be, const struct iovec *iov, int iovcnt)
{
	return tap_writev(to_tap(be), iov, iovcnt);
}

static const char *tap_be_name(const struct netbe *be)
{
	return tap_name(to_tap_const(be));
}

static unsigned int tap_be_offloads(const struct netbe *be)
{
	return tap_offloads(to_tap_const(be));
}

static int tap_be_set_offload(struct netbe *be, unsigned int flags)
{
	return tap_set_offload(to_tap(be), flags);
}

static unsigned int tap_be_mtu(const struct netbe *be)
{
	return tap_mtu(to_tap_const(be));
}

static void tap_be_close(struct netbe *be)
{
	tap_close(to_tap(be));
}

static const struct netbe_ops tap_netbe_ops = {
	.fd = tap_be_fd,
	.read = tap_be_read,
	.writev = tap_be_writev,
	.name = tap_be_name,
	.offloads = tap_be_offloads,
	.set_offload = tap_be_set_offload,
	.mtu = tap_be_mtu,
	.close = tap_be_close,
};
