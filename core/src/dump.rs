//! [`dump`]: every fiber of the calling runtime, where it is and what it waits for.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::fiber::FiberId;
use crate::scheduler::Scheduler;
use crate::trace::Backtrace;

/// Lists every fiber of the calling thread's runtime: id, name, state, what a parked fiber
/// waits for and since when, where it was spawned, and its backtrace.
///
/// Suspended fibers are read without running any of their code: the scheduler switches into
/// each one at its park point, where spindle's own code walks the stack and switches straight
/// back. The dump is taken on the calling fiber, which appears in it as running, and holds the
/// thread meanwhile: the first dump of a process reads the debug info to name the frames
/// (about a second for a large debug build, and the stall detector may report it), later ones
/// take about 20 µs per fiber (`examples/dump_many.rs`). In a thread-per-core runtime it lists
/// the calling thread's scheduler only. Called outside a runtime, it returns an empty dump.
///
/// # Examples
///
/// ```
/// # extern crate spindle_core as spindle;
/// use spindle::fiber;
/// use std::time::Duration;
///
/// spindle::run(|| {
///     let sleeper = fiber::Builder::new()
///         .name("sleeper".into())
///         .spawn(|| fiber::sleep(Duration::from_millis(50)))
///         .unwrap();
///     fiber::yield_now();
///     let dump = spindle::dump();
///     assert!(dump.to_string().contains("fiber 'sleeper'"));
///     sleeper.join().unwrap();
/// });
/// ```
pub fn dump() -> Dump {
    match Scheduler::current() {
        Some(sched) => sched.dump(),
        None => Dump::new(0, Vec::new()),
    }
}

/// What [`dump`] returns. `Display` prints one block per fiber, like Go's goroutine dump.
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
    /// On the CPU (the one that called [`dump`]).
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
