// SPDX-License-Identifier: Apache-2.0
/* The device options: --disk, --net, --share, --console-log, and their checks. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "backend/egress.h"
#include "cli.h"
#include "cli_net.h"
#include "kvmrun/ratelimit.h"

/*
 * The next item of a comma-separated option list: *p points at the comma before
 * it (NULL: the list has ended). Copies the item into item (cut to fit), moves
 * *p to the next comma, and returns the item's full length; false at the end.
 */
static bool cli_next_item(const char **p, char *item, size_t size, size_t *len)
{
	const char *opt, *next;
	size_t n;

	if (!*p)
		return false;
	opt = *p + 1;
	next = strchr(opt, ',');
	*len = n = next ? (size_t)(next - opt) : strlen(opt);
	if (n >= size)
		n = size - 1;
	memcpy(item, opt, n);
	item[n] = '\0';
	*p = next;
	return true;
}

/*
 * A rate limit's item: name=VALUE sets lc->rate, name-burst=VALUE lc->burst; a
 * size (K, M, G suffixes) when size, else a count; 1 to RL_MAX. 1: the item is
 * neither; 0: parsed; CLI_EXIT_USAGE after one error line.
 */
static int cli_parse_limit(const char *opt, const char *arg, const char *item, const char *name,
			   bool size, struct limit_config *lc, FILE *err)
{
	size_t len = strlen(name);
	const char *val = item + len;
	unsigned long long v = 0;
	uint64_t *dst = &lc->rate, sz;
	char fmt[160];
	char *end;
	int ret;

	if (strncmp(item, name, len))
		return 1;
	if (!strncmp(val, "-burst=", 7)) {
		dst = &lc->burst;
		val += 7;
	} else if (*val == '=') {
		val++;
	} else {
		return 1;
	}
	if (size) {
		ret = cli_parse_size(val, &sz);
		v = sz;
	} else {
		ret = cli_leading_number(val, &v, &end);
		if (!ret && *end)
			ret = -EINVAL;
	}
	if (!ret && v >= 1 && v <= RL_MAX) {
		*dst = v;
		return 0;
	}
	snprintf(fmt, sizeof(fmt), "%s '%%s': %s%s '%%s': expected %s from 1 to 2^50", opt, name,
		 dst == &lc->burst ? "-burst" : "", size ? "a size (K, M, G)" : "a number");
	return cli_fail(err, fmt, arg, val);
}

/* What snapshot does not go with; one error line. */
static int cli_check_disk_snapshot(const struct disk_config *dc, const char *arg, FILE *err)
{
	if (dc->overlay_max && !dc->snapshot)
		return cli_fail(err, "--disk '%s': overlay-max= is for a snapshot disk%s", arg,
				" (add snapshot)");
	if (dc->snapshot && dc->readonly)
		return cli_fail(err,
				"--disk '%s': snapshot and ro together: ro already keeps "
				"the image unwritten%s",
				arg, "; give one of them");
	if (dc->snapshot && dc->cache == DISK_CACHE_NONE)
		return cli_fail(err,
				"--disk '%s': snapshot reads the image through the page "
				"cache%s",
				arg, "; cache=none does not go with it");
	return 0;
}

/*
 * PATH[,ro][,serial=ID][,cache=none|writeback][,snapshot[,overlay-max=SIZE]]
 * [,iops=N][,bw=SIZE] (and their -burst); one error line on failure.
 */
