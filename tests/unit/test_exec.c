// SPDX-License-Identifier: Apache-2.0
/* exec without a VM: the kernel command line, the statuses, the kernel's path, the report. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "cli_net.h"

#include "exec/exec.h"
#include "exec/report.h"
#include "backend/disk.h"
#include "virtio/blk.h"
#include "virtio/net_hdr.h"
#include "kvmrun/agent_proto.h"
#include "kvmrun/exit_status.h"
#include "kvmrun/ratelimit.h"
#include "kvmrun/sandbox.h"

static void test_cmdline(void **state)
{
	char buf[512];

	(void)state;
	assert_int_equal(exec_kernel_cmdline(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "console=ttyS0 quiet panic=-1 reboot=k kvmrun.agent=kvmrun.agent "
				 "kvmrun.hostname=kvmrun kvmrun.root=root");
	/* the user's settings win; "quiet" only as a whole word */
	assert_int_equal(
	    exec_kernel_cmdline("console=hvc0 panic=5 quiet loglevel=7", buf, sizeof(buf)), 0);
	assert_string_equal(buf,
			    "console=hvc0 panic=5 quiet loglevel=7 reboot=k "
			    "kvmrun.agent=kvmrun.agent kvmrun.hostname=kvmrun kvmrun.root=root");
	assert_int_equal(exec_kernel_cmdline("notquiet xconsole=1", buf, sizeof(buf)), 0);
	assert_string_equal(buf,
			    "notquiet xconsole=1 console=ttyS0 quiet panic=-1 reboot=k "
			    "kvmrun.agent=kvmrun.agent kvmrun.hostname=kvmrun kvmrun.root=root");
	assert_int_equal(exec_kernel_cmdline("kvmrun.hostname=box", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "kvmrun.hostname=box"));
	assert_null(strstr(buf, "kvmrun.hostname=kvmrun"));
	/* too long: -E2BIG at every cut */
	assert_int_equal(exec_kernel_cmdline(NULL, buf, sizeof(buf)), 0);
	size_t len = strlen(buf);
	for (size_t n = 1; n <= len; n++)
		assert_int_equal(exec_kernel_cmdline(NULL, buf, n), -E2BIG);
	assert_int_equal(exec_kernel_cmdline(NULL, buf, len + 1), 0);
}

