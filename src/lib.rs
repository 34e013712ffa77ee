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

pub use spindle_core::{
    Backtrace, Dump, Frame, Runtime, StallCause, StallPhase, StallReport, Stats, dump, fiber,
    fiber_local, run, runtime, stats, unblock,
};

/// Fiber-aware locks and channels, mirroring `std::sync`.
pub use spindle_sync as sync;

pub use spindle_io::{fs, io, net, os, process};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
