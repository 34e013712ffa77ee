//! Cancellation and unwinding: which fiber of the thread unwinds, and why (a panic, the
//! runtime's shutdown, or an unwind held by a `scope`); see [`Unwind`].

use std::panic;

use super::Scheduler;
use crate::engine::fiber::{Cancelled, OwnedState, Unwind};

impl Scheduler {
    /// Unwinds the running fiber with [`Cancelled`] if its runtime is shutting down, unless
    /// it is unwinding already (a second unwind from inside a destructor would abort).
    #[inline]
    pub(crate) fn check_cancelled(&self) {
        let local = self.current_fiber().owned(self);
        if local.cancelled.get() && self.current_unwind() == Unwind::No {
            local.cancel_raises.set(local.cancel_raises.get() + 1);
            self.set_unwind(local, Unwind::Cancel);
            panic::resume_unwind(Box::new(Cancelled));
        }
    }

    /// Whether, and why, the running fiber unwinds.
    ///
    /// `std::thread::panicking` is true while *any* fiber of the thread is in the middle of
    /// unwinding. The panic hook marks the fiber a panic starts on, `check_cancelled` the one
    /// it cancels; the mark is dropped when the fiber's entry catches the unwind, or as soon as
    /// the thread is seen not panicking. A thread that panics while no fiber is marked (the
    /// hook was replaced, or `resume_unwind` was called) is taken to unwind the running fiber.
    pub(crate) fn current_unwind(&self) -> Unwind {
        let local = self.current_fiber().owned(self);
        if local.unwind.get() == Unwind::Held {
            return Unwind::Held;
        }
        if !std::thread::panicking() {
            if local.unwind.get() != Unwind::No {
                self.set_unwind(local, Unwind::No);
            }
            return Unwind::No;
        }
        match local.unwind.get() {
            Unwind::No if self.unwinding.get() == 0 && !self.outer_panicking => Unwind::Panic,
            kind => kind,
        }
    }

    /// Records why the running fiber unwinds (or that it no longer does).
    pub(crate) fn set_unwind(&self, local: &OwnedState, kind: Unwind) {
        let was = local.unwind.replace(kind);
        match (was == Unwind::No, kind == Unwind::No) {
            (true, false) => self.unwinding.set(self.unwinding.get() + 1),
            (false, true) => self.unwinding.set(self.unwinding.get() - 1),
            _ => {}
        }
    }

    /// Marks the running fiber as holding an unwind it caught (see [`Unwind::Held`]) until
    /// [`release_unwind`](Self::release_unwind); returns what to restore then.
    pub(crate) fn hold_unwind(&self) -> Unwind {
        let local = self.current_fiber().owned(self);
        let was = local.unwind.get();
        self.set_unwind(local, Unwind::Held);
        was
    }

    /// Ends [`hold_unwind`](Self::hold_unwind).
    pub(crate) fn release_unwind(&self, was: Unwind) {
        self.set_unwind(self.current_fiber().owned(self), was);
    }

    /// Whether this runtime names fibers in panic messages (see `crate::panic_hook`).
    pub(crate) fn names_panics(&self) -> bool {
        self.config.name_panics
    }

    /// Marks the running fiber as panicking (called by spindle's panic hook).
    pub(crate) fn note_panic(&self) {
        let local = self.current_fiber().owned(self);
        if local.unwind.get() == Unwind::No {
            self.set_unwind(local, Unwind::Panic);
        }
    }
}
