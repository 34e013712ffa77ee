//! [`dump`]: every fiber of the calling runtime, where it is and what it waits for.

pub use crate::engine::dump::{Dump, FiberDump, FiberState};
use crate::engine::scheduler::Scheduler;

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
    Scheduler::with_current(|current| match current {
        Some(sched) => sched.dump(),
        None => Dump::new(0, Vec::new()),
    })
}