static void test_share_args(void **state)
{
	struct vm_config cfg = {.nr_shares = 3};
	char buf[256] = "quiet";

	(void)state;
	strcpy(cfg.shares[0].path, "/srv/data");
	strcpy(cfg.shares[0].tag, "data");
	strcpy(cfg.shares[1].socket, "/run/fs.sock"); /* no directory: not mounted */
	strcpy(cfg.shares[1].tag, "sock");
	strcpy(cfg.shares[2].path, "/");
	strcpy(cfg.shares[2].tag, "root"); /* the root's: the agent's own */
	assert_int_equal(exec_share_args(&cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "quiet kvmrun.share=data:/srv/data");
	cfg.nr_shares = 1;
	buf[0] = 0;
	assert_int_equal(exec_share_args(&cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "kvmrun.share=data:/srv/data");
	assert_int_equal(exec_share_args(&cfg, buf, 30), -E2BIG);
	buf[0] = 0;
	strcpy(cfg.shares[0].path, "/a b");
	assert_int_equal(exec_share_args(&cfg, buf, sizeof(buf)), -EINVAL);
	strcpy(cfg.shares[0].path, "rel");
	assert_int_equal(exec_share_args(&cfg, buf, sizeof(buf)), -EINVAL);
	strcpy(cfg.shares[0].path, "/ok");
	strcpy(cfg.shares[0].tag, "a:b");
	assert_int_equal(exec_share_args(&cfg, buf, sizeof(buf)), -EINVAL);

	/* path=: a socket share mounted there; a directory's moved there */
	cfg.nr_shares = 2;
	strcpy(cfg.shares[0].tag, "data");
	strcpy(cfg.shares[0].guest_path, "/in/guest");
	strcpy(cfg.shares[1].guest_path, "/mnt/sock");
	buf[0] = 0;
	assert_int_equal(exec_share_args(&cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "kvmrun.share=data:/in/guest kvmrun.share=sock:/mnt/sock");
	strcpy(cfg.shares[1].guest_path, "/mnt/a b");
	buf[0] = 0;
	assert_int_equal(exec_share_args(&cfg, buf, sizeof(buf)), -EINVAL);
}

/* What the agent is told to set on eth0..: the addresses passt hands out, a tap's ip=/gw=. */
static void test_net_args(void **state)
{
	static struct vm_config cfg;
	char buf[256] = "quiet";

	(void)state;
	cfg.nr_nets = 3;
	cli_net_user_defaults(&cfg.nets[0]);
	inet_pton(AF_INET, "10.9.0.2", &cfg.nets[1].addr);
	inet_pton(AF_INET, "10.9.0.1", &cfg.nets[1].gateway);
	cfg.nets[1].prefix = 16;
	assert_int_equal(exec_net_args(&cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "quiet kvmrun.eth0=10.0.2.15/24,10.0.2.2,10.0.2.3 "
				 "kvmrun.eth1=10.9.0.2/16,10.9.0.1 kvmrun.eth2=up");
	buf[0] = 0;
	assert_int_equal(exec_net_args(&cfg, buf, 40), -E2BIG);
}

static void test_exit_status(void **state)
{
	enum exec_outcome o;

	(void)state;
	assert_int_equal(exec_exit_status(AGENT_EXIT_EXITED, 0, &o), 0);
	assert_int_equal(o, EXEC_EXITED);
	assert_int_equal(exec_exit_status(AGENT_EXIT_EXITED, 7, &o), 7);
	assert_int_equal(exec_exit_status(AGENT_EXIT_EXITED, 255, &o), 255);
	assert_int_equal(exec_exit_status(AGENT_EXIT_EXITED, 256, &o), 125);
	assert_int_equal(exec_exit_status(AGENT_EXIT_SIGNALED, 9, &o), 137);
	assert_int_equal(o, EXEC_SIGNALED);
	assert_int_equal(exec_exit_status(AGENT_EXIT_SIGNALED, 64, &o), 192);
	assert_int_equal(exec_exit_status(AGENT_EXIT_SIGNALED, 0, &o), 125);
	assert_int_equal(exec_exit_status(AGENT_EXIT_SIGNALED, 65, &o), 125);
	assert_int_equal(exec_exit_status(AGENT_EXIT_EXEC_FAILED, ENOENT, &o), 127);
	assert_int_equal(o, EXEC_EXITED);
	assert_int_equal(exec_exit_status(AGENT_EXIT_EXEC_FAILED, ENOTDIR, &o), 127);
	assert_int_equal(exec_exit_status(AGENT_EXIT_EXEC_FAILED, EACCES, &o), 126);
	assert_int_equal(exec_exit_status(AGENT_EXIT_EXEC_FAILED, ENOEXEC, &o), 126);
	assert_int_equal(exec_exit_status(AGENT_EXIT_SETUP_FAILED, EPERM, &o), 125);
	assert_int_equal(exec_exit_status(99, 0, &o), 125);
	assert_int_equal(o, EXEC_AGENT_LOST);
}

static void test_vm_status(void **state)
{
	enum exec_outcome o;
	char why[128];

	(void)state;
	assert_int_equal(exec_vm_status(KVMRUN_GUEST_PANIC, &o, why, sizeof(why)), 125);
	assert_int_equal(o, EXEC_GUEST_PANIC);
	assert_string_equal(why, "guest kernel panicked");
	assert_int_equal(exec_vm_status(KVMRUN_GUEST_CRASH, &o, why, sizeof(why)), 125);
	assert_int_equal(o, EXEC_TRIPLE_FAULT);
	assert_int_equal(exec_vm_status(KVMRUN_OK, &o, why, sizeof(why)), 125);
	assert_int_equal(o, EXEC_AGENT_LOST);
	assert_int_equal(exec_vm_status(KVMRUN_VCPU_ERROR, &o, why, sizeof(why)), 125);
	assert_int_equal(o, EXEC_VMM_ERROR);
	assert_int_equal(exec_vm_status(KVMRUN_ERR_INPUT, &o, why, sizeof(why)), 125);
	assert_int_equal(o, EXEC_VMM_ERROR);
	assert_int_equal(exec_vm_status(130, &o, why, sizeof(why)), 130);
	assert_int_equal(o, EXEC_VMM_ERROR);
	assert_non_null(strstr(why, "signal 2"));
	for (enum exec_outcome i = 0; i < EXEC_OUTCOMES; i++)
		assert_non_null(exec_outcome_name(i));
	assert_string_equal(exec_outcome_name(EXEC_GUEST_PANIC), "guest-panic");
	assert_string_equal(exec_outcome_name(EXEC_AGENT_LOST), "agent-lost");
}

static void test_relay_decides(void **state)
{
	(void)state;
	assert_true(exec_relay_decides(true, 7, 7));	     /* EXIT stopped the loop */
	assert_true(exec_relay_decides(true, 5, 5));	     /* PROGRAM's 5, not a panic */
	assert_true(exec_relay_decides(true, 7, KVMRUN_OK)); /* the agent's power-off first */
	assert_true(exec_relay_decides(true, 124, 124));     /* --timeout */
	assert_false(exec_relay_decides(true, 125, KVMRUN_GUEST_PANIC)); /* port closed by reset */
	assert_false(exec_relay_decides(true, 125, KVMRUN_GUEST_CRASH));
	assert_false(exec_relay_decides(true, 0, 143)); /* SIGTERM to kvmrun first */
	assert_false(exec_relay_decides(false, 0, KVMRUN_OK));
	assert_false(exec_relay_decides(false, 0, KVMRUN_GUEST_PANIC));
}

static void test_kernel_path(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(exec_kernel_path("/my/k", "6.1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/my/k");
	assert_int_equal(exec_kernel_path(NULL, "no-such-release-0", buf, sizeof(buf)), -ENOENT);
	assert_string_equal(buf, "/boot/vmlinuz-no-such-release-0");
	assert_int_equal(exec_kernel_path(NULL, "x", buf, 10), -ENAMETOOLONG);
}

static json_t *report_of(const struct exec_report *r)
{
	char *text = exec_report_json(r);
	json_error_t e;
	json_t *j;

	assert_non_null(text);
	j = json_loads(text, 0, &e);
	if (!j)
		fail_msg("not JSON: %s: %s", e.text, text);
	free(text);
	return j;
}

static void test_report(void **state)
{
	char *argv[] = {"kvmrun", "exec", "--", "sh", "-c", "exit 7", NULL};
	uint8_t tail[5000];
	struct exec_report r = {
	    .argc = 6,
	    .argv = argv,
	    .outcome = EXEC_EXITED,
	    .status = 7,
	    .exit_code = 7,
	    .started_unix_ns = 1700000000123456789ULL,
	    .started_ns = 1000000000,
	    .phase_ns = {1003000000, 1812000000, 1812500000, 1815000000, 1830000000},
	    .cpu_user_s = 0.25,
	    .cpu_sys_s = 0.5,
	    .vcpus = 2,
	    .memory = 256ULL << 20,
	    .bytes = {1, 22, 333},
	    .console_tail = tail,
	    .console_tail_len = sizeof(tail),
	};
	json_t *j, *ph;

	(void)state;
	for (size_t i = 0; i < sizeof(tail); i++)
		tail[i] = (uint8_t)('a' + i % 26);
	j = report_of(&r);
	assert_string_equal(json_string_value(json_object_get(j, "version")), KVMRUN_VERSION);
	assert_int_equal(json_array_size(json_object_get(j, "command")), 6);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "command"), 5)),
			    "exit 7");
	assert_string_equal(json_string_value(json_object_get(j, "outcome")), "exited");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 7);
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 7);
	assert_true(json_is_null(json_object_get(j, "signal")));
	assert_true(json_is_null(json_object_get(j, "reason")));
	assert_int_equal(json_integer_value(json_object_get(j, "started_unix_ns")),
			 1700000000123456789LL);
	ph = json_object_get(j, "phases_ms");
	assert_true(json_real_value(json_object_get(ph, "first_kvm_run")) == 3.0);
	assert_true(json_real_value(json_object_get(ph, "agent_ready")) == 812.0);
	assert_true(json_real_value(json_object_get(ph, "program_started")) == 812.5);
	assert_true(json_real_value(json_object_get(ph, "program_ended")) == 815.0);
	assert_true(json_real_value(json_object_get(ph, "done")) == 830.0);
	assert_true(json_real_value(json_object_get(json_object_get(j, "cpu_s"), "user")) == 0.25);
	assert_true(json_real_value(json_object_get(json_object_get(j, "cpu_s"), "system")) == 0.5);
	assert_int_equal(json_integer_value(json_object_get(j, "vcpus")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "memory_bytes")), 256 << 20);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "bytes"), "stdin")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "bytes"), "stdout")),
			 22);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "bytes"), "stderr")),
			 333);
	/* the last 4 KiB at most */
	assert_int_equal(json_string_length(json_object_get(j, "console_tail")), EXEC_CONSOLE_TAIL);
	json_decref(j);

	/* a panic: no exit code, phases never reached are null, bytes that are not UTF-8 */
	memcpy(tail, "ok \xff\xfe\x00 \xc3\xa9 \xed\xa0\x80.", 14);
	r = (struct exec_report){.argc = 1,
				 .argv = argv,
				 .outcome = EXEC_GUEST_PANIC,
				 .status = 125,
				 .exit_code = -1,
				 .reason = "guest kernel panicked",
				 .started_ns = 5,
				 .phase_ns = {10},
				 .console_tail = tail,
				 .console_tail_len = 14};
	j = report_of(&r);
	assert_string_equal(json_string_value(json_object_get(j, "outcome")), "guest-panic");
	assert_true(json_is_null(json_object_get(j, "exit_code")));
	assert_string_equal(json_string_value(json_object_get(j, "reason")),
			    "guest kernel panicked");
	ph = json_object_get(j, "phases_ms");
	assert_true(json_is_real(json_object_get(ph, "first_kvm_run")));
	assert_true(json_is_null(json_object_get(ph, "agent_ready")));
	assert_true(json_is_null(json_object_get(ph, "done")));
	assert_string_equal(json_string_value(json_object_get(j, "console_tail")),
			    "ok \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xc3\xa9 "
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd.");
	json_decref(j);

	/* signaled */
	r = (struct exec_report){.argc = 1,
				 .argv = argv,
				 .outcome = EXEC_SIGNALED,
				 .status = 137,
				 .exit_code = -1,
				 .signal = 9};
	j = report_of(&r);
	assert_string_equal(json_string_value(json_object_get(j, "outcome")), "signaled");
	assert_int_equal(json_integer_value(json_object_get(j, "signal")), 9);
	assert_string_equal(json_string_value(json_object_get(j, "console_tail")), "");
	json_decref(j);
}

