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

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::reactor::Interest;

pub use crate::join::JoinHandle;
use crate::join::{self, FiberRef};
pub use crate::local::{AccessError, LocalKey};
use crate::scheduler::{SchedShared, Scheduler};
pub use crate::scope::{Scope, ScopedJoinHandle, scope};
use crate::stack::Stack;
use crate::timer::TimerKey;

/// A unique identifier for a fiber (or for a plain thread seen through [`current`]).
///
/// Like `std::thread::ThreadId`: unique for the life of the process, never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiberId(NonZeroU64);

impl FiberId {
    /// A fresh id. Each thread takes ids from the global counter in blocks, so spawning
    /// touches no shared cache line.
    pub(crate) fn next() -> FiberId {
        const BLOCK: u64 = 1024;
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            static BLOCK_LEFT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        let id = BLOCK_LEFT.with(|cell| {
            let (mut next, mut end) = cell.get();
            if next == end {
                next = COUNTER.fetch_add(BLOCK, Ordering::Relaxed);
                end = next + BLOCK;
            }
            cell.set((next + 1, end));
            next
        });
        FiberId(NonZeroU64::new(id).expect("fiber id counter overflowed"))
    }

    /// The identifier as a number.
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

impl fmt::Debug for FiberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FiberId({})", self.0)
    }
}

/// What a parked fiber waits for, as the deadlock report and the dump name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Nothing,
    Park,
    /// A sleep until this deadline.
    Sleep(Instant),
    Join(FiberId),
    /// Readiness of a file descriptor.
    Io(RawFd, Interest),
    On(&'static str, usize),
}

impl Wait {
    /// Describes the wait, with the time left of a sleep as of `now`.
    pub(crate) fn describe(self, now: Instant) -> String {
        match self {
            Wait::Sleep(deadline) => format!(
                "a timer (sleep, {:.1?} left)",
                deadline.saturating_duration_since(now)
            ),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Wait::Nothing => f.write_str("nothing (runnable)"),
            Wait::Park => f.write_str("fiber::park (an unpark by handle)"),
            Wait::Sleep(_) => f.write_str("a timer"),
            Wait::Join(id) => write!(f, "join of fiber {}", id.as_u64()),
            Wait::Io(fd, interest) => write!(f, "fd {fd} becoming {interest:?}"),
            Wait::On(what, addr) => write!(f, "{what} at {addr:#x}"),
        }
    }
}

/// Where a fiber is in its life; see the table in the scheduler module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Runnable,
    Running,
    Parked,
    Finished,
    /// Given up on at shutdown: never resumed, never freed.
    Abandoned,
}

/// Whether, and why, a fiber is unwinding; see [`panicking`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwind {
    /// Not unwinding (or a panic it raised was caught).
    No,
    /// A panic started on this fiber (seen by spindle's panic hook).
    Panic,
    /// Its runtime is shutting down and unwinds it with [`Cancelled`].
    Cancel,
    /// Its unwind was caught and is held while it waits for something that must end first
    /// (a `scope` waiting for its children); it resumes the unwind afterwards.
    Held,
}

/// The panic payload with which a runtime unwinds the fibers still alive when its root
/// fiber returns (or when it reports a deadlock).
///
/// A fiber that catches panics, for instance around each request it handles, should let this
/// one go on:
///
/// ```
/// # extern crate spindle_core as spindle;
/// use spindle::fiber::{self, Cancelled};
/// use std::panic;
///
/// spindle::run(|| {
///     fiber::spawn(|| loop {
///         if let Err(payload) = panic::catch_unwind(|| fiber::sleep(std::time::Duration::from_millis(1))) {
///             if payload.is::<Cancelled>() {
///                 panic::resume_unwind(payload); // the runtime is shutting down
///             }
///             eprintln!("a request handler panicked; serving the next one");
///         }
///     });
///     fiber::yield_now();
/// });
/// ```
///
/// # Notes
///
/// A cancelled fiber that catches `Cancelled` and goes on is unwound again at its next park,
/// sleep, yield or wait; after the fourth time it is abandoned: never resumed again, its stack
/// left mapped and everything it owns leaked (see [`Runtime::run`](crate::Runtime::run)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the fiber's runtime is shutting down")
    }
}

