//! A tiny spin lock for the wait queues' bookkeeping.
//!
//! It guards a few pointer updates and never a park: code holding a [`SpinGuard`] never
//! switches fibers, so the holder is always a running (or OS-preempted) thread, never a
//! parked fiber that the spinner would have to wait for. That is what makes spinning sound
//! in a 1:N runtime, where a fiber must never wait on another fiber of its own thread.
//! Uncontended, lock and unlock are one `swap` and one `store`.
//!
//! Under loom the spin lock is modelled by `loom::sync::Mutex` (module `imp_loom` below):
//! loom cannot schedule its way out of a busy-wait, and the spin lock itself is not what
//! the model checks are about — the lock words and wait queues built on it are.

#[cfg(loom)]
pub(crate) use imp_loom::{SpinGuard, SpinLock};
#[cfg(not(loom))]
pub(crate) use imp_spin::{SpinGuard, SpinLock};

#[cfg(not(loom))]
mod imp_spin {
    use crate::shim::{AtomicBool, Ordering, loom_const_fn, spin_wait};
    use std::cell::UnsafeCell;
    use std::fmt;
    use std::ops::{Deref, DerefMut};

    /// A lock around `T` whose waiters spin; held only for a few instructions.
    pub(crate) struct SpinLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out `&mut T` to one holder at a time, so sharing the lock across
    // threads only ever moves `T` between threads (needs `T: Send`), like `std::sync::Mutex`.
    unsafe impl<T: Send> Sync for SpinLock<T> {}
    // SAFETY: owning the lock is owning the `T`.
    unsafe impl<T: Send> Send for SpinLock<T> {}

    impl<T> SpinLock<T> {
        loom_const_fn! {
            /// Creates an unlocked spin lock around `value`.
            pub(crate) fn new(value: T) -> SpinLock<T> {
                SpinLock { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
            }
        }

        /// Acquires the lock, spinning (then yielding the thread) while another thread holds it.
        #[inline]
        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            if self.locked.swap(true, Ordering::Acquire) {
                self.lock_contended();
            }
            SpinGuard { lock: self }
        }

        #[cold]
        fn lock_contended(&self) {
            let mut spins = 0;
            loop {
                while self.locked.load(Ordering::Relaxed) {
                    spin_wait(&mut spins);
                }
                if !self.locked.swap(true, Ordering::Acquire) {
                    return;
                }
            }
        }
    }

    impl<T> fmt::Debug for SpinLock<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SpinLock").finish_non_exhaustive()
        }
    }

    /// Proof of holding a [`SpinLock`]; unlocks on drop.
    pub(crate) struct SpinGuard<'a, T> {
        lock: &'a SpinLock<T>,
    }

    impl<T> SpinGuard<'_, T> {
        /// Whether this guard holds `lock` (used to check that a wait-queue node is linked
        /// under the lock that protects its list).
        pub(crate) fn holds(&self, lock: &SpinLock<T>) -> bool {
            std::ptr::eq(self.lock, lock)
        }
    }

    impl<T> Deref for SpinGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: this guard holds the lock, so no `&mut T` exists elsewhere.
            unsafe { &*self.lock.value.get() }
        }
    }

    impl<T> DerefMut for SpinGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: this guard holds the lock exclusively, and `&mut self` makes this the
            // only reference derived from it.
            unsafe { &mut *self.lock.value.get() }
        }
    }

    impl<T> Drop for SpinGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.lock.locked.store(false, Ordering::Release);
        }
    }
}

#[cfg(loom)]
mod imp_loom {
    use std::fmt;
    use std::ops::{Deref, DerefMut};

    /// loom's model of the spin lock: a loom mutex.
    pub(crate) struct SpinLock<T> {
        inner: loom::sync::Mutex<T>,
    }

    impl<T> SpinLock<T> {
        pub(crate) fn new(value: T) -> SpinLock<T> {
            SpinLock {
                inner: loom::sync::Mutex::new(value),
            }
        }

        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            SpinGuard {
                lock: self,
                guard: self.inner.lock().unwrap(),
            }
        }
    }

    impl<T> fmt::Debug for SpinLock<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SpinLock").finish_non_exhaustive()
        }
    }

    pub(crate) struct SpinGuard<'a, T> {
        lock: &'a SpinLock<T>,
        guard: loom::sync::MutexGuard<'a, T>,
    }

    impl<T> SpinGuard<'_, T> {
        pub(crate) fn holds(&self, lock: &SpinLock<T>) -> bool {
            std::ptr::eq(self.lock, lock)
        }
    }

    impl<T> Deref for SpinGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.guard
        }
    }

    impl<T> DerefMut for SpinGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.guard
        }
    }
}
