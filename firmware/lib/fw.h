/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The freestanding library of the test guests: port and MMIO access, COM1
 * output, a small printf, PCI configuration (mechanism #1), the PVH start
 * info and exit(status) through kvmrun's exit port (kvmrun --exit-port).
 */
#ifndef FW_H
#define FW_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_PORT_COM1 0x3f8
/* kvmrun --exit-port: a byte N written here ends the VM with status N */
#define FW_PORT_EXIT 0x604
/* kvmrun's ACPI sleep control register: SLP_TYP 5 (S5) with SLP_EN powers off. */
#define FW_PORT_ACPI_SLEEP_CTL 0x600
#define FW_ACPI_SLP_EN 0x20
#define FW_ACPI_S5 5
#define FW_PORT_PCI_ADDR 0xcf8
#define FW_PORT_PCI_DATA 0xcfc

#define FW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The PVH start info (version 1) the loader hands over. */
struct fw_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
} __attribute__((packed));

struct fw_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
} __attribute__((packed));

#define FW_START_MAGIC 0x336ec578

/* Each guest defines this; its return value is the exit status. */
int fw_main(const struct fw_start_info *si);

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* MMIO: one instruction of exactly the given width. */
static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	__asm__ volatile("movb %1, %0" : "=m"(*(volatile uint8_t *)addr) : "q"(v) : "memory");
}

static inline void mmio_write16(uint64_t addr, uint16_t v)
{
	__asm__ volatile("movw %1, %0" : "=m"(*(volatile uint16_t *)addr) : "r"(v) : "memory");
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	__asm__ volatile("movl %1, %0" : "=m"(*(volatile uint32_t *)addr) : "r"(v) : "memory");
}

static inline void mmio_write64(uint64_t addr, uint64_t v)
{
	__asm__ volatile("movq %1, %0" : "=m"(*(volatile uint64_t *)addr) : "r"(v) : "memory");
}

static inline uint8_t mmio_read8(uint64_t addr)
{
	uint8_t v;

	__asm__ volatile("movb %1, %0" : "=q"(v) : "m"(*(volatile uint8_t *)addr) : "memory");
	return v;
}

static inline uint16_t mmio_read16(uint64_t addr)
{
	uint16_t v;

	__asm__ volatile("movw %1, %0" : "=r"(v) : "m"(*(volatile uint16_t *)addr) : "memory");
	return v;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
	uint32_t v;

	__asm__ volatile("movl %1, %0" : "=r"(v) : "m"(*(volatile uint32_t *)addr) : "memory");
	return v;
}

static inline uint64_t mmio_read64(uint64_t addr)
{
	uint64_t v;

	__asm__ volatile("movq %1, %0" : "=r"(v) : "m"(*(volatile uint64_t *)addr) : "memory");
	return v;
}

static inline void fw_barrier(void)
{
	__asm__ volatile("mfence" : : : "memory");
}

static inline void fw_pause(void)
{
	__asm__ volatile("pause" : : : "memory");
}

/*
 * Ends the VM with status (0..255) through the exit port; without one
 * (kvmrun run without --exit-port) prints a line and powers off. Never returns.
 */
void fw_exit(int status) __attribute__((noreturn));

void fw_putc(char c);
void fw_puts(const char *s);
/* %d %i %u %x %X %p %s %c %%, with l/ll/z, a width and the 0 flag. */
int fw_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fw_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int fw_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* The command line, or "" when there is none. */
const char *fw_cmdline(const struct fw_start_info *si);
/*
 * The value of KEY=VALUE on the command line as a number (decimal or 0x hex),
 * or def when absent. fw_cmdline_str copies the value (at most size - 1 bytes).
 */
uint64_t fw_cmdline_num(const struct fw_start_info *si, const char *key, uint64_t def);
bool fw_cmdline_str(const struct fw_start_info *si, const char *key, char *out, size_t size);

/* PCI configuration space of bus/dev/fn through ports 0xcf8/0xcfc. */
uint32_t pci_read32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off);
uint16_t pci_read16(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off);
uint8_t pci_read8(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off);
void pci_write32(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		 uint32_t v);
void pci_write16(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		 uint16_t v);
void pci_write8(unsigned int bus, unsigned int dev, unsigned int fn, unsigned int off,
		uint8_t v);

/* Reports a failed check and exits with status 1. */
#define FW_CHECK(cond, ...)                                                                     \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fw_printf("FAIL line %d: ", __LINE__);                                  \
			fw_printf(__VA_ARGS__);                                                 \
			fw_printf("\n");                                                        \
			fw_exit(1);                                                             \
		}                                                                               \
	} while (0)

#endif
