//! The mutex state machine: one lock word plus a FIFO of parked waiters.
//!
//! # The lock word
//!
//! | `QUEUED` (bit 1) | `LOCKED` (bit 0) | meaning                                                        |
//! |:---:|:---:|-------------------------------------------------------------------------------------|
//! | 0 | 0 | unlocked, no waiter. `lock` is one `compare_exchange(0 → LOCKED)`                         |
//! | 0 | 1 | locked, no waiter. `unlock` is one `compare_exchange(LOCKED → 0)`                          |
//! | 1 | 1 | locked, waiters queued. `unlock` takes the slow path and hands the lock to the head waiter |
//! | 1 | 0 | never: a hand-off passes the lock on without ever clearing `LOCKED`                        |
//!
//! Both fast paths load the word before their `compare_exchange` (an L1 hit when
//! uncontended), so a contended `lock` or `unlock` goes to its slow path without a
//! failing read-modify-write.
//!
//! `QUEUED` is set and cleared only while holding the queue's spin lock, and is set iff
//! the queue is non-empty whenever that lock is free. A would-be waiter sets it with a
//! `compare_exchange` that also checks `LOCKED`, so it never queues behind an unlocked
//! mutex; with `QUEUED` set the uncontended unlock fails its `compare_exchange` and must
//! look at the queue, so no wake-up is lost.
//!
//! # Who wins a hand-off
//!
//! The longest-waiting waiter, always. On unlock with waiters queued, the lock is not
//! released: ownership passes directly to the head of the FIFO, which wakes up already
//! holding it. Barging (release, wake one, let everyone race) would starve parked fibers
//! in a 1:N runtime: the unlocking fiber keeps its thread until it parks, so it would win
//! every re-lock and the woken fiber would find the mutex taken again, every time. Direct
//! hand-off costs throughput under heavy contention (each acquisition waits for the
//! next waiter to be scheduled), which is the price of that fairness.

use crate::shim::{AtomicU8, Ordering, consume_budget, loom_const_fn};
use crate::spin::SpinLock;
use crate::waiter::{List, OnUnwind, Waiter};
use std::fmt;
use std::pin::pin;

const LOCKED: u8 = 0b01;
const QUEUED: u8 = 0b10;

/// A mutex without data: the lock word and its wait queue.
pub(crate) struct RawMutex {
    word: AtomicU8,
    queue: SpinLock<List<()>>,
}

fn list(queue: &mut List<()>) -> &mut List<()> {
    queue
}

impl RawMutex {
    loom_const_fn! {
        pub(crate) fn new() -> RawMutex {
            RawMutex { word: AtomicU8::new(0), queue: SpinLock::new(List::new()) }
        }
    }

    /// Acquires the lock, parking the calling fiber (or thread) while it is held. Counts
    /// against the fiber's cooperative budget first, so a fiber that locks and unlocks in a
    /// loop still lets the others run.
    #[inline]
    pub(crate) fn lock(&self) {
        consume_budget();
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    /// Acquires the lock if it is free.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        // Looking first spares the contended case a failing compare-exchange.
        self.word.load(Ordering::Relaxed) == 0
            && self
                .word
                .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Releases the lock, handing it to the longest waiter if there is one.
    #[inline]
    pub(crate) fn unlock(&self) {
        // Looking first spares the contended case a failing compare-exchange.
        if self.word.load(Ordering::Relaxed) != LOCKED
            || self
                .word
                .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
                .is_err()
        {
            self.unlock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let waiter = pin!(Waiter::new("Mutex", &self.queue, list, ()));
        {
            let mut queue = self.queue.lock();
            let mut word = self.word.load(Ordering::Relaxed);
            loop {
                if word & LOCKED == 0 {
                    // Free again (and so, by the invariant, no waiter): take it.
                    match self.word.compare_exchange_weak(
                        word,
                        word | LOCKED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return,
                        Err(now) => word = now,
                    }
                } else {
                    match self.word.compare_exchange_weak(
                        word,
                        word | QUEUED,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(now) => word = now,
                    }
                }
            }
            waiter.as_ref().enqueue(&mut queue);
        }
        // If we are unwound while parked, a hand-off that reached us must be passed on.
        let on_unwind = OnUnwind(|| self.abandon(waiter.as_ref()));
        waiter.as_ref().park(None);
        on_unwind.disarm();
        // Notified means the unlocker handed us the lock.
    }

    #[cold]
    fn unlock_contended(&self) {
        let mut queue = self.queue.lock();
        // Store the word before marking the waiter notified: once notified it may unlock
        // at once, and must find `LOCKED` (and `QUEUED` if others still wait) in place.
        let word = match queue.len() {
            0 => 0,
            1 => LOCKED,
            _ => LOCKED | QUEUED,
        };
        self.word.store(word, Ordering::Release);
        let handoff = queue.pop_front_with(|()| ());
        drop(queue);
        if let Some(((), wake)) = handoff {
            wake.wake();
        }
    }

    /// A queued waiter is being unwound: leave the queue, or release a lock handed to us.
    fn abandon(&self, waiter: std::pin::Pin<&Waiter<'_, List<()>, ()>>) {
        let mut queue = self.queue.lock();
        if waiter.cancel(&mut queue) {
            if queue.is_empty() {
                self.word.fetch_and(!QUEUED, Ordering::Relaxed);
            }
        } else {
            drop(queue);
            self.unlock();
        }
    }
}

impl fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMutex")
            .field("word", &self.word.load(Ordering::Relaxed))
            .finish()
    }
}
