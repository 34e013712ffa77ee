//! Joining fibers: the result slot every fiber shares with its [`JoinHandle`].
//!
//! A fiber and its result live in one allocation, a [`FiberWithResult<T>`]. The scheduler and
//! [`Fiber`] handles see it type-erased, as a [`FiberRef`].

use std::any::Any;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr::NonNull;
use std::sync::Arc;
use std::thread;

use crate::engine::fiber::{Cancelled, ErasedFiber, FiberBlock, FiberRef, Unwind, Wait};
use crate::engine::scheduler::{RemoteSpawn, SchedShared, Scheduler};
use crate::fiber::Fiber;
use crate::local;
use crate::shim::{AtomicU8, Ordering, Unparker, UnsafeCell, current_waiter, park};

#[cfg(all(test, loom))]
mod loom_model;

/// One fiber's allocation: its control block and the slot for its result (the engine sees it
/// as a `FiberRef`; see `engine::fiber`).
pub(crate) struct FiberWithResult<T> {
    block: FiberBlock,
    packet: Packet<T>,
}

// SAFETY: `block` is Send + Sync. The only `T` in the cell is the result in `packet`, and
// it is dropped either by the JoinHandle (which is Send only if `T: Send`) or, once the
// handle is gone, by the fiber itself on its own thread: `Packet` never leaves a value for the
// cell's own destructor, which may run on any thread holding a `Fiber`.
unsafe impl<T> Send for FiberWithResult<T> {}
// SAFETY: see the `Send` impl; shared access to `packet` follows its state protocol.
unsafe impl<T> Sync for FiberWithResult<T> {}

impl<T: 'static> ErasedFiber for FiberWithResult<T> {
    fn block(&self) -> &FiberBlock {
        &self.block
    }

    fn complete_without_running(&self, payload: Box<dyn Any + Send>) {
        // The fiber never completes its packet itself, so this is the one completion.
        if let Some(unclaimed) = self.packet.complete(Err(payload)) {
            drop_unclaimed(&self.block, unclaimed);
        }
    }
}

/// Spawns `f` on `sched` and returns its handle.
pub(crate) fn spawn_on<F, T>(
    sched: &Scheduler,
    f: F,
    name: Option<String>,
    stack_size: Option<usize>,
    spawned_at: &'static Location<'static>,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let cell = Arc::new(FiberWithResult {
        block: FiberBlock::new(sched.shared(), name, spawned_at),
        packet: Packet::new(),
    });
    let packet = NonNull::from(&cell.packet);
    let body = move |cancelled: bool| {
        // SAFETY: the scheduler's table holds the cell until this fiber has finished, which
        // is after `body` returns.
        let packet = unsafe { packet.as_ref() };
        run_body(cancelled, f, packet);
    };
    let fiber: FiberRef = cell;
    sched.spawn(Arc::clone(&fiber), body, stack_size)?;
    Ok(JoinHandle {
        fiber: Fiber::from_ref(fiber),
        joined: false,
        packet,
    })
}

/// Spawns `f` on another thread's scheduler (through its remote queue) and returns its handle.
pub(crate) fn spawn_remote<F, T>(
    target: &Arc<SchedShared>,
    f: F,
    name: Option<String>,
    stack_size: Option<usize>,
    spawned_at: &'static Location<'static>,
) -> Result<JoinHandle<T>, ()>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cell = Arc::new(FiberWithResult {
        block: FiberBlock::new(target, name, spawned_at),
        packet: Packet::new(),
    });
    let packet = PacketPtr(NonNull::from(&cell.packet));
    let body = move |cancelled: bool| {
        // SAFETY: as in `spawn_on`: the target's table holds the cell until the fiber has
        // finished, which is after `body` returns.
        let packet = unsafe { packet.get().as_ref() };
        run_body(cancelled, f, packet);
    };
    let fiber: FiberRef = cell;
    let spawn = RemoteSpawn {
        fiber: Arc::clone(&fiber),
        body: Box::new(body),
        stack_size,
    };
    target.spawn_remote(spawn)?;
    Ok(JoinHandle {
        fiber: Fiber::from_ref(fiber),
        joined: false,
        packet: packet.get(),
    })
}

/// A fiber's packet, sent with its body to the scheduler that runs it.
struct PacketPtr<T>(NonNull<Packet<T>>);

impl<T> PacketPtr<T> {
    fn get(&self) -> NonNull<Packet<T>> {
        self.0
    }
}

impl<T> Clone for PacketPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for PacketPtr<T> {}

