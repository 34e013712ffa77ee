//! spindle: a stackful fiber runtime with `std`'s blocking API.
//!
//! Many fibers share one OS thread (the 1:N model). The blocking calls people already
//! write — `read`, `accept`, `sleep`, `Mutex::lock`, channel `recv` — park the calling
//! fiber instead of the thread, and a reactor on epoll plus a timer queue resume it when
//! it can go on. Moving a program to spindle means changing `std::` to `spindle::` in its
//! imports.
//!
//! ```
//! use spindle::fiber;
//! use std::time::Duration;
//!
//! let total = spindle::run(|| {
//!     let handles: Vec<_> = (0..100u64)
//!         .map(|i| fiber::spawn(move || { fiber::sleep(Duration::from_millis(1)); i }))
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total, 4950);
//! ```
#![deny(unsafe_code)]

pub use spindle_core::{Runtime, StallPhase, StallReport, Stats, fiber_local, run, stats, unblock};

#[doc(inline)]
pub use spindle_core::{fiber, runtime};

#[doc(inline)]
pub use spindle_sync as sync;

#[doc(inline)]
pub use spindle_io::{fs, io, net, os, process};

pub mod thread;

/// Time, mirroring `std::time`: std's types, re-exported (spindle's waits take them as they are).
pub mod time {
    pub use std::time::{
        Duration, Instant, SystemTime, SystemTimeError, TryFromFloatSecsError, UNIX_EPOCH,
    };
}

/// Declares fiber-local statics under std's name: [`fiber_local!`], one value per fiber.
///
/// `static X: T = const { ... };` is accepted as with std's macro; the value is created on
/// first use in each fiber, like std's non-`const` form.
pub use spindle_core::fiber_local as thread_local;

mod macros;

/// std's modules that never block, re-exported unchanged so that a literal `std::` →
/// `spindle::` swap of a program's imports compiles (`use spindle::collections::HashMap` is
/// std's `HashMap`).
#[doc(no_inline)]
pub use std::{
    alloc, any, arch, array, ascii, backtrace, borrow, boxed, cell, char, clone, cmp, collections,
    convert, default, env, error, f32, f64, ffi, fmt, future, hash, hint, iter, marker, mem, num,
    ops, option, panic, path, pin, primitive, ptr, rc, result, slice, str, string, task, vec,
};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
