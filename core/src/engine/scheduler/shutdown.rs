//! Shutdown: when the root returns, every fiber left is cancelled and unwound, or, when it
//! cannot be, abandoned (never resumed, its stack and control block leaked).

use std::ptr;
use std::time::Duration;

use super::{Scheduler, jobs_in_flight};
use crate::engine::fiber::{Cancelled, FiberBlock, State, Unwind};

/// How many times shutdown raises [`Cancelled`] in a fiber that keeps catching it before the
/// fiber is abandoned.
pub(super) const MAX_CANCEL_RAISES: u32 = 4;

impl Scheduler {
    /// Marks every fiber cancelled and makes the parked ones runnable, so that each unwinds
    /// (or abandons them all when they cannot be unwound).
    pub(super) fn begin_shutdown(&self) {
        self.shutting_down.set(true);
        if !self.config.unwind_at_shutdown {
            self.abandon_all(None);
            return;
        }
        let alive: Vec<*const FiberBlock> = self
            .fibers
            .borrow()
            .iter()
            .map(|(_, f)| f.block() as *const FiberBlock)
            .collect();
        for ptr in alive {
            // SAFETY: collected from `self.fibers`, which nothing modifies during this loop.
            let fiber = unsafe { &*ptr };
            fiber.owned(self).cancelled.set(true);
            if fiber.owned(self).state.get() == State::Parked {
                self.unpark_local(fiber);
            }
        }
    }

    /// Abandons the running fiber (see [`Scheduler::abandon`]) and switches away from it.
    pub(super) fn abandon_current(&self) -> ! {
        let me = self.current_fiber();
        eprintln!(
            "spindle: shutdown: fiber '{}' ({}) spawned at {} caught spindle::fiber::Cancelled \
             {MAX_CANCEL_RAISES} times; abandoning it (never resumed, what it owns is leaked). \
             Re-raise Cancelled with std::panic::resume_unwind.",
            me.name().unwrap_or("<unnamed>"),
            me.id.as_u64(),
            me.spawned_at,
        );
        self.abandon(me);
        self.leave_for_good(me)
    }

    /// Gives up on `fiber` for good: it is never resumed; its stack stays mapped and its
    /// control block alive (wait-queue entries on its stack and handles to it stay valid),
    /// everything it owns is leaked, and its `JoinHandle` gets `Err(Cancelled)`.
    pub(super) fn abandon(&self, fiber: &FiberBlock) {
        let local = fiber.owned(self);
        local.state.set(State::Abandoned);
        if local.unwind.get() != Unwind::No {
            self.set_unwind(local, Unwind::No);
        }
        if let Some(key) = local.timer.take() {
            self.timers.borrow_mut().cancel(key);
        }
        self.stacks.borrow_mut().keep_mapped();
        if ptr::eq(fiber, self.root.get()) {
            self.root_done.set(true);
        }
        let fiber_ref = self.fibers.borrow_mut().remove(local.slot.get());
        if let Some(fiber_ref) = fiber_ref {
            fiber_ref.complete_without_running(Box::new(Cancelled));
            // The control block is leaked on purpose, see above.
            std::mem::forget(fiber_ref);
        }
    }

    /// Abandons every fiber left (none is running: called from the main context), saying why
    /// on stderr when `why` is given (not when it is the configured way to shut down).
    pub(super) fn abandon_all(&self, why: Option<&str>) {
        let left: Vec<*const FiberBlock> = self
            .fibers
            .borrow()
            .iter()
            .map(|(_, f)| f.block() as *const FiberBlock)
            .collect();
        if left.is_empty() {
            return;
        }
        if let Some(why) = why {
            eprintln!(
                "spindle: shutdown: {why}; abandoning {} fiber(s) (never resumed, what they \
                 own is leaked):{}",
                left.len(),
                self.list_fibers_with_backtraces()
            );
        }
        self.run_queue.clear(self);
        for ptr in left {
            // SAFETY: collected from `self.fibers`, which still holds each until `abandon`
            // takes it out (and leaks it, so the pointer stays valid).
            self.abandon(unsafe { &*ptr });
        }
    }

    /// Whether the shutdown cannot go on by itself: fibers are left, none is runnable, and no
    /// timer, fd or `unblock` job could wake one (another thread still might).
    pub(super) fn shutdown_stuck(&self) -> bool {
        self.shutting_down.get()
            && self.fibers.borrow().len() > 0
            && self.run_queue.len() == 0
            && self.timers.borrow().len() == 0
            && self.reactor.borrow().waiting() == 0
            && jobs_in_flight() == 0
    }

    /// How long a stuck shutdown waits before it abandons the fibers left.
    pub(super) fn shutdown_grace(&self) -> Duration {
        self.config.shutdown_grace
    }
}
