//! The run queue: runnable fibers in FIFO order.

use std::cell::Cell;
use std::ptr;

use super::Scheduler;
use crate::engine::fiber::FiberBlock;

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
    /// Appends `f`, a fiber of `sched` that is in no queue.
    #[inline]
    pub(super) fn push(&self, sched: &Scheduler, f: &FiberBlock) {
        f.owned(sched).next_runnable.set(ptr::null());
        match self.tail.get() {
            // SAFETY: queued fibers are kept alive by `sched.fibers`.
            tail if !tail.is_null() => unsafe { &*tail }.owned(sched).next_runnable.set(f),
            _ => self.head.set(f),
        }
        self.tail.set(f);
        self.len.set(self.len.get() + 1);
    }

    /// Removes the oldest fiber.
    #[inline]
    pub(super) fn pop(&self, sched: &Scheduler) -> Option<&FiberBlock> {
        let head = self.head.get();
        if head.is_null() {
            return None;
        }
        // SAFETY: queued fibers are kept alive by `sched.fibers`.
        let head = unsafe { &*head };
        let next = head.owned(sched).next_runnable.get();
        self.head.set(next);
        if next.is_null() {
            self.tail.set(ptr::null());
        }
        self.len.set(self.len.get() - 1);
        Some(head)
    }

    /// Empties the queue.
    pub(super) fn clear(&self, sched: &Scheduler) {
        while self.pop(sched).is_some() {}
    }

    pub(super) fn len(&self) -> usize {
        self.len.get()
    }
}
