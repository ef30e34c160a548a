// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-fs on the virtio-pci transport, with the event loop on a thread of its own
 * and a scripted vhost-user backend, as in the VMM: the queues' doorbells go to the
 * backend and the loop does not watch them (it does a device's whose queues it
 * serves); the backend's interrupts reach the guest as the queues' MSI-X vectors,
 * signalled by the backend itself while unmasked, relayed and held pending while
 * masked; a request the backend refuses at DRIVER_OK, or the
 * backend hanging up, marks the device NEEDS_RESET and the transport runs on.
 */
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <sys/mman.h>

#include "fake_vhost_backend.h"
#include "kvmrun/config.h"
#include "vhost/vhost_user.h"
#include "virtio_pci_fixture.h"

struct fs_fixture {
	struct fixture f; /* the fake device's fields (f.fd) stay unused */
	struct virtio_dev *vdev;
	struct fake_vhost_backend *b;
	int memfd;
};

/* Whether fd is in an epoll set of this process (each set's fdinfo lists its targets). */
static bool in_epoll(int fd)
{
	DIR *d = opendir("/proc/self/fdinfo");
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		char path[300], line[256];
		FILE *fp;
		int t;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		while (fgets(line, sizeof(line), fp))
			if (sscanf(line, "tfd: %d", &t) == 1 && t == fd)
				found = true;
		fclose(fp);
	}
	closedir(d);
	return found;
}

static int setup_fs(void **state)
{
	struct fvb_config bc = {
	    .features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VQ_F_EVENT_IDX) |
			VIRTIO_BIT(VU_F_PROTOCOL_FEATURES),
	    .protocol_features = VIRTIO_BIT(VU_PROTOCOL_F_REPLY_ACK),
	};
	struct share_config cfg = {.path = "/srv/docs", .tag = "docs"};
	struct fs_fixture *x = calloc(1, sizeof(*x));
	struct fixture *f = &x->f;
	char err[256];
	int sock;

	if (!x)
		return -1;
	fixture_buses(f);
	x->memfd = memfd_create("test-ram", MFD_CLOEXEC);
	if (x->memfd < 0 || ftruncate(x->memfd, RAM_SIZE))
		return -1;
	f->ram = fvb_ram_map(&f->gm, x->memfd, 0, RAM_SIZE, 0);
	x->b = fvb_start(&bc, &sock);
	if (!f->ram || !x->b || ev_loop_create(&f->loop) ||
	    pci_host_create(&f->devs, &f->host, &f->pio, &f->mmio, PORT_PCI_CONFIG, &fixture_win))
		return -1;
	if (virtio_fs_create(&x->vdev, &cfg, sock, f->loop, &f->gm, err, sizeof(err)) ||
	    virtio_pci_create(&f->devs, f->host, &f->irq.chip, x->vdev))
		return -1;
	find_caps(f);
	if (pthread_create(&f->loop_thread, NULL, loop_main, f->loop))
		return -1;
	*state = x;
	return 0;
}

static int teardown_fs(void **state)
{
	struct fs_fixture *x = *state;
	struct fixture *f = &x->f;

	ev_stop(f->loop, 0);
	pthread_join(f->loop_thread, NULL);
	assert_int_equal(f->irq.vcpu_calls, 0);
	devices_destroy(&f->devs);
	assert_int_equal(f->irq.nr_io, 0);
	ev_loop_destroy(f->loop);
	fvb_stop(x->b);
	fvb_ram_unmap(f->ram, RAM_SIZE);
	close(x->memfd);
	free(x);
	return 0;
}

/* The driver's side up to DRIVER_OK, MSI-X on (vector q + 1 for queue q, 0 for config). */
static void fs_driver_ok(struct fixture *f)
{
	enable_msix(f);
	to_features_ok(f);
	setup_queue(f, 0, QMAX);
	setup_queue(f, 1, 16);
	common_wr(f, MSIX_CONFIG, 2, 0);
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
}

/* The i-th request with code req (counting from 0), or NULL. */
static const struct fvb_msg *nth_request(struct fake_vhost_backend *b, uint32_t req, unsigned int i)
{
	for (unsigned int n = 0; n < fvb_count(b); n++)
		if (fvb_msg(b, n)->request == req && i-- == 0)
			return fvb_msg(b, n);
	return NULL;
}

