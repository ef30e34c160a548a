// SPDX-License-Identifier: Apache-2.0
/* --report FILE: the JSON document of report.h, built with jansson. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/report.h"
#include "kvmrun/ratelimit.h"
#include "backend/disk.h"
#include "virtio/blk.h"
#include "virtio/net_hdr.h"

/* Bytes as a JSON string: valid UTF-8 kept, other bytes as U+FFFD, NUL as U+FFFD too. */
static json_t *report_text(const uint8_t *p, size_t len)
{
	char *s = malloc(len * 3 + 1);
	size_t o = 0;
	json_t *j;

	if (!s)
		return NULL;
	for (size_t i = 0; i < len;) {
		uint8_t c = p[i];
		size_t n = c < 0x80		? 1
			   : (c & 0xe0) == 0xc0 ? 2
			   : (c & 0xf0) == 0xe0 ? 3
			   : (c & 0xf8) == 0xf0 ? 4
						: 0;
		bool ok = n && c != 0 && i + n <= len;

		for (size_t k = 1; ok && k < n; k++)
			ok = (p[i + k] & 0xc0) == 0x80;
		if (ok && n > 1) { /* jansson's own check: overlong forms, surrogates */
			json_t *t = json_stringn((const char *)p + i, n);

			ok = t != NULL;
			json_decref(t);
		}
		if (ok) {
			memcpy(s + o, p + i, n);
			o += n;
			i += n;
		} else {
			memcpy(s + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn(s, o);
	free(s);
	return j;
}

static json_t *report_ms(const struct exec_report *r, uint64_t ns)
{
	if (!ns || ns < r->started_ns)
		return json_null();
	return json_real((double)(ns - r->started_ns) / 1e6);
}

static json_t *report_uint(uint64_t v)
{
	return v ? json_integer((json_int_t)v) : json_null();
}

/* The "jail" object of report.h. */
static json_t *report_jail(const struct jail_report *j)
{
	json_t *o = json_object(), *ns = json_array(), *cg = json_null();
	int bad = !o || !ns;

	for (size_t i = 0; !bad && i < ARRAY_SIZE(jail_namespace_flags); i++)
		if (j->namespaces & jail_namespace_flags[i])
			bad |= json_array_append_new(
			    ns, json_string(jail_namespace_name(jail_namespace_flags[i])));
	if (!bad && j->cgroup[0])
		cg = json_pack("{s:o,s:o,s:o,s:o}", "path",
			       report_text((const uint8_t *)j->cgroup, strlen(j->cgroup)),
			       "memory_max", report_uint(j->memory_max), "cpus",
			       j->cpu_milli ? json_real(j->cpu_milli / 1000.0) : json_null(),
			       "pids_max", report_uint(j->pids_max));
	if (bad || !cg) {
		json_decref(o);
		json_decref(ns);
		json_decref(cg);
		return NULL;
	}
	bad |= json_object_set_new(o, "on", json_boolean(j->on));
	bad |= json_object_set_new(o, "entered", json_boolean(j->entered));
	bad |= json_object_set_new(o, "user_namespace", json_boolean(j->user_namespace));
	bad |= json_object_set_new(o, "namespaces", ns);
	bad |= json_object_set_new(
	    o, "rlimits",
	    json_pack("{s:o,s:o,s:o}", "core", j->entered ? json_integer(0) : json_null(),
		      "nofile", report_uint(j->nofile), "nproc", report_uint(j->nproc)));
	bad |= json_object_set_new(o, "cgroup", cg);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void report_counter(struct exec_report_device *d, const char *name, uint64_t value)
{
	if (d->nr_counters < EXEC_REPORT_COUNTERS)
		d->counters[d->nr_counters++] =
		    (struct exec_report_counter){.name = name, .value = value};
}

static void report_device(struct exec_report_device *d, const char *type, const char *name,
			  const char *backend)
{
	*d = (struct exec_report_device){.type = type, .backend = backend};
	snprintf(d->name, sizeof(d->name), "%s", name);
}

void exec_report_blk(struct exec_report_device *d, const char *name, const char *backend,
		     const struct blk_stats *st, const struct disk_stats *ds)
{
	report_device(d, "virtio-blk", name, backend);
	report_counter(d, "read_requests", st->reads);
	report_counter(d, "read_bytes", st->read_bytes);
	report_counter(d, "write_requests", st->writes);
	report_counter(d, "write_bytes", st->write_bytes);
	report_counter(d, "flushes", st->flushes);
	report_counter(d, "discards", st->discards);
	report_counter(d, "errors", st->errors);
	if (ds && ds->snapshot) {
		report_counter(d, "overlay_bytes", ds->overlay_bytes);
		report_counter(d, "overlay_refused", ds->overlay_refused);
	}
}

void exec_report_net(struct exec_report_device *d, const char *name, const char *backend,
		     const struct net_stats *st)
{
	uint64_t rx_drops = 0, tx_drops = 0;

	for (unsigned int i = NET_DROP_NONE + 1; i < NET_DROP_MAX; i++) {
		if (i >= NET_DROP_RX_SHORT)
			rx_drops += st->drops[i];
		else
			tx_drops += st->drops[i];
	}
	report_device(d, "virtio-net", name, backend);
	report_counter(d, "rx_frames", st->rx_frames);
	report_counter(d, "rx_bytes", st->rx_bytes);
	report_counter(d, "tx_frames", st->tx_frames);
	report_counter(d, "tx_bytes", st->tx_bytes);
	report_counter(d, "rx_drops", rx_drops);
	report_counter(d, "tx_drops", tx_drops);
	report_counter(d, "errors", st->rx_tap_errors + st->tx_tap_errors);
	report_counter(d, "egress_denied", st->drops[NET_DROP_TX_EGRESS_DENIED]);
	report_counter(d, "egress_malformed", st->drops[NET_DROP_TX_EGRESS_MALFORMED]);
	report_counter(d, "egress_fragment", st->drops[NET_DROP_TX_EGRESS_FRAGMENT]);
	report_counter(d, "egress_ethertype", st->drops[NET_DROP_TX_EGRESS_ETHERTYPE]);
}

void exec_report_limits(struct exec_report_device *d, const struct rl_limiter *a,
			const struct rl_limiter *b)
{
	uint64_t throttled = 0, waited_ns = 0;

	if (!a && !b)
		return;
	for (const struct rl_limiter *l = a; l; l = l == a ? b : NULL) {
		throttled += l->throttled;
		waited_ns += l->waited_ns;
	}
	report_counter(d, "rate_limited", throttled);
	report_counter(d, "rate_limit_waited_ms", waited_ns / 1000000);
	if (a && b) {
		report_counter(d, "rx_rate_limited", a->throttled);
		report_counter(d, "rx_rate_limit_waited_ms", a->waited_ns / 1000000);
		report_counter(d, "tx_rate_limited", b->throttled);
		report_counter(d, "tx_rate_limit_waited_ms", b->waited_ns / 1000000);
	}
}

/* "helpers": {program, device, cpu_s {user, system}} per daemon; [] without any. */
static json_t *report_helpers(const struct exec_report *r)
{
	json_t *arr = json_array();

	for (unsigned int i = 0; arr && i < r->nr_helpers; i++) {
		const struct vm_helper_cpu *h = &r->helpers[i];
		json_t *o = json_pack("{s:s,s:o,s:{s:f,s:f}}", "program", h->prog, "device",
				      report_text((const uint8_t *)h->device, strlen(h->device)),
				      "cpu_s", "user", (double)h->user_ns / 1e9, "system",
				      (double)h->sys_ns / 1e9);

		if (!o || json_array_append_new(arr, o)) {
			json_decref(o);
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* "devices": one object per device, its counters after type, name and backend. */
static json_t *report_devices(const struct exec_report *r)
{
	json_t *arr = json_array();

	for (unsigned int i = 0; arr && i < r->nr_devices; i++) {
		const struct exec_report_device *d = &r->devices[i];
		json_t *o = json_pack(
		    "{s:s,s:s,s:o}", "type", d->type, "name", d->name, "backend",
		    d->backend ? report_text((const uint8_t *)d->backend, strlen(d->backend))
			       : json_null());
		int bad = !o;

		for (unsigned int k = 0; !bad && k < d->nr_counters; k++)
			bad |= json_object_set_new(o, d->counters[k].name,
						   json_integer((json_int_t)d->counters[k].value));
		if (bad || json_array_append_new(arr, o)) {
			json_decref(o);
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

void exec_report_prepare(void)
{
	json_object_seed(0);
}

char *exec_report_json(const struct exec_report *r)
{
	static const char *const phases[EXEC_PHASES] = {
	    [EXEC_PHASE_FIRST_RUN] = "first_kvm_run",
	    [EXEC_PHASE_AGENT_READY] = "agent_ready",
	    [EXEC_PHASE_PROGRAM_STARTED] = "program_started",
	    [EXEC_PHASE_PROGRAM_ENDED] = "program_ended",
	    [EXEC_PHASE_DONE] = "done",
	};
	json_t *doc = json_object(), *cmd = json_array(), *ph = json_object();
	char *out = NULL;
	int bad = !doc || !cmd || !ph;

	for (int i = 0; !bad && i < r->argc; i++)
		bad |= json_array_append_new(
		    cmd, report_text((const uint8_t *)r->argv[i], strlen(r->argv[i])));
	for (unsigned int i = 0; !bad && i < EXEC_PHASES; i++)
		bad |= json_object_set_new(ph, phases[i], report_ms(r, r->phase_ns[i]));
	if (bad)
		goto out;
	bad |= json_object_set_new(doc, "version", json_string(KVMRUN_VERSION));
	bad |= json_object_set(doc, "command", cmd);
	bad |= json_object_set_new(doc, "outcome", json_string(exec_outcome_name(r->outcome)));
	bad |= json_object_set_new(doc, "status", json_integer(r->status));
	bad |= json_object_set_new(doc, "exit_code",
				   r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
	bad |=
	    json_object_set_new(doc, "signal", r->signal ? json_integer(r->signal) : json_null());
	bad |= json_object_set_new(
	    doc, "reason",
	    r->reason ? report_text((const uint8_t *)r->reason, strlen(r->reason)) : json_null());
	bad |= json_object_set_new(doc, "started_unix_ns",
				   json_integer((json_int_t)r->started_unix_ns));
	bad |= json_object_set(doc, "phases_ms", ph);
	bad |= json_object_set_new(
	    doc, "cpu_s", json_pack("{s:f,s:f}", "user", r->cpu_user_s, "system", r->cpu_sys_s));
	bad |= json_object_set_new(doc, "vcpus", json_integer(r->vcpus));
	bad |= json_object_set_new(doc, "memory_bytes", json_integer((json_int_t)r->memory));
	bad |= json_object_set_new(doc, "bytes",
				   json_pack("{s:I,s:I,s:I}", "stdin", (json_int_t)r->bytes[0],
					     "stdout", (json_int_t)r->bytes[1], "stderr",
					     (json_int_t)r->bytes[2]));
	bad |= json_object_set_new(doc, "devices", report_devices(r));
	bad |= json_object_set_new(doc, "helpers", report_helpers(r));
	bad |= json_object_set_new(
	    doc, "console_tail",
	    report_text(r->console_tail, MIN(r->console_tail_len, (size_t)EXEC_CONSOLE_TAIL)));
	bad |= json_object_set_new(doc, "jail", report_jail(&r->jail));
	if (!bad)
		out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
	json_decref(cmd);
	json_decref(ph);
	json_decref(doc);
	return out;
}

int exec_report_write_fd(const struct exec_report *r, int fd)
{
	char *text = exec_report_json(r);
	size_t len, off = 0;
	int ret = 0;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	text[len] = '\n'; /* json_dumps' NUL: the file ends in a newline instead */
	len++;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	free(text);
	return ret;
}

int exec_report_write(const struct exec_report *r, const char *path)
{
	int fd, ret;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ret = exec_report_write_fd(r, fd);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}
