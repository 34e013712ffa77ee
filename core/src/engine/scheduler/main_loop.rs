//! The main context: the loop on the thread's own stack that reclaims finished fibers,
//! drains the remote queue, polls the reactor, fires timers and resumes the next fiber.

use std::panic;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{AbortOnUnwind, RemoteQueue, RemoteSpawn, Scheduler};
use crate::engine::fiber::FiberBlock;

impl Scheduler {
    /// The main context: runs until the root fiber and then every other fiber have finished.
    pub(super) fn run_loop(&self) {
        // Unwinding out of here would unmap the stacks of suspended fibers whose wait-queue
        // entries may still be linked into locks that other threads use.
        let abort = AbortOnUnwind("the scheduler's main loop");
        self.serve();
        std::mem::forget(abort);
    }

    /// The body of [`run_loop`](Self::run_loop).
    pub(super) fn serve(&self) {
        loop {
            self.reclaim_finished();
            if self.root_done.get() {
                if self.fibers.borrow().len() == 0 {
                    return;
                }
                if !self.shutting_down.get() {
                    self.begin_shutdown();
                    // It may have abandoned every fiber left.
                    continue;
                }
            }
            self.drain_remote();
            self.poll_reactor();
            self.clock.set(Instant::now());
            self.fire_timers();
            if let Some((next, local)) = self.run_queue.pop(self) {
                self.resume(next, local);
            }
        }
    }

    /// Takes the fibers other threads unparked.
    pub(super) fn drain_remote(&self) {
        if !self.shared.has_remote.load(Ordering::Relaxed)
            || !self.shared.has_remote.swap(false, Ordering::AcqRel)
        {
            return;
        }
        if self.shared.dump_requested.swap(false, Ordering::Relaxed) {
            eprintln!("{}", self.dump());
        }
        let RemoteQueue { unparks, spawns } = {
            let mut queue = self
                .shared
                .remote
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            queue.as_mut().map(std::mem::take).unwrap_or_default()
        };
        for fiber in &unparks {
            self.unpark_local(fiber.block());
        }
        for RemoteSpawn {
            fiber,
            body,
            stack_size,
        } in spawns
        {
            if let Err(e) = self.spawn(fiber.clone(), body, stack_size) {
                fiber.complete_without_running(Box::new(format!(
                    "spindle: spawn_on: cannot start fiber {} on scheduler {}: {e}",
                    fiber.block().id.as_u64(),
                    self.id
                )));
            }
        }
        let released = std::mem::take(
            &mut *self
                .shared
                .released
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut waiters = Vec::new();
        for token in released {
            self.reactor
                .borrow_mut()
                .forget(token, |fiber| waiters.push(fiber));
        }
        for fiber in waiters {
            // SAFETY: fibers on reactor waiter lists are parked and held by `self.fibers`.
            self.unpark_local(unsafe { &*fiber });
        }
    }

    /// Wakes the fibers whose timers are due.
    pub(super) fn fire_timers(&self) {
        if self.timers.borrow().len() == 0 {
            return;
        }
        let now = Instant::now();
        loop {
            let Some(fiber) = self.timers.borrow_mut().pop_due(now) else {
                break;
            };
            // SAFETY: a fiber with an armed timer is parked and held alive by `self.fibers`;
            // it disarms its timer before it can finish.
            let fiber = unsafe { &*fiber };
            fiber.owned(self).timer.set(None);
            self.counters
                .timers_fired
                .set(self.counters.timers_fired.get() + 1);
            self.unpark_local(fiber);
        }
    }

    /// Polls the reactor: without blocking when fibers are runnable, otherwise until the next
    /// timer, a remote wake-up or I/O. Detects a deadlock when nothing can ever wake a fiber.
    pub(super) fn poll_reactor(&self) {
        let busy = self.run_queue.len() > 0;
        let mut timeout = if busy {
            if self.reactor.borrow().registered() == 0 {
                return;
            }
            Some(Duration::ZERO)
        } else {
            self.timers
                .borrow_mut()
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
        // Nothing here can wake a fiber: wake up now and then to look for a deadlock, which
        // needs the rest of the process to be unable to wake one too, before and after.
        let stuck = timeout.is_none() && self.locally_stuck();
        if stuck {
            timeout = self.config.deadlock_timeout;
        }
        let watch_deadlock = stuck && self.nobody_else_can_wake();
        let shutdown_stuck = timeout.is_none() && self.shutdown_stuck();
        if shutdown_stuck {
            let since = *self.stuck_since.get().get_or_insert_with(Instant::now);
            self.stuck_since.set(Some(since));
            timeout = Some(self.shutdown_grace().saturating_sub(since.elapsed()));
        } else {
            self.stuck_since.set(None);
        }
        if !busy && self.yield_before_sleep(timeout) {
            return;
        }
        self.shared.published.refresh(self, !busy);
        if !busy {
            self.shared.sleeping.store(true, Ordering::SeqCst);
            if self.shared.has_remote.load(Ordering::SeqCst) {
                timeout = Some(Duration::ZERO);
            }
        }
        let wake = |fiber: *const FiberBlock| {
            // SAFETY: fibers on reactor waiter lists are parked and held by `self.fibers`.
            self.unpark_local(unsafe { &*fiber });
        };
        let result = self.reactor.borrow_mut().poll(timeout, wake);
        // SeqCst pairs with the watchdog's park (see `watchdog::scheduler_woke`).
        self.shared.sleeping.store(false, Ordering::SeqCst);
        if !busy && let Some(woke) = self.config.after_sleep {
            woke();
        }
        self.counters.polls.set(self.counters.polls.get() + 1);
        let events = match result {
            Ok(events) => events,
            Err(e) => panic!("spindle: polling the reactor failed: {e}"),
        };
        self.counters
            .events
            .set(self.counters.events.get() + events as u64);
        self.idle.note_poll(events);
        if watch_deadlock
            && events == 0
            && !self.shared.has_remote.load(Ordering::SeqCst)
            && self.locally_stuck()
            && self.nobody_else_can_wake()
        {
            self.report_deadlock();
        }
        if shutdown_stuck
            && events == 0
            && !self.shared.has_remote.load(Ordering::SeqCst)
            && self.shutdown_stuck()
            && self
                .stuck_since
                .get()
                .is_some_and(|since| since.elapsed() >= self.shutdown_grace())
        {
            self.abandon_all(Some(&format!(
                "the root returned and the fibers left have all been parked for {:?} with \
                 nothing in this runtime able to wake them",
                self.shutdown_grace()
            )));
        }
    }
}
