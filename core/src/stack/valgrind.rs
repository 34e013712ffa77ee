//! Telling valgrind about fiber stacks, so that `valgrind PROGRAM` runs a spindle program with
//! no tuning flags and no false reports.
//!
//! Valgrind's memcheck follows the stack pointer: when it moves down, the bytes uncovered are
//! a new (undefined) frame; when it moves up by less than `--max-stackframe` (2 MiB), the bytes
//! left behind are dead and any later access is an "invalid read/write". A switch between two
//! fiber stacks of one slab is a move of a few KiB, so without help valgrind takes it for a
//! frame being popped and kills the other fiber's live frames. Registering each stack
//! (`VALGRIND_STACK_REGISTER`) tells valgrind that a move into another registered stack is a
//! switch, and bounds its stack walker to the stack it walks.
//!
//! | request              | when                                              | why                                   |
//! |----------------------|---------------------------------------------------|---------------------------------------|
//! | `STACK_REGISTER`     | a stack is handed to a fiber (`StackPool::alloc`) | a move into it is a switch            |
//! | `MAKE_MEM_UNDEFINED` | same, over its usable bytes                       | it holds no values yet                |
//! | `STACK_DEREGISTER`   | the stack goes back to the pool (`release`)       | the range is free                     |
//! | `MAKE_MEM_NOACCESS`  | same, over its usable bytes                       | a pointer into a dead stack is reported |
//! | `STACK_REGISTER`     | `run` starts on a thread other than `main`        | the main context's stack is one too   |
//! | `MAKE_MEM_NOACCESS`  | a guard page installed as a marker                | valgrind cannot see the marker        |
//!
//! Guard pages are the other half: valgrind does not know `MADV_GUARD_INSTALL` markers, so its
//! stack walker (or a stack-trace request) could step into one and crash valgrind itself. Under
//! valgrind, guards are therefore `mprotect`ed, which valgrind tracks, up to a budget that
//! keeps within valgrind's table of mappings (see `install_guards`); past it they are markers
//! again, marked inaccessible, and the registrations keep the walker inside each stack.
//!
//! Each request is valgrind's client-request instruction sequence (`arch`), a few cycles when
//! not under valgrind; and every function here first asks [`running_on_valgrind`], whose
//! answer is cached, so a native run pays one relaxed load per stack handed out or returned.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::arch;
use crate::sys;

/// `VG_USERREQ__RUNNING_ON_VALGRIND` (valgrind.h).
const RUNNING_ON_VALGRIND: usize = 0x1001;
/// `VG_USERREQ__STACK_REGISTER` (valgrind.h): `(lowest, highest)` address, answers an id.
const STACK_REGISTER: usize = 0x1501;
/// `VG_USERREQ__STACK_DEREGISTER` (valgrind.h): `(id)`.
const STACK_DEREGISTER: usize = 0x1502;
/// First request code of memcheck: `VG_USERREQ_TOOL_BASE('M', 'C')` (memcheck.h). Other tools
/// ignore memcheck's requests.
const MEMCHECK_BASE: usize = ((b'M' as usize) << 24) | ((b'C' as usize) << 16);
/// `VG_USERREQ__MAKE_MEM_NOACCESS` (memcheck.h): `(address, length)`.
const MAKE_MEM_NOACCESS: usize = MEMCHECK_BASE;
/// `VG_USERREQ__MAKE_MEM_UNDEFINED` (memcheck.h): `(address, length)`.
const MAKE_MEM_UNDEFINED: usize = MEMCHECK_BASE + 1;

/// 0: not asked yet; 1: not under valgrind; 2: under valgrind.
static ANSWER: AtomicU8 = AtomicU8::new(0);

/// Whether this process runs under valgrind (any tool). Asked once, then cached.
#[inline]
pub(crate) fn running_on_valgrind() -> bool {
    match ANSWER.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => ask_valgrind(),
    }
}

#[cold]
fn ask_valgrind() -> bool {
    // Natively the request returns the default, 0; valgrind answers its nesting depth, 1 or
    // more.
    let yes = request(RUNNING_ON_VALGRIND, 0, 0) != 0;
    ANSWER.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
    yes
}

/// Makes one of the requests above (all of which take two arguments at most).
fn request(code: usize, arg1: usize, arg2: usize) -> usize {
    // SAFETY: `code` is one of the constants above, each a request valgrind (or memcheck)
    // defines with the arguments this module passes: address ranges of stacks this process
    // maps, or an id valgrind handed out. None of them changes the program's own memory.
    unsafe { arch::valgrind_client_request(0, &[code, arg1, arg2, 0, 0, 0]) }
}

