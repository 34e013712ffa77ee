//! [`Semaphore`]: a counting semaphore whose waiters park the fiber.
//!
//! # The word
//!
//! Bits 1.. count the available permits (`PERMIT` = 2 per permit).
//!
//! | permits | `QUEUED` (bit 0) | meaning                                                              |
//! |:---:|:---:|------------------------------------------------------------------------------------|
//! | n > 0 | 0 | n permits free, nobody waits. `acquire` is one CAS taking a `PERMIT`               |
//! | 0     | 0 | none free, nobody waits. `release` is one CAS adding a `PERMIT`                    |
//! | 0     | 1 | none free, waiters queued. `release` hands its permit to the head waiter directly |
//! | n > 0 | 1 | never: while anyone waits, released permits go to waiters, not to the count       |
//!
//! `QUEUED` changes only under the queue's spin lock and is set iff the queue is
//! non-empty. The longest waiter wins each released permit; `try_acquire` and new
//! `acquire`s do not barge past queued waiters.

use crate::shim::{AtomicUsize, Ordering, consume_budget, loom_const_fn};
use crate::spin::SpinLock;
use crate::waiter::{List, OnUnwind, Waiter};
use std::fmt;
use std::pin::{Pin, pin};
use std::time::{Duration, Instant};

const QUEUED: usize = 0b1;
const PERMIT: usize = 0b10;

/// A counting semaphore: [`acquire`](Semaphore::acquire) takes a permit, parking the
/// current fiber (or thread) while none is available; the returned
/// [`SemaphorePermit`] gives it back when dropped.
///
/// # Examples
///
/// At most two fibers inside at once:
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
/// use spindle::sync::{Arc, Semaphore};
/// use spindle::sync::atomic::{AtomicUsize, Ordering};
/// use spindle::fiber;
///
/// spindle::run(|| {
///     let sem = Arc::new(Semaphore::new(2));
///     let inside = Arc::new(AtomicUsize::new(0));
///     let fibers: Vec<_> = (0..10)
///         .map(|_| {
///             let (sem, inside) = (sem.clone(), inside.clone());
///             fiber::spawn(move || {
///                 let _permit = sem.acquire();
///                 assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
///                 fiber::yield_now();
///                 inside.fetch_sub(1, Ordering::SeqCst);
///             })
///         })
///         .collect();
///     for f in fibers {
///         f.join().unwrap();
///     }
/// });
/// ```
pub struct Semaphore {
    word: AtomicUsize,
    queue: SpinLock<List<()>>,
}

/// An RAII permit of a [`Semaphore`]; released when dropped.
#[must_use = "if unused the permit is released at once"]
#[clippy::has_significant_drop]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

fn list(queue: &mut List<()>) -> &mut List<()> {
    queue
}

impl Semaphore {
    /// The most permits a semaphore can count.
    pub const MAX_PERMITS: usize = usize::MAX / PERMIT;

    loom_const_fn! {
        /// Creates a semaphore with `permits` permits available.
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
        ///
        /// # Examples
        ///
        /// ```
        /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
        /// use spindle::sync::Semaphore;
        ///
        /// let sem = Semaphore::new(3);
        /// assert_eq!(sem.available_permits(), 3);
        /// ```
        #[must_use]
        pub fn new(permits: usize) -> Semaphore {
            assert!(permits <= Semaphore::MAX_PERMITS, "too many permits for a Semaphore");
            Semaphore { word: AtomicUsize::new(permits * PERMIT), queue: SpinLock::new(List::new()) }
        }
    }

    /// Takes a permit, parking the current fiber while none is available.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let permit = sem.acquire();
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        consume_budget();
        if !self.try_take() {
            let got = self.acquire_contended(None);
            debug_assert!(got);
        }
        SemaphorePermit { sem: self }
    }

    /// Takes a permit if one is available now and nobody is queued for one.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// let _permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_take().then(|| SemaphorePermit { sem: self })
    }

    /// Takes a permit, parking at most `timeout`; `None` if none came in time.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Semaphore;
    /// use std::time::Duration;
    ///
    /// let sem = Semaphore::new(0);
    /// assert!(sem.acquire_timeout(Duration::from_millis(5)).is_none());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        consume_budget();
        let got = self.try_take() || self.acquire_contended(Instant::now().checked_add(timeout));
        got.then(|| SemaphorePermit { sem: self })
    }

    /// Adds a permit, waking the longest waiter if any (it gets this permit).
    ///
    /// Use it with [`SemaphorePermit::forget`] to pass permits by hand, or to grow the
    /// semaphore.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn release(&self) {
        let mut word = self.word.load(Ordering::Relaxed);
        while word & QUEUED == 0 {
            assert!(
                word / PERMIT < Semaphore::MAX_PERMITS,
                "too many permits for a Semaphore"
            );
            match self.word.compare_exchange_weak(
                word,
                word + PERMIT,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => word = now,
            }
        }
        self.release_contended();
    }

    /// The permits available now (a snapshot).
    #[must_use]
    pub fn available_permits(&self) -> usize {
        self.word.load(Ordering::Relaxed) / PERMIT
    }

    #[inline]
    fn try_take(&self) -> bool {
        let mut word = self.word.load(Ordering::Relaxed);
        while word & QUEUED == 0 && word >= PERMIT {
            match self.word.compare_exchange_weak(
                word,
                word - PERMIT,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
        false
    }

    #[cold]
    fn acquire_contended(&self, deadline: Option<Instant>) -> bool {
        let waiter = pin!(Waiter::new("Semaphore", &self.queue, list, ()));
        {
            let mut queue = self.queue.lock();
            let mut word = self.word.load(Ordering::Relaxed);
            loop {
                let free = word & QUEUED == 0 && word >= PERMIT;
                let (new, order) = if free {
                    (word - PERMIT, Ordering::Acquire)
                } else {
                    (word | QUEUED, Ordering::Relaxed)
                };
                match self
                    .word
                    .compare_exchange_weak(word, new, order, Ordering::Relaxed)
                {
                    Ok(_) if free => return true,
                    Ok(_) => break,
                    Err(now) => word = now,
                }
            }
            waiter.as_ref().enqueue(&mut queue);
        }
        let on_unwind = OnUnwind(|| {
            if !self.cancel(waiter.as_ref()) {
                self.release(); // a permit reached us: pass it on
            }
        });
        let got = waiter.as_ref().park(deadline) || !self.cancel(waiter.as_ref());
        on_unwind.disarm();
        got
    }

    /// Takes a waiter out of the queue; `false` if it had been handed a permit already.
    fn cancel(&self, waiter: Pin<&Waiter<'_, List<()>, ()>>) -> bool {
        let mut queue = self.queue.lock();
        let was_queued = waiter.cancel(&mut queue);
        if was_queued && queue.is_empty() {
            self.word.fetch_and(!QUEUED, Ordering::Relaxed);
        }
        was_queued
    }

    #[cold]
    fn release_contended(&self) {
        let mut queue = self.queue.lock();
        if self.word.load(Ordering::Relaxed) & QUEUED == 0 {
            // The queue emptied (a waiter timed out) since we looked: count the permit.
            drop(queue);
            return self.release();
        }
        if queue.len() == 1 {
            self.word.fetch_and(!QUEUED, Ordering::Relaxed);
        }
        let handoff = queue.pop_front_with(|()| ());
        drop(queue);
        if let Some(((), wake)) = handoff {
            wake.wake();
        }
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken: dropping it no longer releases it.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(1);
    /// sem.acquire().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}