/// A fiber as seen by any thread: identity, plus scheduler-owned state behind
/// [`local`](FiberShared::local).
pub(crate) struct FiberShared {
    pub(crate) id: FiberId,
    name: Option<Box<str>>,
    pub(crate) spawned_at: &'static Location<'static>,
    sched: Arc<SchedShared>,
    /// Copy of `sched.id()`, checked on every access to `local`.
    sched_id: u32,
    local: LocalState,
}

/// State only the owning scheduler's thread touches.
pub(crate) struct LocalState {
    pub(crate) state: Cell<State>,
    /// std's park token.
    pub(crate) notified: Cell<bool>,
    /// Set when the runtime shuts down: the fiber must unwind.
    pub(crate) cancelled: Cell<bool>,
    /// Whether the fiber is unwinding, and why (see [`panicking`]).
    pub(crate) unwind: Cell<Unwind>,
    /// How many times shutdown has raised [`Cancelled`] in this fiber.
    pub(crate) cancel_raises: Cell<u32>,
    /// Saved stack pointer while suspended.
    pub(crate) sp: Cell<*mut u8>,
    stack: Cell<Option<Stack>>,
    /// Guard page range `[start, end)`, for the overflow handler.
    pub(crate) guard: Cell<(usize, usize)>,
    /// Usable stack bytes, for the overflow handler.
    pub(crate) stack_size: Cell<usize>,
    /// The armed timer of a timed park.
    pub(crate) timer: Cell<Option<TimerKey>>,
    /// What the fiber waits for while parked, for the deadlock report.
    pub(crate) wait: Cell<Wait>,
    /// When it parked, by the scheduler's coarse clock (see `Scheduler::clock`).
    pub(crate) parked_at: Cell<Option<Instant>>,
    /// Whether it has started running (its stack holds more than `init_stack`'s frame).
    pub(crate) started: Cell<bool>,
    /// The next fiber in the run queue.
    pub(crate) next_runnable: Cell<*const FiberShared>,
    /// Index in the scheduler's table of fibers.
    pub(crate) slot: Cell<usize>,
    /// Values of `fiber_local!` keys, by key index.
    pub(crate) locals: RefCell<Vec<Option<Box<dyn Any>>>>,
}

// SAFETY: the fields of `FiberShared` other threads can reach are immutable (`id`, `name`,
// `spawned_at`, `sched_id`) or thread-safe (`sched`). `local` holds non-thread-safe cells, but
// it is only reachable through `FiberShared::local`/`try_local`, which require a `&Scheduler`
// whose id matches: a scheduler lives in a Box owned by one `run` call and is neither Send
// nor Sync, so holding it proves we run on the owner thread. When the last handle drops on
// another thread, `local` holds no stack (released when the fiber is reclaimed) and no
// fiber-local values: `drop_fiber_locals` runs last on the fiber, after its result was
// published or dropped, and drains the table until it stays empty. An abandoned fiber's
// control block is never dropped.
unsafe impl Send for FiberShared {}
// SAFETY: see the `Send` impl.
unsafe impl Sync for FiberShared {}

