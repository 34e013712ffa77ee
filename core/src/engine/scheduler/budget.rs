//! Fairness under load: the cooperative budget of a fiber's turn, and the pacing of the
//! detours through the main context that serve the reactor and timers.
//!
//! # The budget
//!
//! A *turn* is the time from a switch into a fiber to the next switch. The I/O shims and the
//! sync primitives call [`Scheduler::consume_budget`] once per operation that may complete
//! without parking (a `read`, a `write`, a `Mutex::lock`, a channel `recv`, …). It counts
//! operations against the running turn, with no clock read:
//!
//! | operations in this turn   | what happens                                                  |
//! |---------------------------|---------------------------------------------------------------|
//! | below `CLOCK_EVERY`       | one compare and one store (the echo fast path never gets past this) |
//! | every `CLOCK_EVERY`th     | the clock is read; the first reading starts the turn's time slice |
//! | slice used up, or `ops` reached | the budget is spent: yield, if that lets anyone else run  |
//!
//! A turn is recognised by the scheduler's switch counter, so the switch path itself does
//! nothing for the budget: the counter changes, and the next operation starts a fresh count.
//!
//! A fiber *alone* on its thread (nothing runnable, no timer, no fd registered, no wake-up
//! from another thread pending) skips all of this: nobody could take the thread, so it reads
//! no clock and polls nothing, and a spent budget only counts as a switch to itself (below).
//! A fiber that takes uncontended locks in a loop then pays the count alone.
//!
//! A spent budget yields only if that lets someone else run. The fiber first takes remote
//! wake-ups, polls the reactor with a zero timeout and fires due timers, right on its own
//! stack, so that whoever they wake queues ahead of it. Then, if any fiber is runnable, it
//! yields to the back of the run queue; if none is, it goes on with a fresh budget, having
//! paid one `epoll_wait` per spent budget and no switch. That counts as a
//! switch to itself (the switch counter moves), so the stall detector does not report a
//! fiber that keeps offering its thread when nobody else wants it.
//!
//! # Pacing the reactor and timers
//!
//! While fibers stay runnable, fibers switch to each other directly and the main context runs
//! only at a *checkpoint*. Checkpoints come every `stride` switches (one decrement on the
//! switch path, as before); each reads the clock once and decides whether to poll now:
//! after `poll_interval` switches, after `POLL_PERIOD` of wall time, or when the earliest
//! timer is due. The stride adapts so that checkpoints are about `CHECKPOINT_SPACING` apart:
//! fibers that switch every few nanoseconds read the clock once per `poll_interval` switches,
//! fibers that compute 50 µs between yields read it every few switches, and a 1 ms timer
//! fires about one checkpoint late instead of `poll_interval` switches late.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Scheduler;
use crate::engine::fiber::FiberBlock;

/// Operations between clock readings of the time slice.
pub(super) const CLOCK_EVERY: u32 = 16;

/// The reactor is polled at least this often while fibers keep the run queue busy.
const POLL_PERIOD: Duration = Duration::from_millis(1);

/// The time between checkpoints the stride aims at.
const CHECKPOINT_SPACING: Duration = Duration::from_micros(100);

/// The running turn's use of the budget (scheduler-owned cells).
#[derive(Debug, Default)]
pub(super) struct Budget {
    /// `(switch count when the turn began, operations done in it)`.
    used: Cell<(u64, u32)>,
    /// `(switch count, first clock reading of that turn)`.
    slice_start: Cell<(u64, Option<Instant>)>,
}

/// When the main context should next run while the run queue stays busy.
#[derive(Debug)]
pub(super) struct Pacer {
    /// Switches between checkpoints.
    stride: Cell<u32>,
    /// Switches since the last poll, counted at checkpoints.
    since_poll: Cell<u32>,
    /// What `until_poll` was set to at the last checkpoint.
    armed: Cell<u32>,
    last_checkpoint: Cell<Option<Instant>>,
    last_poll: Cell<Option<Instant>>,
}

impl Pacer {
    pub(super) fn new(poll_interval: u32) -> Pacer {
        Pacer {
            // Start low: the first checkpoints measure the switch rate and raise it.
            stride: Cell::new(poll_interval.min(8)),
            since_poll: Cell::new(0),
            armed: Cell::new(poll_interval.min(8)),
            last_checkpoint: Cell::new(None),
            last_poll: Cell::new(None),
        }
    }
}

impl Scheduler {
    /// Counts one operation of the running fiber; yields when its turn's budget is spent
    /// (see the module docs). Unwinds if the runtime shut down during that yield.
    #[inline]
    pub(crate) fn consume_budget(&self) {
        let Some(ops) = self.config.budget_ops else {
            return;
        };
        let turn = self.counters.switches.get();
        let (at, used) = self.budget.used.get();
        let used = if at == turn { used + 1 } else { 1 };
        self.budget.used.set((turn, used));
        if used >= ops || used % CLOCK_EVERY == 0 {
            self.budget_checkpoint(turn, used >= ops);
        }
    }

