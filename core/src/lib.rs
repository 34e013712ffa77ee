//! spindle-core: the fiber runtime underneath spindle.
//!
//! - `arch`: the context switch (the only assembly).
//! - `stack`: guarded stacks carved from `mmap` slabs, and the overflow report.
//! - `scheduler`: one FIFO scheduler per thread, parking and unparking.
//! - `timer`: deadlines of sleeps and timeouts.
//! - [`reactor`]: epoll readiness turned into wake-ups; [`reactor::Registration::wait`] is the
//!   primitive the I/O shims of `spindle-io` build on.
//! - [`fiber`]: the public `std::thread`-shaped API; [`run`] and [`Runtime`] start a scheduler.
//!
//! Users should depend on the `spindle` facade, which re-exports this crate's public API.

// Base: the context switch, stacks, the OS, and leaf utilities.
mod arch;
mod slab;
mod stack;
mod sys;
mod trace;

// The engine: how fibers run (imports only the base; see `engine`'s module docs).
mod engine;

// The API built on the engine.
mod blocking;
pub mod dump;
mod dump_signal;
pub mod fiber;
mod join;
mod local;
mod panic_hook;
pub mod runtime;
mod scope;
mod shim;
mod stall_trace;
mod stats;
mod thread_per_core;
mod watchdog;

#[doc(hidden)]
pub mod __private;

pub use blocking::unblock;
pub use dump::{Dump, dump};
pub use runtime::{Runtime, run};
pub use stats::{Stats, stats};
pub use trace::{Backtrace, Frame};
pub use watchdog::{StallCause, StallPhase, StallReport};

/// Re-exported in [`fiber`] as `fiber::LocalKey`.
pub use local::LocalKey;
