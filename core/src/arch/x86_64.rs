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
//!   top - 60 | x87 control word          |  the spawning context's, as a thread
//!   top - 64 | MXCSR control bits        |  inherits its creator's  <- initial sp
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

/// The sticky exception flags of MXCSR (bits 0–5): status, not control, so a new fiber
/// starts with them clear.
const MXCSR_FLAGS: u32 = 0x3F;

/// The calling context's floating-point control state, packed as `init_stack`'s first word:
/// MXCSR without its exception flags in the low half, the x87 control word above it.
fn float_control() -> u64 {
    let mut mxcsr: u32 = 0;
    let mut cw: u16 = 0;
    // SAFETY: `stmxcsr` stores 4 bytes and `fnstcw` 2 bytes, each into a live local of that
    // size; neither touches the stack or the flags.
    unsafe {
        core::arch::asm!(
            "stmxcsr [{mxcsr}]",
            "fnstcw [{cw}]",
            mxcsr = in(reg) &mut mxcsr,
            cw = in(reg) &mut cw,
            options(nostack, preserves_flags),
        );
    }
    u64::from(mxcsr & !MXCSR_FLAGS) | (u64::from(cw) << 32)
}

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
/// `entry(arg)` on it, with the caller's floating-point control state (rounding mode,
/// exception masks, precision), as a new thread inherits its creator's.
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
        float_control(),
        0,                              // r15
        0,                              // r14
        entry as *const () as u64,      // r13
        arg as usize as u64,            // r12
        0,                              // rbx
        0,                              // rbp
        trampoline as *const () as u64, // return address
    ];
    // SAFETY: the caller guarantees the 64 bytes below `top` are writable, so `top - 64`
    // stays inside the same stack allocation.
    let sp = unsafe { words.sub(frame.len()) };
    // SAFETY: `top` is 16-aligned, so `sp = top - 64` is aligned for u64; the 8 words fit in
    // the 64 writable bytes, and `frame` (a local array) cannot overlap the stack.
    unsafe { sp.copy_from_nonoverlapping(frame.as_ptr(), frame.len()) };
    sp.cast()
}

/// Makes a valgrind client request: `args[0]` is the request code, `args[1..]` its
/// arguments. Returns valgrind's answer, or `default` when the program does not run under
/// valgrind.
///
/// The request is valgrind's "special instruction sequence" for amd64: four rotations of `rdi`
/// by 3, 13, 61 and 51 bits (128 in all, so `rdi` ends up unchanged), then `xchg rbx, rbx`.
/// On a real CPU the sequence does nothing at all and costs a handful of cycles; valgrind's
/// decoder recognises it and performs the request found at `[rax]`, leaving the answer in
/// `rdx`:
///
/// ```text
///   rax -> +------------+
///          | request    |  args[0], e.g. 0x1501 = STACK_REGISTER
///          | argument 1 |  args[1]
///          |   ...      |
///          | argument 5 |  args[5]
///          +------------+
///   rdx    in: default, out: the answer
/// ```
///
/// # Safety
///
/// `args` must be a request valgrind defines, with arguments that satisfy it: a request can
/// change what valgrind believes about the program's memory (for example, which addresses
/// are a stack), and a wrong belief changes how valgrind runs the program.
#[inline(always)]
pub(crate) unsafe fn valgrind_client_request(default: usize, args: &[usize; 6]) -> usize {
    let answer: usize;
    // SAFETY: natively the sequence only rotates rdi back to its own value (declared
    // clobbered anyway) and swaps rbx with itself; it touches no memory and no stack. Under
    // valgrind it performs the request, which reads `args` (valid for six words, as `rax`
    // points at it) and may touch memory valgrind tracks, hence no `nomem`/`readonly`; the
    // caller vouches for the request itself.
    unsafe {
        core::arch::asm!(
            // The preamble valgrind looks for: rotations that add up to 128 bits.
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            // "Client request": rdx = request(rax), or rdx untouched natively.
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") default => answer,
            out("rdi") _,
            options(nostack),
        );
    }
    answer
}