    #[cold]
    #[inline(never)]
    fn budget_checkpoint(&self, turn: u64, ops_spent: bool) {
        if self.alone() {
            // Nobody else could use the thread, and nothing could wake anyone but another
            // thread (seen at the next checkpoint): skip the clock reading and the poll.
            if ops_spent {
                // As below: a switch to ourselves, for the stall detector.
                self.publish_current(self.current.get());
            }
            return;
        }
        let spent = ops_spent
            || self.config.time_slice.is_some_and(|slice| {
                let now = Instant::now();
                match self.budget.slice_start.get() {
                    (at, Some(start)) if at == turn => now.duration_since(start) >= slice,
                    _ => {
                        self.budget.slice_start.set((turn, Some(now)));
                        false
                    }
                }
            });
        if !spent {
            return;
        }
        // See whether the reactor, a timer or another thread makes someone runnable, without
        // blocking: those it wakes queue ahead of us. (One `epoll_wait` per spent budget, and
        // a connection that became readable waits for the fibers already queued, not for the
        // next checkpoint.)
        self.poll_without_blocking();
        if self.run_queue.len() == 0 {
            // Yielding would only switch back to us. Count it as a switch to ourselves: the
            // next turn starts here, and the stall detector sees a fiber that offered its
            // thread (nobody was waiting for it), not one that holds it.
            self.publish_current(self.current.get());
            return;
        }
        self.counters
            .budget_yields
            .set(self.counters.budget_yields.get() + 1);
        self.yield_now();
        self.check_cancelled();
    }

    /// Whether the running fiber is alone on its thread: none runnable, no timer armed, no fd
    /// registered, no wake-up or spawn from another thread waiting. Then a spent budget has
    /// nobody to yield to and no event source to poll (a remote wake-up is seen by the next
    /// checkpoint), and a fiber that only takes uncontended locks reads no clock at all (a
    /// clock reading costs 60 ns on this project's VM, a lock + unlock 5 ns).
    #[inline]
    fn alone(&self) -> bool {
        self.run_queue.len() == 0
            && self.timers.borrow().len() == 0
            && self.reactor.borrow().registered() == 0
            && !self.shared.has_remote.load(Ordering::Relaxed)
    }

    /// From a fiber that spent its budget: takes remote wake-ups, polls the reactor with a
    /// zero timeout and fires due timers, queueing every fiber they wake.
    fn poll_without_blocking(&self) {
        self.drain_remote();
        if self.reactor.borrow().registered() > 0 {
            let wake = |fiber: *const FiberBlock| {
                // SAFETY: fibers on reactor waiter lists are parked and held by `self.fibers`.
                let fiber = unsafe { &*fiber };
                self.unpark_local(fiber);
            };
            let result = self.reactor.borrow_mut().poll(Some(Duration::ZERO), wake);
            self.counters.polls.set(self.counters.polls.get() + 1);
            match result {
                Ok(events) => self
                    .counters
                    .events
                    .set(self.counters.events.get() + events as u64),
                Err(e) => panic!("spindle: polling the reactor failed: {e}"),
            }
        }
        self.fire_timers();
        self.pacer.last_poll.set(Some(Instant::now()));
        self.pacer.since_poll.set(0);
    }

    /// A checkpoint (see the module docs): whether the main context should run now to poll
    /// the reactor and fire timers. Sets the switches until the next checkpoint.
    #[cold]
    #[inline(never)]
    pub(super) fn poll_due(&self) -> bool {
        let pacer = &self.pacer;
        let interval = self.config.poll_interval;
        let now = Instant::now();
        let mut stride = pacer.stride.get();
        if let Some(last) = pacer.last_checkpoint.get() {
            // Aim the next checkpoint `CHECKPOINT_SPACING` ahead at the switch rate just seen:
            // at once when switches got slower, by doubling at most when they got faster (one
            // quick switch among slow ones must not stretch the stride).
            let spacing = now.duration_since(last).as_nanos().max(1);
            let wanted = CHECKPOINT_SPACING.as_nanos() * u128::from(pacer.armed.get()) / spacing;
            let wanted = u32::try_from(wanted).unwrap_or(u32::MAX);
            stride = wanted.min(stride.saturating_mul(2)).clamp(1, interval);
        }
        pacer.last_checkpoint.set(Some(now));
        let since = pacer.since_poll.get().saturating_add(pacer.armed.get());
        let due = since >= interval
            || pacer
                .last_poll
                .get()
                .is_none_or(|last| now.duration_since(last) >= POLL_PERIOD)
            || self
                .timers
                .borrow_mut()
                .next_deadline()
                .is_some_and(|deadline| deadline <= now);
        let since = if due {
            pacer.last_poll.set(Some(now));
            0
        } else {
            since
        };
        pacer.since_poll.set(since);
        pacer.stride.set(stride);
        // Not due means `since < interval`: the count-based poll is never postponed.
        let next = stride.min(interval - since);
        pacer.armed.set(next);
        self.until_poll.set(next);
        due
    }
}
