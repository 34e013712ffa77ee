//! Plumbing for spindle's own crates (spindle-io, spindle-sync, spindle-hook and the `spindle`
//! facade): what they need of the runtime beyond its public API. Hidden from the docs, and
//! with no stability promise: user code should not name anything here.

use std::thread;

use crate::engine::fiber::{Unwind, Wait};
use crate::engine::scheduler::Scheduler;
use crate::fiber::{Fiber, current_handle};

pub use crate::descriptor_table::note as note_descriptor;
pub use crate::engine::reactor;
pub use crate::local::new_local_key;

/// [`current`](crate::fiber::current) for a wait queue of a spindle primitive: the handle is part of the
/// primitive's bookkeeping, so it does not stop the deadlock detector (see
/// [`Builder::deadlock_timeout`](crate::runtime::Builder::deadlock_timeout)).
pub fn current_waiter() -> Fiber {
    Scheduler::with_on_fiber(|current| match current {
        Some(sched) => Fiber::from_ref(sched.current_ref()),
        _ => current_handle(),
    })
}

/// Whether the caller unwinds because of a panic (not a shutdown's [`Cancelled`](crate::fiber::Cancelled)): the
/// question lock poisoning asks. A fiber unwound by its runtime's shutdown does not poison
/// the locks it held.
#[inline]
pub fn panicking_poisons() -> bool {
    if !thread::panicking() {
        return false;
    }
    Scheduler::with_on_fiber(|current| match current {
        Some(sched) => sched.current_unwind() == Unwind::Panic,
        None => true,
    })
}

/// The id of the scheduler the caller runs a fiber of, or `None` on a plain thread: lets a
/// lock tell whether a waiter shares the unlocker's thread.
#[inline]
pub fn scheduler_id() -> Option<u32> {
    Scheduler::with_on_fiber(|sched| sched.map(Scheduler::id))
}

/// Whether a fiber about to wait for something another thread holds may spin a little first:
/// true on a plain thread, and on a fiber whose scheduler has nothing else to run (parking
/// would only put the thread to sleep, which costs more than a short spin).
#[inline]
pub fn may_spin() -> bool {
    Scheduler::with_on_fiber(|current| match current {
        Some(sched) => sched.nothing_else_runnable(),
        None => true,
    })
}

/// Names what the running fiber is about to park for, so a deadlock report can say it (for
/// spindle's own locks and channels; call right before [`park`](crate::fiber::park)). Does nothing on a plain
/// thread.
pub fn waiting_on(what: &'static str, object: *const ()) {
    Scheduler::with_on_fiber(|current| {
        if let Some(sched) = current {
            sched
                .current_owned()
                .wait
                .set(Wait::On(what, object as usize));
        }
    })
}
