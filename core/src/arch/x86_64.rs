//! Context switch for x86_64 (System V ABI).
//!
//! A switch is a function call that returns on another stack. Only what the ABI says a callee
//! must preserve is saved: `rbx`, `rbp`, `r12`–`r15`, the stack pointer, and the floating-point
//! control state (the MXCSR control bits and the x87 control word). Everything else is
//! caller-saved, so the compiler already spilled what it needs before calling `switch`.
//!
//! # A suspended stack
//!
//! After `switch` has saved a context, its stack looks like this (addresses grow upwards; the
//! saved stack pointer points at the lowest slot):
//!
//! ```text
//!            +---------------------------+
//!            | ... frames of the fiber   |
//!            +---------------------------+
//!   sp + 56  | return address into the   |  <- pushed by the `call switch`
//!            | caller of `switch`        |
//!   sp + 48  | rbp                       |
//!   sp + 40  | rbx                       |
//!   sp + 32  | r12                       |
//!   sp + 24  | r13                       |
//!   sp + 16  | r14                       |
//!   sp + 8   | r15                       |
//!   sp + 4   | x87 control word (16 bit) |
//!   sp + 0   | MXCSR (32 bit)            |  <- saved stack pointer
//!            +---------------------------+
//! ```
//!
//! # A fresh stack
//!
//! `init_stack` writes the same frame shape, so the first `switch` into a fresh stack is no
//! different from resuming a suspended one. The "return address" is `trampoline`, and the
//! register slots carry the entry function and its argument:
//!
//! ```text
//!   top      +---------------------------+  <- 16-byte aligned (`STACK_ALIGN`)
//!   top - 8  | address of `trampoline`   |  `ret` in `switch` jumps here
//!   top - 16 | rbp = 0                   |  ends frame-pointer walks
//!   top - 24 | rbx = 0                   |
//!   top - 32 | r12 = arg                 |
//!   top - 40 | r13 = entry               |
//!   top - 48 | r14 = 0                   |
//!   top - 56 | r15 = 0                   |
//!   top - 60 | x87 control word 0x037F  |  defaults a new thread gets
//!   top - 64 | MXCSR 0x1F80              |  <- initial stack pointer
//!            +---------------------------+
//! ```
//!
//! After the `ret`, `rsp == top`, which is 16-byte aligned, so `trampoline`'s `call r13`
//! enters `entry` with the alignment the ABI requires (`rsp + 8` a multiple of 16).
//!
//! # Unwind information
//!
//! `switch` carries CFI for every instruction, so a debugger stopped inside it can walk out to
//! its caller on either stack. `trampoline` marks the return address as undefined
//! (`.cfi_undefined rip`): panics never unwind past a fiber's entry (they are caught there), and
//! backtraces and gdb's `bt` stop cleanly at the fiber's first frame instead of walking into
//! garbage.

use super::EntryFn;

/// Alignment of the `top` given to [`init_stack`].
pub(crate) const STACK_ALIGN: usize = 16;

/// MXCSR as the kernel sets it for a new thread: all exceptions masked, round to nearest.
const DEFAULT_MXCSR: u32 = 0x1F80;
/// x87 control word as the kernel sets it: all exceptions masked, 64-bit precision, nearest.
const DEFAULT_FPU_CW: u32 = 0x037F;

/// Saves the running context on its stack, stores its stack pointer to `*save`, and resumes
/// the context whose stack pointer is `load`.
///
/// # Safety
///
/// - `save` must be valid for a write of a pointer.
/// - `load` must be a stack pointer previously stored by `switch` or returned by
///   [`init_stack`], whose context has not been resumed since, on a stack that is still mapped.
/// - The context that is resumed must eventually switch back (to the value stored in `*save`)
///   for `switch` to return; until then, nothing may free the current stack.
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn switch(save: *mut *mut u8, load: *mut u8) {
    core::arch::naked_asm!(
        ".cfi_startproc",
        // Callee-saved integer registers, in the order the module docs draw them. Each push
        // moves the CFA 8 bytes further from rsp and records where the register lives.
        "push rbp",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset rbp, 0",
        "push rbx",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset rbx, 0",
        "push r12",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset r12, 0",
        "push r13",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset r13, 0",
        "push r14",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset r14, 0",
        "push r15",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_rel_offset r15, 0",
        // Floating-point control state: MXCSR at [rsp], x87 control word at [rsp + 4].
        "sub rsp, 8",
        ".cfi_adjust_cfa_offset 8",
        "stmxcsr [rsp]",
        "fnstcw [rsp + 4]",
        // rdi = save: publish where this context can be resumed from.
        "mov [rdi], rsp",
        // rsi = load: from here on we run on the other stack. Its frame has the same shape,
        // so the CFI above describes it as well.
        "mov rsp, rsi",
        "ldmxcsr [rsp]",
        "fldcw [rsp + 4]",
        "add rsp, 8",
        ".cfi_adjust_cfa_offset -8",
        "pop r15",
        ".cfi_adjust_cfa_offset -8",
        ".cfi_restore r15",
        "pop r14",
        ".cfi_adjust_cfa_offset -8",
        ".cfi_restore r14",
        "pop r13",
        ".cfi_adjust_cfa_offset -8",
        ".cfi_restore r13",
        "pop r12",
        ".cfi_adjust_cfa_offset -8",
        ".cfi_restore r12",
        "pop rbx",
        ".cfi_adjust_cfa_offset -8",
        ".cfi_restore rbx",
        "pop rbp",
        ".cfi_adjust_cfa_offset -8",
        ".cfi_restore rbp",
        // Return into whoever called `switch` on the loaded stack (or into `trampoline` on a
        // fresh one).
        "ret",
        ".cfi_endproc",
    )
}

/// First code to run on a fresh stack: calls `entry(arg)`, with both taken from the register
/// slots `init_stack` filled.
#[unsafe(naked)]
unsafe extern "C" fn trampoline() {
    core::arch::naked_asm!(
        ".cfi_startproc",
        // This is the outermost frame of a fiber: there is no caller to return to.
        ".cfi_undefined rip",
        // r12 = arg, r13 = entry (see `init_stack`). rsp is 16-byte aligned here.
        "mov rdi, r12",
        "call r13",
        // `entry` never returns; trap if it ever does.
        "ud2",
        ".cfi_endproc",
    )
}

/// Prepares a fresh stack so that the first [`switch`] to the returned stack pointer calls
/// `entry(arg)` on it, with default floating-point control state.
///
/// # Safety
///
/// - `top` must be aligned to [`STACK_ALIGN`], and the 64 bytes below it must be writable
///   memory of a stack that stays mapped for as long as the context runs.
/// - `entry` must never return.
pub(crate) unsafe fn init_stack(top: *mut u8, entry: EntryFn, arg: *mut u8) -> *mut u8 {
    debug_assert_eq!(top as usize % STACK_ALIGN, 0);
    let words = top.cast::<u64>();
    let frame: [u64; 8] = [
        u64::from(DEFAULT_MXCSR) | (u64::from(DEFAULT_FPU_CW) << 32),
        0,                              // r15
        0,                              // r14
        entry as *const () as u64,      // r13
        arg as usize as u64,            // r12
        0,                              // rbx
        0,                              // rbp
        trampoline as *const () as u64, // return address
    ];
    // SAFETY: the caller guarantees the 64 bytes below `top` are writable and `top` is
    // 16-aligned, so `top - 64` is aligned for u64 and the 8 words fit.
    unsafe {
        let sp = words.sub(frame.len());
        sp.copy_from_nonoverlapping(frame.as_ptr(), frame.len());
        sp.cast()
    }
}
