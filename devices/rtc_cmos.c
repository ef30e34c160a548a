// SPDX-License-Identifier: Apache-2.0
/*
 * The MC146818 CMOS RTC at ports 0x70 (index) and 0x71 (data). The clock
 * registers are read live from the host's CLOCK_REALTIME (UTC) at each access;
 * the guest cannot set them (writes are ignored). No interrupts: the update
 * in progress bit never rises, and status C reports no event.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "platform.h"

#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32

#define RTC_A_UIP 0x80
#define RTC_B_24H 0x02
#define RTC_B_DM_BINARY 0x04
#define RTC_D_VRT 0x80
#define RTC_HOURS_PM 0x80

#define RTC_INDEX_MASK 0x7f /* bit 7 of the index port is the NMI mask */
#define RTC_NR_REGS 128

struct rtc_cmos {
	struct device dev;
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[RTC_NR_REGS]; /* also holds registers A and B */
};

static uint8_t rtc_to_bcd(unsigned int v)
{
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static uint8_t rtc_encode(const struct rtc_cmos *rtc, unsigned int v)
{
	return (rtc->ram[RTC_REG_B] & RTC_B_DM_BINARY) ? (uint8_t)v : rtc_to_bcd(v);
}

static uint8_t rtc_hours(const struct rtc_cmos *rtc, unsigned int h)
{
	unsigned int h12;

	if (rtc->ram[RTC_REG_B] & RTC_B_24H)
		return rtc_encode(rtc, h);
	h12 = h % 12 ? h % 12 : 12;
	return rtc_encode(rtc, h12) | (h >= 12 ? RTC_HOURS_PM : 0);
}

static bool rtc_is_clock_reg(uint8_t reg)
{
	switch (reg) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_DAY_OF_WEEK:
	case RTC_DAY_OF_MONTH:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY:
		return true;
	default:
		return false;
	}
}

/* A clock register, from the host's time now. */
static uint8_t rtc_clock_reg(const struct rtc_cmos *rtc, uint8_t reg)
{
	struct timespec ts;
	struct tm tm;
	uint8_t out = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!gmtime_r(&ts.tv_sec, &tm))
		memset(&tm, 0, sizeof(tm));
	switch (reg) {
	case RTC_SECONDS:
		out = rtc_encode(rtc, (unsigned int)tm.tm_sec % 60); /* no leap seconds */
		break;
	case RTC_MINUTES:
		out = rtc_encode(rtc, (unsigned int)tm.tm_min);
		break;
	case RTC_HOURS:
		out = rtc_hours(rtc, (unsigned int)tm.tm_hour);
		break;
	case RTC_DAY_OF_WEEK:
		out = rtc_encode(rtc, (unsigned int)tm.tm_wday + 1); /* Sunday = 1 */
		break;
	case RTC_DAY_OF_MONTH:
		out = rtc_encode(rtc, (unsigned int)tm.tm_mday);
		break;
	case RTC_MONTH:
		out = rtc_encode(rtc, (unsigned int)tm.tm_mon + 1);
		break;
	case RTC_YEAR:
		out = rtc_encode(rtc, (unsigned int)(tm.tm_year + 1900) % 100);
		break;
	case RTC_CENTURY:
		out = rtc_encode(rtc, (unsigned int)(tm.tm_year + 1900) / 100);
		break;
	}
	return out;
}

static uint8_t rtc_read(struct rtc_cmos *rtc, uint8_t reg)
{
	if (rtc_is_clock_reg(reg))
		return rtc_clock_reg(rtc, reg);
	switch (reg) {
	case RTC_REG_A:
		return rtc->ram[reg] & (uint8_t)~RTC_A_UIP;
	case RTC_REG_C:
		return 0; /* no interrupt flags: nothing to clear */
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return rtc->ram[reg];
	}
}

static void rtc_write(struct rtc_cmos *rtc, uint8_t reg, uint8_t v)
{
	if (rtc_is_clock_reg(reg))
		return; /* the host's clock is not the guest's to set */
	switch (reg) {
	case RTC_REG_A:
		rtc->ram[reg] = v & (uint8_t)~RTC_A_UIP;
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read only */
	default:
		rtc->ram[reg] = v;
		break;
	}
}

static void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct rtc_cmos *rtc = opaque;

	if (len != 1 || offset > 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (offset == 0) {
		/* The index port is write only. */
		if (is_write)
			rtc->index = data[0] & RTC_INDEX_MASK;
		else
			data[0] = 0xff;
		return;
	}
	if (is_write)
		rtc_write(rtc, rtc->index, data[0]);
	else
		data[0] = rtc_read(rtc, rtc->index);
}

static void rtc_destroy(struct device *dev)
{
	struct rtc_cmos *rtc = container_of(dev, struct rtc_cmos, dev);

	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}

int rtc_cmos_create(struct device **list, struct bus *pio, uint16_t port)
{
	struct rtc_cmos *rtc;
	int ret;

	/*
	 * glibc's first gmtime_r() reads the time zone file, which a vCPU thread's
	 * seccomp filter refuses (no open): have it read now, during setup.
	 */
	tzset();
	rtc = calloc(1, sizeof(*rtc));
	if (!rtc)
		return -ENOMEM;
	rtc->dev.name = "rtc-cmos";
	rtc->dev.destroy = rtc_destroy;
	rtc->ram[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	rtc->ram[RTC_REG_B] = RTC_B_24H; /* BCD, 24 hours */
	ret = -pthread_mutex_init(&rtc->lock, NULL);
	if (ret)
		goto err_free;
	ret = bus_add(pio, port, 2, rtc_io, rtc, &rtc->lock, rtc->dev.name);
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