int cli_parse_disk(const char *arg, struct disk_config *dc, FILE *err)
{
	const char *p = strchr(arg, ',');
	size_t len = p ? (size_t)(p - arg) : strlen(arg);

	*dc = (struct disk_config){.cache = DISK_CACHE_WRITEBACK};
	if (len == 0)
		return cli_fail(err, "--disk '%s': no file name%s", arg, "");
	if (len >= sizeof(dc->path))
		return cli_fail(err, "--disk '%s': file name too long%s", arg, "");
	memcpy(dc->path, arg, len);
	char item[64];
	size_t n;

	while (cli_next_item(&p, item, sizeof(item), &n)) {
		int lim = cli_parse_limit("--disk", arg, item, "iops", false, &dc->iops, err);

		if (lim == 1)
			lim = cli_parse_limit("--disk", arg, item, "bw", true, &dc->bw, err);
		if (lim != 1) {
			if (lim)
				return lim;
		} else if (!strcmp(item, "ro")) {
			dc->readonly = true;
		} else if (!strcmp(item, "cache=none")) {
			dc->cache = DISK_CACHE_NONE;
		} else if (!strcmp(item, "cache=writeback")) {
			dc->cache = DISK_CACHE_WRITEBACK;
		} else if (!strncmp(item, "cache=", 6)) {
			return cli_fail(err, "--disk '%s': cache '%s': expected none or writeback",
					arg, item + 6);
		} else if (!strncmp(item, "serial=", 7)) {
			if (n == 7 || n - 7 > DISK_SERIAL_MAX)
				return cli_fail(err, "--disk '%s': serial must be 1 to 20 bytes%s",
						arg, "");
			memset(dc->serial, 0, sizeof(dc->serial));
			memcpy(dc->serial, item + 7, n - 7);
			dc->has_serial = true;
		} else if (!strcmp(item, "snapshot")) {
			dc->snapshot = true;
		} else if (!strncmp(item, "overlay-max=", 12)) {
			if (cli_parse_size(item + 12, &dc->overlay_max) || dc->overlay_max < 512)
				return cli_fail(err,
						"--disk '%s': overlay-max '%s': expected a size "
						"of at least 512 bytes (e.g. 512M, 2G)",
						arg, item + 12);
		} else {
			return cli_fail(
			    err,
			    "--disk '%s': unknown option '%s' (expected ro, "
			    "serial=ID, cache=none|writeback, snapshot, overlay-max=SIZE, "
			    "iops=N or bw=SIZE)",
			    arg, item);
		}
	}
	return cli_check_disk_snapshot(dc, arg, err);
}

int cli_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int bytes = 0;

	for (const char *p = s; bytes < 6; p += 3) {
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
			return -EINVAL;
		if (p[2] != (bytes == 5 ? '\0' : ':'))
			return -EINVAL;
		mac[bytes++] = (uint8_t)strtoul((char[3]){p[0], p[1], '\0'}, NULL, 16);
	}
	if (mac[0] & 1)
		return -EINVAL; /* multicast: not an address a NIC can have */
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	return 0;
}

