//! Backtraces of suspended fibers, and the fiber dump.
//!
//! A suspended fiber's stack is intact: it stopped inside `switch_out`, right after its call
//! to `arch::switch`. To read it, the scheduler switches *into* the fiber with a request
//! pending; `switch_out` sees the request as soon as `switch` returns, walks its own stack
//! with the unwind tables, stores the addresses, and switches straight back. Nothing but that
//! spindle code runs on the fiber: it does not return from `switch_out`, so no user code,
//! destructor or wait-queue logic runs, and its state, run-queue place and timers are left as
//! they were.
//!
//! ```text
//!   requester (main context or a fiber)        suspended fiber P
//!   ───────────────────────────────────        ─────────────────
//!   request = true
//!   switch(&back, P.sp) ──────────────────────▶ returns in switch_out
//!                                              sees request: RawTrace::capture_here()
//!   returns, takes the trace ◀──────────────── switch(&P.sp, back)
//! ```
//!
//! Fibers never started (their stack holds only `init_stack`'s frame) and fibers that
//! finished or were abandoned are not entered. The running fiber traces itself directly.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::time::Instant;

use super::{Scheduler, stack_of};
use crate::engine::dump::{Dump, FiberDump, FiberState};
use crate::engine::fiber::{FiberBlock, OwnedState, State};
use crate::stack::{self, SwitchTo};
use crate::trace::{Backtrace, RawTrace, Symbolizer};

/// A scheduler's side of a backtrace request.
#[derive(Debug)]
pub(super) struct Tracer {
    /// Set by the requester before it switches into a suspended fiber.
    requested: Cell<bool>,
    /// Where the requester's context was saved.
    back: Cell<*mut u8>,
    /// The stack the requester runs on (for the sanitizer's switch annotations).
    back_to: Cell<SwitchTo>,
    /// The trace the fiber took.
    result: RefCell<Option<RawTrace>>,
}

impl Default for Tracer {
    fn default() -> Tracer {
        Tracer {
            requested: Cell::new(false),
            back_to: Cell::new(SwitchTo::Main),
            back: Cell::new(ptr::null_mut()),
            result: RefCell::new(None),
        }
    }
}

impl Scheduler {
    /// Called by a fiber each time it is resumed inside `switch_out`: answers backtrace
    /// requests until it is resumed for real.
    #[inline]
    pub(super) fn answer_trace_requests(&self, local: &OwnedState) {
        while self.tracer.requested.get() {
            self.answer_trace_request(local);
        }
    }

    #[cold]
    #[inline(never)]
    fn answer_trace_request(&self, local: &OwnedState) {
        self.tracer.requested.set(false);
        let trace = RawTrace::capture_here();
        *self.tracer.result.borrow_mut() = Some(trace);
        // SAFETY: `back` is where the requester saved its context in `trace_suspended`, just
        // before it switched here; it has not been resumed since and waits for exactly this
        // switch. Our own context is saved to `local.sp`, where the scheduler finds it again
        // (the requester does not resume us otherwise).
        unsafe {
            stack::switch(
                local.sp.as_ptr(),
                self.tracer.back.get(),
                self.tracer.back_to.get(),
                false,
            )
        };
    }

    /// Async-signal-safe (for the stall detector's handler): the mapped stack range of the
    /// fiber running on this thread, and the scheduler's switch count. Never panics.
    pub(crate) fn running_stack() -> Option<(std::ops::Range<usize>, u64)> {
        Scheduler::with_current(|sched| {
            let sched = sched?;
            let ptr = sched.current.get();
            if ptr.is_null() {
                return None;
            }
            // SAFETY: `current` is the running fiber, held alive by `sched.fibers` while it runs.
            let fiber = unsafe { &*ptr };
            let local = fiber.try_owned(sched)?;
            let bottom = local.guard.get().1;
            if bottom == 0 {
                return None;
            }
            let epoch = sched
                .shared
                .monitor()
                .epoch
                .load(std::sync::atomic::Ordering::Relaxed);
            Some((bottom..bottom + local.stack_size.get(), epoch))
        })
    }

