//! Deadlines of sleeping and timed-out fibers.
//!
//! A binary min-heap of `(deadline, sequence, slot)` entries over a slab of timer slots, one heap
//! entry per slot in use. Nearly every I/O timeout is cancelled long before it fires, and the
//! same fiber arms the next one a moment later (a server's read timeout, once per request), so
//! both must be cheap:
//!
//! - Cancelling is O(1): the slot is disarmed and its heap entry stays. The slot is kept for
//!   the fiber that cancelled it ([`Timers::cancel`] says so), until its entry reaches the top
//!   of the heap and is dropped there.
//! - Re-arming such a kept slot with a deadline no earlier than its heap entry's is O(1) too:
//!   the slot takes the new deadline and the entry stays where it is, now earlier than the
//!   deadline it stands for. When it comes due it is moved to the slot's deadline, one
//!   O(log n) step per timeout period instead of one per request.
//! - Anything else is an O(log n) sift-up of a 24-byte entry.
//!
//! So the top of the heap is a lower bound of the earliest deadline, which is all a poll
//! timeout needs: at worst the scheduler wakes once at the older deadline, finds nothing due
//! and sleeps again. When disarmed entries outnumber armed timers, the heap is compacted in
//! O(n), so memory stays within a small multiple of the armed timers and each cancel costs O(1)
//! amortized. The sequence number, taken when a timer is armed, fires equal deadlines in the
//! order they were armed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::fiber::FiberBlock;

/// Identifies one armed timer, for [`Timers::cancel`], and after a cancel the slot kept for
/// re-arming, for [`Timers::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    generation: u32,
}

/// A heap entry; ordered by deadline, then arming order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    deadline: Instant,
    seq: u64,
    slot: u32,
}

