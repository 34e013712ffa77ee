//! The fiber control block ([`FiberBlock`]) and the handle the scheduler holds ([`FiberRef`]).
//!
//! One fiber is one allocation, made by `join::spawn_on` and counted by [`FiberRef`]:
//!
//! ```text
//!  FiberRef (≈ Arc<dyn ErasedFiber>) ─► join::FiberWithResult<T>
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
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::os::fd::RawFd;
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};
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
    /// How many [`FiberRef`]s point at the allocation this block heads.
    refs: AtomicUsize,
    /// Set at creation; read anywhere (handles, reports).
    pub(crate) id: FiberId,
    /// Set at creation; read anywhere (the watchdog reads it under its hazard pointer).
    name: Option<Box<str>>,
    /// Set at creation; for reports.
    pub(crate) spawned_at: &'static Location<'static>,
    /// The scheduler that runs the fiber: another thread's `unpark` queues it there. One
    /// strong count, which a block made and freed on its scheduler's thread while the
    /// scheduler runs takes from, and gives back to, the scheduler's reserve (see
    /// `Scheduler::shared_ref`), with no atomic operation.
    sched: ManuallyDrop<Arc<SchedShared>>,
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
    /// The timer slot kept after its last timed park ended early, for the next one (see
    /// [`Timers::cancel`](super::timer::Timers::cancel)).
    pub(crate) spare_timer: Cell<Option<TimerKey>>,
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

impl Drop for FiberBlock {
    fn drop(&mut self) {
        // SAFETY: `sched` is taken once, here, and never used again.
        let sched = unsafe { ManuallyDrop::take(&mut self.sched) };
        Scheduler::with_current(|current| match current {
            // Its own scheduler, still running on this thread: back to the reserve.
            Some(owner) if owner.id() == self.sched_id => owner.return_shared_ref(sched),
            _ => drop(sched),
        });
    }
}

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
    #[inline(always)]
    pub(crate) fn new(
        sched: Arc<SchedShared>,
        name: Option<String>,
        spawned_at: &'static Location<'static>,
    ) -> FiberBlock {
        FiberBlock {
            refs: AtomicUsize::new(0),
            id: FiberId::next(),
            name: name.map(String::into_boxed_str),
            spawned_at,
            sched_id: sched.id(),
            sched: ManuallyDrop::new(sched),
            // Evaluated at compile time and copied in: built field by field at run time, the
            // enums' unused payload bytes made the compiler assemble the state on the stack
            // and copy it with loads that straddle its stores (a store-forwarding stall).
            owned: const { OwnedState::fresh() },
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
        if self.sched_id != sched.id() {
            wrong_scheduler(self.sched_id, sched.id());
        }
        &self.owned
    }

    /// [`owned`](Self::owned) without its check, for the fibers a scheduler already knows to
    /// be its own (the one it runs, those in its run queue), reached on every switch.
    ///
    /// # Safety
    ///
    /// `sched` must be this fiber's own scheduler: `owned(sched)` would return the same
    /// reference without panicking.
    #[inline]
    pub(crate) unsafe fn owned_unchecked(&self, sched: &Scheduler) -> &OwnedState {
        debug_assert_eq!(self.sched_id, sched.id());
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

/// The panic of [`FiberBlock::owned`], out of line: the check it guards sits on every
/// switch, and a compare and a jump is all it should cost there.
#[cold]
#[inline(never)]
fn wrong_scheduler(owner: u32, caller: u32) -> ! {
    panic!(
        "spindle: a fiber's state touched from another scheduler (the fiber belongs to \
         scheduler {owner}, the caller runs scheduler {caller})"
    )
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
    /// The state of a fiber that has not been given a stack yet.
    const fn fresh() -> OwnedState {
        OwnedState {
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
            spare_timer: Cell::new(None),
            wait: Cell::new(Wait::Nothing),
            parked_at: Cell::new(None),
            started: Cell::new(false),
            next_runnable: Cell::new(std::ptr::null()),
            slot: Cell::new(usize::MAX),
            locals: RefCell::new(Vec::new()),
        }
    }

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
///
/// # Safety
///
/// Implementors are `#[repr(C)]` with a [`FiberBlock`] as their first field, so that
/// [`block`](Self::block) finds it without a virtual call (it is asked on every spawn, join
/// and unpark).
pub(crate) unsafe trait ErasedFiber: Send + Sync + 'static {
    /// The fiber will never run (again): abandoned at shutdown, or never started. Its
    /// `JoinHandle` gets `Err(payload)`.
    fn complete_without_running(&self, payload: Box<dyn Any + Send>);
}

impl dyn ErasedFiber {
    /// The control block at the head of the allocation.
    #[inline]
    pub(crate) fn block(&self) -> &FiberBlock {
        // SAFETY: every implementor of the unsafe trait `ErasedFiber` starts with a
        // `FiberBlock` at offset 0 (`#[repr(C)]`), so the data pointer of `self` points at
        // one, alive and borrowed for as long as `self`.
        unsafe { &*(self as *const dyn ErasedFiber).cast::<FiberBlock>() }
    }
}

impl fmt::Debug for dyn ErasedFiber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.block().fmt(f)
    }
}

