//! spindle-core: the fiber runtime underneath spindle.
//!
//! Three layers, whose imports point down (`tests/layering.rs` checks it):
//!
//! - base: `arch` (the context switch, the only assembly), `stack` (guarded stacks carved from
//!   `mmap` slabs, and the overflow report), `sys` (every libc call).
//! - engine: the fiber control block, one FIFO scheduler per thread, timers, and the reactor
//!   (epoll readiness turned into wake-ups; `Registration::wait` is the primitive the I/O
//!   shims of `spindle-io` build on).
//! - API: [`fiber`], the public `std::thread`-shaped API; [`run`] and [`Runtime`] start a
//!   scheduler; [`unblock`], [`stats`], [`dump`](dump()).
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
mod descriptor_table;
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
