//! What a scheduler publishes for the stall detector (`crate::watchdog`), and the hazard
//! protocol that lets the watchdog read a running fiber's identity from its own thread.
//!
//! The scheduler's side is on the switch path (two relaxed stores and a release store per
//! switch, in `Scheduler::publish_current`) and once per freed fiber
//! ([`StallMonitor::before_free`]); the watchdog's side ([`heavy_fence`]) runs on its thread.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering, compiler_fence, fence};

use super::fiber::FiberBlock;
use crate::sys;

/// Times the watchdog thread woke up (from a timed sample wait or a park), in the process.
pub(crate) static WAKEUPS: AtomicU64 = AtomicU64::new(0);

/// How many times the stall detector's thread has woken up so far in this process.
pub(crate) fn wakeups() -> u64 {
    WAKEUPS.load(Ordering::Relaxed)
}

/// What a scheduler publishes for the watchdog. Written only by its own thread, with plain
/// (relaxed) stores on the switch path.
#[derive(Debug, Default)]
pub(crate) struct StallMonitor {
    /// Bumped at every switch.
    pub(crate) epoch: AtomicU64,
    /// The running fiber; null while the main context runs.
    pub(crate) current: AtomicPtr<FiberBlock>,
    /// The fiber the watchdog is reading, if any (see the module docs).
    pub(crate) hazard: AtomicPtr<FiberBlock>,
    /// Stalls reported so far.
    pub(crate) stalls: AtomicU64,
}

impl StallMonitor {
    /// Called by the scheduler before it frees `fiber`: waits while the watchdog reads it.
    pub(crate) fn before_free(&self, fiber: *const FiberBlock) {
        // Pairs with the watchdog's `heavy_fence`: either it sees the epoch moved (and never
        // reads the fiber), or we see its hazard and wait.
        light_fence();
        while std::ptr::eq(self.hazard.load(Ordering::Acquire), fiber) {
            std::hint::spin_loop();
        }
    }
}

/// `membarrier(2)` commands (linux/membarrier.h).
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Set once this process is registered for expedited `membarrier`.
static EXPEDITED: AtomicBool = AtomicBool::new(false);

/// Registers the process for expedited `membarrier`, so the fast side of the hazard protocol
/// (the scheduler, once per finished fiber) needs only a compiler fence. Called before any
/// watched scheduler runs.
pub(crate) fn register_membarrier() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let registered = sys::membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED).is_ok();
        EXPEDITED.store(registered, Ordering::SeqCst);
    });
}

/// The scheduler's side of an asymmetric fence: free when the watchdog can force a barrier
/// on every thread with `membarrier`, a full fence otherwise.
#[inline]
fn light_fence() {
    if EXPEDITED.load(Ordering::Relaxed) {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The watchdog's side: a barrier on every running thread of the process. Returns false when
/// none could be had: the schedulers use only a compiler fence (`EXPEDITED`), so a plain fence
/// here would pair with nothing, and the caller must not read the fiber.
#[must_use]
pub(crate) fn heavy_fence() -> bool {
    if EXPEDITED.load(Ordering::Relaxed) {
        return sys::membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED).is_ok();
    }
    // Without membarrier both sides use a full fence.
    fence(Ordering::SeqCst);
    true
}
