//! [`Mutex`]: `std::sync::Mutex` that parks the fiber instead of the thread.

use crate::poison::{self, map_result};
use crate::raw_mutex::RawMutex;
use crate::shim::loom_const_fn;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

/// A mutual exclusion primitive useful for protecting shared data, like
/// [`std::sync::Mutex`], whose waiters park the calling fiber rather than its thread.
///
/// A guard may be held across a fiber switch (`yield_now`, a socket read, a channel
/// `recv`): a second fiber of the same thread that asks for the lock parks, the first one
/// runs on and eventually unlocks. With `std::sync::Mutex` the second fiber would block
/// the whole thread, including the holder — a deadlock.
///
/// The same `Mutex` may be shared by fibers of several runtimes (on different threads) and
/// by plain threads, which park with `std::thread::park`.
///
/// # Poisoning
///
/// As in `std`: if a fiber or thread panics while holding the guard, the mutex becomes
/// poisoned and later [`lock`](Mutex::lock)s return `Err(PoisonError)`, which still
/// carries the guard.
///
/// # Notes
///
/// * Fairness differs from `std`: under contention the lock is handed directly to the
///   longest waiter (FIFO), so a fiber that unlocks and immediately locks again queues
///   behind the ones already waiting.
/// * The uncontended `lock`/`unlock` is one atomic compare-exchange each, as in `std`.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
/// use spindle::sync::{Arc, Mutex};
/// use spindle::fiber;
///
/// let total = spindle::run(|| {
///     let counter = Arc::new(Mutex::new(0));
///     let handles: Vec<_> = (0..10)
///         .map(|_| {
///             let counter = Arc::clone(&counter);
///             fiber::spawn(move || {
///                 let mut n = counter.lock().unwrap();
///                 fiber::yield_now(); // the guard is held across a switch
///                 *n += 1;
///             })
///         })
///         .collect();
///     for h in handles {
///         h.join().unwrap();
///     }
///     *counter.lock().unwrap()
/// });
/// assert_eq!(total, 10);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex owns the `T`; sending it sends the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: the lock hands out access to `T` to one holder at a time, which can move a `T`
// between threads (hence `T: Send`) but never shares it (so no `T: Sync`), as in std.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

