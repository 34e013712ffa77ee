//! The fiber control block ([`FiberBlock`]) and the handle the scheduler holds ([`FiberRef`]).
//!
//! One fiber is one `Arc` allocation, made by `join::spawn_on`:
//!
//! ```text
//!  FiberRef = Arc<dyn ErasedFiber> ──► join::FiberWithResult<T>
//!                                      ┌────────────────────────────────────────────┐
//!  *const FiberBlock (run queue, ────► │ FiberBlock                                 │
//!  timers, reactor, `current`)         │   id, name, spawned_at, sched, sched_id    │ any thread reads
//!                                      │   owned: OwnedState                        │ owner thread only
//!                                      │ Packet<T>  (join.rs: the result slot)      │ JoinHandle ⇄ fiber
//!                                      └────────────────────────────────────────────┘
//! ```
//!
//! - [`FiberBlock`] is what the engine knows of a fiber. Its immutable identity and the
//!   `Arc<SchedShared>` of its scheduler are readable from any thread (a `Fiber` handle
//!   unparks from anywhere; the watchdog reads the name). Everything the scheduler changes
//!   lives in the field group [`OwnedState`], reached only through
//!   [`FiberBlock::owned`], which demands the owning `&Scheduler`: that split is what makes
//!   the block `Send + Sync` while its state is plain `Cell`s with no atomics on the switch
//!   path (see the `Send` impl).
//! - [`FiberRef`] is the owning handle: the scheduler's table of live fibers, its remote
//!   queue and every `fiber::Fiber` hold one. The allocation also carries the result slot,
//!   whose type `T` the engine does not know; [`ErasedFiber`] is the trait that erases it.
//!   The raw `*const FiberBlock` pointers of the run queue, timers and reactor are valid
//!   while the scheduler's table holds the fiber's `FiberRef`.

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

/// A fiber's control block (see the module docs): identity any thread may read, plus the
/// state its scheduler owns, behind [`owned`](FiberBlock::owned).
pub(crate) struct FiberBlock {
    /// Set at creation; read anywhere (handles, reports).
    pub(crate) id: FiberId,
    /// Set at creation; read anywhere (the watchdog reads it under its hazard pointer).
    name: Option<Box<str>>,
    /// Set at creation; for reports.
    pub(crate) spawned_at: &'static Location<'static>,
    /// The scheduler that runs the fiber: another thread's `unpark` queues it there.
    sched: Arc<SchedShared>,
    /// Copy of `sched.id()`, checked on every access to `owned`.
    sched_id: u32,
    /// Read and written only on the owning scheduler's thread.
    owned: OwnedState,
}

/// The fields of a [`FiberBlock`] that only its scheduler's thread touches (kept as one
/// group so that the only way in, [`FiberBlock::owned`], checks the thread once).
pub(crate) struct OwnedState {
    /// Where the fiber is in its life (table in the `scheduler` module docs).
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
    pub(crate) next_runnable: Cell<*const FiberBlock>,
    /// Index in the scheduler's table of fibers.
    pub(crate) slot: Cell<usize>,
    /// Values of `fiber_local!` keys, by key index.
    pub(crate) locals: RefCell<Vec<Option<Box<dyn Any>>>>,
}

// SAFETY: the fields of `FiberBlock` other threads can reach are immutable (`id`, `name`,
// `spawned_at`, `sched_id`) or thread-safe (`sched`). `owned` holds non-thread-safe cells, but
// it is only reachable through `FiberBlock::owned`/`try_owned`, which require a `&Scheduler`
// whose id matches: a scheduler lives in a Box owned by one `run` call and is neither Send
// nor Sync, so holding it proves we run on the owner thread. When the last handle drops on
// another thread, `owned` holds no stack (released when the fiber is reclaimed) and no
// fiber-local values: `drop_fiber_locals` runs last on the fiber, after its result was
// published or dropped, and drains the table until it stays empty. An abandoned fiber's
// control block is never dropped.
unsafe impl Send for FiberBlock {}
// SAFETY: see the `Send` impl.
unsafe impl Sync for FiberBlock {}

impl fmt::Debug for FiberBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FiberBlock")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl FiberBlock {
    /// A control block for a fiber that `sched` will run (it may belong to another thread).
    pub(crate) fn new(
        sched: &Arc<SchedShared>,
        name: Option<String>,
        spawned_at: &'static Location<'static>,
    ) -> FiberBlock {
        FiberBlock {
            id: FiberId::next(),
            name: name.map(String::into_boxed_str),
            spawned_at,
            sched: Arc::clone(sched),
            sched_id: sched.id(),
            owned: OwnedState {
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
    pub(crate) fn try_owned(&self, sched: &Scheduler) -> Option<&OwnedState> {
        (self.sched_id == sched.id()).then_some(&self.owned)
    }

    /// The scheduler-owned state; `sched` must be this fiber's own scheduler.
    #[inline]
    pub(crate) fn owned(&self, sched: &Scheduler) -> &OwnedState {
        assert_eq!(
            self.sched_id,
            sched.id(),
            "spindle: a fiber's state touched from another scheduler"
        );
        &self.owned
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

impl fmt::Debug for OwnedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedState")
            .field("state", &self.state.get())
            .field("notified", &self.notified.get())
            .field("cancelled", &self.cancelled.get())
            .finish_non_exhaustive()
    }
}

impl OwnedState {
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

/// A fiber's allocation seen without its result type (implemented by
/// `join::FiberWithResult<T>`).
pub(crate) trait ErasedFiber: Send + Sync + 'static {
    /// The control block at the head of the allocation.
    fn block(&self) -> &FiberBlock;

    /// The fiber will never run (again): abandoned at shutdown, or never started. Its
    /// `JoinHandle` gets `Err(payload)`.
    fn complete_without_running(&self, payload: Box<dyn Any + Send>);
}

impl fmt::Debug for dyn ErasedFiber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.block().fmt(f)
    }
}

/// The owning handle to a fiber: one count on its allocation (control block and result slot).
pub(crate) type FiberRef = Arc<dyn ErasedFiber>;
