//! Before a scheduler sleeps: offering the CPU instead of blocking at once.
//!
//! A scheduler with no runnable fiber blocks in `epoll_wait` until an fd, a timer or another
//! thread wakes it. Each sleep costs a context switch out and, when the wake-up comes, a
//! wake-up and a switch back in. One scheduler serving many connections rarely sleeps: by the
//! time it has served one batch, the next requests are there. Two schedulers on two cores,
//! each with half the connections, sleep between smaller batches — with the clients on the
//! same cores, several times as often per request (`README.md`, "Many cores", has the counts).
//!
//! So a scheduler whose last poll reported events (it is serving I/O or wake-ups from other
//! threads) first offers its CPU, at most `SchedConfig::yields_before_sleep` times:
//!
//! ```text
//!  run queue empty ──► poll(0) ── events or remote work? ──yes──► run them (no sleep)
//!                        ▲                 │no
//!                        └── sched_yield ◄─┘   (at most `yields` times; then block)
//! ```
//!
//! When another thread waits for this CPU — on a machine where the runtime shares its cores
//! with its clients, often the client about to send the next request — `sched_yield` runs it
//! first, and the next `poll(0)` usually finds its requests; when no thread waits, the yield
//! returns at once. Nothing here sets `sleeping`: a remote waker does not signal the eventfd
//! while the scheduler yields, and each round reads `has_remote` instead.
//!
//! The cost when nothing comes is `yields` rounds of two system calls. A scheduler whose rounds
//! found nothing skips them at its next sleeps, 1, 2, 4, … up to `MAX_SKIP` of them, so a lone
//! connection (whose next request is a network round trip away) pays for about one round in
//! `MAX_SKIP` sleeps. A scheduler whose last poll had no event at all (idle, or woken by a
//! timer) never yields, so an idle runtime's cost does not change; nor does one about to sleep
//! shorter than `MIN_SLEEP`, so that a yield to a busy thread cannot make a timer late.
//!
//! How many rounds: the default (`runtime.rs`, 32: about 30 µs of rounds on a 2-core VM) was
//! chosen by measurement (`README.md`, "Budgets, honestly" under "Real servers"). With a load
//! generator on the other core, 3 rounds covered a few µs: the scheduler slept just before
//! the next batch of requests came, its core idled 9% of the time, and the wake-ups cost ~5% of
//! req/s. 32 rounds cover the client's turnaround; more bought nothing further. The price is
//! CPU while a client is active but slower than the server: a lone connection whose next
//! request arrives within the rounds is served without a sleep, at lower latency and with its
//! core kept busy.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Scheduler;
use crate::engine::fiber::FiberBlock;

/// Most sleeps skipped after rounds of yields that found nothing.
const MAX_SKIP: u32 = 32;

/// A sleep shorter than this (the next timer is that close) is not preceded by yields.
const MIN_SLEEP: Duration = Duration::from_millis(1);

/// Whether, and when next, to yield before sleeping (scheduler-owned cells).
#[derive(Debug, Default)]
pub(super) struct IdleYield {
    /// Whether the last poll of the reactor reported an event.
    active: Cell<bool>,
    /// Sleeps left to go without yields first.
    skip: Cell<u32>,
    /// How many to skip after the next round that finds nothing (1, 2, 4, … `MAX_SKIP`).
    next_skip: Cell<u32>,
}

impl IdleYield {
    /// Records whether a poll of the reactor reported events (notifications included).
    #[inline]
    pub(super) fn note_poll(&self, events: usize) {
        self.active.set(events > 0);
    }
}

impl Scheduler {
    /// Called with an empty run queue, before a poll that may block for `timeout`: offers
    /// the CPU and polls without blocking, as the module docs describe. Returns whether that
    /// made work (fibers runnable, or remote work flagged); the caller then does not sleep.
    pub(super) fn yield_before_sleep(&self, timeout: Option<Duration>) -> bool {
        let idle = &self.idle;
        let yields = self.config.yields_before_sleep;
        if yields == 0
            || !idle.active.get()
            || timeout.is_some_and(|t| t < MIN_SLEEP)
            || self.reactor.borrow().registered() == 0
        {
            return false;
        }
        if idle.skip.get() > 0 {
            idle.skip.set(idle.skip.get() - 1);
            return false;
        }
        let wake = |fiber: *const FiberBlock| {
            // SAFETY: fibers on reactor waiter lists are parked and held by `self.fibers`.
            self.unpark_local(unsafe { &*fiber });
        };
        for _ in 0..yields {
            let result = self.reactor.borrow_mut().poll(Some(Duration::ZERO), wake);
            let events =
                result.unwrap_or_else(|e| panic!("spindle: polling the reactor failed: {e}"));
            self.counters.polls.set(self.counters.polls.get() + 1);
            self.counters
                .events
                .set(self.counters.events.get() + events as u64);
            // Relaxed: a wake-up that this misses is not lost, since the sleep that follows
            // stores `sleeping` and reads `has_remote` again (SeqCst) before it blocks.
            if events > 0 || self.shared.has_remote.load(Ordering::Relaxed) {
                idle.next_skip.set(1);
                return true;
            }
            std::thread::yield_now();
        }
        // Nothing came: skip the yields before the next sleeps, twice as many each time.
        idle.skip.set(idle.next_skip.get().max(1));
        idle.next_skip.set((idle.skip.get() * 2).min(MAX_SKIP));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_SKIP, Scheduler};
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    /// Polls made by one `yield_before_sleep` after a poll that reported events, and what it
    /// returned.
    fn one_sleep(sched: &Scheduler) -> (u64, bool) {
        sched.idle.note_poll(1);
        let before = sched.counters.polls.get();
        let found = sched.yield_before_sleep(None);
        (sched.counters.polls.get() - before, found)
    }

    #[test]
    fn yields_that_find_nothing_are_skipped_at_twice_as_many_sleeps_each_time() {
        crate::run(|| {
            Scheduler::with_current(|sched| backoff(sched.unwrap()));
        });
    }

    /// The body of the test above, on the root fiber's scheduler.
    fn backoff(sched: &Scheduler) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        sched
            .register_io(
                ours.as_raw_fd(),
                std::sync::Arc::new(crate::engine::reactor::IoState::new(true)),
            )
            .unwrap();
        let yields = u64::from(sched.config.yields_before_sleep);
        assert!(yields > 0);
        // A new registration reports the socket writable once.
        assert_eq!(one_sleep(sched), (1, true));
        // Nothing comes: one round of `yields` polls, then 1, 2, 4, … skipped sleeps.
        let mut rounds = Vec::new();
        for _ in 0..80 {
            rounds.push(one_sleep(sched));
        }
        assert!(rounds.iter().all(|&(_, found)| !found));
        let polled: Vec<usize> = (0..rounds.len()).filter(|&i| rounds[i].0 > 0).collect();
        assert!(
            rounds
                .iter()
                .all(|&(polls, _)| polls == 0 || polls == yields)
        );
        let gaps: Vec<usize> = polled.windows(2).map(|w| w[1] - w[0] - 1).collect();
        assert_eq!(gaps[..6], [1, 2, 4, 8, 16, 32]);
        assert!(gaps[6..].iter().all(|&gap| gap == MAX_SKIP as usize));
        // Without an event in the last poll (idle, or woken by a timer): no polls at all.
        while sched.idle.skip.get() > 0 {
            one_sleep(sched);
        }
        sched.idle.note_poll(0);
        let before = sched.counters.polls.get();
        assert!(!sched.yield_before_sleep(None));
        assert_eq!(sched.counters.polls.get(), before);
        // An event during the yields: found, no sleep, and the backoff starts over.
        (&theirs).write_all(b"x").unwrap();
        assert_eq!(one_sleep(sched), (1, true));
        assert_eq!(one_sleep(sched), (yields, false));
        assert_eq!(one_sleep(sched), (0, false));
        assert_eq!(one_sleep(sched), (yields, false));
    }
}
