// SPDX-License-Identifier: Apache-2.0
/*
 * The i8042 keyboard controller, without a keyboard or a mouse behind it:
 * the controller commands Linux uses to probe it, and the CPU reset line.
 * The AUX port reports itself absent (its loop test fails), so that guests
 * do not wait for a mouse.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "kvmrun/log.h"

#define I8042_STR_OBF 0x01
#define I8042_STR_IBF 0x02
#define I8042_STR_SYS 0x04
#define I8042_STR_CMD 0x08
#define I8042_STR_KEYLOCK 0x10 /* set: keyboard not locked */
#define I8042_STR_AUXDATA 0x20

#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_SYS 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE 0x40

#define I8042_CMD_CTL_RCTR 0x20
#define I8042_CMD_CTL_WCTR 0x60
#define I8042_CMD_AUX_DISABLE 0xa7
#define I8042_CMD_AUX_ENABLE 0xa8
#define I8042_CMD_AUX_TEST 0xa9
#define I8042_CMD_CTL_TEST 0xaa
#define I8042_CMD_KBD_TEST 0xab
#define I8042_CMD_KBD_DISABLE 0xad
#define I8042_CMD_KBD_ENABLE 0xae
#define I8042_CMD_CTL_RIN 0xc0
#define I8042_CMD_CTL_ROUT 0xd0
#define I8042_CMD_CTL_WOUT 0xd1
#define I8042_CMD_KBD_LOOP 0xd2
#define I8042_CMD_AUX_LOOP 0xd3
#define I8042_CMD_AUX_SEND 0xd4
#define I8042_CMD_PULSE_FIRST 0xf0

#define I8042_OUT_RESET 0x01 /* output port bit 0: low resets the CPU */

struct i8042 {
	struct device dev;
	pthread_mutex_t lock;
	struct platform_sink sink;
	struct log_ratelimit rl;

	uint8_t ctr;
	uint8_t outport;
	uint8_t pending_cmd; /* command waiting for its data byte; 0: none */
	bool last_was_cmd;
	bool obf;
	uint8_t out; /* the output buffer: one byte, as on the real part */
};

static void i8042_reset(struct i8042 *k)
{
	if (k->sink.event)
		k->sink.event(k->sink.opaque, PLATFORM_RESET);
}

static void i8042_put(struct i8042 *k, uint8_t v)
{
	k->out = v;
	k->obf = true;
}

static void i8042_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case I8042_CMD_CTL_RCTR:
		i8042_put(k, k->ctr);
		break;
	case I8042_CMD_CTL_WCTR:
	case I8042_CMD_CTL_WOUT:
	case I8042_CMD_KBD_LOOP:
	case I8042_CMD_AUX_LOOP:
	case I8042_CMD_AUX_SEND:
		k->pending_cmd = cmd;
		break;
	case I8042_CMD_AUX_DISABLE:
		k->ctr |= I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_ENABLE:
		k->ctr &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_TEST:
		i8042_put(k, 0x01); /* clock line stuck low: no AUX port */
		break;
	case I8042_CMD_CTL_TEST:
		k->ctr |= I8042_CTR_SYS;
		i8042_put(k, 0x55);
		break;
	case I8042_CMD_KBD_TEST:
		i8042_put(k, 0x00);
		break;
	case I8042_CMD_KBD_DISABLE:
		k->ctr |= I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_KBD_ENABLE:
		k->ctr &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_CTL_RIN:
		i8042_put(k, 0x80); /* keyboard not inhibited */
		break;
	case I8042_CMD_CTL_ROUT:
		i8042_put(k, k->outport);
		break;
	default:
		if (cmd >= I8042_CMD_PULSE_FIRST) {
			/* Pulse the output lines whose bit is 0; line 0 is the reset. */
			if (!(cmd & I8042_OUT_RESET))
				i8042_reset(k);
			break;
		}
		log_ratelimited(&k->rl, LOG_DEBUG, "i8042: unknown command 0x%02x", cmd);
		break;
	}
}

static void i8042_data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	switch (cmd) {
	case I8042_CMD_CTL_WCTR:
		k->ctr = v;
		break;
	case I8042_CMD_CTL_WOUT:
		k->outport = v;
		if (!(v & I8042_OUT_RESET))
			i8042_reset(k);
		break;
	case I8042_CMD_KBD_LOOP:
	case I8042_CMD_AUX_LOOP:
		/*
		 * Echoed as keyboard data even for the AUX loop: without
		 * STR_AUXDATA, Linux concludes at once that there is no mouse.
		 */
		i8042_put(k, v);
		break;
	default:
		/* To the keyboard or the mouse, neither of which is there. */
		break;
	}
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t st = I8042_STR_KEYLOCK;

	if (k->obf)
		st |= I8042_STR_OBF;
	if (k->ctr & I8042_CTR_SYS)
		st |= I8042_STR_SYS;
	if (k->last_was_cmd)
		st |= I8042_STR_CMD;
	return st;
}

static void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			  bool is_write)
{
	struct i8042 *k = opaque;

	if (!bus_byte_access(data, len, is_write))
		return;
	if (is_write) {
		k->last_was_cmd = false;
		i8042_data(k, data[0]);
	} else {
		data[0] = k->out;
		k->obf = false;
	}
}

static void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct i8042 *k = opaque;

	if (!bus_byte_access(data, len, is_write))
		return;
	if (is_write) {
		k->last_was_cmd = true;
		k->pending_cmd = 0;
		i8042_command(k, data[0]);
	} else {
		data[0] = i8042_status(k);
	}
}

static void i8042_destroy(struct device *dev)
{
	struct i8042 *k = container_of(dev, struct i8042, dev);

	pthread_mutex_destroy(&k->lock);
	free(k);
}

int i8042_create(struct device **list, struct bus *pio, uint16_t data_port, uint16_t cmd_port,
		 const struct platform_sink *sink)
{
	struct i8042 *k;
	int ret;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->dev.name = "i8042";
	k->dev.destroy = i8042_destroy;
	k->sink = *sink;
	k->ctr = I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE;
	k->outport = I8042_OUT_RESET;
	ret = -pthread_mutex_init(&k->lock, NULL);
	if (ret)
		goto err_free;
	ret = bus_add(pio, data_port, 1, i8042_data_io, k, &k->lock, "i8042-data");
	if (ret)
		goto err_mutex;
	/*
	 * The bus has no removal: if the second range fails, the VM fails to
	 * build and no vCPU ever reaches the first one.
	 */
	ret = bus_add(pio, cmd_port, 1, i8042_cmd_io, k, &k->lock, "i8042-cmd");
	if (ret)
		goto err_mutex;
	k->dev.next = *list;
	*list = &k->dev;
	return 0;

err_mutex:
	pthread_mutex_destroy(&k->lock);
err_free:
	free(k);
	return ret;
}
