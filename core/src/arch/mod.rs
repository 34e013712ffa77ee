//! The one place with assembly: switching stacks.
//!
//! Each supported architecture provides, in its own file:
//!
//! - `unsafe extern "C" fn switch(save: *mut *mut u8, load: *mut u8)`: saves the callee-saved
//!   registers and floating-point control state of the running context on its stack, stores
//!   the stack pointer to `*save`, then loads `load` (a stack pointer saved by `switch` or made
//!   by `init_stack`) and resumes that context.
//! - `unsafe fn init_stack(top: *mut u8, entry: EntryFn, arg: *mut u8) -> *mut u8`: prepares a
//!   fresh stack whose highest usable address is `top`, so that the first `switch` to the
//!   returned stack pointer calls `entry(arg)` on it. `entry` must never return.
//! - `const STACK_ALIGN: usize`: the alignment `top` must have.
//! - `unsafe fn valgrind_client_request(default: usize, args: &[usize; 6]) -> usize`: valgrind's
//!   client-request instruction sequence for this arch (a no-op returning `default` when not
//!   running under valgrind); `stack::valgrind` builds its requests on it.
//! - `Interrupted`, `unsafe fn interrupted(ucontext) -> Interrupted` and
//!   `fn walk_interrupted(..)`: the registers of a context a signal interrupted, and an
//!   async-signal-safe walk of its stack (for the stall detector's backtraces).
//!
//! Nothing outside this module contains `asm!`.

/// The function a fresh stack starts in. It receives the `arg` given to `init_stack` and must
/// never return (it ends by switching away for good).
pub(crate) type EntryFn = unsafe extern "C" fn(arg: *mut u8) -> !;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod x86_64;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(crate) use x86_64::{
    STACK_ALIGN, init_stack, interrupted, switch, valgrind_client_request, walk_interrupted,
};

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!(
    "spindle supports x86_64 Linux only: add a context switch for this target in \
     core/src/arch/<arch>.rs and a stack/guard-page backend in core/src/stack/"
);
