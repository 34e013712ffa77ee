//! What a scheduler is told when it starts. The runtime layer fills it in from
//! `runtime::Builder` (see `runtime::Config::scheduler`); the engine reads nothing else of it.

use std::time::Duration;

/// A scheduler's settings.
#[derive(Debug, Clone)]
pub(crate) struct SchedConfig {
    /// Usable stack bytes of a fiber spawned without a size.
    pub(crate) stack_size: usize,
    /// Finished stacks kept ready for reuse.
    pub(crate) hot_stacks: usize,
    /// Direct switches between two looks at the reactor and timers.
    pub(crate) poll_interval: u32,
    /// Yields offered before a scheduler serving I/O blocks in the poller (0: none; see the
    /// `idle` module).
    pub(crate) yields_before_sleep: u32,
    /// Operations a fiber may complete in one turn; `None`: the budget (and the time slice)
    /// is off.
    pub(crate) budget_ops: Option<u32>,
    /// How long a fiber's turn of operations that never block may last.
    pub(crate) time_slice: Option<Duration>,
    /// Whether the stall detector watches this scheduler (then a finished fiber is freed only
    /// once the watchdog is not reading it).
    pub(crate) watched: bool,
    /// How long the scheduler stays stuck before it reports a deadlock; `None`: never.
    pub(crate) deadlock_timeout: Option<Duration>,
    /// How long a stuck shutdown waits before it abandons the fibers left.
    pub(crate) shutdown_grace: Duration,
    /// Unwind the fibers left when the root returns (`true`) or abandon them.
    pub(crate) unwind_at_shutdown: bool,
    /// Whether panic messages name the fiber (read by the runtime's panic hook).
    pub(crate) name_panics: bool,
    /// Called after the scheduler woke from a poll that could block (the stall detector's
    /// wake-up, when it watches this scheduler).
    pub(crate) after_sleep: Option<fn()>,
}
