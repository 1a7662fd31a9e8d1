/* Multiboot (v1) entry of the test guest: QEMU's multiboot loader (-kernel) jumps here in
 * 32-bit protected mode with paging off, EAX = the multiboot magic, EBX = the info block. */
    .set MB_MAGIC, 0x1BADB002
    .set MB_FLAGS, 0x00000003          /* page-align modules, give the memory map */
    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text
    .global _start
_start:
    cli
    mov $stack_top, %esp
    push %ebx                          /* main(info) */
    call guest_main
1:  hlt
    jmp 1b

    .section .bss
    .align 16
    .skip 65536
stack_top:
