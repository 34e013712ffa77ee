//! [`WaitGroup`]: wait until a set of fibers or threads is done.

use crate::condvar::Condvar;
use crate::mutex::Mutex;
use std::fmt;
use std::sync::{Arc, PoisonError};

/// Waits for a group of fibers (or threads) to finish, in RAII style.
///
/// Each member holds a clone of the `WaitGroup`; a member is done when its clone is
/// dropped. [`wait`](WaitGroup::wait) consumes the caller's own clone and parks until all
/// the others are gone.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
/// use spindle::sync::WaitGroup;
/// use spindle::sync::atomic::{AtomicUsize, Ordering};
/// use spindle::sync::Arc;
/// use spindle::fiber;
///
/// spindle::run(|| {
///     let wg = WaitGroup::new();
///     let done = Arc::new(AtomicUsize::new(0));
///     for _ in 0..5 {
///         let (wg, done) = (wg.clone(), done.clone());
///         fiber::spawn(move || {
///             fiber::yield_now();
///             done.fetch_add(1, Ordering::SeqCst);
///             drop(wg);
///         });
///     }
///     wg.wait();
///     assert_eq!(done.load(Ordering::SeqCst), 5);
/// });
/// ```
pub struct WaitGroup {
    inner: Arc<Inner>,
}

struct Inner {
    count: Mutex<usize>,
    cvar: Condvar,
}

impl WaitGroup {
    /// Creates a wait group with one member: the returned handle.
    #[must_use]
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(Inner {
                count: Mutex::new(1),
                cvar: Condvar::new(),
            }),
        }
    }

    /// Drops this member and parks the current fiber until every other member is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::WaitGroup;
    /// use std::thread;
    ///
    /// let wg = WaitGroup::new();
    /// let member = wg.clone();
    /// thread::spawn(move || drop(member));
    /// wg.wait();
    /// ```
    pub fn wait(self) {
        let inner = Arc::clone(&self.inner);
        drop(self);
        let count = inner.count.lock().unwrap_or_else(PoisonError::into_inner);
        let _done = inner
            .cvar
            .wait_while(count, |count| *count > 0)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl Clone for WaitGroup {
    /// Adds a member to the group.
    fn clone(&self) -> WaitGroup {
        *self
            .inner
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        WaitGroup {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl Drop for WaitGroup {
    /// This member is done; the last one wakes the waiter.
    fn drop(&mut self) {
        let mut count = self
            .inner
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *count -= 1;
        if *count == 0 {
            self.inner.cvar.notify_all();
        }
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = *self
            .inner
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("WaitGroup").field("count", &count).finish()
    }
}
