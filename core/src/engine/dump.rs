//! What a dump of a scheduler's fibers holds ([`Dump`], built by `Scheduler::dump`; the
//! public entry point is `crate::dump::dump`).

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use super::fiber::FiberId;
use crate::trace::Backtrace;

/// What [`dump`](crate::dump::dump) returns. `Display` prints one block per fiber, like Go's goroutine dump.
#[derive(Debug, Clone)]
pub struct Dump {
    scheduler: u32,
    fibers: Vec<FiberDump>,
}

impl Dump {
    pub(crate) fn new(scheduler: u32, fibers: Vec<FiberDump>) -> Dump {
        Dump { scheduler, fibers }
    }

    /// The fibers, in the scheduler's table order.
    pub fn fibers(&self) -> &[FiberDump] {
        &self.fibers
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scheduler == 0 {
            return f.write_str("spindle: dump: not called inside a runtime; no fibers");
        }
        write!(
            f,
            "spindle: dump of scheduler {} ({} fibers):",
            self.scheduler,
            self.fibers.len()
        )?;
        for fiber in &self.fibers {
            write!(f, "\n\n{fiber}")?;
        }
        Ok(())
    }
}

/// The state of a fiber in a [`Dump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FiberState {
    /// On the CPU (the one that called [`dump`](crate::dump::dump)).
    Running,
    /// Waiting for its turn.
    Runnable,
    /// Suspended until something wakes it.
    Parked,
    /// Its body returned; its stack is about to be freed.
    Finished,
    /// Given up on at shutdown.
    Abandoned,
}

impl fmt::Display for FiberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FiberState::Running => "running",
            FiberState::Runnable => "runnable",
            FiberState::Parked => "parked",
            FiberState::Finished => "finished",
            FiberState::Abandoned => "abandoned",
        })
    }
}

/// One fiber of a [`Dump`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FiberDump {
    /// Its id.
    pub id: FiberId,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Its state.
    pub state: FiberState,
    /// For a parked fiber, what it waits for: a file descriptor and readiness, a timer and
    /// the time left, a lock or channel and its address, a join, a park.
    pub waits_on: Option<String>,
    /// For a parked fiber, how long it has been parked, measured from the scheduler's last
    /// pass through its main loop before the park (so it may read a little high).
    pub parked_for: Option<Duration>,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// Its stack, innermost frame first (empty for a fiber that has not started yet).
    pub backtrace: Backtrace,
}

impl FiberDump {
    pub(crate) fn new(
        id: FiberId,
        name: Option<String>,
        state: FiberState,
        waits_on: Option<String>,
        parked_for: Option<Duration>,
        spawned_at: &'static Location<'static>,
        backtrace: Backtrace,
    ) -> FiberDump {
        FiberDump {
            id,
            name,
            state,
            waits_on,
            parked_for,
            spawned_at,
            backtrace,
        }
    }
}

impl fmt::Display for FiberDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fiber '{}' ({}), {}",
            self.name.as_deref().unwrap_or("<unnamed>"),
            self.id.as_u64(),
            self.state
        )?;
        if let Some(since) = self.parked_for {
            write!(f, " for {since:.1?}")?;
        }
        if let Some(what) = &self.waits_on {
            write!(f, " on {what}")?;
        }
        write!(f, ", spawned at {}", self.spawned_at)?;
        if self.backtrace.frames().is_empty() {
            match self.state {
                FiberState::Runnable => f.write_str("\n      <not started yet>"),
                _ => f.write_str("\n      <no backtrace>"),
            }
        } else {
            write!(f, "\n{}", self.backtrace)
        }
    }
}
