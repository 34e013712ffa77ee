//! The switch protocol: park, yield and unpark, and the switch-out/switch-in between fibers
//! (directly from one fiber to the next, or through the main context). See the state table
//! in the module docs of `scheduler`.

use std::ptr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Scheduler;
use super::shutdown::MAX_CANCEL_RAISES;
use crate::engine::fiber::{FiberBlock, OwnedState, State, Unwind, Wait};
use crate::stack::{self, SwitchTo};

impl Scheduler {
    /// Makes a parked fiber of this scheduler runnable, or stores the park token.
    pub(crate) fn unpark_local(&self, fiber: &FiberBlock) {
        let local = fiber.owned(self);
        match local.state.get() {
            State::Parked => {
                local.state.set(State::Runnable);
                self.run_queue.push(self, fiber, local);
            }
            State::Running | State::Runnable => local.notified.set(true),
            State::Finished | State::Abandoned => {}
        }
    }

    /// Records what the running fiber is about to wait for (kept if a more precise reason was
    /// already given with `fiber::waiting_on`).
    #[inline]
    pub(crate) fn note_wait(&self, wait: Wait) {
        let cell = &self.current_owned().wait;
        if cell.get() == Wait::Nothing {
            cell.set(wait);
        }
    }

    /// Parks the running fiber until it is unparked or `deadline` passes. Returns whether the
    /// deadline passed. Does not unwind for cancellation: callers clean up, then call
    /// [`check_cancelled`](Self::check_cancelled).
    pub(crate) fn park(&self, deadline: Option<Instant>) -> bool {
        let me = self.current_fiber();
        let local = self.current_owned();
        if local.notified.replace(false) {
            local.wait.set(Wait::Nothing);
            return false;
        }
        // Shutting down and not unwinding yet: return at once, so that the caller's
        // `check_cancelled` unwinds the fiber, after the others had a turn. A fiber that keeps
        // catching `Cancelled` is given up on. One unwinding already (a destructor waits for
        // something) parks like any fiber.
        if local.cancelled.get() && self.current_unwind() == Unwind::No {
            if local.cancel_raises.get() >= MAX_CANCEL_RAISES {
                self.abandon_current();
            }
            self.yield_now();
            return false;
        }
        if let Some(deadline) = deadline {
            local.timer.set(Some(self.timers.borrow_mut().insert(
                deadline,
                me,
                local.spare_timer.take(),
            )));
        }
        local.state.set(State::Parked);
        local.parked_at.set(Some(self.clock.get()));
        self.counters.parks.set(self.counters.parks.get() + 1);
        self.switch_out(local);
        local.wait.set(Wait::Nothing);
        match local.timer.take() {
            Some(key) => {
                // Woken before the deadline: the slot is kept for this fiber's next timed
                // park (a server's next read timeout), which re-arms it in O(1).
                if self.timers.borrow_mut().cancel(key) {
                    local.spare_timer.set(Some(key));
                }
                false
            }
            None => deadline.is_some(),
        }
    }

    /// Moves the running fiber to the back of the run queue and runs the next one.
    #[inline]
    pub(crate) fn yield_now(&self) {
        let me = self.current_fiber();
        let local = self.current_owned();
        local.state.set(State::Runnable);
        self.run_queue.push(self, me, local);
        self.switch_out(local);
    }