/* "devices": a virtio-blk's and a virtio-net's counters, in order, with their names. */
static void test_report_devices(void **state)
{
	char *argv[] = {"kvmrun", NULL};
	struct blk_stats bs = {.reads = 3,
			       .read_bytes = 12288,
			       .writes = 1,
			       .write_bytes = 4096,
			       .flushes = 2,
			       .discards = 5,
			       .errors = 1};
	struct net_stats ns = {.rx_frames = 7,
			       .rx_bytes = 700,
			       .tx_frames = 8,
			       .tx_bytes = 800,
			       .rx_tap_errors = 1,
			       .tx_tap_errors = 2};
	struct rl_limiter blk_lim = {.throttled = 5, .waited_ns = 7001999999};
	struct rl_limiter rx_lim = {.throttled = 3, .waited_ns = 2000000000};
	struct rl_limiter tx_lim = {.throttled = 4, .waited_ns = 5000000};
	struct disk_stats ds = {.snapshot = true, .overlay_bytes = 1536, .overlay_refused = 2};
	struct exec_report_device devs[3];
	struct exec_report r = {.argc = 1, .argv = argv, .exit_code = -1};
	json_t *j, *arr, *d;

	(void)state;
	ns.drops[NET_DROP_TX_SHORT] = 1;
	ns.drops[NET_DROP_TX_TAP_ERROR] = 2;
	ns.drops[NET_DROP_RX_SHORT] = 4;
	ns.drops[NET_DROP_RX_RESET] = 8;
	ns.drops[NET_DROP_TX_EGRESS_DENIED] = 16;
	ns.drops[NET_DROP_TX_EGRESS_MALFORMED] = 32;
	ns.drops[NET_DROP_TX_EGRESS_FRAGMENT] = 64;
	ns.drops[NET_DROP_TX_EGRESS_ETHERTYPE] = 128;
	exec_report_blk(&devs[0], "vda", "/img/a.raw", &bs, &ds);
	exec_report_limits(&devs[0], &blk_lim, NULL);
	exec_report_net(&devs[1], "net0", NULL, &ns);
	exec_report_limits(&devs[1], NULL, NULL); /* no limits: nothing added */
	exec_report_net(&devs[2], "net1", "tap1", &ns);
	exec_report_limits(&devs[2], &rx_lim, &tx_lim); /* a NIC's: each direction too */

	/* none: an empty array, not a missing field */
	j = report_of(&r);
	arr = json_object_get(j, "devices");
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 0);
	json_decref(j);

	r.devices = devs;
	r.nr_devices = 3;
	j = report_of(&r);
	arr = json_object_get(j, "devices");
	assert_int_equal(json_array_size(arr), 3);
	d = json_array_get(arr, 0);
	assert_int_equal(json_object_size(d), 3 + 7 + 2 + 2);
	assert_int_equal(json_integer_value(json_object_get(d, "overlay_bytes")), 1536);
	assert_int_equal(json_integer_value(json_object_get(d, "overlay_refused")), 2);
	assert_int_equal(json_integer_value(json_object_get(d, "rate_limited")), 5);
	assert_int_equal(json_integer_value(json_object_get(d, "rate_limit_waited_ms")), 7001);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "virtio-blk");
	assert_string_equal(json_string_value(json_object_get(d, "name")), "vda");
	assert_string_equal(json_string_value(json_object_get(d, "backend")), "/img/a.raw");
	assert_int_equal(json_integer_value(json_object_get(d, "read_requests")), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "read_bytes")), 12288);
	assert_int_equal(json_integer_value(json_object_get(d, "write_requests")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "write_bytes")), 4096);
	assert_int_equal(json_integer_value(json_object_get(d, "flushes")), 2);
	assert_int_equal(json_integer_value(json_object_get(d, "discards")), 5);
	assert_int_equal(json_integer_value(json_object_get(d, "errors")), 1);
	d = json_array_get(arr, 1);
	assert_int_equal(json_object_size(d), 3 + 7 + 4);
	assert_int_equal(json_integer_value(json_object_get(d, "egress_denied")), 16);
	assert_int_equal(json_integer_value(json_object_get(d, "egress_malformed")), 32);
	assert_int_equal(json_integer_value(json_object_get(d, "egress_fragment")), 64);
	assert_int_equal(json_integer_value(json_object_get(d, "egress_ethertype")), 128);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "virtio-net");
	assert_string_equal(json_string_value(json_object_get(d, "name")), "net0");
	assert_true(json_is_null(json_object_get(d, "backend")));
	assert_int_equal(json_integer_value(json_object_get(d, "rx_frames")), 7);
	assert_int_equal(json_integer_value(json_object_get(d, "rx_bytes")), 700);
	assert_int_equal(json_integer_value(json_object_get(d, "tx_frames")), 8);
	assert_int_equal(json_integer_value(json_object_get(d, "tx_bytes")), 800);
	assert_int_equal(json_integer_value(json_object_get(d, "rx_drops")), 12);
	assert_int_equal(json_integer_value(json_object_get(d, "tx_drops")), 3 + 16 + 32 + 64 + 128);
	assert_int_equal(json_integer_value(json_object_get(d, "errors")), 3);
	d = json_array_get(arr, 2);
	assert_int_equal(json_object_size(d), 3 + 7 + 4 + 2 + 4);
	assert_int_equal(json_integer_value(json_object_get(d, "rate_limited")), 7);
	assert_int_equal(json_integer_value(json_object_get(d, "rate_limit_waited_ms")), 2005);
	assert_int_equal(json_integer_value(json_object_get(d, "rx_rate_limited")), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "rx_rate_limit_waited_ms")), 2000);
	assert_int_equal(json_integer_value(json_object_get(d, "tx_rate_limited")), 4);
	assert_int_equal(json_integer_value(json_object_get(d, "tx_rate_limit_waited_ms")), 5);
	/* no helper daemons: an empty array */
	arr = json_object_get(j, "helpers");
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 0);
	json_decref(j);

	/* passt's CPU time apart from kvmrun's */
	const struct vm_helper_cpu helpers[] = {
	    {.prog = "passt", .device = "net0", .user_ns = 1500000000, .sys_ns = 250000000},
	    {.prog = "virtiofsd", .device = "root", .user_ns = 0, .sys_ns = 1000}};

	r.helpers = helpers;
	r.nr_helpers = 2;
	j = report_of(&r);
	arr = json_object_get(j, "helpers");
	assert_int_equal(json_array_size(arr), 2);
	d = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(d, "program")), "passt");
	assert_string_equal(json_string_value(json_object_get(d, "device")), "net0");
	assert_true(json_real_value(json_object_get(json_object_get(d, "cpu_s"), "user")) == 1.5);
	assert_true(json_real_value(json_object_get(json_object_get(d, "cpu_s"), "system")) == 0.25);
	d = json_array_get(arr, 1);
	assert_string_equal(json_string_value(json_object_get(d, "program")), "virtiofsd");
	assert_true(json_real_value(json_object_get(json_object_get(d, "cpu_s"), "system")) > 0);
	json_decref(j);
}

