//! spindle: a stackful fiber runtime with `std`'s blocking API.
//!
//! Many fibers share one OS thread (the 1:N model). The blocking calls people already
//! write — `read`, `accept`, `sleep`, `Mutex::lock`, channel `recv` — park the calling
//! fiber instead of the thread, and a reactor on epoll plus a timer queue resume it when
//! it can go on.
//!
//! # Start here
//!
//! ## The swap
//!
//! A program written against std moves to spindle by changing `std::` to `spindle::` in its
//! `use` lines and running its body inside [`run`]:
//!
//! ```text
//! use std::net::{TcpListener, TcpStream};      →   use spindle::net::{TcpListener, TcpStream};
//! use std::sync::{Arc, Mutex, mpsc};           →   use spindle::sync::{Arc, Mutex, mpsc};
//! use std::thread;                             →   use spindle::thread;
//! fn main() { body() }                         →   fn main() { spindle::run(body) }
//! ```
//!
//! [`thread::spawn`] then starts a fiber, [`thread::sleep`] and every socket, lock and channel
//! call park only the calling fiber, and [`println!`] writes through the fiber-aware
//! [`io::stdout`]. Closures need `'static` but not `Send`: a fiber never leaves its thread.
//! [`fiber`] holds the same API under fiber names, plus what threads do not have
//! ([`fiber::sleep_until`], [`fiber::is_fiber`]).
//!
//! ## A networking example
//!
//! A server with a fiber per connection, written as a thread per connection is:
//!
//! ```
//! use spindle::io::{BufRead, BufReader, Write};
//! use spindle::net::{TcpListener, TcpStream};
//! use spindle::thread;
//!
//! fn main() -> spindle::io::Result<()> {
//!     spindle::run(|| {
//!         let listener = TcpListener::bind("127.0.0.1:0")?;
//!         let addr = listener.local_addr()?;
//!         thread::spawn(move || {
//!             for stream in listener.incoming() {
//!                 let mut stream = stream.unwrap();
//!                 thread::spawn(move || {
//!                     let reader = BufReader::new(stream.try_clone().unwrap());
//!                     for line in reader.lines() {
//!                         let line = line.unwrap();
//!                         writeln!(stream, "{}", line.to_uppercase()).unwrap();
//!                     }
//!                 });
//!             }
//!         });
//!         let mut client = TcpStream::connect(addr)?;
//!         writeln!(client, "hello")?;
//!         let mut reply = String::new();
//!         BufReader::new(client).read_line(&mut reply)?;
//!         assert_eq!(reply, "HELLO\n");
//!         Ok(())
//!     })
//! }
//! ```
//!
//! ## std → spindle
//!
//! | std | spindle | what changes |
//! |---|---|---|
//! | `std::thread` | [`spindle::thread`](thread) (= [`spindle::fiber`](fiber) under std's names) | fibers; `scope` joins even at shutdown |
//! | `thread_local!`, `print!`, `println!`, `eprint!`, `eprintln!`, `dbg!` | [`thread_local!`], [`print!`], [`println!`], … | per fiber; through spindle's stdout/stderr |
//! | `std::net`, `std::os::unix::net` | [`net`], [`os::unix::net`] | park on the reactor |
//! | `std::io` | [`io`] | stdio parks; std's traits re-exported; [`io::IsTerminal`] is spindle's |
//! | `std::sync` (+ `mpsc`) | [`sync`] | locks and channels park the fiber; + `Semaphore`, `WaitGroup`, `mpmc` |
//! | `std::fs`, `std::os::unix::fs` | [`fs`], [`os::unix::fs`] | on the blocking pool; `File::lock` retries with sleeps |
//! | `std::process`, `std::os::unix::process` | [`process`], [`os::unix::process`] | pipes on the reactor, `wait` on a pidfd |
//! | `std::time` and the modules that never block (`collections`, `env`, …) | [`time`], [`collections`], … | std's, re-exported |
//! | any other blocking call | [`unblock`]`(\|\| call())` | runs on the blocking pool |
//!
//! README's table lists every item (the test `tests/std_paths.rs` checks that each exists).
//!
//! ## When something blocks anyway: where the reports come from
//!
//! - **Stall report** (stderr, `spindle: stall: fiber '…' …`): a watchdog thread
//!   sees a fiber that has held its thread past [`runtime::Builder::stall_threshold`] (10 ms by
//!   default) and names it, with its spawn location; route reports to your code with
//!   [`runtime::Builder::on_stall`] ([`StallReport`]); [`stats`] counts them.
//! - **Deadlock report** (the panic of [`run`], `spindle: deadlock: …`): when every fiber is
//!   parked and nothing can wake one for [`runtime::Builder::deadlock_timeout`] (1 s), the
//!   fibers are unwound and `run` panics with the list of parked fibers and what each waits on.
//! - **Overflow report** (stderr, then abort): a fiber that runs into its stack's guard page
//!   is named with its stack size; raise it with [`fiber::Builder::stack_size`].
//!
//! The architecture — scheduler, reactor, stacks, and how the shims use them — is described in
//! `docs/ARCHITECTURE.md` in the repository.
#![deny(unsafe_code)]

#[doc(inline)]
pub use spindle_core::{
    Backtrace, Dump, Frame, Runtime, StallCause, StallPhase, StallReport, Stats, dump, fiber,
    fiber_local, run, runtime, stats, unblock,
};

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

/// The zero-rewrite mode (feature `hook`): libc's blocking calls interposed, so std's
/// blocking I/O and sleeps, and those of unmodified crates, park the fiber. See `docs/hook.md`.
#[cfg(feature = "hook")]
pub use spindle_hook as hook;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