/// Valgrind's id for a stack registered with [`register_stack`]. Plain data (no `Drop`), so
/// that `Stack`, which holds one, stays free of drop glue on the spawn path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StackId(usize);

/// Registers `bottom..top` as a stack, if running under valgrind. `fresh` also marks the range
/// as holding nothing defined (a pool stack handed to a new fiber).
#[inline]
pub(crate) fn register_stack(bottom: *mut u8, top: *mut u8, fresh: bool) -> Option<StackId> {
    if !running_on_valgrind() {
        return None;
    }
    if fresh {
        request(
            MAKE_MEM_UNDEFINED,
            bottom as usize,
            top as usize - bottom as usize,
        );
    }
    Some(StackId(request(
        STACK_REGISTER,
        bottom as usize,
        top as usize,
    )))
}

/// Forgets a stack [`register_stack`] registered.
pub(crate) fn deregister_stack(id: StackId) {
    request(STACK_DEREGISTER, id.0, 0);
}

/// Marks `len` bytes at `start` as inaccessible to the program, for memcheck: a stack no fiber
/// uses any more (a read or write through a pointer into a finished fiber's stack is then
/// reported), or a guard page valgrind cannot see.
pub(crate) fn mark_no_access(start: *mut u8, len: usize) {
    if running_on_valgrind() {
        request(MAKE_MEM_NOACCESS, start as usize, len);
    }
}

/// The calling thread's own stack, registered with valgrind until this is dropped.
#[derive(Debug)]
pub(crate) struct ThreadStackRegistration(StackId);

impl Drop for ThreadStackRegistration {
    fn drop(&mut self) {
        deregister_stack(self.0);
    }
}

/// Registers the calling thread's own stack for as long as the result lives, if running under
/// valgrind on a thread other than the process's main thread (valgrind registers that one
/// itself). The scheduler's main context runs there, and switches between it and fibers are
/// then recognised as switches too.
pub(crate) fn register_thread_stack() -> Option<ThreadStackRegistration> {
    if !running_on_valgrind() {
        return None;
    }
    if sys::is_main_thread() {
        return None;
    }
    let (bottom, size) = sys::thread_stack()?;
    // SAFETY: `bottom + size` is the end of this thread's stack mapping.
    let top = unsafe { bottom.add(size) };
    register_stack(bottom, top, false).map(ThreadStackRegistration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{MIN_STACK_SIZE, StackPool};

    /// Valgrind preloads its own libraries into every program it runs; an independent way to
    /// know the answer `running_on_valgrind` must give.
    fn valgrind_preloaded() -> bool {
        std::env::var("LD_PRELOAD").is_ok_and(|libs| libs.contains("vgpreload"))
    }

    #[test]
    fn the_client_request_detects_valgrind() {
        assert_eq!(running_on_valgrind(), valgrind_preloaded());
    }

    #[test]
    fn a_client_request_returns_its_default_unless_under_valgrind() {
        // SAFETY: RUNNING_ON_VALGRIND takes no arguments and changes nothing.
        let answer =
            unsafe { arch::valgrind_client_request(77, &[RUNNING_ON_VALGRIND, 0, 0, 0, 0, 0]) };
        if valgrind_preloaded() {
            assert!((1..77).contains(&answer), "nesting depth {answer}");
        } else {
            assert_eq!(answer, 77);
        }
    }

    #[test]
    fn pool_stacks_are_registered_exactly_while_a_fiber_owns_them() {
        let mut pool = StackPool::new(1);
        let first = pool.alloc(MIN_STACK_SIZE).unwrap();
        assert_eq!(first.registration.is_some(), valgrind_preloaded());
        let base = first.base;
        pool.release(first);
        // The hot stack comes back, registered again (a second registration of a stack that
        // is still registered would trip the debug assertion in `hand_out`).
        let again = pool.alloc(MIN_STACK_SIZE).unwrap();
        assert_eq!(again.base, base);
        assert_eq!(again.registration.is_some(), valgrind_preloaded());
        // A fresh fiber writes its first frame at the top: under memcheck that must be allowed
        // (the release marked the whole stack inaccessible).
        // SAFETY: the word below `top` is inside the usable part of a stack we own.
        let word = unsafe { again.top().cast::<u64>().sub(1) };
        // SAFETY: `word` is that word: writable, and aligned (`top` is 16-aligned).
        unsafe { word.write(1) };
        pool.release(again);
    }
}
