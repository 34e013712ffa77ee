//! The part of a scheduler other threads may touch ([`SchedShared`]): the remote queue of
//! wake-ups and spawns, released reactor tokens, and the flags that say whether the
//! scheduler sleeps in its poller and must be woken.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use super::Scheduler;
use crate::engine::fiber::{Cancelled, FiberRef};
use crate::engine::monitor::StallMonitor;
use crate::engine::reactor::Notifier;
use crate::engine::stats::Published;

/// A fiber that another thread asked this scheduler to start (`spawn_on`).
pub(crate) struct RemoteSpawn {
    pub(crate) fiber: FiberRef,
    pub(crate) body: Box<dyn FnOnce(bool) + Send>,
    pub(crate) stack_size: Option<usize>,
}

impl std::fmt::Debug for RemoteSpawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSpawn")
            .field("fiber", &self.fiber)
            .finish_non_exhaustive()
    }
}

/// What other threads hand a scheduler.
#[derive(Debug, Default)]
pub(super) struct RemoteQueue {
    /// Fibers of this scheduler unparked from other threads.
    pub(super) unparks: Vec<FiberRef>,
    /// Fibers to start here.
    pub(super) spawns: Vec<RemoteSpawn>,
}

/// The part of a scheduler that other threads may touch.
#[derive(Debug)]
pub(crate) struct SchedShared {
    pub(super) id: u32,
    /// Wake-ups and spawns from other threads; `None` once the scheduler has ended.
    pub(super) remote: Mutex<Option<RemoteQueue>>,
    /// Reactor tokens another thread took over (see `Registration`), for this scheduler to
    /// forget; their fds are already out of its poller.
    pub(super) released: Mutex<Vec<usize>>,
    /// Set when `remote` or `released` may be non-empty (checked without the lock).
    pub(super) has_remote: AtomicBool,
    /// Set while the scheduler blocks in the poller.
    pub(super) sleeping: AtomicBool,
    pub(super) notifier: Notifier,
    /// What the stall detector reads.
    pub(super) monitor: StallMonitor,
    /// Live `Fiber` handles to this scheduler's fibers that user code holds (see
    /// `Fiber::clone`): while there are any, another thread might unpark a fiber, so an idle
    /// scheduler is not called deadlocked.
    pub(crate) exported_handles: AtomicUsize,
    /// Counters published for other threads (see `spindle::runtime::stats_of_each`).
    pub(crate) published: Published,
    /// Set by `dump_on_signal`'s listener: print a dump at the next pass through the main loop.
    pub(super) dump_requested: AtomicBool,
}

impl SchedShared {
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn monitor(&self) -> &StallMonitor {
        &self.monitor
    }

    pub(crate) fn is_sleeping(&self) -> bool {
        // SeqCst: the watchdog's decision to park pairs with the scheduler's wake-up.
        self.sleeping.load(Ordering::SeqCst)
    }

    /// Queues `fiber` to be unparked by its scheduler, waking the scheduler if it sleeps.
    pub(crate) fn unpark_remote(&self, fiber: FiberRef) {
        // An ended scheduler's fibers have all finished (or were abandoned): nothing to wake.
        let _ = self.push_remote(|queue| queue.unparks.push(fiber));
    }

    /// Queues a fiber to be started by this scheduler; `Err` (the spawn dropped) if the
    /// scheduler has ended.
    pub(crate) fn spawn_remote(&self, spawn: RemoteSpawn) -> Result<(), ()> {
        self.push_remote(move |queue| queue.spawns.push(spawn))
    }

    /// Runs `push` on the remote queue and wakes the scheduler if it sleeps; `Err` once the
    /// scheduler has ended.
    pub(super) fn push_remote(&self, push: impl FnOnce(&mut RemoteQueue)) -> Result<(), ()> {
        {
            let mut queue = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
            push(queue.as_mut().ok_or(())?);
        }
        self.wake_for_remote();
        Ok(())
    }

    /// Takes `fd`, registered here under `token`, out of this scheduler's reactor from any
    /// thread: removes it from the poller now, and queues `token` for the scheduler to forget
    /// (waking the fibers that wait on it, so that they retry). The caller keeps `fd` open.
    pub(crate) fn release_io(&self, token: usize, fd: RawFd) {
        self.notifier.deregister(fd);
        self.released
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(token);
        self.wake_for_remote();
    }

    /// Asks the scheduler to print its dump to stderr between fibers (`dump_on_signal`).
    pub(crate) fn request_dump(&self) {
        self.dump_requested.store(true, Ordering::Relaxed);
        self.wake_for_remote();
    }

    /// Flags remote work and wakes the scheduler if it sleeps in the poller.
    pub(super) fn wake_for_remote(&self) {
        // SeqCst pairs with the scheduler's store to `sleeping` then load of `has_remote`:
        // at least one side sees the other's write, so a wake-up is never lost.
        self.has_remote.store(true, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.notifier.notify();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // Refuse further remote wake-ups and spawns, and drop the queued handles. Fibers
        // queued to start here never will: their JoinHandles get `Err(Cancelled)`.
        let queued = self
            .shared
            .remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(queued) = queued {
            for spawn in queued.spawns {
                spawn.fiber.complete_without_running(Box::new(Cancelled));
            }
        }
    }
}
