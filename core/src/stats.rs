//! [`stats`]: what the calling thread's scheduler has done so far.

use crate::engine::scheduler::Scheduler;
pub use crate::engine::stats::Stats;

/// Statistics of the runtime running on the current thread, or `None` outside a runtime.
pub fn stats() -> Option<Stats> {
    Scheduler::with_current(|sched| sched.map(Stats::of))
}
