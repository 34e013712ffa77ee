//! `std::thread`'s names for fibers: the module a literal `std::` → `spindle::` swap lands in.
//!
//! Every item is the [`fiber`](crate::fiber) item under std's name: [`spawn`] starts a fiber,
//! [`Thread`] is [`Fiber`](crate::fiber::Fiber), [`ThreadId`] is
//! [`FiberId`](crate::fiber::FiberId), [`sleep`] parks the fiber, and [`LocalKey`] (made by
//! [`thread_local!`](crate::thread_local)) holds one value per fiber. [`available_parallelism`]
//! and [`Result`] are std's.
//!
//! # Notes
//!
//! - Closures need `'static` but not `Send`: a fiber never leaves the thread that spawned it.
//! - `spawn` outside a runtime panics (call it inside [`run`](crate::run)); the other functions
//!   act on the calling thread there, exactly like std's.
//! - [`scope`] joins its fibers even when the scope's closure panics or the runtime shuts down
//!   while it is open, so borrowed data always outlives them.
//!
//! # Examples
//!
//! ```
//! use spindle::thread;
//! use std::time::Duration;
//!
//! spindle::run(|| {
//!     let mut words = vec!["a", "b"];
//!     thread::scope(|s| {
//!         s.spawn(|| thread::sleep(Duration::from_millis(1)));
//!         s.spawn(|| words.push("c"));
//!     });
//!     assert_eq!(words, ["a", "b", "c"]);
//!     let h = thread::Builder::new()
//!         .name("worker".into())
//!         .spawn(|| thread::current().name().map(String::from))
//!         .unwrap();
//!     assert_eq!(h.thread().name(), Some("worker"));
//!     assert_eq!(h.join().unwrap().as_deref(), Some("worker"));
//! });
//! ```

#[doc(inline)]
pub use spindle_core::fiber::{
    AccessError, Builder, JoinHandle, LocalKey, Scope, ScopedJoinHandle, current, park,
    park_timeout, scope, sleep, sleep_until, spawn, yield_now,
};

/// A handle to a fiber, under `std::thread::Thread`'s name: [`Fiber`](crate::fiber::Fiber).
pub type Thread = spindle_core::fiber::Fiber;

/// A fiber's unique identifier, under `std::thread::ThreadId`'s name:
/// [`FiberId`](crate::fiber::FiberId).
pub type ThreadId = spindle_core::fiber::FiberId;

pub use std::thread::{Result, available_parallelism};

/// Whether the calling fiber is unwinding, mirroring `std::thread::panicking`: the same
/// function as [`spindle::fiber::panicking`](crate::fiber::panicking).
///
/// # Notes
///
/// It answers for the calling *fiber*, where std's answers for the OS thread (which is
/// unwinding whenever any of its fibers is, for example one suspended in a destructor that
/// parks). On a plain thread the two agree.
pub use spindle_core::fiber::panicking;
