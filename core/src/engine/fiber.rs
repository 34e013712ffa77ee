//! The fiber control block: what the engine knows about one fiber.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::num::NonZeroU64;
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::reactor::Interest;
use super::scheduler::{SchedShared, Scheduler};
use super::timer::TimerKey;
use crate::stack::Stack;

/// A unique identifier for a fiber (or for a plain thread seen through [`current`](crate::fiber::current)).
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

/// Whether, and why, a fiber is unwinding; see [`panicking`](crate::fiber::panicking).
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
    /// Whether the fiber is unwinding, and why (see [`panicking`](crate::fiber::panicking)).
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

    /// The thread-shared part of the scheduler that runs this fiber.
    pub(crate) fn sched(&self) -> &Arc<SchedShared> {
        &self.sched
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

/// A fiber seen without its result type.
pub(crate) trait AnyFiber: Send + Sync + 'static {
    fn shared(&self) -> &FiberShared;

    /// The fiber will never run (again): abandoned at shutdown, or never started. Its
    /// `JoinHandle` gets `Err(payload)`.
    fn complete_without_running(&self, payload: Box<dyn Any + Send>);
}

impl fmt::Debug for dyn AnyFiber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared().fmt(f)
    }
}

/// An owning, type-erased reference to a fiber.
pub(crate) type FiberRef = Arc<dyn AnyFiber>;