/* Linux's rule for interface names (dev_valid_name), and IFNAMSIZ. */
static const char *cli_ifname_error(const char *name, size_t len)
{
	if (len == 0)
		return "no interface name";
	if (len >= NET_IFNAME_MAX)
		return "interface name longer than 15 characters";
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return "'.' and '..' are not interface names";
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' || isspace((unsigned char)name[i]) ||
		    (unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return "interface names cannot hold '/', ':', spaces or control characters";
	return NULL;
}

/*
 * The egress items of --net (item: n bytes, cut to fit): egress=allow|deny,
 * allow=RULE (repeatable), dns=on|off; other items are left alone. 0, or
 * CLI_EXIT_USAGE after one line on err.
 */
static int cli_parse_egress(const char *arg, const char *item, size_t n, struct egress_policy *eg,
			    FILE *err)
{
	const char *why;

	if (!strcmp(item, "egress=allow") || !strcmp(item, "egress=deny")) {
		eg->deny = !strcmp(item, "egress=deny");
	} else if (!strncmp(item, "egress=", 7)) {
		return cli_fail(err, "--net '%s': egress '%s': expected allow or deny", arg,
				item + 7);
	} else if (!strcmp(item, "dns=on") || !strcmp(item, "dns=off")) {
		eg->dns = !strcmp(item, "dns=on");
	} else if (!strncmp(item, "dns=", 4)) {
		return cli_fail(err, "--net '%s': dns '%s': expected on or off", arg, item + 4);
	} else if (!strncmp(item, "allow=", 6)) {
		char msg[160];

		if (eg->nr_rules >= NET_EGRESS_RULES_MAX)
			return cli_fail(err, "--net '%s': more than 32 allow= rules%s", arg, "");
		if (n >= 128)
			return cli_fail(err, "--net '%s': allow= value too long%s", arg, "");
		if (egress_parse_rule(item + 6, &eg->rules[eg->nr_rules], &why)) {
			snprintf(msg, sizeof(msg), "--net '%%s': allow '%%s': %s", why);
			return cli_fail(err, msg, arg, item + 6);
		}
		eg->nr_rules++;
	}
	return 0;
}

/* tap=NAME[,mac=MAC][,mtu=N] or fd=N[,...] or user[,...]; one error line on failure. */
int cli_parse_net(const char *arg, struct net_config *nc, FILE *err)
{
	const char *p = strchr(arg, ',');
	size_t len = p ? (size_t)(p - arg) : strlen(arg);
	const char *why;

	*nc = (struct net_config){.fd = -1};
	if (!strncmp(arg, "tap=", 4)) {
		why = cli_ifname_error(arg + 4, len - 4);
		if (why)
			return cli_fail(err, "--net '%s': %s", arg, why);
		memcpy(nc->ifname, arg + 4, len - 4);
	} else if (!strncmp(arg, "fd=", 3)) {
		char num[16];
		unsigned long v;
		char *end;

		if (len - 3 == 0 || len - 3 >= sizeof(num))
			return cli_fail(err, "--net '%s': fd= needs a descriptor number%s", arg,
					"");
		memcpy(num, arg + 3, len - 3);
		num[len - 3] = '\0';
		errno = 0;
		v = strtoul(num, &end, 10);
		if (!isdigit((unsigned char)num[0]) || *end || errno || v > INT_MAX)
			return cli_fail(err, "--net '%s': fd= needs a descriptor number%s", arg,
					"");
		if (v <= 2)
			return cli_fail(
			    err, "--net '%s': descriptors 0, 1 and 2 are the terminal%s", arg, "");
		nc->fd = (int)v;
	} else if (len == 4 && !strncmp(arg, "user", 4)) {
		cli_net_user_defaults(nc);
	} else {
		return cli_fail(err, "--net '%s': expected tap=NAME or fd=N (or user) first%s", arg,
				"");
	}
	char item[128];
	size_t n;
	int r;

	while (cli_next_item(&p, item, sizeof(item), &n)) {
		int lim;

		if (cli_parse_egress(arg, item, n, &nc->egress, err))
			return CLI_EXIT_USAGE;
		if (!strncmp(item, "egress=", 7) || !strncmp(item, "allow=", 6) ||
		    !strncmp(item, "dns=", 4))
			continue;
		lim = cli_parse_limit("--net", arg, item, "bw", true, &nc->bw, err);
		if (lim == 1)
			lim = cli_parse_limit("--net", arg, item, "pps", false, &nc->pps, err);
		if (lim != 1) {
			if (lim)
				return lim;
		} else if (!strncmp(item, "mac=", 4)) {
			if (cli_parse_mac(item + 4, nc->mac))
				return cli_fail(err,
						"--net '%s': mac '%s': expected a unicast "
						"address xx:xx:xx:xx:xx:xx, not all zeros",
						arg, item + 4);
			nc->has_mac = true;
		} else if (!strncmp(item, "mtu=", 4)) {
			unsigned long v;
			char *end;

			errno = 0;
			v = strtoul(item + 4, &end, 10);
			if (!isdigit((unsigned char)item[4]) || *end || errno || v < NET_MTU_MIN ||
			    v > NET_MTU_MAX)
				return cli_fail(err, "--net '%s': mtu '%s': expected 68 to 65535",
						arg, item + 4);
			nc->mtu = (unsigned int)v;
		} else if ((r = cli_net_item(item, nc, &why)) != 0) {
			char msg[160];

			if (r > 0)
				continue;
			snprintf(msg, sizeof(msg), "%s: %s", item, why);
			return cli_fail(err, "--net '%s': %s", arg, msg);
		} else {
			return cli_fail(
			    err,
			    "--net '%s': unknown option '%s' (expected mac=MAC, "
			    "mtu=N, bw=SIZE, pps=N, egress=, allow=, dns=, ip=CIDR, gw=ADDR or, "
			    "for user, hostfwd=)",
			    arg, item);
		}
	}
	if (!nc->egress.deny && (nc->egress.nr_rules || nc->egress.dns))
		return cli_fail(err, "--net '%s': allow= and dns= need egress=deny%s", arg, "");
	if (cli_net_check(nc, &why))
		return cli_fail(err, "--net '%s': %s", arg, why);
	return 0;
}

/*
 * The default tag: HOSTDIR's last name, trailing slashes dropped ("/" gives
 * "root"). NULL when that is no tag: "." or "..", or longer than 36 bytes.
 */
static const char *cli_share_default_tag(const char *path, size_t len, char *tag)
{
	size_t start;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 1 && path[0] == '/') {
		strcpy(tag, "root");
		return tag;
	}
	start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	len -= start;
	if (len > SHARE_TAG_MAX || (len == 1 && path[start] == '.') ||
	    (len == 2 && path[start] == '.' && path[start + 1] == '.'))
		return NULL;
	memcpy(tag, path + start, len);
	tag[len] = '\0';
	return tag;
}

