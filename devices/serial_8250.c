// SPDX-License-Identifier: Apache-2.0
/*
 * A 16550A UART. Transmission is instant (THR and the shift register are
 * empty again after a write) while the console takes the byte. When it does
 * not (stdout full, and the console's buffer too), the byte stays in the
 * transmitter: one byte (THR), or with the FIFOs enabled up to 16, which is
 * what Linux writes at each THRE. LSR shows THRE and TEMT clear, which is what
 * a driver polls, until the console calls back with room; then the bytes go
 * out in order and THRE (and its interrupt, if enabled) comes up. A byte
 * written to a full transmitter replaces the last one held, as a write to a
 * busy THR does on the chip; the lost byte is counted. Reception goes through a 16-byte FIFO
 * fed by the console on the loop thread. A receive timeout is reported as
 * soon as the FIFO holds data below its trigger level, so the guest never
 * waits for a timer this model does not have.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/console.h"
#include "platform.h"
#include "kvmrun/log.h"

#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7
#define UART_NR_REGS 8

#define UART_IER_RDI 0x01
#define UART_IER_THRI 0x02
#define UART_IER_RLSI 0x04
#define UART_IER_MSI 0x08
#define UART_IER_MASK 0x0f

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_RX_TIMEOUT 0x0c
#define UART_IIR_FIFO_ENABLED 0xc0

#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_FCR_CLEAR_XMIT 0x04
#define UART_FCR_DMA_SELECT 0x08
#define UART_FCR_TRIGGER_MASK 0xc0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f

#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_PE 0x04
#define UART_LSR_FE 0x08
#define UART_LSR_BI 0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_LSR_ERRORS (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80
#define UART_MSR_DELTAS 0x0f

#define SERIAL_FIFO_SIZE 16

struct serial {
	struct device dev;
	pthread_mutex_t lock;
	struct irq_line irq;
	struct console *con;

	uint8_t dll, dlm;
	uint8_t ier;
	uint8_t fcr;
	uint8_t lcr;
	uint8_t mcr;
	uint8_t lsr_errors; /* OE etc., cleared when LSR is read */
	uint8_t msr;
	uint8_t scr;
	uint8_t rbr; /* the last byte read, returned again when the FIFO is empty */

	uint8_t fifo[SERIAL_FIFO_SIZE];
	unsigned int fifo_head;
	unsigned int fifo_count;

	bool thr_ipending; /* THR empty interrupt pending (cleared by IIR read or THR write) */
	uint8_t tx[SERIAL_FIFO_SIZE]; /* bytes the console has not taken yet, in order */
	unsigned int tx_count;
	uint64_t tx_lost;   /* bytes overwritten in a busy THR, or cleared from it */
	bool input_refused; /* the console holds input we had no room for */
	bool irq_level;
};

static unsigned int serial_fifo_capacity(const struct serial *s)
{
	return (s->fcr & UART_FCR_ENABLE_FIFO) ? SERIAL_FIFO_SIZE : 1;
}

static unsigned int serial_trigger_level(const struct serial *s)
{
	static const unsigned int levels[4] = { 1, 4, 8, 14 };

	if (!(s->fcr & UART_FCR_ENABLE_FIFO))
		return 1;
	return levels[(s->fcr & UART_FCR_TRIGGER_MASK) >> 6];
}

static uint8_t serial_lsr(const struct serial *s)
{
	uint8_t lsr = s->lsr_errors;

	if (!s->tx_count)
		lsr |= UART_LSR_THRE | UART_LSR_TEMT;

	if (s->fifo_count)
		lsr |= UART_LSR_DR;
	return lsr;
}

/* The interrupt the IIR reports now, by priority. */
static uint8_t serial_iir_id(const struct serial *s)
{
	if ((s->ier & UART_IER_RLSI) && (s->lsr_errors & UART_LSR_ERRORS))
		return UART_IIR_RLSI;
	if ((s->ier & UART_IER_RDI) && s->fifo_count) {
		if (s->fifo_count >= serial_trigger_level(s))
			return UART_IIR_RDI;
		return UART_IIR_RX_TIMEOUT;
	}
	if ((s->ier & UART_IER_THRI) && s->thr_ipending)
		return UART_IIR_THRI;
	if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_DELTAS))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	bool level = serial_iir_id(s) != UART_IIR_NO_INT && (s->mcr & UART_MCR_OUT2);

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	irq_line_set(&s->irq, level);
}

