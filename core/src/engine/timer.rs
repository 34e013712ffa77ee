//! Deadlines of sleeping and timed-out fibers.
//!
//! A binary min-heap of `(deadline, sequence, slot)` over a slab of armed timers. Nearly every
//! I/O timeout is cancelled long before it fires, so cancelling must be cheap: it frees the
//! slot in O(1) and leaves the heap entry behind, stale (its generation no longer matches the
//! slot's). Stale entries are dropped when they reach the top, and the heap is compacted in
//! O(n) whenever stale entries outnumber live ones, so memory stays within a small multiple of
//! the armed timers and each cancel costs O(1) amortized. Inserting is an O(log n) sift-up of a
//! 32-byte entry. The sequence number fires equal deadlines in insertion order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::fiber::FiberBlock;

/// Identifies one armed timer, for [`Timers::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    generation: u32,
}

/// A heap entry; ordered by deadline, then insertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    deadline: Instant,
    seq: u64,
    slot: u32,
    generation: u32,
}

/// A slot of the slab: the fiber to wake, while armed.
#[derive(Debug, Clone, Copy)]
struct Slot {
    generation: u32,
    fiber: Option<*const FiberBlock>,
}

/// The timers of one scheduler.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    armed: usize,
    next_seq: u64,
}

impl Timers {
    /// Arms a timer that wakes `fiber` at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, fiber: *const FiberBlock) -> TimerKey {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    fiber: None,
                });
                u32::try_from(self.slots.len() - 1).expect("more than 2^32 timers armed")
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.fiber = Some(fiber);
        let generation = entry.generation;
        self.heap.push(Reverse(Entry {
            deadline,
            seq: self.next_seq,
            slot,
            generation,
        }));
        self.next_seq += 1;
        self.armed += 1;
        TimerKey { slot, generation }
    }

    /// Disarms a timer that has not fired.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        let slot = &mut self.slots[key.slot as usize];
        if slot.generation != key.generation || slot.fiber.is_none() {
            return;
        }
        self.release(key.slot);
        if self.heap.len() > 64 && self.heap.len() > 2 * self.armed {
            self.compact();
        }
    }

    /// Frees a slot; its heap entry becomes stale.
    fn release(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        entry.fiber = None;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.armed -= 1;
    }

    fn is_live(&self, entry: &Entry) -> bool {
        let slot = &self.slots[entry.slot as usize];
        slot.generation == entry.generation && slot.fiber.is_some()
    }

    /// Drops every stale entry and rebuilds the heap.
    fn compact(&mut self) {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.retain(|Reverse(e)| self.is_live(e));
        self.heap = BinaryHeap::from(entries);
    }

    /// Drops stale entries from the top of the heap.
    fn skip_stale(&mut self) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if self.is_live(top) {
                return;
            }
            self.heap.pop();
        }
    }

    /// The earliest deadline, if any timer is armed.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<*const FiberBlock> {
        self.skip_stale();
        let Reverse(top) = *self.heap.peek()?;
        if top.deadline > now {
            return None;
        }
        self.heap.pop();
        let fiber = self.slots[top.slot as usize].fiber;
        self.release(top.slot);
        fiber
    }

    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.armed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fake(n: usize) -> *const FiberBlock {
        n as *const FiberBlock
    }

    #[test]
    fn fires_in_deadline_order_then_insertion_order() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        timers.insert(t0 + Duration::from_millis(30), fake(3));
        timers.insert(t0 + Duration::from_millis(10), fake(1));
        timers.insert(t0 + Duration::from_millis(20), fake(2));
        timers.insert(t0 + Duration::from_millis(10), fake(11));
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(timers.pop_due(t0), None);
        let now = t0 + Duration::from_millis(25);
        let mut fired = Vec::new();
        while let Some(f) = timers.pop_due(now) {
            fired.push(f as usize);
        }
        assert_eq!(fired, vec![1, 11, 2]);
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn cancelled_timer_never_fires() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let a = timers.insert(t0, fake(1));
        timers.insert(t0, fake(2));
        timers.cancel(a);
        timers.cancel(a); // twice is harmless
        assert_eq!(timers.pop_due(t0).map(|f| f as usize), Some(2));
        assert_eq!(timers.pop_due(t0), None);
        assert_eq!(timers.len(), 0);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn a_reused_slot_does_not_revive_a_cancelled_entry() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let a = timers.insert(t0, fake(1));
        timers.cancel(a);
        // Reuses a's slot with a later deadline; a's stale entry must not fire it early.
        timers.insert(t0 + Duration::from_secs(1), fake(2));
        assert_eq!(timers.pop_due(t0), None);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn cancelling_most_timers_keeps_the_heap_small() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        for i in 0..100_000u64 {
            let key = timers.insert(t0 + Duration::from_secs(30 + i), fake(1));
            if i % 100 != 0 {
                timers.cancel(key);
            }
        }
        assert_eq!(timers.len(), 1000);
        assert!(
            timers.heap.len() <= 2 * 1000 + 1,
            "{} entries for 1000 timers",
            timers.heap.len()
        );
        let mut n = 0;
        while timers
            .pop_due(t0 + Duration::from_secs(1_000_000))
            .is_some()
        {
            n += 1;
        }
        assert_eq!(n, 1000);
    }
}