// SAFETY: the pointer is only dereferenced by the fiber that completes the packet and by its
// JoinHandle, following `Packet`'s state protocol (the same sharing `FiberWithResult`'s Sync impl
// allows); the `T` it carries crosses threads only when `T: Send`.
unsafe impl<T: Send> Send for PacketPtr<T> {}

/// Runs a fiber's closure (unless the runtime is already shutting down), publishes the
/// result (dropping it if nobody can claim it), then drops the fiber-local values, so that
/// every destructor of the fiber runs on the fiber.
fn run_body<F, T>(cancelled: bool, f: F, packet: &Packet<T>)
where
    F: FnOnce() -> T,
{
    let result = if cancelled {
        // Never started: drop the closure's captures, as unwinding would have.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(f)));
        Err(Box::new(Cancelled) as Box<dyn Any + Send>)
    } else {
        panic::catch_unwind(AssertUnwindSafe(f))
    };
    Scheduler::with_on_fiber(|sched| {
        let sched = sched.expect("a fiber's body runs on that fiber");
        let me = sched.current_fiber();
        // Whatever unwound the fiber has been caught.
        sched.set_unwind(me.owned(sched), Unwind::No);
        if let Some(unclaimed) = packet.complete(result) {
            drop_unclaimed(me, unclaimed);
        }
    });
    local::drop_fiber_locals();
}

/// Drops a result whose `JoinHandle` is gone; a panic of its destructor is reported, not
/// propagated (there is nobody to propagate it to).
fn drop_unclaimed<T>(fiber: &FiberBlock, unclaimed: thread::Result<T>) {
    if panic::catch_unwind(AssertUnwindSafe(move || drop(unclaimed))).is_err() {
        eprintln!(
            "spindle: the result of fiber '{}' ({}), spawned at {}, panicked while being \
             dropped (its JoinHandle was gone); the panic was ignored",
            fiber.name().unwrap_or("<unnamed>"),
            fiber.id.as_u64(),
            fiber.spawned_at
        );
    }
}

/// Who waits in `join`.
enum Joiner {
    /// A fiber of the same scheduler as the joined fiber: woken with plain memory operations.
    /// It stays alive while it waits: if it is unwound instead, its handle's drop moves the
    /// state to DETACHED first, and the completer then leaves it alone.
    Local(*const FiberBlock),
    /// A fiber of another scheduler, or a plain thread.
    Remote(Unparker),
}

const RUNNING: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;
const DETACHED: u8 = 3;

/// Where a fiber leaves its result for its [`JoinHandle`].
///
/// | state      | meaning                                              | who moves it on      |
/// |------------|------------------------------------------------------|----------------------|
/// | `RUNNING`  | no result yet, nobody waiting                         | joiner, fiber, drop  |
/// | `WAITING`  | no result yet; `waiter` holds the joiner              | fiber                |
/// | `DONE`     | `result` is written (or already taken by the handle)  | handle drop          |
/// | `DETACHED` | the handle is gone; the fiber drops its own result    | (final)              |
struct Packet<T> {
    state: AtomicU8,
    waiter: UnsafeCell<Option<Joiner>>,
    result: UnsafeCell<Option<thread::Result<T>>>,
}

impl<T> Packet<T> {
    fn new() -> Packet<T> {
        Packet {
            state: AtomicU8::new(RUNNING),
            waiter: UnsafeCell::new(None),
            result: UnsafeCell::new(None),
        }
    }

    /// Publishes the fiber's result (called once, by the fiber or its scheduler). Returns the
    /// result if the handle is gone, for the caller to drop.
    #[must_use]
    fn complete(&self, result: thread::Result<T>) -> Option<thread::Result<T>> {
        // SAFETY: nobody reads `result` before seeing DONE, and only the fiber writes it.
        unsafe { *self.result.get() = Some(result) };
        match self.state.swap(DONE, Ordering::AcqRel) {
            WAITING => {
                // SAFETY: the joiner wrote `waiter` before moving to WAITING and never touches
                // it again; we saw WAITING, so it is ours now.
                match unsafe { (*self.waiter.get()).take() } {
                    Some(Joiner::Local(fiber)) => {
                        Scheduler::with_current(|sched| {
                            let sched = sched.expect("a local joiner's scheduler");
                            // SAFETY: see `Joiner::Local`: the joiner is parked and alive.
                            sched.unpark_local(unsafe { &*fiber });
                        });
                    }
                    Some(Joiner::Remote(waiter)) => waiter.unpark(),
                    None => {}
                }
            }
            DETACHED => {
                // SAFETY: the handle is gone and will never read `result`; we wrote it.
                return unsafe { (*self.result.get()).take() };
            }
            _ => {}
        }
        None
    }

    fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Takes the result; only the handle calls this, after seeing DONE.
    fn take(&self) -> Option<thread::Result<T>> {
        if !self.is_done() {
            return None;
        }
        // SAFETY: DONE was observed with acquire ordering, so the fiber's write is visible and
        // it will not write again; the handle is the only reader.
        unsafe { (*self.result.get()).take() }
    }

    /// Blocks the caller (fiber or thread) until the result is there; `fiber` is the one
    /// being joined, for the deadlock report.
    fn wait(&self, fiber: &Fiber) {
        if self.is_done() {
            return;
        }
        let joiner = Scheduler::with_on_fiber(|current| match current {
            Some(sched) if sched.id() == fiber_sched_id(fiber) => {
                Joiner::Local(sched.current_fiber())
            }
            _ => Joiner::Remote(current_waiter()),
        });
        // SAFETY: we are the only joiner and the state is RUNNING, so nobody reads `waiter`
        // until our compare-exchange below publishes it.
        unsafe { *self.waiter.get() = Some(joiner) };
        if self
            .state
            .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // DONE meanwhile
        }
        while !self.is_done() {
            Scheduler::with_on_fiber(|current| {
                if let Some(sched) = current {
                    sched.note_wait(Wait::Join(fiber.id()));
                }
            });
            park();
        }
    }

    /// The handle is going away: drop a result that is there, or tell the fiber to.
    fn detach(&self) {
        if self.state.swap(DETACHED, Ordering::AcqRel) == DONE {
            // SAFETY: DONE seen with acquire ordering: the fiber is done with `result`.
            drop(unsafe { (*self.result.get()).take() });
        }
    }
}

/// The id of the scheduler that runs `fiber`.
fn fiber_sched_id(fiber: &Fiber) -> u32 {
    // SAFETY: a JoinHandle's fiber handle always refers to a fiber, never a thread.
    unsafe { &*fiber.block_ptr() }.sched_id()
}

/// An owned permission to join a fiber (to wait for it to finish and take its result).
///
/// Dropping the handle detaches the fiber: it keeps running, and its result is dropped when
/// it finishes.
pub struct JoinHandle<T> {
    fiber: Fiber,
    /// Set by `join` once it took the result, so dropping has nothing to tell the fiber.
    joined: bool,
    /// Points into the `FiberWithResult<T>` that `fiber` holds alive.
    packet: NonNull<Packet<T>>,
}

// SAFETY: the handle owns its share of the cell through `fiber` (Send + Sync); the result `T`
// moves to whichever thread joins, so the handle may only travel when `T: Send`.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows `fiber()` and `is_finished()`, which read atomics.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    fn packet(&self) -> &Packet<T> {
        // SAFETY: `packet` points into the cell kept alive by `self.fiber`.
        unsafe { self.packet.as_ref() }
    }

    /// Waits for the fiber to finish and returns its result: `Err` with the panic payload if
    /// it panicked.
    ///
    /// Called from a fiber, parks only that fiber. Called from a plain thread (the handle was
    /// sent there), parks the thread.
    ///
    /// # Panics
    ///
    /// If a fiber tries to join itself, which could never return.
    pub fn join(mut self) -> thread::Result<T> {
        Scheduler::with_on_fiber(|current| {
            if let Some(sched) = current {
                assert!(
                    sched.current_fiber().id != self.fiber.id(),
                    "a fiber tried to join itself, which would wait forever"
                );
            }
        });
        self.packet().wait(&self.fiber);
        let result = self.packet().take().expect("joined fiber has no result");
        self.joined = true;
        result
    }

    /// The fiber's control block, for the scheduler.
    pub(crate) fn fiber_block(&self) -> *const FiberBlock {
        self.fiber.block_ptr()
    }

    /// A handle to the fiber.
    pub fn fiber(&self) -> &Fiber {
        &self.fiber
    }

    /// A handle to the fiber, under `std::thread::JoinHandle::thread`'s name.
    pub fn thread(&self) -> &Fiber {
        &self.fiber
    }

    /// Whether the fiber has finished (returned or panicked). Does not block.
    pub fn is_finished(&self) -> bool {
        self.packet().is_done()
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if !self.joined {
            self.packet().detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("fiber", &self.fiber)
            .finish_non_exhaustive()
    }
}