/// A slot of the slab. Free slots are on the free list and have no heap entry; a slot in use
/// has exactly one.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Bumped when the slot is freed, so that keys to its earlier uses stop matching.
    generation: u32,
    /// The fiber to wake, while armed; `None` while disarmed (or free).
    fiber: Option<*const FiberBlock>,
    /// While armed: when to fire, and the arming order.
    deadline: Instant,
    seq: u64,
    /// The deadline of the slot's heap entry (no later than `deadline`).
    queued: Instant,
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
    /// Arms a timer that wakes `fiber` at `deadline`. `spare` is what an earlier
    /// [`cancel`](Self::cancel) by the same fiber returned, if anything: its slot is re-armed
    /// without touching the heap when that is still possible.
    pub(crate) fn insert(
        &mut self,
        deadline: Instant,
        fiber: *const FiberBlock,
        spare: Option<TimerKey>,
    ) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.armed += 1;
        if let Some(key) = spare {
            let slot = &mut self.slots[key.slot as usize];
            if slot.generation == key.generation && slot.fiber.is_none() && slot.queued <= deadline
            {
                slot.fiber = Some(fiber);
                slot.deadline = deadline;
                slot.seq = seq;
                return key;
            }
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    fiber: None,
                    deadline,
                    seq,
                    queued: deadline,
                });
                u32::try_from(self.slots.len() - 1).expect("more than 2^32 timers armed")
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.fiber = Some(fiber);
        slot.deadline = deadline;
        slot.seq = seq;
        slot.queued = deadline;
        self.heap.push(Reverse(Entry {
            deadline,
            seq,
            slot: index,
        }));
        TimerKey {
            slot: index,
            generation: slot.generation,
        }
    }

    /// Disarms a timer that has not fired. Returns whether its slot is kept for the caller:
    /// then `key` may be passed to [`insert`](Self::insert) as its `spare`.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> bool {
        let slot = &mut self.slots[key.slot as usize];
        if slot.generation != key.generation || slot.fiber.is_none() {
            return false;
        }
        slot.fiber = None;
        self.armed -= 1;
        if self.heap.len() > 64 && self.heap.len() > 2 * self.armed {
            self.compact();
        }
        self.slots[key.slot as usize].generation == key.generation
    }

    /// Frees a slot whose heap entry has just left the heap.
    fn free_slot(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.fiber = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
    }

    /// Drops the entries of disarmed slots, frees those slots and rebuilds the heap.
    fn compact(&mut self) {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.retain(|Reverse(e)| {
            let armed = self.slots[e.slot as usize].fiber.is_some();
            if !armed {
                self.free_slot(e.slot);
            }
            armed
        });
        self.heap = BinaryHeap::from(entries);
    }

    /// Drops the entries of disarmed slots from the top of the heap.
    fn skip_disarmed(&mut self) {
        while let Some(&Reverse(top)) = self.heap.peek() {
            if self.slots[top.slot as usize].fiber.is_some() {
                return;
            }
            self.heap.pop();
            self.free_slot(top.slot);
        }
    }

    /// No later than the earliest deadline, if any timer is armed (see the module docs).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.skip_disarmed();
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<*const FiberBlock> {
        loop {
            self.skip_disarmed();
            let Reverse(top) = *self.heap.peek()?;
            if top.deadline > now {
                return None;
            }
            self.heap.pop();
            let slot = &mut self.slots[top.slot as usize];
            if slot.seq != top.seq {
                // Re-armed since the entry was queued: it moves to the slot's deadline.
                slot.queued = slot.deadline;
                let moved = Entry {
                    deadline: slot.deadline,
                    seq: slot.seq,
                    slot: top.slot,
                };
                self.heap.push(Reverse(moved));
                continue;
            }
            let fiber = slot.fiber;
            self.free_slot(top.slot);
            self.armed -= 1;
            return fiber;
        }
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
        timers.insert(t0 + Duration::from_millis(30), fake(3), None);
        timers.insert(t0 + Duration::from_millis(10), fake(1), None);
        timers.insert(t0 + Duration::from_millis(20), fake(2), None);
        timers.insert(t0 + Duration::from_millis(10), fake(11), None);
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
        let a = timers.insert(t0, fake(1), None);
        timers.insert(t0, fake(2), None);
        assert!(
            timers.cancel(a),
            "a cancelled timer's slot is kept for re-arming"
        );
        assert!(!timers.cancel(a), "twice is harmless");
        assert_eq!(timers.pop_due(t0).map(|f| f as usize), Some(2));
        assert_eq!(timers.pop_due(t0), None);
        assert_eq!(timers.len(), 0);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn a_reused_slot_does_not_revive_a_cancelled_entry() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let a = timers.insert(t0, fake(1), None);
        timers.cancel(a);
        // Reuses a's slot with a later deadline; a's stale entry must not fire it early.
        timers.insert(t0 + Duration::from_secs(1), fake(2), None);
        assert_eq!(timers.pop_due(t0), None);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn cancelling_most_timers_keeps_the_heap_small() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        for i in 0..100_000u64 {
            let key = timers.insert(t0 + Duration::from_secs(30 + i), fake(1), None);
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

    #[test]
    fn re_arming_a_kept_slot_leaves_the_heap_alone_and_fires_at_the_new_deadline() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let mut key = timers.insert(t0 + Duration::from_secs(60), fake(1), None);
        for i in 1..=1000u64 {
            assert!(timers.cancel(key));
            let again = timers.insert(t0 + Duration::from_secs(60 + i), fake(1), Some(key));
            assert_eq!(again, key, "re-armed in place");
            key = again;
        }
        assert_eq!(timers.heap.len(), 1);
        assert_eq!(timers.len(), 1);
        // The entry still says 60 s: a lower bound, so a poll wakes early, not late.
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(timers.pop_due(t0 + Duration::from_secs(60)), None);
        assert_eq!(
            timers.next_deadline(),
            Some(t0 + Duration::from_secs(1060)),
            "moved to its real deadline once it came due"
        );
        assert_eq!(timers.pop_due(t0 + Duration::from_secs(1059)), None);
        assert_eq!(
            timers
                .pop_due(t0 + Duration::from_secs(1060))
                .map(|f| f as usize),
            Some(1)
        );
        assert_eq!(timers.len(), 0);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn re_arming_earlier_than_the_kept_entry_takes_a_new_slot() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let key = timers.insert(t0 + Duration::from_secs(60), fake(1), None);
        assert!(timers.cancel(key));
        let sooner = timers.insert(t0 + Duration::from_secs(1), fake(1), Some(key));
        assert_ne!(sooner, key);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(
            timers
                .pop_due(t0 + Duration::from_secs(1))
                .map(|f| f as usize),
            Some(1)
        );
        // The kept slot's entry is dropped when it reaches the top; nothing else fires.
        assert_eq!(timers.pop_due(t0 + Duration::from_secs(100)), None);
        assert_eq!(timers.heap.len(), 0);
    }

    #[test]
    fn a_stale_spare_never_takes_over_a_slot_in_use_by_another_timer() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let old = timers.insert(t0, fake(1), None);
        assert!(timers.cancel(old));
        // The kept slot's entry leaves the heap, and the slot goes to another timer.
        assert_eq!(timers.pop_due(t0), None);
        let other = timers.insert(t0 + Duration::from_secs(5), fake(2), None);
        assert_eq!(other.slot, old.slot);
        assert!(!timers.cancel(old), "the old key no longer names the slot");
        let mine = timers.insert(t0 + Duration::from_secs(9), fake(1), Some(old));
        assert_ne!(mine, other);
        let now = t0 + Duration::from_secs(10);
        assert_eq!(timers.pop_due(now).map(|f| f as usize), Some(2));
        assert_eq!(timers.pop_due(now).map(|f| f as usize), Some(1));
        assert_eq!(timers.pop_due(now), None);
    }

    #[test]
    fn equal_deadlines_fire_in_arming_order_even_when_re_armed() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let due = t0 + Duration::from_secs(2);
        let a = timers.insert(t0 + Duration::from_secs(1), fake(1), None);
        assert!(timers.cancel(a));
        // Armed first, by re-arming its kept slot; its entry still says 1 s.
        timers.insert(due, fake(1), Some(a));
        timers.insert(due, fake(2), None);
        let mut fired = Vec::new();
        while let Some(f) = timers.pop_due(due) {
            fired.push(f as usize);
        }
        assert_eq!(fired, vec![1, 2]);
    }

    #[test]
    fn compacting_drops_kept_slots_and_their_keys() {
        let mut timers = Timers::default();
        let t0 = Instant::now();
        let keys: Vec<_> = (0..200u64)
            .map(|i| timers.insert(t0 + Duration::from_secs(10 + i), fake(1), None))
            .collect();
        let mut kept = Vec::new();
        for key in &keys[..150] {
            if timers.cancel(*key) {
                kept.push(*key);
            }
        }
        assert!(
            timers.heap.len() <= 2 * timers.len() + 1,
            "{} entries for {} timers",
            timers.heap.len(),
            timers.len()
        );
        // A slot freed by compaction is not re-armed through its old key.
        let dropped = keys[..150]
            .iter()
            .find(|k| !kept.contains(k))
            .expect("compaction freed some kept slots");
        let fresh = timers.insert(t0 + Duration::from_secs(500), fake(3), Some(*dropped));
        assert!(timers.heap.iter().any(|Reverse(e)| e.slot == fresh.slot));
        assert_eq!(timers.len(), 51);
    }
}