static void serial_fifo_clear(struct serial *s)
{
	s->fifo_head = 0;
	s->fifo_count = 0;
	if (s->input_refused) {
		s->input_refused = false;
		if (s->con)
			console_input_ready(s->con);
	}
}

/* Takes one received byte; false when the FIFO has no room. */
static bool serial_fifo_put(struct serial *s, uint8_t c)
{
	if (s->fifo_count >= serial_fifo_capacity(s))
		return false;
	s->fifo[(s->fifo_head + s->fifo_count) % SERIAL_FIFO_SIZE] = c;
	s->fifo_count++;
	return true;
}

static uint8_t serial_read_rbr(struct serial *s)
{
	if (s->fifo_count) {
		s->rbr = s->fifo[s->fifo_head];
		s->fifo_head = (s->fifo_head + 1) % SERIAL_FIFO_SIZE;
		s->fifo_count--;
		if (!s->fifo_count && s->input_refused) {
			s->input_refused = false;
			if (s->con)
				console_input_ready(s->con);
		}
	}
	return s->rbr;
}

/* Modem status inputs: wired to the MCR outputs in loopback, else a present peer. */
static void serial_update_msr(struct serial *s)
{
	uint8_t in, old = s->msr, deltas = 0;

	if (s->mcr & UART_MCR_LOOP) {
		in = 0;
		if (s->mcr & UART_MCR_RTS)
			in |= UART_MSR_CTS;
		if (s->mcr & UART_MCR_DTR)
			in |= UART_MSR_DSR;
		if (s->mcr & UART_MCR_OUT1)
			in |= UART_MSR_RI;
		if (s->mcr & UART_MCR_OUT2)
			in |= UART_MSR_DCD;
	} else {
		in = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	}
	if ((in ^ old) & UART_MSR_CTS)
		deltas |= UART_MSR_DCTS;
	if ((in ^ old) & UART_MSR_DSR)
		deltas |= UART_MSR_DDSR;
	if ((old & UART_MSR_RI) && !(in & UART_MSR_RI))
		deltas |= UART_MSR_TERI;
	if ((in ^ old) & UART_MSR_DCD)
		deltas |= UART_MSR_DDCD;
	s->msr = in | (old & UART_MSR_DELTAS) | deltas;
}

static void serial_write_thr(struct serial *s, uint8_t c)
{
	if (s->mcr & UART_MCR_LOOP) {
		if (!serial_fifo_put(s, c))
			s->lsr_errors |= UART_LSR_OE;
	} else if (s->tx_count >= serial_fifo_capacity(s)) {
		/* The driver did not wait for THRE: the last byte held is overwritten. */
		s->tx_lost++;
		s->tx[s->tx_count - 1] = c;
		s->thr_ipending = false;
		return;
	} else if (s->tx_count || (s->con && !console_write(s->con, &c, 1))) {
		/* Behind bytes already held, or refused: it waits, in order. */
		s->tx[s->tx_count++] = c;
		s->thr_ipending = false;
		return;
	}
	/* Sent at once: THR is empty again. */
	s->thr_ipending = true;
}

/*
 * The console has room again (loop thread): the held bytes go out as far as it
 * takes them; once none is left, THR is empty.
 */