/// Where an interrupted context was: the registers a stack walk starts from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interrupted {
    /// The interrupted instruction.
    pub(crate) pc: usize,
    /// The stack pointer.
    pub(crate) sp: usize,
    /// The frame pointer (`rbp`), which may hold anything in code built without frame
    /// pointers.
    pub(crate) fp: usize,
}

/// Reads the registers of the context a signal interrupted. Async-signal-safe.
///
/// # Safety
///
/// `ctx` must be the third argument the kernel passed to an `SA_SIGINFO` handler.
pub(crate) unsafe fn interrupted(ctx: *const libc::c_void) -> Interrupted {
    // SAFETY: the caller passes the kernel's `ucontext_t`, valid during the handler.
    let gregs = unsafe { &(*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    let reg = |r: libc::c_int| gregs[r as usize] as usize;
    Interrupted {
        pc: reg(libc::REG_RIP),
        sp: reg(libc::REG_RSP),
        fp: reg(libc::REG_RBP),
    }
}

/// How far below the top of a fiber's stack its first frame record lies at most: the
/// trampoline's return address and the entry function's saved `rbp` (0) sit right below it.
const FIRST_RECORD_DEPTH: usize = 128;

/// Walks an interrupted stack into `out`, innermost first, and returns how many addresses it
/// wrote. Async-signal-safe: no allocation, no locks, and memory is read only inside `stack`
/// (the stack's mapped range) or inside ranges for which `is_code` says true.
///
/// `out[0]` is the interrupted instruction. Then, where frame pointers are kept (spindle's
/// and most debug builds), the walk follows the `rbp` chain: `[rbp]` is the caller's `rbp`,
/// `[rbp + 8]` the return address. Below the first frame record (the functions that were
/// running, such as libc's and std's, are often built without frame pointers, and may even
/// use `rbp` for data), it *scans* the stack for words that are return addresses — they point
/// into code right after a `call` instruction — until it reaches the record `rbp` points to,
/// or, if `rbp` does not point to one, until a word that starts a chain of two records. A
/// scan can pick up a stale return address left in an uninitialised slot; the chain cannot.
/// The walk ends at a record whose caller link is 0 within [`FIRST_RECORD_DEPTH`] bytes of
/// the top of the stack (a fiber's first frame), at the top of the stack, or when `out` is
/// full.
pub(crate) fn walk_interrupted(
    regs: Interrupted,
    stack: std::ops::Range<usize>,
    is_code: &dyn Fn(usize, usize) -> bool,
    out: &mut [usize],
) -> usize {
    if out.is_empty() {
        return 0;
    }
    // Nothing here may panic (it runs in a signal handler): every sum of a stack word and an
    // offset wraps, and `read` rejects what falls outside the stack.
    let read = |addr: usize| -> Option<usize> {
        let inside = stack.start <= addr && addr < stack.end && stack.end - addr >= 8;
        (addr.is_multiple_of(8) && inside).then(|| {
            // SAFETY: `addr` is 8-aligned and within the mapped stack range.
            unsafe { (addr as *const usize).read_volatile() }
        })
    };
    let is_return_address = |addr: usize| addr > 7 && is_code(addr - 7, addr) && after_call(addr);
    let mut n = 0;
    let mut push = |addr: usize, n: &mut usize| {
        if *n < out.len() {
            out[*n] = addr;
            *n += 1;
        }
        *n < out.len()
    };
    push(regs.pc, &mut n);
    // A frame record: `[at]` is the caller's record, higher on the stack (or 0 at a fiber's
    // first frame), and `[at + 8]` a return address. Checked two links deep when scanning, so
    // a stray pair of words is not taken for one. A 0 link counts only right below the top of
    // the stack, where the fiber's first frame saves the 0 `init_stack` put in `rbp`: code
    // built without frame pointers never changes that 0, so any function of it that saves
    // `rbp` leaves a 0 below its return address, and the walk must go on past it.
    let first_frame = |at: usize| stack.end.wrapping_sub(at) <= FIRST_RECORD_DEPTH;
    let record = |at: usize| -> Option<(usize, usize)> {
        let (next, ret) = (read(at)?, read(at.wrapping_add(8))?);
        let next_ok =
            (next == 0 && first_frame(at)) || (next > at && read(next.wrapping_add(8)).is_some());
        (next_ok && is_return_address(ret)).then_some((next, ret))
    };
    let deep_record =
        |at: usize| record(at).filter(|&(next, _)| next == 0 || record(next).is_some());
    // Below the first frame record: scan. If `rbp` holds one, it bounds the scan; otherwise
    // the scan goes on until a word that starts a chain of two records. Then follow the
    // chain; where it breaks (a caller built without frame pointers that used `rbp` for data
    // in between), scan again from just above the last good record.
    let Some(mut at) = regs.sp.checked_next_multiple_of(8) else {
        return n;
    };
    let mut hint = (regs.fp >= regs.sp && record(regs.fp).is_some()).then_some(regs.fp);
    loop {
        let mut found = hint.take();
        while found.is_none_or(|fp| at < fp) && at < stack.end {
            if found.is_none() && deep_record(at).is_some() {
                found = Some(at);
                break;
            }
            if let Some(word) = read(at)
                && is_return_address(word)
                && !push(word, &mut n)
            {
                return n;
            }
            at += 8;
        }
        let Some(mut fp) = found else {
            return n;
        };
        while let Some((next, ret)) = record(fp) {
            if !push(ret, &mut n) || next == 0 {
                return n;
            }
            at = fp.wrapping_add(16);
            fp = next;
        }
    }
}

/// Whether the bytes before `ret` end with a `call` instruction. The caller has checked that
/// the 7 bytes before `ret` are code.
fn after_call(ret: usize) -> bool {
    // SAFETY: the caller checked that [ret - 7, ret) lies in mapped code.
    let b = |back: usize| unsafe { ((ret - back) as *const u8).read_volatile() };
    // call rel32: E8 xx xx xx xx.
    if b(5) == 0xE8 {
        return true;
    }
    // call r/m64: FF /2, with a ModRM (and maybe a SIB and a displacement) of 2 to 7 bytes
    // in all, optionally after a REX prefix: the opcode's reg field is 2.
    (2..=7).any(|len| b(len) == 0xFF && (b(len - 1) >> 3) & 7 == 2)
}

#[cfg(test)]
mod tests {
    use crate::fiber;
    use std::arch::asm;

    /// Regression: a stack word near `usize::MAX` taken for a frame pointer overflowed
    /// `next + 8` and panicked inside the stall detector's signal handler.
    #[test]
    fn the_stack_walk_survives_any_stack_contents() {
        let words: Vec<usize> = vec![
            usize::MAX - 4,
            usize::MAX,
            usize::MAX - 8,
            0,
            1,
            usize::MAX - 15,
            7,
            usize::MAX,
        ];
        let range = words.as_ptr() as usize..words.as_ptr() as usize + 8 * words.len();
        let mut out = [0usize; 16];
        for fp in [0, usize::MAX, usize::MAX - 7, range.start, range.start + 8] {
            for sp in [range.start, usize::MAX - 3, usize::MAX] {
                let regs = super::Interrupted { pc: 1, sp, fp };
                let n = super::walk_interrupted(regs, range.clone(), &|_, _| false, &mut out);
                // No word is code, so only the interrupted pc is reported.
                assert_eq!(n, 1);
            }
        }
    }

    /// Regression: on a fiber whose code keeps no frame pointers `rbp` stays 0, so the first
    /// function that saves it leaves a 0 right below its return address, which the scan took
    /// for the fiber's first frame record: a stall backtrace taken in `Instant::elapsed`
    /// called from a helper of a CPU loop ended at the helper, without the loop's function.
    #[test]
    fn a_saved_zero_rbp_mid_stack_does_not_end_the_walk() {
        // Code in which every 16th byte ends a `call rel32` (E8 and four bytes).
        let mut code = [0x90u8; 128];
        for call in (0..128).step_by(16) {
            code[call + 3] = 0xE8;
        }
        let code_range = code.as_ptr() as usize..code.as_ptr() as usize + code.len();
        let ret = |i: usize| code_range.start + 16 * i + 8;
        let is_code = |start: usize, end: usize| code_range.start <= start && end <= code_range.end;
        // A stack, lowest address first: the interrupted function's return address, a callee
        // that saved rbp = 0 (a record-like pair), locals, the caller's caller's return address
        // far up, and the true first frame right below the top (the entry's saved rbp = 0, then
        // the return address into the trampoline).
        let mut words = vec![7usize; 128];
        words[0] = 1;
        words[1] = ret(0);
        words[4] = 0;
        words[5] = ret(1);
        words[6] = 0;
        words[40] = ret(2);
        words[126] = 0;
        words[127] = ret(3);
        let stack = words.as_ptr() as usize..words.as_ptr() as usize + 8 * words.len();
        let regs = super::Interrupted {
            pc: ret(4),
            sp: stack.start,
            fp: 0,
        };
        let mut out = [0usize; 16];
        let n = super::walk_interrupted(regs, stack, &is_code, &mut out);
        assert_eq!(out[..n], [ret(4), ret(0), ret(1), ret(2), ret(3)]);
    }

    extern "C" fn yield_from_asm() {
        fiber::yield_now();
    }

    /// Loads values derived from `seed` into every callee-saved register, yields to the other
    /// fibers (which do the same with other values), and reports whether all came back intact.
    fn callee_saved_survive_yield(seed: u64) -> bool {
        let ok: u64;
        // SAFETY: the block saves and restores every callee-saved register it writes, keeps the
        // stack balanced and 16-byte aligned at the call, and declares the C ABI's clobbers
        // for the call to `yield_from_asm`.
        unsafe {
            asm!(
                "push rbx",
                "push rbp",
                "push r12",
                "push r13",
                "push r14",
                "push r15",
                "mov rbx, rdi",
                "lea rbp, [rdi + 1]",
                "lea r12, [rdi + 2]",
                "lea r13, [rdi + 3]",
                "lea r14, [rdi + 4]",
                "lea r15, [rdi + 5]",
                // Align the stack for the call, remembering the old rsp in a callee-saved slot.
                "mov rax, rsp",
                "and rsp, -16",
                "push rax",
                "push rdi",
                "call {f}",
                "pop rdi",
                "pop rsp",
                "xor eax, eax",
                "cmp rbx, rdi",
                "jne 2f",
                "lea rcx, [rdi + 1]",
                "cmp rbp, rcx",
                "jne 2f",
                "lea rcx, [rdi + 2]",
                "cmp r12, rcx",
                "jne 2f",
                "lea rcx, [rdi + 3]",
                "cmp r13, rcx",
                "jne 2f",
                "lea rcx, [rdi + 4]",
                "cmp r14, rcx",
                "jne 2f",
                "lea rcx, [rdi + 5]",
                "cmp r15, rcx",
                "jne 2f",
                "mov eax, 1",
                "2:",
                "pop r15",
                "pop r14",
                "pop r13",
                "pop r12",
                "pop rbp",
                "pop rbx",
                f = sym yield_from_asm,
                inout("rdi") seed => _,
                out("rax") ok,
                clobber_abi("C"),
            );
        }
        ok == 1
    }

    fn mxcsr() -> u32 {
        let mut v: u32 = 0;
        // SAFETY: stmxcsr writes 4 bytes to a valid local.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
        v
    }

    fn set_mxcsr(v: u32) {
        // SAFETY: loading a valid MXCSR value (only rounding-control bits differ from the
        // default) from a valid local.
        unsafe { asm!("ldmxcsr [{}]", in(reg) &v, options(nostack)) };
    }

    fn fpu_cw() -> u16 {
        let mut v: u16 = 0;
        // SAFETY: fnstcw writes 2 bytes to a valid local.
        unsafe { asm!("fnstcw [{}]", in(reg) &mut v, options(nostack)) };
        v
    }

    fn set_fpu_cw(v: u16) {
        // SAFETY: loading a valid x87 control word (only rounding control changed).
        unsafe { asm!("fldcw [{}]", in(reg) &v, options(nostack)) };
    }

    #[test]
    fn callee_saved_registers_survive_switches() {
        let all_ok = crate::run(|| {
            let handles: Vec<_> = (0..4u64)
                .map(|i| {
                    fiber::spawn(move || {
                        (0..100).all(|round| callee_saved_survive_yield((i << 32) | round))
                    })
                })
                .collect();
            handles.into_iter().all(|h| h.join().unwrap())
        });
        assert!(all_ok);
    }

    #[test]
    fn float_control_state_is_per_fiber() {
        const ROUND_DOWN_MXCSR: u32 = 0x1F80 | (0b01 << 13);
        const ROUND_UP_CW: u16 = 0x037F | (0b10 << 10);
        let (a, b) = crate::run(|| {
            let a = fiber::spawn(|| {
                set_mxcsr(ROUND_DOWN_MXCSR);
                set_fpu_cw(ROUND_UP_CW);
                let mut seen = Vec::new();
                for _ in 0..10 {
                    fiber::yield_now();
                    seen.push((mxcsr(), fpu_cw()));
                }
                seen
            });
            let b = fiber::spawn(|| {
                let mut seen = Vec::new();
                for _ in 0..10 {
                    seen.push((mxcsr() & 0xFFC0, fpu_cw()));
                    fiber::yield_now();
                }
                seen
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        assert!(
            a.iter()
                .all(|&(m, c)| m & 0xFFC0 == ROUND_DOWN_MXCSR && c == ROUND_UP_CW),
            "{a:x?}"
        );
        assert!(b.iter().all(|&(m, c)| m == 0x1F80 && c == 0x037F), "{b:x?}");
    }

    #[test]
    fn a_new_fiber_inherits_its_spawners_float_control_state() {
        const ROUND_DOWN_MXCSR: u32 = 0x1F80 | (0b01 << 13);
        const ROUND_UP_CW: u16 = 0x037F | (0b10 << 10);
        let (child, grandchild, sibling) = crate::run(|| {
            let sibling = fiber::spawn(|| (mxcsr() & 0xFFC0, fpu_cw()));
            set_mxcsr(ROUND_DOWN_MXCSR);
            set_fpu_cw(ROUND_UP_CW);
            let child = fiber::spawn(|| {
                let grandchild = fiber::spawn(|| (mxcsr() & 0xFFC0, fpu_cw()));
                ((mxcsr() & 0xFFC0, fpu_cw()), grandchild.join().unwrap())
            });
            let (child, grandchild) = child.join().unwrap();
            set_mxcsr(0x1F80);
            set_fpu_cw(0x037F);
            (child, grandchild, sibling.join().unwrap())
        });
        assert_eq!(child, (ROUND_DOWN_MXCSR, ROUND_UP_CW));
        assert_eq!(grandchild, (ROUND_DOWN_MXCSR, ROUND_UP_CW));
        assert_eq!(sibling, (0x1F80, 0x037F), "spawned before the change");
    }

    #[test]
    fn deep_recursion_uses_the_whole_stack() {
        fn depth(n: u64) -> u64 {
            let pad = std::hint::black_box([n; 16]);
            if n == 0 {
                pad[0]
            } else {
                depth(n - 1) + pad[1] - n + 1
            }
        }
        let v = crate::run(|| {
            fiber::Builder::new()
                .stack_size(4 * 1024 * 1024)
                .spawn(|| depth(5_000))
                .unwrap()
                .join()
                .unwrap()
        });
        assert_eq!(v, 5_000);
    }

    #[test]
    fn panic_unwinds_to_the_fiber_entry() {
        struct SetOnDrop(std::rc::Rc<std::cell::Cell<bool>>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let (payload, dropped) = crate::run(|| {
            let flag = std::rc::Rc::new(std::cell::Cell::new(false));
            let guard = SetOnDrop(flag.clone());
            let h = fiber::spawn(move || {
                let _guard = guard;
                fiber::yield_now();
                std::panic::panic_any(41u32);
            });
            fiber::yield_now();
            let err = h.join().unwrap_err();
            (*err.downcast::<u32>().unwrap(), flag.get())
        });
        assert_eq!(payload, 41);
        assert!(dropped);
    }

    #[test]
    fn backtrace_inside_a_fiber_ends_at_its_entry() {
        let bt = crate::run(|| {
            fiber::spawn(|| std::backtrace::Backtrace::force_capture().to_string())
                .join()
                .unwrap()
        });
        assert!(bt.contains("fiber_entry"), "{bt}");
        let last_frame = bt
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with(char::is_numeric));
        assert!(last_frame.is_some_and(|l| l.contains("trampoline")), "{bt}");
    }
}
