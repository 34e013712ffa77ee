//! What the reactor has reported for one registration, kept where the registration's fibers
//! read it without asking the reactor: per direction, a count of readiness events and the
//! count a short operation left behind.
//!
//! A stream socket's read that returns fewer bytes than asked proves its receive queue was
//! empty when it ran (a write that takes fewer, that its send buffer was full), and whatever
//! arrives after it raises a new edge-triggered event. So the next operation need not try the
//! socket until the reactor has seen an event since: that try could only say `EAGAIN`. The
//! shim takes a [`ReadyTick`] before each try, and after a short result records it with
//! [`IoState::clear`]:
//!
//! | `events` (per direction)             | `drained_at`                         | next operation |
//! |--------------------------------------|--------------------------------------|----------------|
//! | `n`, [`FINAL`] clear                 | `n`: a short try saw the count at `n` | waits for an event, then tries |
//! | `n`, [`FINAL`] clear                 | anything else                         | tries          |
//! | [`FINAL`] set                        | (ignored)                             | tries          |
//!
//! `events` grows by one for every event the reactor takes for that direction; [`FINAL`] is
//! set, for good, by an event that says the direction will not block again (end of stream,
//! hang-up, error) or, for reads, urgent data (a TCP read stops short at the urgent mark with
//! bytes still queued behind it). End of stream and errors are reported once by the kernel; a
//! short read that ends at a FIN must not make the next read wait for an event that never
//! comes.
//!
//! Why a count and not a flag: the tick is taken *before* the system call. An event taken by
//! the reactor after the call (for bytes that arrived after it) has moved the count on, so the
//! record made after the call no longer matches and the next operation tries. This holds when
//! the record and the event happen on different threads too (a fiber of another runtime
//! waiting on the socket as a guest): no interleaving makes the record match a count that an
//! event after the call produced. On the owning thread the reactor polls only between fibers,
//! so a fiber that finds a matching record and waits is on the waiter list before the next
//! event can be taken.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Interest;
use super::poller::Readiness;

/// Set in a direction's event count when that direction's state is final (see the module).
const FINAL: u64 = 1 << 63;

/// A `drained_at` that no count matches: the value before any short operation.
const NEVER: u64 = u64::MAX;

/// One direction's counts.
#[derive(Debug)]
struct Direction {
    /// Readiness events taken by the reactor, with [`FINAL`] once final.
    events: AtomicU64,
    /// The `events` value that the last short operation was tried at.
    drained_at: AtomicU64,
}

impl Direction {
    const fn new(events: u64) -> Direction {
        Direction {
            events: AtomicU64::new(events),
            drained_at: AtomicU64::new(NEVER),
        }
    }
}

/// The readiness record of one registration, shared by the registration and the reactor(s)
/// that have it registered.
#[derive(Debug)]
pub(crate) struct IoState {
    read: Direction,
    write: Direction,
}

/// The event count of one direction of a registration, taken before an operation (see the
/// module documentation of `reactor`): whether the operation is worth trying, and what to
/// record if it turns out short.
#[derive(Clone, Copy, Debug)]
pub struct ReadyTick {
    /// The event count, or [`NEVER`] when the registration has no record yet.
    events: u64,
    may_be_ready: bool,
}

impl ReadyTick {
    /// A tick of a registration with no record (never registered): try, record nothing.
    pub(crate) const UNKNOWN: ReadyTick = ReadyTick {
        events: NEVER,
        may_be_ready: true,
    };

    /// Whether the operation is worth trying: `false` only when a short operation was tried
    /// at this same event count.
    #[inline]
    pub fn may_be_ready(self) -> bool {
        self.may_be_ready
    }
}

impl IoState {
    /// A fresh record. With `track_reads` false, reads are final from the start (the poller
    /// cannot tell end of stream apart from data, so a short read proves nothing).
    pub(crate) fn new(track_reads: bool) -> IoState {
        IoState {
            read: Direction::new(if track_reads { 0 } else { FINAL }),
            write: Direction::new(0),
        }
    }

    fn direction(&self, interest: Interest) -> &Direction {
        if interest.is_readable() {
            &self.read
        } else {
            &self.write
        }
    }

    /// The tick of `interest`'s direction (reads when it has both).
    #[inline]
    pub(crate) fn tick(&self, interest: Interest) -> ReadyTick {
        let dir = self.direction(interest);
        let events = dir.events.load(Ordering::Relaxed);
        ReadyTick {
            events,
            may_be_ready: events & FINAL != 0 || dir.drained_at.load(Ordering::Relaxed) != events,
        }
    }

    /// Records that an operation tried at `tick` came out short.
    #[inline]
    pub(crate) fn clear(&self, interest: Interest, tick: ReadyTick) {
        if tick.events & FINAL == 0 {
            self.direction(interest)
                .drained_at
                .store(tick.events, Ordering::Relaxed);
        }
    }

    /// Counts one event from the poller. An atomic add, not a load and a store: during a
    /// hand-over the reactor giving the registration up may still count an event it had
    /// already taken, and the count must never go back.
    #[inline]
    pub(crate) fn record(&self, ready: &Readiness) {
        if ready.read || ready.urgent {
            self.read.events.fetch_add(1, Ordering::Relaxed);
            if ready.read_closed || ready.urgent {
                self.read.events.fetch_or(FINAL, Ordering::Relaxed);
            }
        }
        if ready.write {
            self.write.events.fetch_add(1, Ordering::Relaxed);
            if ready.write_closed {
                self.write.events.fetch_or(FINAL, Ordering::Relaxed);
            }
        }
    }
}