static void serial_writable(void *opaque)
{
	struct serial *s = opaque;
	size_t n;

	pthread_mutex_lock(&s->lock);
	if (s->tx_count) {
		n = console_write(s->con, s->tx, s->tx_count);
		memmove(s->tx, s->tx + n, s->tx_count - n);
		s->tx_count -= (unsigned int)n;
		if (!s->tx_count) {
			s->thr_ipending = true;
			serial_update_irq(s);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static void serial_write_fcr(struct serial *s, uint8_t v)
{
	if (!(v & UART_FCR_ENABLE_FIFO)) {
		/* The other bits are only programmed together with FIFO enable. */
		if (s->fcr & UART_FCR_ENABLE_FIFO)
			serial_fifo_clear(s);
		s->fcr = 0;
		return;
	}
	if (!(s->fcr & UART_FCR_ENABLE_FIFO) || (v & UART_FCR_CLEAR_RCVR))
		serial_fifo_clear(s);
	if ((v & UART_FCR_CLEAR_XMIT) && s->tx_count) {
		s->tx_lost += s->tx_count;
		s->tx_count = 0;
		s->thr_ipending = true;
	}
	s->fcr = v & (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT | UART_FCR_TRIGGER_MASK);
}

static void serial_write(struct serial *s, unsigned int reg, uint8_t v)
{
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_THR:
		if (dlab)
			s->dll = v;
		else
			serial_write_thr(s, v);
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = v;
		} else {
			uint8_t changed = (s->ier ^ v) & UART_IER_MASK;

			s->ier = v & UART_IER_MASK;
			/* Enabling ETBEI with THR empty raises THRE (Linux tests this). */
			if ((changed & UART_IER_THRI) && (s->ier & UART_IER_THRI) && !s->tx_count)
				s->thr_ipending = true;
		}
		break;
	case UART_FCR:
		serial_write_fcr(s, v);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & UART_MCR_MASK;
		serial_update_msr(s);
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read only (factory test registers on real parts) */
	case UART_SCR:
		s->scr = v;
		break;
	}
}

static uint8_t serial_read(struct serial *s, unsigned int reg)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	uint8_t v = 0xff;

	switch (reg) {
	case UART_RBR:
		v = dlab ? s->dll : serial_read_rbr(s);
		break;
	case UART_IER:
		v = dlab ? s->dlm : s->ier;
		break;
	case UART_IIR:
		v = serial_iir_id(s);
		if (v == UART_IIR_THRI)
			s->thr_ipending = false;
		if (s->fcr & UART_FCR_ENABLE_FIFO)
			v |= UART_IIR_FIFO_ENABLED;
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		v = serial_lsr(s);
		s->lsr_errors = 0;
		break;
	case UART_MSR:
		v = s->msr;
		s->msr &= (uint8_t)~UART_MSR_DELTAS;
		break;
	case UART_SCR:
		v = s->scr;
		break;
	}
	return v;
}

static void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct serial *s = opaque;

	if (len != 1 || offset >= UART_NR_REGS) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write)
		serial_write(s, (unsigned int)offset, data[0]);
	else
		data[0] = serial_read(s, (unsigned int)offset);
	serial_update_irq(s);
}

/* Console input, on the loop thread. */
static size_t serial_push(void *opaque, const uint8_t *buf, size_t len)
{
	struct serial *s = opaque;
	size_t took = 0;

	pthread_mutex_lock(&s->lock);
	if (s->mcr & UART_MCR_LOOP) {
		/* The receiver is disconnected from the line in loopback: input is lost. */
		took = len;
	} else {
		while (took < len && serial_fifo_put(s, buf[took]))
			took++;
		if (took < len)
			s->input_refused = true;
		serial_update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
	return took;
}

static void serial_destroy(struct device *dev)
{
	struct serial *s = container_of(dev, struct serial, dev);

	if (s->con) {
		console_attach(s->con, NULL, NULL);
		console_remove_writer(s->con, s);
	}
	if (s->tx_lost)
		log_info("serial-8250: %llu output bytes lost (written while the transmitter "
			 "was busy)",
			 (unsigned long long)s->tx_lost);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int serial_8250_create(struct device **list, struct bus *bus, uint64_t base,
		       const struct irq_line *irq, struct console *con)
{
	struct serial *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev.name = "serial-8250";
	s->dev.destroy = serial_destroy;
	s->irq = *irq;
	s->con = con;
	s->dll = 0x0c; /* 9600 baud */
	s->lcr = 0x03; /* 8N1 */
	s->thr_ipending = true;
	serial_update_msr(s);
	s->msr &= (uint8_t)~UART_MSR_DELTAS;
	ret = -pthread_mutex_init(&s->lock, NULL);
	if (ret)
		goto err_free;
	if (con) {
		ret = console_add_writer(con, serial_writable, s);
		if (ret)
			goto err_mutex;
	}
	ret = bus_add(bus, base, UART_NR_REGS, serial_io, s, &s->lock, s->dev.name);
	if (ret)
		goto err_writer;
	if (con)
		console_attach(con, serial_push, s);
	s->dev.next = *list;
	*list = &s->dev;
	return 0;

err_writer:
	if (con)
		console_remove_writer(con, s);
err_mutex:
	pthread_mutex_destroy(&s->lock);
err_free:
	free(s);
	return ret;
}