/// The owning handle to a fiber: one count on its allocation (control block and result
/// slot). Like an `Arc<dyn ErasedFiber>` without weak references, whose count lives in the
/// control block (`FiberBlock::refs`): a spawn makes its first two references (the
/// scheduler's table and the `JoinHandle`) with no atomic read-modify-write
/// ([`FiberRef::pair`]), and the last drop frees the allocation with no second count to
/// release: two locked instructions fewer per spawn than `Arc`.
pub(crate) struct FiberRef(NonNull<dyn ErasedFiber>);

// SAFETY: a `FiberRef` is a shared reference to a `dyn ErasedFiber`, which is `Send + Sync`,
// with an atomic count; as for `Arc<dyn ErasedFiber>`.
unsafe impl Send for FiberRef {}
// SAFETY: see the `Send` impl.
unsafe impl Sync for FiberRef {}

impl FiberRef {
    /// Moves the fiber `init` builds to the heap (written in place) and returns two
    /// references to it, and a pointer to it as its own type.
    #[inline(always)]
    pub(crate) fn pair<C: ErasedFiber>(
        init: impl FnOnce() -> C,
    ) -> (FiberRef, FiberRef, NonNull<C>) {
        // Allocated first and written in place: built on the stack and then moved, the
        // allocation would be copied (a `memcpy` of some 300 bytes per spawn).
        let mut boxed = Box::<C>::new_uninit();
        boxed.write(init());
        // SAFETY: written just above.
        let boxed = unsafe { boxed.assume_init() };
        let typed = NonNull::from(Box::leak(boxed));
        let erased: NonNull<dyn ErasedFiber> = typed;
        // Nobody else sees the block yet: a plain store sets the count of the two references.
        // SAFETY: `typed` points at the `C` just leaked, alive until the references drop.
        unsafe { erased.as_ref() }
            .block()
            .refs
            .store(2, Ordering::Relaxed);
        (FiberRef(erased), FiberRef(erased), typed)
    }
}

impl std::ops::Deref for FiberRef {
    type Target = dyn ErasedFiber;

    #[inline]
    fn deref(&self) -> &dyn ErasedFiber {
        // SAFETY: the allocation lives while any `FiberRef` to it does, and `self` is one.
        unsafe { self.0.as_ref() }
    }
}

impl Clone for FiberRef {
    fn clone(&self) -> FiberRef {
        // Relaxed, as `Arc::clone`: a new reference is made from an existing one, which keeps
        // the allocation alive meanwhile.
        let old = self.block().refs.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            // As `Arc`: a count this high means references are being leaked in a loop.
            std::process::abort();
        }
        FiberRef(self.0)
    }
}

impl Drop for FiberRef {
    fn drop(&mut self) {
        // Release/Acquire, as `Arc`'s drop: every use of the allocation through other
        // references happens before it is freed.
        if self.block().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: this was the last reference; the allocation came from `Box::leak` in
        // `pair`, and the pointer keeps the vtable of its type, so the box frees it with its
        // layout.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

impl fmt::Debug for FiberRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
