//! Counters of what a scheduler did, kept as plain cells on its thread.

use std::cell::Cell;

use super::scheduler::Scheduler;

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
    /// File descriptors registered with this runtime's reactor now (a socket is registered
    /// on its first wait and deregistered when dropped, or when another runtime takes it over).
    pub io_registered: usize,
    /// Stalls the stall detector reported (a fiber holding the thread past the threshold).
    pub stalls: u64,
    /// `unblock` jobs in flight now, in the whole process.
    pub unblock_jobs: usize,
    /// Times the stall detector's watchdog thread has woken up, in the whole process. It
    /// samples every quarter threshold while a scheduler may be running a fiber and sleeps
    /// while every watched scheduler is idle, so an idle process adds nothing here.
    pub watchdog_wakeups: u64,
}

impl Stats {
    /// The statistics of one scheduler, read on its thread.
    pub(crate) fn of(sched: &Scheduler) -> Stats {
        let c = &sched.counters;
        let (runnable, timers_armed, io_waiters) = sched.queue_lengths();
        Stats {
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
            io_registered: sched.io_registered(),
            stalls: sched
                .shared()
                .monitor()
                .stalls
                .load(std::sync::atomic::Ordering::Relaxed),
            unblock_jobs: super::scheduler::jobs_in_flight(),
            watchdog_wakeups: super::monitor::wakeups(),
        }
    }
}

impl std::ops::Add for Stats {
    type Output = Stats;

    /// Adds two schedulers' statistics, field by field (`unblock_jobs` and
    /// `watchdog_wakeups`, which count the whole process, are taken once).
    fn add(self, other: Stats) -> Stats {
        Stats {
            fibers_alive: self.fibers_alive + other.fibers_alive,
            fibers_spawned: self.fibers_spawned + other.fibers_spawned,
            runnable: self.runnable + other.runnable,
            switches: self.switches + other.switches,
            parks: self.parks + other.parks,
            reactor_polls: self.reactor_polls + other.reactor_polls,
            reactor_events: self.reactor_events + other.reactor_events,
            timers_armed: self.timers_armed + other.timers_armed,
            timers_fired: self.timers_fired + other.timers_fired,
            budget_yields: self.budget_yields + other.budget_yields,
            io_waiters: self.io_waiters + other.io_waiters,
            io_registered: self.io_registered + other.io_registered,
            stalls: self.stalls + other.stalls,
            unblock_jobs: self.unblock_jobs.max(other.unblock_jobs),
            watchdog_wakeups: self.watchdog_wakeups.max(other.watchdog_wakeups),
        }
    }
}

impl std::iter::Sum for Stats {
    fn sum<I: Iterator<Item = Stats>>(iter: I) -> Stats {
        iter.fold(Stats::default(), |a, b| a + b)
    }
}

/// A scheduler's statistics as other threads see them: a copy its thread refreshes whenever
/// it has made 1024 switches since the last copy, and before it sleeps in the poller.
#[derive(Debug, Default)]
pub(crate) struct Published {
    stats: std::sync::Mutex<Stats>,
    /// Switch count at the last copy (scheduler thread only).
    at_switch: std::sync::atomic::AtomicU64,
}

impl Published {
    /// Refreshes the copy if it is due (`force`: the scheduler is about to sleep or end, so
    /// any switch since the last copy is enough). Never blocks: a reader holding the lock just
    /// gets the older copy.
    pub(crate) fn refresh(&self, sched: &Scheduler, force: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        let switches = sched.counters.switches.get();
        let since = switches.wrapping_sub(self.at_switch.load(Relaxed));
        if since == 0 || (!force && since < 1024) {
            return;
        }
        if let Ok(mut stats) = self.stats.try_lock() {
            *stats = Stats::of(sched);
            self.at_switch.store(switches, Relaxed);
        }
    }

    /// The last copy.
    pub(crate) fn get(&self) -> Stats {
        *self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