/* Waits (10 s at most) until the backend got the i-th request with code req. */
static const struct fvb_msg *await_request(struct fake_vhost_backend *b, uint32_t req,
					   unsigned int i)
{
	const struct fvb_msg *m;

	WAIT_FOR((m = nth_request(b, req, i)) != NULL);
	return m;
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

/* The loop watches a device's doorbells when it serves the queues, never the backend's. */
static void test_doorbells_to_backend(void **state)
{
	struct fs_fixture *x = *state;
	struct fixture *f = &x->f;
	uint64_t v;

	/* The transport's doorbells of this device are not in the loop's epoll set. */
	for (uint16_t q = 0; q < NQ; q++) {
		assert_true(virtio_kick_fd(x->vdev, q) >= 0);
		assert_false(in_epoll(virtio_kick_fd(x->vdev, q)));
	}
	assert_int_equal(virtio_kick_fd(x->vdev, NQ), -1);
	fs_driver_ok(f);
	for (uint16_t q = 0; q < NQ; q++) {
		const struct fvb_msg *m = await_request(x->b, FVB_SET_VRING_KICK, q);

		assert_int_equal(m->nfds, 1);
		/* A kick through the notify register reaches the backend's copy. */
		assert_false(readable(m->fds[0]));
		io_wr(f, f->port, 2, q);
		assert_true(readable(m->fds[0]));
		assert_int_equal(read(m->fds[0], &v, sizeof(v)), sizeof(v));
		assert_false(in_epoll(virtio_kick_fd(x->vdev, q)));
	}
	assert_int_equal(common_rd(f, STATUS, 1), ACK | DRV | FOK | DOK);
}

/* The same check on a device the loop serves itself: the method sees a watched doorbell. */
static void test_doorbells_watched_otherwise(void **state)
{
	struct fixture *f = *state;

	for (uint16_t q = 0; q < NQ; q++)
		assert_true(in_epoll(virtio_kick_fd(&f->fd->vdev, q)));
}

/* The queue index a SET_VRING_CALL is for (the low byte of its u64). */
static unsigned int call_index(const struct fvb_msg *m)
{
	uint64_t v;

	assert_int_equal(m->size, sizeof(v));
	memcpy(&v, m->payload, sizeof(v));
	return (unsigned int)(v & 0xff);
}

/* The backend signals the call fd of message m once. */
static void backend_signals(const struct fvb_msg *m)
{
	uint64_t one = 1;

	assert_int_equal(m->nfds, 1);
	assert_int_equal(write(m->fds[0], &one, sizeof(one)), sizeof(one));
}

#define CTRL(f, v) ((f)->bar + 0x4000 + (v) * 16 + 12)
#define PBA_BIT(f, v) (rd(f, (f)->bar + 0x5000, 1) & (1U << (v)))

/* Unmasked at DRIVER_OK: the backend signals each queue's MSI-X vector itself, routed. */
static void test_call_fd_is_vector(void **state)
{
	struct fs_fixture *x = *state;
	struct fixture *f = &x->f;

	fs_driver_ok(f);
	for (uint16_t q = 0; q < NQ; q++) {
		const struct fvb_msg *m = await_request(x->b, FVB_SET_VRING_CALL, q);

		assert_int_equal(call_index(m), q);
		backend_signals(m);
		assert_int_equal(fake_msi_fd_writes(&f->irq, q + 1), 1);
		assert_true(f->irq.routed[q + 1]);
		assert_int_equal(f->irq.data[q + 1], 0x40 + q + 1);
	}
	/* Nothing went through the loop. */
	usleep(20000);
	assert_int_equal(fake_fired(&f->irq, 1), 0);
	assert_int_equal(fake_fired(&f->irq, 2), 0);
	assert_false(common_rd(f, STATUS, 1) & NEEDS_RESET);
}

/* Masked at DRIVER_OK: that queue gets the relay (pending bit); unmasked, the vector. */
static void test_call_fd_relay_when_masked(void **state)
{
	struct fs_fixture *x = *state;
	struct fixture *f = &x->f;
	const struct fvb_msg *m;

	enable_msix(f);
	wr(f, CTRL(f, 2), 4, 1);
	to_features_ok(f);
	setup_queue(f, 0, QMAX);
	setup_queue(f, 1, 16);
	common_wr(f, MSIX_CONFIG, 2, 0);
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
	backend_signals(await_request(x->b, FVB_SET_VRING_CALL, 0));
	assert_int_equal(fake_msi_fd_writes(&f->irq, 1), 1);
	m = await_request(x->b, FVB_SET_VRING_CALL, 1);
	assert_int_equal(call_index(m), 1);
	backend_signals(m);
	WAIT_FOR(PBA_BIT(f, 2));
	assert_int_equal(fake_msi_fd_writes(&f->irq, 2), 0);
	assert_int_equal(fake_fired(&f->irq, 2), 0);
	/* Unmasked: the pending interrupt goes out, and the backend gets the vector. */
	wr(f, CTRL(f, 2), 4, 0);
	WAIT_FOR(fake_fired(&f->irq, 2) == 1);
	m = await_request(x->b, FVB_SET_VRING_CALL, 2);
	assert_int_equal(call_index(m), 1);
	backend_signals(m);
	assert_int_equal(fake_msi_fd_writes(&f->irq, 2), 1);
	assert_int_equal(fake_fired(&f->irq, 2), 1);
}

/*
 * A mask after DRIVER_OK: the loop gives the backend the relay, whose signal becomes the
 * pending bit; the unmask delivers it and hands the vector back. The function mask too.
 */
static void test_mask_switches_call_fd(void **state)
{
	struct fs_fixture *x = *state;
	struct fixture *f = &x->f;
	const struct fvb_msg *m;

	fs_driver_ok(f);
	await_request(x->b, FVB_SET_VRING_CALL, 1);
	wr(f, CTRL(f, 2), 4, 1);
	m = await_request(x->b, FVB_SET_VRING_CALL, 2);
	assert_int_equal(call_index(m), 1);
	backend_signals(m);
	WAIT_FOR(PBA_BIT(f, 2));
	assert_int_equal(fake_msi_fd_writes(&f->irq, 2), 0);
	assert_int_equal(fake_fired(&f->irq, 2), 0);
	wr(f, CTRL(f, 2), 4, 0);
	WAIT_FOR(fake_fired(&f->irq, 2) == 1);
	assert_false(PBA_BIT(f, 2));
	m = await_request(x->b, FVB_SET_VRING_CALL, 3);
	assert_int_equal(call_index(m), 1);
	backend_signals(m);
	assert_int_equal(fake_msi_fd_writes(&f->irq, 2), 1);
	assert_int_equal(fake_fired(&f->irq, 2), 1);
	/* The function mask switches both queues, and back. */
	cfg_wr(f, f->msix_cap + 2, 2, 0xc000);
	for (unsigned int i = 4; i < 6; i++) {
		m = await_request(x->b, FVB_SET_VRING_CALL, i);
		backend_signals(m);
		WAIT_FOR(PBA_BIT(f, call_index(m) + 1));
		assert_int_equal(fake_msi_fd_writes(&f->irq, call_index(m) + 1), 0);
	}
	cfg_wr(f, f->msix_cap + 2, 2, 0x8000);
	WAIT_FOR(fake_fired(&f->irq, 1) == 1 && fake_fired(&f->irq, 2) == 2);
	for (unsigned int i = 6; i < 8; i++) {
		m = await_request(x->b, FVB_SET_VRING_CALL, i);
		backend_signals(m);
		assert_int_equal(fake_msi_fd_writes(&f->irq, call_index(m) + 1), 1);
	}
	assert_false(common_rd(f, STATUS, 1) & NEEDS_RESET);
}

/* MSI-X off: the relay, and the interrupt is the ISR's queue bit. */
static void test_call_fd_relay_without_msix(void **state)
{
	struct fs_fixture *x = *state;
	struct fixture *f = &x->f;

	to_features_ok(f);
	setup_queue(f, 0, QMAX);
	setup_queue(f, 1, 16);
	common_wr(f, STATUS, 1, ACK | DRV | FOK | DOK);
	for (uint16_t q = 0; q < NQ; q++) {
		backend_signals(await_request(x->b, FVB_SET_VRING_CALL, q));
		WAIT_FOR(rd(f, f->bar + 0x1000, 1) & 1);
		assert_int_equal(fake_msi_fd_writes(&f->irq, q + 1), 0);
	}
	assert_int_equal(fake_fired(&f->irq, 1) + fake_fired(&f->irq, 2), 0);
}

/* A chip without msi_fd: the relay, pending bits while masked, as before. */
static void test_interrupts_relayed(void **state)
{
	struct fs_fixture *x = *state;
	struct fixture *f = &x->f;
	const struct fvb_msg *call0, *call1;

	f->irq.no_msi_fd = true;
	fs_driver_ok(f);
	call0 = await_request(x->b, FVB_SET_VRING_CALL, 0);
	call1 = await_request(x->b, FVB_SET_VRING_CALL, 1);
	backend_signals(call1);
	WAIT_FOR(fake_fired(&f->irq, 2) == 1);
	assert_int_equal(f->irq.fired_data[2], 0x42);
	assert_int_equal(fake_fired(&f->irq, 1), 0);
	backend_signals(call0);
	WAIT_FOR(fake_fired(&f->irq, 1) == 1);
	/* Masked: held in the PBA, sent when unmasked; the call fd stays. */
	wr(f, CTRL(f, 2), 4, 1);
	backend_signals(call1);
	WAIT_FOR(PBA_BIT(f, 2));
	assert_int_equal(fake_fired(&f->irq, 2), 1);
	wr(f, CTRL(f, 2), 4, 0);
	assert_int_equal(fake_fired(&f->irq, 2), 2);
	assert_null(nth_request(x->b, FVB_SET_VRING_CALL, 2));
	assert_false(common_rd(f, STATUS, 1) & NEEDS_RESET);
}

/* A request refused at DRIVER_OK: NEEDS_RESET, a config interrupt; a reset recovers. */
static void test_refused_start_needs_reset(void **state)
{
	struct fs_fixture *x = *state;
	struct fixture *f = &x->f;

	fvb_fault(x->b, FVB_SET_MEM_TABLE, FVB_NACK);
	fs_driver_ok(f);
	WAIT_FOR(common_rd(f, STATUS, 1) & NEEDS_RESET);
	WAIT_FOR(fake_fired(&f->irq, 0) == 1);
	assert_null(nth_request(x->b, FVB_SET_VRING_KICK, 0));
	do_reset(f);
	assert_int_equal(common_rd(f, STATUS, 1), 0);
}

/* The backend hangs up while the device runs: NEEDS_RESET, the transport runs on. */
static void test_hangup_needs_reset(void **state)
{
	struct fs_fixture *x = *state;
	struct fixture *f = &x->f;

	fs_driver_ok(f);
	await_request(x->b, FVB_SET_VRING_ENABLE, 1);
	fvb_stop(x->b);
	x->b = NULL;
	WAIT_FOR(common_rd(f, STATUS, 1) & NEEDS_RESET);
	WAIT_FOR(fake_fired(&f->irq, 0) == 1);
	/* The driver resets and tries again: refused, marked again; registers still work. */
	do_reset(f);
	fs_driver_ok(f);
	WAIT_FOR(common_rd(f, STATUS, 1) & NEEDS_RESET);
	do_reset(f);
	assert_int_equal(common_rd(f, STATUS, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_doorbells_to_backend, setup_fs, teardown_fs),
	    cmocka_unit_test_setup_teardown(test_doorbells_watched_otherwise, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_call_fd_is_vector, setup_fs, teardown_fs),
	    cmocka_unit_test_setup_teardown(test_call_fd_relay_when_masked, setup_fs, teardown_fs),
	    cmocka_unit_test_setup_teardown(test_mask_switches_call_fd, setup_fs, teardown_fs),
	    cmocka_unit_test_setup_teardown(test_call_fd_relay_without_msix, setup_fs, teardown_fs),
	    cmocka_unit_test_setup_teardown(test_interrupts_relayed, setup_fs, teardown_fs),
	    cmocka_unit_test_setup_teardown(test_refused_start_needs_reset, setup_fs, teardown_fs),
	    cmocka_unit_test_setup_teardown(test_hangup_needs_reset, setup_fs, teardown_fs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
