// SPDX-License-Identifier: Apache-2.0
/*
 * The ARM PrimeCell PL031 real-time clock: a seconds counter that runs from the
 * host's CLOCK_REALTIME plus what the guest loaded, a match register and its
 * interrupt, and the PrimeCell identification registers. The match is compared
 * whenever the guest accesses the device (no host timer): the interrupt rises at
 * the first access at or after the matching second.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "platform.h"

#define PL031_DR 0x00	/* data: the counter (read only) */
#define PL031_MR 0x04	/* match */
#define PL031_LR 0x08	/* load: sets the counter */
#define PL031_CR 0x0c	/* control: bit 0 starts the counter (it always runs) */
#define PL031_IMSC 0x10 /* interrupt mask set/clear */
#define PL031_RIS 0x14	/* raw interrupt status */
#define PL031_MIS 0x18	/* masked interrupt status */
#define PL031_ICR 0x1c	/* interrupt clear (write only) */
#define PL031_ID 0xfe0	/* PeriphID0-3, PCellID0-3: one byte in each word */

static const uint8_t pl031_id[8] = {0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

struct pl031 {
	struct device dev;
	pthread_mutex_t lock;
	struct irq_line irq;
	int64_t offset; /* counter - host seconds */
	uint32_t match;
	uint32_t last; /* the counter when the match was last compared */
	bool imsc, ris, line;
};

static uint32_t pl031_now(const struct pl031 *rtc)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint32_t)((int64_t)ts.tv_sec + rtc->offset);
}

/* The match fired if the counter passed it since the last look (counting modulo 2^32). */
static void pl031_update(struct pl031 *rtc)
{
	uint32_t now = pl031_now(rtc);
	bool level;

	if (now != rtc->last &&
	    (uint32_t)(rtc->match - rtc->last - 1) < (uint32_t)(now - rtc->last))
		rtc->ris = true;
	rtc->last = now;
	level = rtc->ris && rtc->imsc;
	if (level != rtc->line) {
		rtc->line = level;
		irq_line_set(&rtc->irq, level);
	}
}

static uint32_t pl031_read(struct pl031 *rtc, uint64_t off)
{
	if (off >= PL031_ID && off < PL031_ID + 4 * sizeof(pl031_id))
		return pl031_id[(off - PL031_ID) / 4];
	switch (off) {
	case PL031_DR:
		return pl031_now(rtc);
	case PL031_MR:
		return rtc->match;
	case PL031_LR:
		return pl031_now(rtc);
	case PL031_CR:
		return 1;
	case PL031_IMSC:
		return rtc->imsc;
	case PL031_RIS:
		return rtc->ris;
	case PL031_MIS:
		return rtc->ris && rtc->imsc;
	default:
		return 0;
	}
}

static void pl031_write(struct pl031 *rtc, uint64_t off, uint32_t v)
{
	struct timespec ts;

	switch (off) {
	case PL031_MR:
		rtc->match = v;
		break;
	case PL031_LR:
		clock_gettime(CLOCK_REALTIME, &ts);
		rtc->offset = (int64_t)v - (int64_t)ts.tv_sec;
		rtc->last = v;
		break;
	case PL031_IMSC:
		rtc->imsc = v & 1;
		break;
	case PL031_ICR:
		if (v & 1)
			rtc->ris = false;
		break;
	default: /* CR (the counter always runs), read-only and reserved registers */
		break;
	}
}

/* 32-bit accesses only; any other width reads all ones and writes nothing. */
static void pl031_access(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pl031 *rtc = opaque;
	uint32_t v;

	if (len != 4 || (off & 3)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pl031_update(rtc);
	if (is_write) {
		v = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
		    (uint32_t)data[3] << 24;
		pl031_write(rtc, off, v);
		pl031_update(rtc);
	} else {
		v = pl031_read(rtc, off);
		for (int i = 0; i < 4; i++)
			data[i] = (uint8_t)(v >> (8 * i));
	}
}

static void pl031_destroy(struct device *dev)
{
	struct pl031 *rtc = container_of(dev, struct pl031, dev);

	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}

int pl031_create(struct device **list, struct bus *mmio, uint64_t base, const struct irq_line *irq)
{
	struct pl031 *rtc;
	int ret;

	rtc = calloc(1, sizeof(*rtc));
	if (!rtc)
		return -ENOMEM;
	rtc->dev.name = "pl031";
	rtc->dev.destroy = pl031_destroy;
	rtc->irq = *irq;
	rtc->last = pl031_now(rtc);
	ret = -pthread_mutex_init(&rtc->lock, NULL);
	if (ret)
		goto err_free;
	ret = bus_add(mmio, base, PL031_MMIO_SIZE, pl031_access, rtc, &rtc->lock, rtc->dev.name);
	if (ret)
		goto err_mutex;
	rtc->dev.next = *list;
	*list = &rtc->dev;
	return 0;

err_mutex:
	pthread_mutex_destroy(&rtc->lock);
err_free:
	free(rtc);
	return ret;
}