impl fmt::Debug for FiberShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FiberShared")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl FiberShared {
    /// A control block for a fiber that `sched` will run (it may belong to another thread).
    pub(crate) fn new(
        sched: &Arc<SchedShared>,
        name: Option<String>,
        spawned_at: &'static Location<'static>,
    ) -> FiberShared {
        FiberShared {
            id: FiberId::next(),
            name: name.map(String::into_boxed_str),
            spawned_at,
            sched: Arc::clone(sched),
            sched_id: sched.id(),
            local: LocalState {
                state: Cell::new(State::Runnable),
                notified: Cell::new(false),
                cancelled: Cell::new(false),
                unwind: Cell::new(Unwind::No),
                cancel_raises: Cell::new(0),
                sp: Cell::new(std::ptr::null_mut()),
                stack: Cell::new(None),
                guard: Cell::new((0, 0)),
                stack_size: Cell::new(0),
                timer: Cell::new(None),
                wait: Cell::new(Wait::Nothing),
                parked_at: Cell::new(None),
                started: Cell::new(false),
                next_runnable: Cell::new(std::ptr::null()),
                slot: Cell::new(usize::MAX),
                locals: RefCell::new(Vec::new()),
            },
        }
    }

    /// The scheduler-owned state, or `None` if `sched` is not this fiber's scheduler. Never
    /// panics (the overflow handler uses it).
    #[inline]
    pub(crate) fn try_local(&self, sched: &Scheduler) -> Option<&LocalState> {
        (self.sched_id == sched.id()).then_some(&self.local)
    }

    /// The scheduler-owned state; `sched` must be this fiber's own scheduler.
    #[inline]
    pub(crate) fn local(&self, sched: &Scheduler) -> &LocalState {
        assert_eq!(
            self.sched_id,
            sched.id(),
            "spindle: a fiber's state touched from another scheduler"
        );
        &self.local
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn sched_id(&self) -> u32 {
        self.sched_id
    }
}

impl fmt::Debug for LocalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalState")
            .field("state", &self.state.get())
            .field("notified", &self.notified.get())
            .field("cancelled", &self.cancelled.get())
            .finish_non_exhaustive()
    }
}

/// Unparks `fiber` from any thread.
fn unpark_ref(fiber: &FiberRef) {
    let shared = fiber.shared();
    match Scheduler::current() {
        Some(sched) if sched.id() == shared.sched_id => sched.unpark_local(shared),
        _ => shared.sched.unpark_remote(Arc::clone(fiber)),
    }
}

impl LocalState {
    pub(crate) fn install_stack(&self, stack: Stack) {
        let guard = stack.guard();
        self.guard.set((guard.start, guard.end));
        self.stack_size.set(stack.usable());
        self.stack.set(Some(stack));
    }

    pub(crate) fn take_stack(&self) -> Option<Stack> {
        self.guard.set((0, 0));
        self.stack.take()
    }
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
                .shared()
                .sched
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
            .shared()
            .sched
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
    pub(crate) fn shared_ptr(&self) -> *const FiberShared {
        match &self.inner {
            Inner::Fiber { fiber: f, .. } => f.shared(),
            Inner::Thread { .. } => std::ptr::null(),
        }
    }

    /// The fiber's unique identifier.
    pub fn id(&self) -> FiberId {
        match &self.inner {
            Inner::Fiber { fiber: f, .. } => f.shared().id,
            Inner::Thread { id, .. } => *id,
        }
    }

