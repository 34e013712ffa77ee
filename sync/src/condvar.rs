//! [`Condvar`]: `std::sync::Condvar` whose waiters park the fiber.
//!
//! A waiter enqueues itself on the condvar's FIFO *before* releasing the mutex, so a
//! notifier that takes the mutex after it (or that notifies at any point after the waiter
//! released it) always finds it queued: no notification is lost. `notify_one` wakes the
//! longest waiter; `notify_all` wakes everyone queued at the time of the call. A woken
//! waiter re-locks the mutex before `wait` returns; callers re-check their condition in a
//! loop (or use [`Condvar::wait_while`]) because the condition may have changed by then.

use crate::mutex::{Mutex, MutexGuard};
use crate::shim::loom_const_fn;
use crate::spin::SpinLock;
use crate::waiter::{List, OnUnwind, Waiter, WakeBatch};
use std::fmt;
use std::pin::{Pin, pin};
use std::sync::{LockResult, PoisonError};
use std::time::{Duration, Instant};

/// A Condition Variable, like [`std::sync::Condvar`], for fibers and threads alike.
///
/// # Notes
///
/// Waiting parks the calling fiber (its thread keeps running other fibers). Notifying
/// never blocks. Notifications may come from any thread; a fiber of another runtime is
/// woken through its scheduler's remote queue.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
/// use spindle::sync::{Arc, Condvar, Mutex};
/// use spindle::fiber;
///
/// spindle::run(|| {
///     let pair = Arc::new((Mutex::new(false), Condvar::new()));
///     let pair2 = Arc::clone(&pair);
///     fiber::spawn(move || {
///         let (lock, cvar) = &*pair2;
///         *lock.lock().unwrap() = true;
///         cvar.notify_one();
///     });
///     let (lock, cvar) = &*pair;
///     let mut started = lock.lock().unwrap();
///     while !*started {
///         started = cvar.wait(started).unwrap();
///     }
/// });
/// ```
pub struct Condvar {
    queue: SpinLock<List<()>>,
}

/// Whether a timed wait on a [`Condvar`] returned because the time elapsed.
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Returns `true` if the wait is known to have timed out.
    #[must_use]
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

fn list(queue: &mut List<()>) -> &mut List<()> {
    queue
}

type CondWaiter<'a> = Waiter<'a, List<()>, ()>;

impl Condvar {
    loom_const_fn! {
        /// Creates a new condition variable ready to be waited on and notified.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
        /// use spindle::sync::Condvar;
        ///
        /// let condvar = Condvar::new();
        /// # condvar.notify_one();
        /// ```
        #[must_use]
        #[inline]
        pub fn new() -> Condvar {
            Condvar { queue: SpinLock::new(List::new()) }
        }
    }

