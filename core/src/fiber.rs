//! Fibers: the `std::thread` API, for stackful coroutines that share one OS thread.
//!
//! | std                         | spindle                          |
//! |-----------------------------|----------------------------------|
//! | `thread::spawn`, `Builder`  | [`spawn`], [`Builder`]           |
//! | `JoinHandle`, `Thread`, `ThreadId` | [`JoinHandle`], [`Fiber`], [`FiberId`] |
//! | `current`, `yield_now`, `park`, `park_timeout`, `sleep` | the same names here, plus [`sleep_until`] |
//!
//! Closures need `'static` but not `Send`: a fiber never leaves the thread that spawned it.
//!
//! Outside a runtime (on a plain thread), [`yield_now`], [`park`], [`park_timeout`], [`sleep`]
//! and [`sleep_until`] behave like their `std::thread` twins, and [`current`] returns a
//! [`Fiber`] that stands for the calling thread. [`spawn`] panics there.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

pub use crate::engine::fiber::{Cancelled, FiberId};
use crate::engine::fiber::{FiberBlock, FiberRef, Unwind, Wait};
use crate::engine::scheduler::Scheduler;
use crate::join;
pub use crate::join::JoinHandle;
pub use crate::local::{AccessError, LocalKey};
pub use crate::scope::{Scope, ScopedJoinHandle, scope};

/// Unparks `fiber` from any thread.
fn unpark_ref(fiber: &FiberRef) {
    let shared = fiber.block();
    Scheduler::with_current(|current| match current {
        Some(sched) if sched.id() == shared.sched_id() => sched.unpark_local(shared),
        _ => shared.sched().unpark_remote(Arc::clone(fiber)),
    })
}

/// A handle to a fiber, or to a plain thread seen through [`current`].
///
/// `Fiber` is `Clone + Send + Sync`: any thread may hold one and [`unpark`](Fiber::unpark) it.
pub struct Fiber {
    inner: Inner,
}

enum Inner {
    /// `exported`: a handle user code holds (counted in the scheduler's `exported_handles`),
    /// as opposed to one inside spindle's own bookkeeping.
    Fiber {
        fiber: FiberRef,
        exported: bool,
    },
    Thread {
        thread: thread::Thread,
        id: FiberId,
    },
}

impl Clone for Fiber {
    /// Clones are handles user code holds: while any exist, the scheduler does not report a
    /// deadlock, since the clone may unpark the fiber from another thread.
    fn clone(&self) -> Fiber {
        match &self.inner {
            Inner::Fiber { fiber, .. } => Fiber::exported(Arc::clone(fiber)),
            Inner::Thread { thread, id } => Fiber {
                inner: Inner::Thread {
                    thread: thread.clone(),
                    id: *id,
                },
            },
        }
    }
}