    /// The fiber's name, if it was given one with [`Builder::name`]. The root fiber of a
    /// runtime is named `"main"`; a plain thread's handle carries the thread's name.
    pub fn name(&self) -> Option<&str> {
        match &self.inner {
            Inner::Fiber { fiber: f, .. } => f.shared().name(),
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
            Inner::Fiber { fiber: f, .. } => Some(f.shared().spawned_at),
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

/// [`current`] for a wait queue of a spindle primitive: the handle is part of the
/// primitive's bookkeeping, so it does not stop the deadlock detector (see
/// [`Builder::deadlock_timeout`](crate::runtime::Builder::deadlock_timeout)).
#[doc(hidden)]
pub fn current_waiter() -> Fiber {
    match Scheduler::on_fiber() {
        Some(sched) => Fiber::from_ref(sched.current_ref()),
        _ => current_handle(),
    }
}

fn current_handle() -> Fiber {
    match Scheduler::on_fiber() {
        Some(sched) => Fiber::exported(sched.current_ref()),
        _ => {
            crate::scheduler::note_plain_thread();
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
    }
}

/// Whether the caller runs on a fiber of a spindle runtime.
#[inline]
pub fn is_fiber() -> bool {
    Scheduler::on_fiber().is_some()
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
    match Scheduler::on_fiber() {
        Some(sched) => sched.current_unwind() != Unwind::No,
        None => true,
    }
}

/// Whether the caller unwinds because of a panic (not a shutdown's [`Cancelled`]): the
/// question lock poisoning asks. A fiber unwound by its runtime's shutdown does not poison
/// the locks it held.
#[doc(hidden)]
#[inline]
pub fn panicking_poisons() -> bool {
    if !thread::panicking() {
        return false;
    }
    match Scheduler::on_fiber() {
        Some(sched) => sched.current_unwind() == Unwind::Panic,
        None => true,
    }
}

/// The id of the scheduler the caller runs a fiber of, or `None` on a plain thread: lets a
/// lock tell whether a waiter shares the unlocker's thread.
#[doc(hidden)]
#[inline]
pub fn scheduler_id() -> Option<u32> {
    Scheduler::on_fiber().map(|sched| sched.id())
}

/// Whether a fiber about to wait for something another thread holds may spin a little first:
/// true on a plain thread, and on a fiber whose scheduler has nothing else to run (parking
/// would only put the thread to sleep, which costs more than a short spin).
#[doc(hidden)]
#[inline]
pub fn may_spin() -> bool {
    match Scheduler::on_fiber() {
        Some(sched) => sched.nothing_else_runnable(),
        None => true,
    }
}

/// Lets the other runnable fibers of this thread run, then continues. On a plain thread:
/// `std::thread::yield_now`.
pub fn yield_now() {
    match Scheduler::on_fiber() {
        Some(sched) => {
            sched.yield_now();
            sched.check_cancelled();
        }
        _ => thread::yield_now(),
    }
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
    if let Some(sched) = Scheduler::on_fiber() {
        sched.consume_budget();
    }
}

/// Blocks the running fiber until its [`Fiber::unpark`] is called (or spuriously).
///
/// As with `std::thread::park`, an `unpark` that came first makes `park` return at once, and
/// `park` may also return for no reason: call it in a loop that checks a condition. On a plain
/// thread this is `std::thread::park`.
pub fn park() {
    match Scheduler::on_fiber() {
        Some(sched) => {
            sched.note_wait(Wait::Park);
            sched.park(None);
            sched.check_cancelled();
        }
        _ => {
            crate::scheduler::note_plain_thread();
            thread::park()
        }
    }
}

/// Names what the running fiber is about to park for, so a deadlock report can say it (for
/// spindle's own locks and channels; call right before [`park`]). Does nothing on a plain
/// thread.
#[doc(hidden)]
pub fn waiting_on(what: &'static str, object: *const ()) {
    if let Some(sched) = Scheduler::on_fiber() {
        sched
            .current_fiber()
            .local(sched)
            .wait
            .set(Wait::On(what, object as usize));
    }
}

/// Like [`park`], returning after at most `dur`.
pub fn park_timeout(dur: Duration) {
    match Scheduler::on_fiber() {
        Some(sched) => {
            sched.note_wait(Wait::Park);
            sched.park(Instant::now().checked_add(dur));
            sched.check_cancelled();
        }
        _ => {
            crate::scheduler::note_plain_thread();
            thread::park_timeout(dur)
        }
    }
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
    match Scheduler::on_fiber() {
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
    }
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
        let Some(sched) = Scheduler::current() else {
            return Err(outside_runtime("spindle::fiber::spawn", spawned_at));
        };
        join::spawn_on(sched, f, self.name, self.stack_size, spawned_at)
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