    /// Blocks the current fiber until this condition variable receives a notification.
    ///
    /// Atomically unlocks the mutex behind `guard` and parks; re-locks it before
    /// returning. Wake-ups can be spurious: check the condition in a loop.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when re-acquired, the guard comes inside a
    /// [`PoisonError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::{Arc, Condvar, Mutex};
    /// use std::thread;
    ///
    /// let pair = Arc::new((Mutex::new(false), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     *lock.lock().unwrap() = true;
    ///     cvar.notify_one();
    /// });
    /// let (lock, cvar) = &*pair;
    /// let mut started = lock.lock().unwrap();
    /// while !*started {
    ///     started = cvar.wait(started).unwrap();
    /// }
    /// ```
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let (mutex, _) = self.wait_inner(guard, None);
        MutexGuard::relock(mutex)
    }

    /// Parks until notified and `condition` returns `false`.
    ///
    /// `condition` is called with the lock held, first before waiting.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when re-acquired, the guard comes inside a
    /// [`PoisonError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::{Arc, Condvar, Mutex};
    /// use std::thread;
    ///
    /// let pair = Arc::new((Mutex::new(true), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     *lock.lock().unwrap() = false;
    ///     cvar.notify_one();
    /// });
    /// let (lock, cvar) = &*pair;
    /// let _guard = cvar.wait_while(lock.lock().unwrap(), |pending| *pending).unwrap();
    /// ```
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Waits on this condition variable for a notification, timing out after `dur`.
    ///
    /// The returned [`WaitTimeoutResult`] says whether the time elapsed without a
    /// notification. Like [`wait`](Self::wait), wake-ups can be spurious.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when re-acquired, the guard and the timeout result come
    /// inside a [`PoisonError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::{Condvar, Mutex};
    /// use std::time::Duration;
    ///
    /// let lock = Mutex::new(());
    /// let cvar = Condvar::new();
    /// let (_guard, result) = cvar.wait_timeout(lock.lock().unwrap(), Duration::from_millis(5)).unwrap();
    /// assert!(result.timed_out());
    /// ```
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (mutex, notified) = self.wait_inner(guard, Instant::now().checked_add(dur));
        let result = WaitTimeoutResult(!notified);
        match MutexGuard::relock(mutex) {
            Ok(guard) => Ok((guard, result)),
            Err(err) => Err(PoisonError::new((err.into_inner(), result))),
        }
    }

    /// Waits until notified and `condition` returns `false`, or until `dur` elapses.
    ///
    /// The result's [`timed_out`](WaitTimeoutResult::timed_out) is `true` when the
    /// duration elapsed while `condition` still returned `true`.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when re-acquired, the guard and the timeout result come
    /// inside a [`PoisonError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::{Condvar, Mutex};
    /// use std::time::Duration;
    ///
    /// let lock = Mutex::new(true);
    /// let cvar = Condvar::new();
    /// let (guard, result) = cvar
    ///     .wait_timeout_while(lock.lock().unwrap(), Duration::from_millis(5), |pending| *pending)
    ///     .unwrap();
    /// assert!(result.timed_out());
    /// assert!(*guard);
    /// ```
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let Some(left) = dur.checked_sub(start.elapsed()) else {
                return Ok((guard, WaitTimeoutResult(true)));
            };
            guard = self.wait_timeout(guard, left)?.0;
        }
    }

    /// Wakes up one fiber or thread parked on this condvar, the one that has waited longest.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Condvar;
    ///
    /// Condvar::new().notify_one(); // nobody waits: nothing happens
    /// ```
    #[inline]
    pub fn notify_one(&self) {
        let woken = self.queue.lock().pop_front_with(|()| ());
        if let Some(((), wake)) = woken {
            wake.wake();
        }
    }

    /// Wakes up every fiber and thread parked on this condvar.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Condvar;
    ///
    /// Condvar::new().notify_all(); // nobody waits: nothing happens
    /// ```
    pub fn notify_all(&self) {
        let mut batch = WakeBatch::new();
        self.queue.lock().drain_with(&mut batch, |()| ());
        drop(batch);
    }

    /// Queues the caller, releases the mutex, parks until notified or `deadline`; returns
    /// the mutex (still unlocked) and whether a notification arrived.
    fn wait_inner<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (&'a Mutex<T>, bool) {
        let waiter = pin!(CondWaiter::new("Condvar", &self.queue, list, ()));
        waiter.as_ref().enqueue(&mut self.queue.lock());
        let mutex = guard.unlock_for_wait();
        let on_unwind = OnUnwind(|| self.abandon(waiter.as_ref()));
        let mut notified = waiter.as_ref().park(deadline);
        on_unwind.disarm();
        if !notified {
            // Timed out; a notifier may have dequeued us meanwhile, which counts.
            notified = !waiter.as_ref().cancel(&mut self.queue.lock());
        }
        (mutex, notified)
    }

    /// A waiter is unwound while parked: leave the queue, or pass on a notification that
    /// reached it so that `notify_one` is not lost.
    fn abandon(&self, waiter: Pin<&CondWaiter<'_>>) {
        let still_queued = waiter.cancel(&mut self.queue.lock());
        if !still_queued {
            self.notify_one();
        }
    }
}

impl Default for Condvar {
    /// Creates a `Condvar` which is ready to be waited on and notified.
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
