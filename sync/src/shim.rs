//! The one place that chooses between the real world and loom's model of it.
//!
//! Normal builds use `std`'s atomics and `spindle_core::fiber`'s park/unpark. Under
//! `RUSTFLAGS="--cfg loom"` the same names come from `loom`, so the lock-word and
//! wait-queue state machines can be model-checked by `sync/tests/loom_*.rs`. Nothing
//! outside this module (and the loom variant of `spin`) names `std::sync::atomic`,
//! `loom` or `spindle_core` directly.

#[cfg(not(loom))]
pub(crate) use spindle_core::__private::{
    current_waiter as current, may_spin, panicking_poisons, scheduler_id, waiting_on,
};
#[cfg(not(loom))]
pub(crate) use spindle_core::fiber::{Fiber, consume_budget, panicking, park, park_timeout};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering, fence};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::thread::{Thread as Fiber, current, park};

/// Under loom, fibers are loom threads: std's answer is the thread's own.
#[cfg(loom)]
pub(crate) use std::thread::{panicking, panicking as panicking_poisons};

/// loom threads are plain threads: none shares a scheduler with another.
#[cfg(loom)]
pub(crate) fn scheduler_id() -> Option<u32> {
    None
}

/// loom explores interleavings, not spinning: a waiter queues at once.
#[cfg(loom)]
pub(crate) fn may_spin() -> bool {
    false
}

/// Nanoseconds on a monotonic clock, for the mutex's fairness deadline.
#[cfg(not(loom))]
pub(crate) fn clock_nanos() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// loom has no clock: time stands still, so the first contended unlock hands off and the
/// later ones let lockers barge, and the model explores both.
#[cfg(loom)]
pub(crate) fn clock_nanos() -> u64 {
    0
}

/// loom has no deadlock report to feed.
#[cfg(loom)]
pub(crate) fn waiting_on(_what: &'static str, _object: *const ()) {}

/// loom models threads, which have no cooperative budget.
#[cfg(loom)]
pub(crate) fn consume_budget() {}

/// loom has no clock; its model tests never use timeouts, so a timed park is a park.
#[cfg(loom)]
pub(crate) fn park_timeout(_dur: std::time::Duration) {
    loom::thread::park();
}

/// One step of a busy-wait on a spin lock held by another thread.
///
/// The first spins are CPU hints; after that the thread yields to the OS, because the
/// holder may have been preempted (a spin-lock holder never parks, so it is always
/// either running or waiting for a CPU). Under loom the spin lock is a loom mutex, so
/// there is no busy-wait to model.
#[cfg(not(loom))]
#[inline]
pub(crate) fn spin_wait(spins: &mut u32) {
    if *spins < 64 {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Declares a function that is `const` in normal builds and plain under loom, whose
/// atomics have no `const fn new`.
macro_rules! loom_const_fn {
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$m])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$m])* $vis fn $($rest)*
    };
}
pub(crate) use loom_const_fn;
