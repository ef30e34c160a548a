/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PVH entry: 32-bit protected mode, paging off, EBX = hvm_start_info. Builds
 * an identity map (1 GiB pages up to 512 GiB, or 2 MiB pages up to 64 GiB when
 * the CPU lacks 1 GiB pages), enters long mode and calls fw_start(start_info).
 */
#define PVH_NOTE_PHYS32_ENTRY 18
#define NR_PD_PAGES 64

	.section .note.Xen, "a"
	.p2align 2
	.long 4, 4, PVH_NOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long fw_pvh_start

	.section .text.boot, "ax"
	.code32
	.globl fw_pvh_start
fw_pvh_start:
	cli
	cld
	mov %ebx, %esi
	lgdt fw_gdt_desc
	mov $0x18, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov $fw_stack_top, %esp

	/* PML4[0] -> PDPT */
	mov $fw_pdpt, %eax
	or $3, %eax
	mov %eax, fw_pml4

	mov $0x80000001, %eax
	cpuid
	bt $26, %edx
	jnc 2f
	/* PDPT[i] = i GiB, 1 GiB pages */
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $30, %eax
	or $0x83, %eax
	mov %ecx, %edx
	shr $2, %edx
	mov %eax, fw_pdpt(,%ecx,8)
	mov %edx, fw_pdpt+4(,%ecx,8)
	inc %ecx
	cmp $512, %ecx
	jb 1b
	jmp 4f

	/* PDPT[i] -> PD page i; PD entries map 2 MiB each */
2:	xor %ecx, %ecx
3:	mov %ecx, %eax
	shl $12, %eax
	add $fw_pd, %eax
	or $3, %eax
	mov %eax, fw_pdpt(,%ecx,8)
	inc %ecx
	cmp $NR_PD_PAGES, %ecx
	jb 3b
	xor %ecx, %ecx
5:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax
	mov %ecx, %edx
	shr $11, %edx
	mov %eax, fw_pd(,%ecx,8)
	mov %edx, fw_pd+4(,%ecx,8)
	inc %ecx
	cmp $(NR_PD_PAGES * 512), %ecx
	jb 5b

4:	mov $fw_pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax		/* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax	/* PG | PE */
	mov %eax, %cr0
	ljmp $0x10, $fw_start64

	.code64
fw_start64:
	mov $0x18, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov $fw_stack_top, %rsp
	mov %esi, %edi
	call fw_start
6:	hlt
	jmp 6b

	.section .rodata
	.p2align 3
fw_gdt:
	.quad 0
	.quad 0x00cf9b000000ffff	/* 0x08: 32-bit code */
	.quad 0x00af9b000000ffff	/* 0x10: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x18: data */
fw_gdt_end:
fw_gdt_desc:
	.word fw_gdt_end - fw_gdt - 1
	.long fw_gdt

	.section .bss
	.p2align 12
fw_pml4:
	.skip 4096
fw_pdpt:
	.skip 4096
fw_pd:
	.skip 4096 * NR_PD_PAGES
fw_stack:
	.skip 65536
fw_stack_top:
