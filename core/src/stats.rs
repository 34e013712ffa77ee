//! Counters of what a scheduler did, kept as plain cells on its thread.

use std::cell::Cell;

use crate::scheduler::Scheduler;

/// Event counters of one scheduler, bumped on its own thread without atomics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spawned: Cell<u64>,
    pub(crate) switches: Cell<u64>,
    pub(crate) parks: Cell<u64>,
    pub(crate) polls: Cell<u64>,
    pub(crate) events: Cell<u64>,
    pub(crate) timers_fired: Cell<u64>,
    pub(crate) budget_yields: Cell<u64>,
}

/// A snapshot of the statistics of the runtime running on the current thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Fibers alive now (spawned, not yet finished), the root included.
    pub fibers_alive: usize,
    /// Fibers spawned since the runtime started, the root included.
    pub fibers_spawned: u64,
    /// Fibers runnable now, waiting for their turn.
    pub runnable: usize,
    /// Context switches into fibers.
    pub switches: u64,
    /// Times a fiber parked (I/O waits, sleeps, locks and joins included).
    pub parks: u64,
    /// Reactor polls (`epoll_wait` calls).
    pub reactor_polls: u64,
    /// Readiness events the reactor received.
    pub reactor_events: u64,
    /// Timers armed now.
    pub timers_armed: usize,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Times a fiber yielded because it spent its cooperative budget (see
    /// [`Builder::budget`](crate::runtime::Builder::budget)).
    pub budget_yields: u64,
    /// Fibers waiting on file descriptors now.
    pub io_waiters: usize,
    /// Stalls the stall detector reported (a fiber holding the thread past the threshold).
    pub stalls: u64,
    /// `unblock` jobs in flight now, in the whole process.
    pub unblock_jobs: usize,
    /// Times the stall detector's watchdog thread has woken up, in the whole process. It
    /// samples every quarter threshold while a scheduler may be running a fiber and sleeps
    /// while every watched scheduler is idle, so an idle process adds nothing here.
    pub watchdog_wakeups: u64,
}

/// Statistics of the runtime running on the current thread, or `None` outside a runtime.
pub fn stats() -> Option<Stats> {
    let sched = Scheduler::current()?;
    let c = &sched.counters;
    let (runnable, timers_armed, io_waiters) = sched.queue_lengths();
    Some(Stats {
        fibers_alive: sched.fibers_alive(),
        fibers_spawned: c.spawned.get(),
        runnable,
        switches: c.switches.get(),
        parks: c.parks.get(),
        reactor_polls: c.polls.get(),
        reactor_events: c.events.get(),
        timers_armed,
        timers_fired: c.timers_fired.get(),
        budget_yields: c.budget_yields.get(),
        io_waiters,
        stalls: sched
            .shared()
            .monitor()
            .stalls
            .load(std::sync::atomic::Ordering::Relaxed),
        unblock_jobs: crate::blocking::jobs_in_flight(),
        watchdog_wakeups: crate::watchdog::wakeups(),
    })
}
