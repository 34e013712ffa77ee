//! [`Barrier`]: `std::sync::Barrier` whose waiters park the fiber.

use crate::condvar::Condvar;
use crate::mutex::Mutex;
use crate::shim::loom_const_fn;
use crate::waiter::OnUnwind;
use std::fmt;
use std::sync::PoisonError;

/// A barrier enables multiple fibers or threads to synchronize the beginning of some
/// computation, like [`std::sync::Barrier`].
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
/// use spindle::sync::{Arc, Barrier};
/// use spindle::fiber;
///
/// let leaders = spindle::run(|| {
///     let barrier = Arc::new(Barrier::new(10));
///     let handles: Vec<_> = (0..10)
///         .map(|_| {
///             let barrier = Arc::clone(&barrier);
///             fiber::spawn(move || barrier.wait().is_leader())
///         })
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).filter(|&l| l).count()
/// });
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    lock: Mutex<BarrierState>,
    cvar: Condvar,
    num_threads: usize,
}

struct BarrierState {
    count: usize,
    generation_id: usize,
}

/// Returned by [`Barrier::wait`] when all parties have met.
pub struct BarrierWaitResult(bool);

impl Barrier {
    loom_const_fn! {
        /// Creates a new barrier that blocks a given number of fibers or threads.
        ///
        /// A barrier will park `n-1` callers of [`wait`](Self::wait) and release them all
        /// when the `n`th calls it.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
        /// use spindle::sync::Barrier;
        ///
        /// let barrier = Barrier::new(1);
        /// assert!(barrier.wait().is_leader());
        /// ```
        #[must_use]
        pub fn new(n: usize) -> Barrier {
            Barrier {
                lock: Mutex::new(BarrierState { count: 0, generation_id: 0 }),
                cvar: Condvar::new(),
                num_threads: n,
            }
        }
    }

    /// Parks the current fiber until all parties have rendezvoused here.
    ///
    /// Barriers are reusable after all parties have met. One caller per round (the last
    /// to arrive) gets a result whose [`is_leader`](BarrierWaitResult::is_leader) is `true`.
    ///
    /// # Notes
    ///
    /// A fiber unwound while it waits (its runtime shutting down) leaves the round: the
    /// others keep waiting for `n` parties that are still alive.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::{Arc, Barrier};
    /// use std::thread;
    ///
    /// let barrier = Arc::new(Barrier::new(2));
    /// let b = Arc::clone(&barrier);
    /// let t = thread::spawn(move || b.wait().is_leader());
    /// let me = barrier.wait().is_leader();
    /// assert!(me ^ t.join().unwrap());
    /// ```
    pub fn wait(&self) -> BarrierWaitResult {
        let mut state = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = state.generation_id;
        state.count += 1;
        if state.count < self.num_threads {
            // A fiber unwound while it waits here (its runtime shutting down) leaves the
            // round it had joined, so that the round still waits for `n` live parties. The
            // unwind starts inside `Condvar::wait`, which has released the lock by then.
            let leave = OnUnwind(|| {
                let mut state = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
                if state.generation_id == generation {
                    state.count -= 1;
                }
            });
            while generation == state.generation_id {
                state = self
                    .cvar
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            leave.disarm();
            BarrierWaitResult(false)
        } else {
            state.count = 0;
            state.generation_id = state.generation_id.wrapping_add(1);
            self.cvar.notify_all();
            BarrierWaitResult(true)
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

impl BarrierWaitResult {
    /// Whether this caller is the "leader" of its round: exactly one per round is.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Barrier;
    ///
    /// assert!(Barrier::new(1).wait().is_leader());
    /// ```
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult")
            .field("is_leader", &self.is_leader())
            .finish()
    }
}
