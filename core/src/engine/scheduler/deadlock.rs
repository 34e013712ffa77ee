//! Deadlock detection: when nothing in the process can ever wake a fiber of this scheduler.
//!
//! A scheduler is *locally stuck* when no fiber is runnable, no timer is armed, no fiber waits
//! on an fd and no `unblock` job is in flight. Others could still wake one of its fibers: other
//! runtimes (through a shared lock or channel), plain threads that wait on spindle objects, and
//! any `Fiber` handle user code holds. The first two are counted in [`PARTICIPANTS`]; the last
//! in `SchedShared::exported_handles`. When the scheduler stays locally stuck, with no other
//! party, for the whole `deadlock_timeout`, it reports a deadlock (see
//! `runtime::Builder::deadlock_timeout` for what that misses).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::Scheduler;

/// Jobs handed to threads outside any scheduler (the `unblock` pool), submitted and not yet
/// finished, over the whole process. The pool counts a job until its result is stored and
/// its fiber unparked, so while this is non-zero a remote wake-up may still arrive: the
/// deadlock detector must not report a hang then.
pub(crate) static OFFLOADED_JOBS: AtomicUsize = AtomicUsize::new(0);

/// The number of [`OFFLOADED_JOBS`] now.
pub(crate) fn jobs_in_flight() -> usize {
    OFFLOADED_JOBS.load(Ordering::Acquire)
}

/// Runtimes running now, plus plain threads that have parked through spindle (see
/// [`note_plain_thread`]): the parties that could wake a fiber from outside its scheduler.
pub(super) static PARTICIPANTS: AtomicUsize = AtomicUsize::new(0);

struct Participant;

impl Drop for Participant {
    fn drop(&mut self) {
        PARTICIPANTS.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// Set once this thread has waited on spindle objects as a plain thread.
    static PLAIN_PARTICIPANT: std::cell::OnceCell<Participant> = const { std::cell::OnceCell::new() };
}

/// Counts the calling plain thread as one that may wake fibers (it waits on spindle objects),
/// until it exits.
pub(crate) fn note_plain_thread() {
    // Ignore threads being torn down: they wake nobody any more.
    let _ = PLAIN_PARTICIPANT.try_with(|p| {
        p.get_or_init(|| {
            PARTICIPANTS.fetch_add(1, Ordering::Relaxed);
            Participant
        });
    });
}

impl Scheduler {
    /// Whether nothing in this scheduler can make a fiber runnable: none is, no timer is
    /// armed, no fiber waits on an fd, no `unblock` job is in flight anywhere.
    pub(super) fn locally_stuck(&self) -> bool {
        self.config.deadlock_timeout.is_some()
            && !self.root_done.get()
            && !self.shutting_down.get()
            && self.run_queue.len() == 0
            && self.timers.borrow().len() == 0
            && self.reactor.borrow().waiting() == 0
            && jobs_in_flight() == 0
    }

    /// Whether no one outside this scheduler could wake a fiber: no other runtime runs, no
    /// plain thread that has waited on spindle objects is alive, and user code holds no
    /// `Fiber` handle to a fiber of this scheduler.
    pub(super) fn nobody_else_can_wake(&self) -> bool {
        // This thread may also have counted itself as a plain thread before it ran `run`;
        // while it runs the scheduler it wakes nobody from outside.
        let this_thread_as_plain = PLAIN_PARTICIPANT
            .try_with(|p| usize::from(p.get().is_some()))
            .unwrap_or(0);
        PARTICIPANTS.load(Ordering::Relaxed) == 1 + this_thread_as_plain
            && self.shared.exported_handles.load(Ordering::Relaxed) == 0
    }

    /// Writes the deadlock report and unwinds every fiber; `run` then panics with the report.
    pub(super) fn report_deadlock(&self) {
        let report = format!(
            "spindle: deadlock: every fiber of this runtime is parked and nothing can wake one \
             (no runnable fiber, timer, I/O wait, unblock job, other thread or Fiber handle \
             held by user code). Parked fibers:{}",
            self.list_fibers_with_backtraces()
        );
        crate::engine::events::deadlock(self.id, self.fibers.borrow().len(), &report);
        *self.deadlock.borrow_mut() = Some(report);
        self.begin_shutdown();
    }
}
