//! Deadlines of sleeping and timed-out fibers.
//!
//! An ordered map keyed by `(deadline, sequence)`: insert and cancel are `O(log n)` with no
//! garbage left behind, which matters because nearly every I/O timeout is cancelled long before
//! it fires. The sequence number makes keys unique and fires equal deadlines in insertion order.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::fiber::FiberShared;

/// Identifies one armed timer, for [`Timers::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    deadline: Instant,
    seq: u64,
}

/// The timers of one scheduler.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    armed: BTreeMap<TimerKey, *const FiberShared>,
    next_seq: u64,
}

impl Timers {
    /// Arms a timer that wakes `fiber` at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, fiber: *const FiberShared) -> TimerKey {
        let key = TimerKey {
            deadline,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.armed.insert(key, fiber);
        key
    }

    /// Disarms a timer that has not fired.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        self.armed.remove(&key);
    }

    /// The earliest deadline, if any timer is armed.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.armed.first_key_value().map(|(key, _)| key.deadline)
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<*const FiberShared> {
        let entry = self.armed.first_entry()?;
        if entry.key().deadline > now {
            return None;
        }
        Some(entry.remove())
    }

    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.armed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fake(n: usize) -> *const FiberShared {
        n as *const FiberShared
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
        assert_eq!(timers.pop_due(t0).map(|f| f as usize), Some(2));
        assert_eq!(timers.pop_due(t0), None);
        assert_eq!(timers.len(), 0);
    }
}