/* Copies a sub-option's value of n bytes into dst of size bytes; false if it does not fit. */
static bool cli_copy_value(char *dst, size_t size, const char *value, size_t n)
{
	if (n >= size)
		return false;
	memcpy(dst, value, n);
	dst[n] = '\0';
	return true;
}

/*
 * HOSTDIR[,tag=TAG][,ro][,virtiofsd=PATH][,path=GUESTDIR] or
 * socket=PATH,tag=TAG[,path=GUESTDIR]; one error line on
 * failure. Whether HOSTDIR is a directory is the launcher's to find out (status 3).
 */
int cli_parse_share(const char *arg, struct share_config *sc, FILE *err)
{
	const char *p = strchr(arg, ',');
	size_t len = p ? (size_t)(p - arg) : strlen(arg);
	bool has_tag = false, has_daemon_opt = false;
	char item[DISK_PATH_MAX + 16];
	size_t n;

	*sc = (struct share_config){0};
	if (!strncmp(arg, "socket=", 7)) {
		if (len == 7)
			return cli_fail(err, "--share '%s': socket= needs a path%s", arg, "");
		if (!cli_copy_value(sc->socket, sizeof(sc->socket), arg + 7, len - 7))
			return cli_fail(err, "--share '%s': socket path too long%s", arg, "");
	} else {
		if (len == 0)
			return cli_fail(err, "--share '%s': no directory name%s", arg, "");
		if (!cli_copy_value(sc->path, sizeof(sc->path), arg, len))
			return cli_fail(err, "--share '%s': directory name too long%s", arg, "");
	}
	while (cli_next_item(&p, item, sizeof(item), &n)) {
		if (n >= sizeof(item))
			return cli_fail(err, "--share '%s': option too long%s", arg, "");
		if (!strcmp(item, "ro")) {
			sc->readonly = true;
			has_daemon_opt = true;
		} else if (!strncmp(item, "tag=", 4)) {
			if (n == 4)
				return cli_fail(err, "--share '%s': empty tag%s", arg, "");
			if (!cli_copy_value(sc->tag, sizeof(sc->tag), item + 4, n - 4))
				return cli_fail(err, "--share '%s': tag longer than 36 bytes%s",
						arg, "");
			has_tag = true;
		} else if (!strncmp(item, "virtiofsd=", 10)) {
			if (n == 10)
				return cli_fail(err, "--share '%s': virtiofsd= needs a path%s", arg,
						"");
			if (!cli_copy_value(sc->virtiofsd, sizeof(sc->virtiofsd), item + 10,
					    n - 10))
				return cli_fail(err, "--share '%s': virtiofsd path too long%s", arg,
						"");
			has_daemon_opt = true;
		} else if (!strncmp(item, "path=", 5)) {
			if (n == 5 || item[5] != '/')
				return cli_fail(err,
						"--share '%s': path= needs an absolute "
						"directory%s",
						arg, "");
			if (!cli_copy_value(sc->guest_path, sizeof(sc->guest_path), item + 5,
					    n - 5))
				return cli_fail(err, "--share '%s': path too long%s", arg, "");
		} else if (!strncmp(item, "socket=", 7)) {
			return cli_fail(err,
					"--share '%s': socket=PATH comes first, in place of "
					"HOSTDIR%s",
					arg, "");
		} else {
			return cli_fail(err,
					"--share '%s': unknown option '%s' (expected "
					"tag=TAG, ro, virtiofsd=PATH or path=GUESTDIR)",
					arg, item);
		}
	}
	if (sc->socket[0]) {
		if (!has_tag)
			return cli_fail(err, "--share '%s': socket= needs tag=TAG%s", arg, "");
		if (has_daemon_opt)
			return cli_fail(err,
					"--share '%s': ro and virtiofsd= are for a daemon "
					"kvmrun starts, not for socket=%s",
					arg, "");
	} else if (!has_tag && !cli_share_default_tag(sc->path, len, sc->tag)) {
		return cli_fail(err,
				"--share '%s': its last name is no tag (1 to 36 bytes, not . "
				"or ..): give tag=TAG%s",
				arg, "");
	}
	return 0;
}