    /// Suspends the running fiber (already marked parked or runnable; `local` is its state)
    /// and resumes the next runnable fiber, or the main context. Returns when the fiber is
    /// resumed.
    #[inline]
    pub(super) fn switch_out(&self, local: &OwnedState) {
        match self.next_to_run() {
            Some((_, next_local)) if ptr::eq(next_local, local) => {
                local.state.set(State::Running);
                self.publish_current(self.current.get());
            }
            Some((next, next_local)) => {
                next_local.state.set(State::Running);
                self.publish_current(next);
                // SAFETY: `local.sp` is where this suspended context will be found; `next` is a
                // runnable fiber whose saved (or initial) stack pointer has not been resumed
                // since it was saved; its stack stays mapped while it is alive (held by
                // `self.fibers`). We come back here when some context switches to `local.sp`.
                unsafe {
                    stack::switch(
                        local.sp.as_ptr(),
                        next_local.sp.get(),
                        stack_of(next_local),
                        false,
                    )
                };
            }
            None => {
                self.publish_current(ptr::null());
                // SAFETY: the main context saved `main_sp` when it resumed a fiber, and runs
                // nothing else until a fiber switches back to it.
                unsafe {
                    stack::switch(local.sp.as_ptr(), self.main_sp.get(), SwitchTo::Main, false)
                };
            }
        }
        // We may have been entered only to report our backtrace.
        self.answer_trace_requests(local);
        // Whoever switched to us may have just finished.
        self.reclaim_finished();
    }

    /// The next fiber to switch to directly, or `None` to go through the main context (nothing
    /// runnable, or time to poll the reactor and timers).
    #[inline]
    pub(super) fn next_to_run(&self) -> Option<(&FiberBlock, &OwnedState)> {
        let left = self.until_poll.get() - 1;
        self.until_poll.set(left);
        if left == 0 && self.poll_due() {
            return None;
        }
        self.run_queue.pop(self)
    }

    /// Records a switch to `fiber` (null: the main context), for `current_fiber` and for the
    /// stall detector.
    #[inline]
    pub(super) fn publish_current(&self, fiber: *const FiberBlock) {
        let switches = self.counters.switches.get() + 1;
        self.counters.switches.set(switches);
        self.previous.set(self.current.replace(fiber));
        self.shared.monitor.epoch.store(switches, Ordering::Relaxed);
        // Release: the watchdog loads `current` with Acquire before it reads the fiber's
        // identity (written when the fiber was created, on this thread).
        self.shared
            .monitor
            .current
            .store(fiber.cast_mut(), Ordering::Release);
    }

    /// Switches away from `me`, which never runs again.
    pub(super) fn leave_for_good(&self, me: &FiberBlock) -> ! {
        // When the root finishes, nothing else may run before the main context has begun the
        // shutdown, so the root always returns there.
        let next = if ptr::eq(me, self.root.get()) {
            None
        } else {
            self.next_to_run()
        };
        let (target, to) = match next {
            Some((next, next_local)) => {
                next_local.state.set(State::Running);
                self.publish_current(next);
                (next_local.sp.get(), stack_of(next_local))
            }
            None => {
                self.publish_current(ptr::null());
                (self.main_sp.get(), SwitchTo::Main)
            }
        };
        let mut abandoned: *mut u8 = ptr::null_mut();
        // SAFETY: `target` is a runnable fiber's unresumed saved stack pointer or the main
        // context's (see `switch_out`); the stack pointer saved into `abandoned` is never used.
        unsafe { stack::switch(&mut abandoned, target, to, true) };
        // Nothing ever resumes a finished fiber.
        std::process::abort()
    }

    /// Resumes `fiber` (whose state is `local`) from the main context; returns when a fiber
    /// switches back to main.
    pub(super) fn resume(&self, fiber: &FiberBlock, local: &OwnedState) {
        local.state.set(State::Running);
        self.publish_current(fiber);
        // SAFETY: the fiber is runnable, so its saved stack pointer is valid and unresumed;
        // we save the main context in `main_sp`, which only fibers of this scheduler load.
        unsafe {
            stack::switch(
                self.main_sp.as_ptr(),
                local.sp.get(),
                stack_of(local),
                false,
            )
        };
    }
}

/// The stack `local`'s fiber runs on, for [`stack::switch`].
#[inline(always)]
pub(super) fn stack_of(local: &OwnedState) -> SwitchTo {
    SwitchTo::Fiber {
        bottom: local.guard.get().1,
        size: local.stack_size.get(),
    }
}
