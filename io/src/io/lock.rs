//! [`FiberLock`]: the lock behind the process-wide stdio handles.
//!
//! A stdio lock is held across reads and writes that park the fiber, so a `std` mutex would
//! block the whole thread when a second fiber of it asks. `FiberLock` parks the waiting fiber
//! (or thread) instead. It only decides who owns the stream; the stream itself sits in a `std`
//! `Mutex` that only the owner ever locks, so that lock is never contended.
//!
//! | `owner`   | `count` | meaning                                         |
//! |-----------|---------|-------------------------------------------------|
//! | `None`    | 0       | free                                            |
//! | `Some(f)` | n ≥ 1   | held by fiber (or thread) `f`, `n` times nested |
//!
//! Waiters queue FIFO, and `release` *hands the lock over*: the first waiter becomes the owner
//! before it even runs, so a fiber that prints in a loop cannot take the lock back ahead of
//! fibers already waiting (it queues behind them instead). A waiter that is unwound while
//! parked (its runtime shutting down) removes itself, and releases the lock if it had been
//! handed to it.
//!
//! The waiters' handles are spindle-internal (`spindle_core::__private::current_waiter`): they do not count
//! as handles user code holds, so a program whose fibers all wait on a stdio lock that nobody
//! will release is still reported as deadlocked.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use spindle_core::fiber::{self, Fiber, FiberId};

/// Who owns a stdio stream. See the module docs.
#[derive(Debug)]
pub(crate) struct FiberLock {
    state: Mutex<State>,
    reentrant: bool,
}

#[derive(Debug)]
struct State {
    owner: Option<FiberId>,
    count: usize,
    waiters: VecDeque<Fiber>,
}

/// Proof of ownership of a [`FiberLock`]; releases it when dropped.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    lock: &'a FiberLock,
}

impl FiberLock {
    /// A free lock. A `reentrant` lock may be taken again by its owner (like `std`'s
    /// `Stdout`); a non-reentrant one panics then instead of deadlocking (`std`'s `Stdin`
    /// deadlocks).
    pub(crate) const fn new(reentrant: bool) -> FiberLock {
        FiberLock {
            state: Mutex::new(State {
                owner: None,
                count: 0,
                waiters: VecDeque::new(),
            }),
            reentrant,
        }
    }

    /// Takes the lock, parking the caller while another fiber or thread holds it.
    pub(crate) fn acquire(&self) -> Held<'_> {
        // Moved into the queue, not cloned: a clone of a handle counts as one user code holds.
        let me = spindle_core::__private::current_waiter();
        let id = me.id();
        let mut me = Some(me);
        let mut queued = false;
        loop {
            let mut state = self.state();
            match state.owner {
                // Handed over by `hand_over` while we were parked (it took us off the queue).
                Some(owner) if queued && owner == id => {
                    debug_assert!(!state.waiters.iter().any(|w| w.id() == id));
                    return Held { lock: self };
                }
                None => {
                    state.owner = Some(id);
                    state.count = 1;
                    if queued {
                        state.waiters.retain(|w| w.id() != id);
                    }
                    return Held { lock: self };
                }
                Some(owner) if owner == id => {
                    assert!(
                        self.reentrant,
                        "this fiber already holds the lock on standard input"
                    );
                    state.count += 1;
                    return Held { lock: self };
                }
                Some(_) => {
                    if !state.waiters.iter().any(|w| w.id() == id) {
                        let me = me
                            .take()
                            .unwrap_or_else(spindle_core::__private::current_waiter);
                        state.waiters.push_back(me);
                    }
                    queued = true;
                }
            }
            drop(state);
            let unwinding = Unqueue { lock: self, id };
            fiber::park();
            std::mem::forget(unwinding);
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut state = self.lock.state();
        state.count -= 1;
        if state.count == 0 {
            hand_over(state);
        }
    }
}

/// Frees the lock, or makes the first waiter its owner and wakes it.
fn hand_over(mut state: MutexGuard<'_, State>) {
    match state.waiters.pop_front() {
        Some(next) => {
            state.owner = Some(next.id());
            state.count = 1;
            drop(state);
            next.unpark();
        }
        None => {
            state.owner = None;
            state.count = 0;
        }
    }
}

/// Armed while a waiter is parked: if `park` unwinds, takes the waiter off the queue and, if
/// the lock had been handed to it, passes it on.
struct Unqueue<'a> {
    lock: &'a FiberLock,
    id: FiberId,
}

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        let mut state = self.lock.state();
        state.waiters.retain(|w| w.id() != self.id);
        if state.owner == Some(self.id) {
            hand_over(state);
        }
    }
}
