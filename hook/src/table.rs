//! The per-fd table: which fds the hook manages, what blocking mode their user asked for, and
//! each one's reactor [`Registration`].
//!
//! One [`Entry`] per fd number below [`MAX_FDS`], in a static array (zero pages cost nothing
//! until touched, and no entry is ever allocated, so the hooks stay async-signal-safe for a
//! child between `fork` and `exec`). Higher fds are never managed.
//!
//! | state bits           | meaning                                                        | the hook on `EAGAIN`   |
//! |----------------------|----------------------------------------------------------------|------------------------|
//! | `0`                  | not seen yet (or closed since)                                 | returns it             |
//! | `SEEN`               | seen on a fiber: not a socket, so left alone                   | returns it             |
//! | `SEEN│MANAGED`       | a socket the hook made `O_NONBLOCK`; its user wants blocking   | waits, then retries    |
//! | `SEEN│MANAGED│USER_NB` | a socket its user made non-blocking as well                  | returns it             |
//!
//! Two more bits, `RCVTIMEO` and `SNDTIMEO`, record that the program set that timeout with
//! `setsockopt` (at any time, on a fiber or not): only then does a wait read it back.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use spindle_core::__private::reactor::Registration;

/// Fd numbers at or above this are never managed.
pub const MAX_FDS: usize = 1 << 20;

pub(crate) const SEEN: u8 = 1;
pub(crate) const MANAGED: u8 = 2;
pub(crate) const USER_NB: u8 = 4;
/// `SO_RCVTIMEO` was set on the socket (through the hooked `setsockopt`): a wait asks
/// `getsockopt` for its value. Without it a wait makes no extra syscall.
pub(crate) const RCVTIMEO: u8 = 8;
/// As [`RCVTIMEO`], for `SO_SNDTIMEO`.
pub(crate) const SNDTIMEO: u8 = 16;

/// What the hook knows about one fd.
#[derive(Debug)]
pub(crate) struct Entry {
    state: AtomicU8,
    /// The fd's registration with the reactor of the scheduler that last waited on it.
    pub(crate) reg: Registration,
}

impl Entry {
    const fn new() -> Entry {
        Entry {
            state: AtomicU8::new(0),
            reg: Registration::new(),
        }
    }

    #[inline]
    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Whether the hook turns this fd's `EAGAIN` into a wait: managed, and blocking for its user.
    #[inline]
    pub(crate) fn waits(&self) -> bool {
        self.state() & (MANAGED | USER_NB) == MANAGED
    }

    pub(crate) fn set(&self, state: u8) {
        self.state.store(state, Ordering::Release);
    }

    /// Adds `bits` to the state.
    pub(crate) fn add(&self, bits: u8) {
        self.state.fetch_or(bits, Ordering::AcqRel);
    }

    /// Records the user's blocking mode of a managed fd; returns false if the fd is not managed.
    pub(crate) fn set_user_nonblocking(&self, nonblocking: bool) -> bool {
        let update = |s: u8| {
            (s & MANAGED != 0).then_some(if nonblocking {
                s | USER_NB
            } else {
                s & !USER_NB
            })
        };
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, update)
            .is_ok()
    }

    /// Forgets the fd: called before it is closed or replaced.
    ///
    /// In a child after `fork` the registration is only forgotten, never removed: the child
    /// shares its parent's epoll instance, and removing the fd there would take it from the
    /// parent's reactor.
    pub(crate) fn reset(&self, fd: c_int) {
        if self.state.swap(0, Ordering::AcqRel) != 0 && !FORKED.load(Ordering::Relaxed) {
            // SAFETY: `fd` is still open: callers reset before the close or dup2 that ends it.
            self.reg
                .deregister(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) });
        }
    }
}

/// Set in a child process after `fork` (by a `pthread_atfork` handler).
static FORKED: AtomicBool = AtomicBool::new(false);

/// The `pthread_atfork` child handler.
pub(crate) extern "C" fn after_fork_in_child() {
    FORKED.store(true, Ordering::Relaxed);
}

static TABLE: [Entry; MAX_FDS] = [const { Entry::new() }; MAX_FDS];

/// The entry of `fd`, if `fd` is in the table's range.
#[inline]
pub(crate) fn entry(fd: c_int) -> Option<&'static Entry> {
    TABLE.get(usize::try_from(fd).ok()?)
}

/// After `new` became a duplicate of `old` (same open file description, so same `O_NONBLOCK`):
/// gives `new` the state of `old`, with a registration of its own.
pub(crate) fn copy(old: c_int, new: c_int) {
    let state = entry(old).map_or(0, Entry::state);
    if let Some(e) = entry(new) {
        e.reset(new);
        e.set(state);
    }
}

#[cfg(test)]
mod tests {
    /// A new entry is all zero bytes (see `Registration`'s `LazyState`), so the table is
    /// placed in `.bss`: its 56 MB are neither in every binary that links the hook nor in
    /// memory until touched. Before, an empty `OnceLock` and `Weak::new()` put it in `.data`.
    #[test]
    fn the_table_lies_in_bss() {
        // The linker defines these two symbols at the end of the initialised data and the end
        // of `.bss`; only their addresses are taken, never their contents.
        unsafe extern "C" {
            static _edata: u8;
            static _end: u8;
        }
        let (data_end, bss_end) = (&raw const _edata as usize, &raw const _end as usize);
        let table = &raw const super::TABLE as usize;
        let size = std::mem::size_of_val(&super::TABLE);
        assert!(
            data_end <= table && table + size <= bss_end,
            "the fd table ({size} bytes at {table:#x}) is not in .bss ({data_end:#x}..{bss_end:#x})"
        );
    }
}