static void test_report_write(void **state)
{
	char *argv[] = {"kvmrun", NULL};
	struct exec_report r = {.argc = 1,
				.argv = argv,
				.outcome = EXEC_TIMEOUT,
				.status = 124,
				.exit_code = -1,
				.reason = "--timeout expired"};
	char path[] = "/tmp/test_exec_report.XXXXXX";
	json_error_t e;
	json_t *j;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk that is longer than nothing", 30), 30);
	close(fd);
	assert_int_equal(exec_report_write(&r, path), 0);
	j = json_load_file(path, 0, &e);
	if (!j)
		fail_msg("%s: %s", path, e.text);
	assert_string_equal(json_string_value(json_object_get(j, "outcome")), "timeout");
	json_decref(j);
	unlink(path);
	assert_int_equal(exec_report_write(&r, "/nonexistent-dir/r.json"), -ENOENT);
}

/*
 * The report is written on the event loop's thread after the run, under its
 * seccomp filter: in a child with that filter, written whole (a refused call
 * would end the child with status 8).
 */
static void test_report_write_sandboxed(void **state)
{
	char *argv[] = {"kvmrun", "exec", "--", "true", NULL};
	struct exec_report r = {
	    .argc = 4, .argv = argv, .outcome = EXEC_EXITED, .exit_code = 0, .cpu_user_s = 1.5};
	char path[] = "/tmp/test_exec_report.XXXXXX";
	struct rusage ru;
	json_error_t e;
	int fd, status;
	pid_t pid;
	json_t *j;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		exec_report_prepare();
		if (sandbox_apply(SANDBOX_LOOP, NULL))
			_exit(99);
		/* what exec does after the run: its CPU time, then the report */
		if (getrusage(RUSAGE_SELF, &ru) || exec_report_write_fd(&r, fd))
			_exit(98);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fd);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("child status %#x", status);
	j = json_load_file(path, 0, &e);
	if (!j)
		fail_msg("%s: %s", path, e.text);
	assert_string_equal(json_string_value(json_object_get(j, "outcome")), "exited");
	json_decref(j);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmdline),	  cmocka_unit_test(test_exit_status),
	    cmocka_unit_test(test_vm_status),	  cmocka_unit_test(test_kernel_path),
	    cmocka_unit_test(test_report),	  cmocka_unit_test(test_report_write),
	    cmocka_unit_test(test_share_args),	  cmocka_unit_test(test_report_write_sandboxed),
	    cmocka_unit_test(test_relay_decides),   cmocka_unit_test(test_report_devices),
	    cmocka_unit_test(test_net_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
