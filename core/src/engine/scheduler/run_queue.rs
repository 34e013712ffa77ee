//! The run queue: runnable fibers in FIFO order.

use std::cell::Cell;
use std::ptr;

use super::Scheduler;
use crate::engine::fiber::{FiberBlock, OwnedState};

/// A FIFO of runnable fibers, linked through each fiber's `next_runnable` cell: push and pop
/// are a few plain loads and stores, with no allocation.
#[derive(Debug)]
pub(super) struct RunQueue {
    head: Cell<*const FiberBlock>,
    tail: Cell<*const FiberBlock>,
    len: Cell<usize>,
}

impl Default for RunQueue {
    fn default() -> RunQueue {
        RunQueue {
            head: Cell::new(ptr::null()),
            tail: Cell::new(ptr::null()),
            len: Cell::new(0),
        }
    }
}

impl RunQueue {
    /// Appends `f`, a fiber of `sched` that is in no queue; `local` is its scheduler-owned
    /// state, as `f.owned(sched)` returns it (so every queued fiber passed that check).
    #[inline]
    pub(super) fn push(&self, sched: &Scheduler, f: &FiberBlock, local: &OwnedState) {
        debug_assert!(ptr::eq(local, f.owned(sched)));
        local.next_runnable.set(ptr::null());
        match self.tail.get() {
            tail if !tail.is_null() => {
                // SAFETY: queued fibers are kept alive by `sched.fibers`.
                let tail = unsafe { &*tail };
                // SAFETY: every queued fiber is a fiber of `sched` (see `push`).
                unsafe { tail.owned_unchecked(sched) }.next_runnable.set(f)
            }
            _ => self.head.set(f),
        }
        self.tail.set(f);
        self.len.set(self.len.get() + 1);
    }

    /// Removes the oldest fiber; returns it with its scheduler-owned state.
    #[inline]
    pub(super) fn pop(&self, sched: &Scheduler) -> Option<(&FiberBlock, &OwnedState)> {
        let head = self.head.get();
        if head.is_null() {
            return None;
        }
        // SAFETY: queued fibers are kept alive by `sched.fibers`.
        let head = unsafe { &*head };
        // SAFETY: every queued fiber is a fiber of `sched` (see `push`).
        let local = unsafe { head.owned_unchecked(sched) };
        let next = local.next_runnable.get();
        self.head.set(next);
        if next.is_null() {
            self.tail.set(ptr::null());
        }
        self.len.set(self.len.get() - 1);
        Some((head, local))
    }

    /// Empties the queue.
    pub(super) fn clear(&self, sched: &Scheduler) {
        while self.pop(sched).is_some() {}
    }

    pub(super) fn len(&self) -> usize {
        self.len.get()
    }
}