    /// The raw backtrace of `fiber`, a fiber of this scheduler: the running one traces itself,
    /// a suspended one is entered (see the module docs); `None` for one that never ran or
    /// will not run again.
    pub(super) fn trace_fiber(&self, fiber: &FiberBlock) -> Option<RawTrace> {
        if ptr::eq(self.current.get(), fiber) {
            return Some(RawTrace::capture_here());
        }
        let local = fiber.owned(self);
        let suspended = matches!(local.state.get(), State::Parked | State::Runnable);
        if !suspended || !local.started.get() {
            return None;
        }
        self.tracer.requested.set(true);
        // SAFETY: `current`, when set, is the running fiber, held by `self.fibers`.
        let back_to = match unsafe { self.current.get().as_ref() } {
            Some(me) => stack_of(me.owned(self)),
            None => SwitchTo::Main,
        };
        self.tracer.back_to.set(back_to);
        // A stack overflow while the fiber walks its stack is its own: tell the overflow
        // handler, which looks at `current` and `previous`.
        let previous = self.previous.replace(fiber);
        // SAFETY: the fiber is suspended in `switch_out` (started, parked or runnable), so
        // `local.sp` is a context saved by `switch` and not resumed since; its stack is mapped
        // while `self.fibers` holds it. It switches back to `back` right after tracing (see
        // `answer_trace_request`), saving its new stack pointer into `local.sp`.
        unsafe {
            stack::switch(
                self.tracer.back.as_ptr(),
                local.sp.get(),
                stack_of(local),
                false,
            )
        };
        self.previous.set(previous);
        self.tracer.result.borrow_mut().take()
    }

    /// One line per fiber not yet finished (name, id, spawn location, what it waits on), each
    /// followed by its backtrace, for the deadlock and shutdown reports.
    pub(super) fn list_fibers_with_backtraces(&self) -> String {
        use std::fmt::Write;
        let dump = self.dump();
        let mut list = String::new();
        for f in dump.fibers() {
            let _ = write!(
                list,
                "\n  fiber '{}' ({}) spawned at {}: waits on {}\n{}",
                f.name.as_deref().unwrap_or("<unnamed>"),
                f.id.as_u64(),
                f.spawned_at,
                f.waits_on.as_deref().unwrap_or("nothing (runnable)"),
                f.backtrace
            );
        }
        list
    }

    /// Every fiber of this scheduler, with its backtrace. Runs no user code.
    pub(crate) fn dump(&self) -> Dump {
        let now = Instant::now();
        let fibers: Vec<*const FiberBlock> = self
            .fibers
            .borrow()
            .iter()
            .map(|(_, f)| f.block() as *const FiberBlock)
            .collect();
        let raw: Vec<Option<RawTrace>> = fibers
            .iter()
            .map(|&ptr| {
                // SAFETY: collected from `self.fibers` above; tracing runs no code that could
                // reclaim a fiber, so each is still held there.
                self.trace_fiber(unsafe { &*ptr })
            })
            .collect();
        let mut symbols = Symbolizer::new();
        let mut out = Vec::with_capacity(fibers.len());
        for (ptr, raw) in fibers.into_iter().zip(raw) {
            // SAFETY: as above.
            let fiber = unsafe { &*ptr };
            let local = fiber.owned(self);
            let state = match local.state.get() {
                _ if ptr::eq(self.current.get(), fiber) => FiberState::Running,
                State::Running => FiberState::Running,
                State::Runnable => FiberState::Runnable,
                State::Parked => FiberState::Parked,
                State::Finished => FiberState::Finished,
                State::Abandoned => FiberState::Abandoned,
            };
            let waits_on = (state == FiberState::Parked).then(|| local.wait.get().describe(now));
            let since = (state == FiberState::Parked)
                .then(|| local.parked_at.get())
                .flatten()
                .map(|at| now.saturating_duration_since(at));
            let backtrace = raw.map_or_else(Backtrace::default, |raw| symbols.resolve(&raw));
            out.push(FiberDump::new(
                fiber.id,
                fiber.name().map(str::to_owned),
                state,
                waits_on,
                since,
                fiber.spawned_at,
                backtrace,
            ));
        }
        Dump::new(self.id, out)
    }
}