/* Two shares with one tag: the guest could mount only one of them. */
int cli_share_duplicate(const struct vm_config *cfg, const char *arg, FILE *err)
{
	const struct share_config *sc = &cfg->shares[cfg->nr_shares];

	for (unsigned int i = 0; i < cfg->nr_shares; i++)
		if (!strcmp(sc->tag, cfg->shares[i].tag))
			return cli_fail(err,
					"--share '%s': tag '%s' already used by an earlier "
					"--share",
					arg, sc->tag);
	return 0;
}

/*
 * --console-log FILE[,max=SIZE]: only a last ",max=" part is an option, so a
 * FILE may hold commas. The option is cut off argv's string in place.
 */
int cli_parse_console_log(char *arg, struct vm_config *cfg, FILE *err)
{
	char *opt = strrchr(arg, ',');

	if (opt && !strncmp(opt + 1, "max=", 4)) {
		if (cli_parse_size(opt + 5, &cfg->console_log_max) || !cfg->console_log_max)
			return cli_fail(err,
					"--console-log '%s': max= wants a size above 0 "
					"(e.g. 64M)%s",
					arg, "");
		*opt = '\0';
	}
	if (!*arg)
		return cli_fail(err, "--console-log '%s': no file name%s", arg, "");
	cfg->console_log = arg;
	return 0;
}

/* Two --net on one tap would steal each other's frames. */
int cli_net_duplicate(const struct vm_config *cfg, const char *arg, FILE *err)
{
	const struct net_config *nc = &cfg->nets[cfg->nr_nets];

	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		const struct net_config *o = &cfg->nets[i];

		if ((nc->ifname[0] && !strcmp(nc->ifname, o->ifname)) ||
		    (nc->fd >= 0 && nc->fd == o->fd))
			return cli_fail(err, "--net '%s': the same tap as an earlier --net%s", arg,
					"");
		if (nc->has_mac && o->has_mac && !memcmp(nc->mac, o->mac, 6))
			return cli_fail(err, "--net '%s': the same MAC as an earlier --net%s", arg,
					"");
	}
	return 0;
}
