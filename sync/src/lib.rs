//! spindle-sync: locks and channels that park fibers, not threads.
//!
//! This crate is `spindle::sync`. It mirrors `std::sync`, so `use std::sync::…` becomes
//! `use spindle::sync::…` with nothing else changed:
//!
//! * [`Mutex`], [`RwLock`], [`Condvar`], [`Barrier`] and the [`mpsc`] channels have
//!   `std`'s names, signatures, poisoning and error types. Waiting parks the calling fiber
//!   and lets the other fibers of its thread run; with `std`'s versions a lock held across
//!   a fiber switch, or a `recv` on an empty channel, freezes every fiber of the thread.
//! * [`Arc`], [`Weak`], [`atomic`], [`Once`], [`OnceLock`], [`LazyLock`] and the lock
//!   error types ([`LockResult`], [`PoisonError`], [`TryLockError`], [`TryLockResult`])
//!   are `std`'s own, re-exported.
//! * Beyond `std`: [`Semaphore`], [`WaitGroup`] and multi-consumer [`mpmc`] channels.
//!
//! Every type also works from plain threads (no runtime), where waiting is exactly
//! `std::thread::park`, and across threads: one `Mutex` may be shared by fibers of several
//! runtimes and by plain threads. A waiter is whatever `spindle::fiber::current()` names,
//! and wake-ups to another thread go through the core's remote unpark.
//!
//! # How waiting works
//!
//! Each primitive keeps its state in an atomic word, so the uncontended paths are one
//! atomic operation like `std`'s, plus a FIFO of parked waiters behind a tiny spin lock,
//! touched only under contention. Waiters are nodes on the waiting fiber's own stack:
//! waiting allocates nothing. Lock hand-offs go to the longest waiter (see each type's
//! notes on fairness), every wake-up is re-checked, and a fiber unwound while parked (as
//! the runtime does to leftover fibers at shutdown) leaves the queue on its way out.
//!
//!
//! # Notes
//!
//! The re-exported one-time initializers ([`Once`], [`OnceLock`], [`LazyLock`]) are
//! `std`'s and wait by blocking the thread: an initializer that switches fibers (sleeps,
//! does fiber I/O, waits on a spindle lock) while another fiber of the same thread waits
//! for the same cell deadlocks that thread. Keep initializers free of fiber switches, or
//! guard such an initialization with a [`Mutex`] instead.

mod barrier;
mod chan;
mod condvar;
pub mod mpmc;
pub mod mpsc;
mod mutex;
mod poison;
mod raw_mutex;
mod raw_rwlock;
mod rwlock;
mod semaphore;
mod shim;
mod spin;
mod wait_group;
mod waiter;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use wait_group::WaitGroup;

pub use std::sync::{
    Arc, LazyLock, LockResult, Once, OnceLock, OnceState, PoisonError, TryLockError, TryLockResult,
    Weak, atomic,
};