impl Drop for Fiber {
    fn drop(&mut self) {
        if let Inner::Fiber {
            fiber,
            exported: true,
        } = &self.inner
        {
            fiber
                .block()
                .sched()
                .exported_handles
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Fiber {
    /// A handle for spindle's own bookkeeping (a join waiter, a lock's wait queue).
    pub(crate) fn from_ref(fiber: FiberRef) -> Fiber {
        Fiber {
            inner: Inner::Fiber {
                fiber,
                exported: false,
            },
        }
    }

    /// A handle given to user code.
    fn exported(fiber: FiberRef) -> Fiber {
        fiber
            .block()
            .sched()
            .exported_handles
            .fetch_add(1, Ordering::Relaxed);
        Fiber {
            inner: Inner::Fiber {
                fiber,
                exported: true,
            },
        }
    }

    /// The shared state behind a fiber handle (null for a thread's handle).
    pub(crate) fn block_ptr(&self) -> *const FiberBlock {
        match &self.inner {
            Inner::Fiber { fiber: f, .. } => f.block(),
            Inner::Thread { .. } => std::ptr::null(),
        }
    }

    /// The fiber's unique identifier.
    pub fn id(&self) -> FiberId {
        match &self.inner {
            Inner::Fiber { fiber: f, .. } => f.block().id,
            Inner::Thread { id, .. } => *id,
        }
    }

    /// The fiber's name, if it was given one with [`Builder::name`]. The root fiber of a
    /// runtime is named `"main"`; a plain thread's handle carries the thread's name.
    pub fn name(&self) -> Option<&str> {
        match &self.inner {
            Inner::Fiber { fiber: f, .. } => f.block().name(),
            Inner::Thread { thread, .. } => thread.name(),
        }
    }

    /// Makes the fiber runnable if it is parked, or makes its next [`park`] return at once.
    ///
    /// Callable from any thread: from the fiber's own thread it is a few plain memory
    /// operations; from another thread the fiber is queued on its scheduler, which is woken if
    /// it sleeps. Unparking a finished fiber does nothing.
    pub fn unpark(&self) {
        match &self.inner {
            Inner::Fiber { fiber: f, .. } => unpark_ref(f),
            Inner::Thread { thread, .. } => thread.unpark(),
        }
    }

    /// Where the fiber was spawned, for diagnostics (`None` for a plain thread's handle).
    pub fn spawn_location(&self) -> Option<&'static Location<'static>> {
        match &self.inner {
            Inner::Fiber { fiber: f, .. } => Some(f.block().spawned_at),
            Inner::Thread { .. } => None,
        }
    }
}

impl fmt::Debug for Fiber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fiber")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

/// A handle to the caller: the running fiber, or on a plain thread, the thread.
pub fn current() -> Fiber {
    current_handle()
}

pub(crate) fn current_handle() -> Fiber {
    Scheduler::with_on_fiber(|current| match current {
        Some(sched) => Fiber::exported(sched.current_ref()),
        _ => {
            crate::engine::scheduler::note_plain_thread();
            thread_local! {
                static THREAD_FIBER_ID: Cell<Option<FiberId>> = const { Cell::new(None) };
            }
            let id = THREAD_FIBER_ID.with(|cell| {
                *cell.get().get_or_insert_with(|| {
                    let id = FiberId::next();
                    cell.set(Some(id));
                    id
                })
            });
            Fiber {
                inner: Inner::Thread {
                    thread: thread::current(),
                    id,
                },
            }
        }
    })
}

/// Whether the caller runs on a fiber of a spindle runtime.
#[inline]
pub fn is_fiber() -> bool {
    Scheduler::with_on_fiber(|sched| sched.is_some())
}

/// Whether the calling fiber is unwinding, `std::thread::panicking`'s twin for fibers.
///
/// `std::thread::panicking` answers for the whole OS thread: while one fiber is suspended in
/// the middle of unwinding (a destructor that sleeps or waits for a lock), it is `true` for
/// every fiber of the thread. This asks about the caller only: it is `true` while the calling
/// fiber unwinds because it panicked or because its runtime is shutting down (see
/// [`Cancelled`]). On a plain thread it is `std::thread::panicking()`.
///
/// # Notes
///
/// spindle learns that a fiber starts to panic from a panic hook it installs (chained to the
/// hook that was in place) when the first runtime starts. If a program later replaces the
/// hook with `std::panic::set_hook`, or a fiber re-raises a payload with
/// `std::panic::resume_unwind` while another fiber of its thread is suspended mid-unwind, the
/// answer for such a fiber falls back to `std::thread::panicking`.
#[inline]
pub fn panicking() -> bool {
    // A fiber unwinds only while its thread does: the cheap process-wide check first (no
    // thread-local lookup on the common path, where nothing panics).
    if !thread::panicking() {
        return false;
    }
    Scheduler::with_on_fiber(|current| match current {
        Some(sched) => sched.current_unwind() != Unwind::No,
        None => true,
    })
}

/// Lets the other runnable fibers of this thread run, then continues. On a plain thread:
/// `std::thread::yield_now`.
pub fn yield_now() {
    Scheduler::with_on_fiber(|current| match current {
        Some(sched) => {
            sched.yield_now();
            sched.check_cancelled();
        }
        _ => thread::yield_now(),
    })
}

/// Counts one operation against the running fiber's cooperative budget, and yields to the
/// other fibers of its thread when the budget of this turn is spent.
///
/// spindle's own I/O types, locks and channels call it on every operation that may complete
/// without parking, so a fiber whose socket stays ready cannot hold its thread for ever (see
/// [`runtime::Builder::budget`](crate::runtime::Builder::budget)). Call it in loops of your own
/// that make progress without ever parking, once per unit of work: a non-blocking `try_`
/// loop, a wrapper around a foreign non-blocking API. Most calls are a compare and a store;
/// it yields only when the budget is spent and another fiber could run.
///
/// Does nothing on a plain thread or in a runtime whose budget is off.
///
/// # Panics
///
/// Like [`yield_now`], unwinds the fiber (with a payload that the runtime catches) when the
/// runtime shut down while it yielded.
///
/// # Examples
///
/// ```
/// # extern crate spindle_core as spindle;
/// use spindle::fiber;
///
/// spindle::run(|| {
///     let other = fiber::spawn(|| "other ran");
///     // A loop that never parks still lets `other` run now and then.
///     let mut sum = 0u64;
///     for i in 0..100_000u64 {
///         sum += i;
///         fiber::consume_budget();
///     }
///     assert_eq!(other.join().unwrap(), "other ran");
///     assert!(spindle::stats().unwrap().budget_yields > 0);
///     sum
/// });
/// ```
#[inline]
pub fn consume_budget() {
    Scheduler::with_on_fiber(|current| {
        if let Some(sched) = current {
            sched.consume_budget();
        }
    })
}

/// Blocks the running fiber until its [`Fiber::unpark`] is called (or spuriously).
///
/// As with `std::thread::park`, an `unpark` that came first makes `park` return at once, and
/// `park` may also return for no reason: call it in a loop that checks a condition. On a plain
/// thread this is `std::thread::park`.
pub fn park() {
    Scheduler::with_on_fiber(|current| match current {
        Some(sched) => {
            sched.note_wait(Wait::Park);
            sched.park(None);
            sched.check_cancelled();
        }
        _ => {
            crate::engine::scheduler::note_plain_thread();
            thread::park()
        }
    })
}

/// Like [`park`], returning after at most `dur`.
pub fn park_timeout(dur: Duration) {
    Scheduler::with_on_fiber(|current| match current {
        Some(sched) => {
            sched.note_wait(Wait::Park);
            sched.park(Instant::now().checked_add(dur));
            sched.check_cancelled();
        }
        _ => {
            crate::engine::scheduler::note_plain_thread();
            thread::park_timeout(dur)
        }
    })
}

/// Puts the running fiber to sleep for at least `dur`; other fibers run meanwhile. On a plain
/// thread: `std::thread::sleep`.
pub fn sleep(dur: Duration) {
    match Instant::now().checked_add(dur) {
        Some(deadline) => sleep_until(deadline),
        None => loop {
            park();
        },
    }
}

/// Puts the running fiber to sleep until `deadline`; returns at once if it has passed.
pub fn sleep_until(deadline: Instant) {
    Scheduler::with_on_fiber(|current| match current {
        Some(sched) => loop {
            if Instant::now() >= deadline {
                return;
            }
            sched.note_wait(Wait::Sleep(deadline));
            sched.park(Some(deadline));
            sched.check_cancelled();
        },
        _ => {
            let now = Instant::now();
            if deadline > now {
                thread::sleep(deadline - now);
            }
        }
    })
}

/// Spawns a fiber on the current thread's runtime and returns its [`JoinHandle`].
///
/// The fiber is queued behind the fibers already runnable (FIFO) and starts when the caller
/// next yields, parks or waits. It uses the runtime's default stack size.
///
/// # Panics
///
/// Outside a runtime (call it inside [`run`](crate::run)), or when no stack can be mapped
/// (see [`Builder::spawn`]).
///
/// # Examples
///
/// ```
/// # extern crate spindle_core as spindle;
/// let v = spindle::run(|| spindle::fiber::spawn(|| 6 * 7).join().unwrap());
/// assert_eq!(v, 42);
/// ```
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    // `panic!` here, in a `#[track_caller]` function, reports the caller's line.
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(e) => panic!("{e}"),
    }
}

/// The error of a spawn outside a runtime, naming where it was called.
pub(crate) fn outside_runtime(what: &str, at: &'static Location<'static>) -> io::Error {
    io::Error::other(format!(
        "{what} called outside a spindle runtime (at {at}): call it from inside \
         spindle::run(|| ...) or Runtime::run"
    ))
}

/// Configures a fiber before spawning it, like `std::thread::Builder`.
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the fiber; the name shows in [`Fiber::name`], overflow reports and stall reports.
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Sets the usable stack size in bytes, rounded up to whole pages (at least 16 KiB).
    /// Only touched pages use memory.
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns the fiber.
    ///
    /// # Errors
    ///
    /// When called outside a runtime, and when the stack cannot be mapped: the process ran out
    /// of address space or of memory mappings; the message names `vm.max_map_count`.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let spawned_at = Location::caller();
        Scheduler::with_current(|current| {
            let Some(sched) = current else {
                return Err(outside_runtime("spindle::fiber::spawn", spawned_at));
            };
            join::spawn_on(sched, f, self.name, self.stack_size, spawned_at)
        })
    }

    /// Spawns the fiber on scheduler `index` of the caller's runtime (see
    /// [`runtime::spawn_on`](crate::runtime::spawn_on)); the closure crosses threads.
    ///
    /// # Errors
    ///
    /// Outside a runtime, when `index` is not a scheduler of the caller's runtime, when that
    /// scheduler has ended, and when a stack cannot be mapped on the caller's own scheduler
    /// (a failure to map one on another scheduler is the fiber's `Err` result, with the
    /// message).
    #[track_caller]
    pub fn spawn_on<F, T>(self, index: usize, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        crate::thread_per_core::spawn_on_with(
            index,
            f,
            self.name,
            self.stack_size,
            Location::caller(),
        )
    }

    /// Spawns a fiber in `scope` that may borrow from outside it, mirroring
    /// `std::thread::Builder::spawn_scoped`.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    #[track_caller]
    pub fn spawn_scoped<'scope, F, T>(
        self,
        scope: &'scope Scope<'scope, '_>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + 'scope,
        T: 'scope,
    {
        crate::scope::spawn_in(scope, f, self.name, self.stack_size, Location::caller())
    }
}
