//! Stack switches as AddressSanitizer must see them.
//!
//! ASan keeps, per thread, the bounds of the stack that runs: it needs them to clear a stack's
//! poisoned redzones when a panic unwinds (`__asan_handle_no_return`) and to describe stack
//! addresses. A fiber switch changes stacks behind its back, so every switch is bracketed by
//! its fiber annotations:
//!
//! ```text
//!   context A                                   context B
//!   __sanitizer_start_switch_fiber(&fake_A,     ...
//!        B's bottom, B's size)                   arch::switch back to A ----+
//!   arch::switch(A -> B) -----------------+                                  |
//!                                         +--> __sanitizer_finish_switch_fiber(fake_B)
//!   __sanitizer_finish_switch_fiber(fake_A) <---------------------------------+
//! ```
//!
//! A context that leaves for good (a finished fiber) passes no place to save its fake stack,
//! so ASan frees it; a fiber's very first code (`fiber_started`) finishes the switch that
//! started it. A stack handed to a new fiber is unpoisoned first: the redzones of the previous
//! fiber's frames would otherwise still be marked in ASan's shadow memory.
//!
//! The annotations are compiled in with `--cfg spindle_asan` next to `-Zsanitizer=address`
//! (nightly; see `scripts/asan.sh`). In every other build, [`switch`] is `arch::switch` and the
//! rest compiles to nothing.

use crate::arch;

/// The stack a switch goes to.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(spindle_asan), allow(dead_code))] // Only ASan builds read the bounds.
pub(crate) enum SwitchTo {
    /// The scheduler's main context, on the thread's own stack.
    Main,
    /// A fiber's stack: its lowest usable address and usable size.
    Fiber { bottom: usize, size: usize },
}

/// [`arch::switch`], announced to AddressSanitizer in `spindle_asan` builds. `for_good` says the
/// running context is never resumed (a finished fiber).
///
/// `to` names the stack `load` lives on; a wrong one would only mislead ASan's reports.
///
/// # Safety
///
/// As for [`arch::switch`].
#[inline(always)]
pub(crate) unsafe fn switch(save: *mut *mut u8, load: *mut u8, to: SwitchTo, for_good: bool) {
    #[cfg(spindle_asan)]
    let mut fake_stack: *mut libc::c_void = std::ptr::null_mut();
    // A context that leaves for good has its fake stack (where ASan keeps the locals whose
    // address is taken, such as the caller's `save` slot) freed by `start_switch`: store its
    // never-used stack pointer in a thread-local instead.
    #[cfg(spindle_asan)]
    let save = if for_good { asan::scratch_slot() } else { save };
    #[cfg(spindle_asan)]
    asan::start_switch(
        if for_good {
            std::ptr::null_mut()
        } else {
            &mut fake_stack
        },
        to,
    );
    #[cfg(not(spindle_asan))]
    let _ = (to, for_good);
    // SAFETY: the caller upholds `arch::switch`'s contract.
    unsafe { arch::switch(save, load) };
    #[cfg(spindle_asan)]
    asan::finish_switch(fake_stack);
}

/// Called first thing on a fresh fiber stack: completes the switch that started the fiber.
#[inline(always)]
pub(crate) fn fiber_started() {
    #[cfg(spindle_asan)]
    asan::finish_switch(std::ptr::null_mut());
}

/// Clears what ASan remembers about `len` bytes of stack at `bottom` before a new fiber runs
/// there.
#[inline(always)]
pub(crate) fn forget_old_frames(bottom: *mut u8, len: usize) {
    #[cfg(spindle_asan)]
    asan::unpoison(bottom, len);
    #[cfg(not(spindle_asan))]
    let _ = (bottom, len);
}

#[cfg(spindle_asan)]
mod asan {
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::ptr;

    use super::SwitchTo;

    // The fiber interface of the sanitizer runtime (compiler-rt's
    // include/sanitizer/common_interface_defs.h and asan_interface.h).
    unsafe extern "C" {
        fn __sanitizer_start_switch_fiber(
            fake_stack_save: *mut *mut c_void,
            bottom: *const c_void,
            size: usize,
        );
        fn __sanitizer_finish_switch_fiber(
            fake_stack_save: *mut c_void,
            bottom_old: *mut *const c_void,
            size_old: *mut usize,
        );
        fn __asan_unpoison_memory_region(addr: *const c_void, size: usize);
    }

    thread_local! {
        /// Bounds of this thread's own stack, where the main context runs; learnt from ASan
        /// when the main context first switches to a fiber.
        static MAIN_STACK: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
        /// Where a finished fiber's last stack pointer goes (never read).
        static SCRATCH: Cell<*mut u8> = const { Cell::new(ptr::null_mut()) };
    }

    pub(super) fn scratch_slot() -> *mut *mut u8 {
        SCRATCH.with(Cell::as_ptr)
    }

    pub(super) fn start_switch(fake_stack_save: *mut *mut c_void, to: SwitchTo) {
        let (bottom, size) = match to {
            SwitchTo::Main => MAIN_STACK.with(Cell::get),
            SwitchTo::Fiber { bottom, size } => (bottom, size),
        };
        // SAFETY: `fake_stack_save` is null (the context is left for good) or points at a
        // local of the context that calls `finish_switch` with its value when resumed;
        // `bottom..bottom + size` is the stack about to run.
        unsafe { __sanitizer_start_switch_fiber(fake_stack_save, bottom as *const c_void, size) };
    }

    pub(super) fn finish_switch(fake_stack: *mut c_void) {
        let mut old_bottom: *const c_void = ptr::null();
        let mut old_size = 0usize;
        // SAFETY: `fake_stack` is what `start_switch` saved for this context (null for a fresh
        // one); the out-pointers are valid locals.
        unsafe { __sanitizer_finish_switch_fiber(fake_stack, &mut old_bottom, &mut old_size) };
        // The first switch away from the main context tells us where the thread's stack is.
        MAIN_STACK.with(|main| {
            if main.get().1 == 0 && !old_bottom.is_null() {
                main.set((old_bottom as usize, old_size));
            }
        });
    }

    pub(super) fn unpoison(bottom: *mut u8, len: usize) {
        // SAFETY: the range is a stack of ours that no fiber uses; unpoisoning only changes
        // ASan's shadow memory.
        unsafe { __asan_unpoison_memory_region(bottom.cast(), len) };
    }
}
