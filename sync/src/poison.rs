//! Poisoning, as `std` does it: a lock whose guard is dropped while the holder panics is
//! marked poisoned, and later acquisitions return `Err(PoisonError)` carrying the guard.
//!
//! The error types are `std`'s own (`PoisonError`, `TryLockError`, `LockResult`,
//! `TryLockResult`), re-exported from the crate root, so code matching on them is
//! unchanged.

use crate::shim::{AtomicBool, Ordering, loom_const_fn, panicking, panicking_poisons};
use std::sync::{LockResult, PoisonError};

/// The poisoned bit of one lock.
#[derive(Debug)]
pub(crate) struct Flag {
    failed: AtomicBool,
}

/// Whether the fiber (or plain thread) was already unwinding when a guard was taken; a guard
/// taken during a panic does not poison the lock when dropped during that same panic.
///
/// "Panicking" is asked of the fiber, not of its OS thread (`spindle_core::fiber::panicking`):
/// while one fiber is suspended mid-unwind, the others are not panicking. A fiber unwound by
/// its runtime's shutdown (`Cancelled`) does not poison the locks it held: nothing panicked.
#[derive(Debug)]
pub(crate) struct Guard {
    panicking: bool,
}

impl Flag {
    loom_const_fn! {
        pub(crate) fn new() -> Flag {
            Flag { failed: AtomicBool::new(false) }
        }
    }

    /// Records the panicking state at acquisition and reports the poison state.
    #[inline]
    pub(crate) fn guard(&self) -> LockResult<Guard> {
        let guard = Guard {
            panicking: panicking(),
        };
        if self.get() {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }

    /// Called as a guard is released: poisons the lock if a panic started meanwhile.
    #[inline]
    pub(crate) fn done(&self, guard: &Guard) {
        if !guard.panicking && panicking_poisons() {
            self.failed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the lock is poisoned.
    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Clears the poison.
    pub(crate) fn clear(&self) {
        self.failed.store(false, Ordering::Relaxed);
    }
}

/// Maps the result of [`Flag::guard`] to a result over the lock's own guard.
pub(crate) fn map_result<T, U>(result: LockResult<T>, f: impl FnOnce(T) -> U) -> LockResult<U> {
    match result {
        Ok(t) => Ok(f(t)),
        Err(err) => Err(PoisonError::new(f(err.into_inner()))),
    }
}