/// An RAII guard of a locked [`Mutex`]; the lock is released when it is dropped.
///
/// Created by [`Mutex::lock`] and [`Mutex::try_lock`]. The data is reached through
/// `Deref` and `DerefMut`.
#[must_use = "if unused the Mutex will immediately unlock"]
#[clippy::has_significant_drop]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
    poison: poison::Guard,
    /// `!Send`, like std's guard: it must be released where it was taken.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, so it is `Sync` exactly when `T` is.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    loom_const_fn! {
        /// Creates a new mutex in an unlocked state ready for use.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
        /// use spindle::sync::Mutex;
        ///
        /// let mutex = Mutex::new(0);
        /// # assert_eq!(*mutex.lock().unwrap(), 0);
        /// ```
        #[inline]
        pub fn new(t: T) -> Mutex<T> {
            Mutex { raw: RawMutex::new(), poison: poison::Flag::new(), data: UnsafeCell::new(t) }
        }
    }

    /// Consumes this mutex, returning the underlying data.
    ///
    /// # Errors
    ///
    /// If another user of this mutex panicked while holding it, this returns the data
    /// inside a [`PoisonError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Mutex;
    ///
    /// let mutex = Mutex::new(0);
    /// assert_eq!(mutex.into_inner().unwrap(), 0);
    /// ```
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.get();
        let data = self.data.into_inner();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the mutex, parking the current fiber (or thread) until it is able to do so.
    ///
    /// Returns an RAII guard; the lock is released when the guard is dropped.
    ///
    /// # Errors
    ///
    /// If another user of this mutex panicked while holding it, this returns an error
    /// carrying the guard once the lock is acquired.
    ///
    /// # Panics
    ///
    /// When the runtime tears down a fiber parked here, the teardown unwinds out of this
    /// call; the fiber leaves the wait queue on the way.
    ///
    /// # Notes
    ///
    /// Unlike `std`, locking a mutex the current fiber already holds does not panic or
    /// abort; it parks the fiber forever (until the runtime tears it down).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::{Arc, Mutex};
    /// use std::thread;
    ///
    /// let mutex = Arc::new(Mutex::new(0));
    /// let c_mutex = Arc::clone(&mutex);
    /// thread::spawn(move || {
    ///     *c_mutex.lock().unwrap() = 10;
    /// }).join().expect("thread::spawn failed");
    /// assert_eq!(*mutex.lock().unwrap(), 10);
    /// ```
    #[inline]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.raw.lock();
        // SAFETY: we just acquired the lock.
        unsafe { MutexGuard::new(self) }
    }

    /// Attempts to acquire this lock without parking.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if the lock is held; [`TryLockError::Poisoned`] if it
    /// was acquired but is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::{Mutex, TryLockError};
    ///
    /// let mutex = Mutex::new(1);
    /// let guard = mutex.try_lock().unwrap();
    /// assert!(matches!(mutex.try_lock(), Err(TryLockError::WouldBlock)));
    /// drop(guard);
    /// assert_eq!(*mutex.try_lock().unwrap(), 1);
    /// ```
    #[inline]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if self.raw.try_lock() {
            // SAFETY: we just acquired the lock.
            Ok(unsafe { MutexGuard::new(self) }?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Determines whether the mutex is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Mutex;
    ///
    /// assert!(!Mutex::new(()).is_poisoned());
    /// ```
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state from a mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::{Arc, Mutex};
    /// use std::thread;
    ///
    /// let mutex = Arc::new(Mutex::new(0));
    /// let c_mutex = Arc::clone(&mutex);
    /// let _ = thread::spawn(move || {
    ///     let _lock = c_mutex.lock().unwrap();
    ///     panic!(); // the mutex gets poisoned
    /// }).join();
    /// assert!(mutex.is_poisoned());
    /// mutex.clear_poison();
    /// assert!(!mutex.is_poisoned());
    /// ```
    #[inline]
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// Returns a mutable reference to the underlying data; no locking is needed since
    /// `&mut self` proves there are no other users.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned, the reference comes inside a [`PoisonError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::Mutex;
    ///
    /// let mut mutex = Mutex::new(0);
    /// *mutex.get_mut().unwrap() = 10;
    /// assert_eq!(*mutex.lock().unwrap(), 10);
    /// ```
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let data = self.data.get_mut();
        if self.poison.get() {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    /// Creates a `Mutex<T>` with the `Default` value for `T`.
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    /// Creates a new mutex in an unlocked state; same as [`Mutex::new`].
    fn from(t: T) -> Self {
        Mutex::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// # Safety
    ///
    /// The caller holds `lock.raw`; the guard takes over releasing it.
    unsafe fn new(lock: &'a Mutex<T>) -> LockResult<MutexGuard<'a, T>> {
        map_result(lock.poison.guard(), |poison| MutexGuard {
            lock,
            poison,
            _not_send: PhantomData,
        })
    }

    /// Releases the lock without running the guard's destructor, for [`Condvar`] waits;
    /// returns the mutex so the wait can lock it again.
    ///
    /// [`Condvar`]: crate::Condvar
    pub(crate) fn unlock_for_wait(self) -> &'a Mutex<T> {
        let lock = self.lock;
        lock.poison.done(&self.poison);
        std::mem::forget(self);
        lock.raw.unlock();
        lock
    }

    /// Re-acquires `lock` after a [`Condvar`] wait.
    ///
    /// [`Condvar`]: crate::Condvar
    pub(crate) fn relock(lock: &'a Mutex<T>) -> LockResult<MutexGuard<'a, T>> {
        lock.lock()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no `&mut T` exists elsewhere.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively; `&mut self` keeps this reference
        // the only one.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        self.lock.raw.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
