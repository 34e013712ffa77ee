//! The 1:N scheduler: one per thread, running fibers from a FIFO run queue.
//!
//! # Contexts
//!
//! The thread that calls `run` keeps its own stack for the *main context*, which runs
//! [`Scheduler::run_loop`]: it reclaims finished fibers, takes wake-ups from other threads,
//! polls the reactor, fires timers and resumes the next runnable fiber. User code, including the
//! root closure, only ever runs on fiber stacks.
//!
//! A fiber that parks or yields switches *directly* to the next runnable fiber; it goes back to
//! the main context only when nothing is runnable, when it finishes (its stack must be
//! reclaimed from elsewhere), or at a checkpoint that finds the reactor and timers due a look
//! (by switch count, by elapsed time, or by the earliest timer; see the `budget` module), so
//! that they are still served while the run queue stays busy. The same module holds the
//! cooperative budget that makes a fiber whose I/O never blocks yield now and then.
//!
//! # Fiber states
//!
//! | state      | meaning                                 | in run queue | next states               |
//! |------------|-----------------------------------------|--------------|---------------------------|
//! | `Runnable` | waiting for its turn (or not started)   | yes          | `Running`                 |
//! | `Running`  | on the CPU; `current` points at it      | no           | `Parked`, `Runnable`, `Finished`, `Abandoned` |
//! | `Parked`   | suspended until `unpark` or a timer     | no           | `Runnable`, `Abandoned`   |
//! | `Finished` | entry returned; stack about to be freed | no           | (none)                    |
//! | `Abandoned`| given up on at shutdown: never resumed, stack and control block leaked | no | (none) |
//!
//! Beside the state, a `notified` flag holds std's park token: `unpark` of a fiber that is not
//! parked sets it, and the next `park` consumes it and returns at once.
//!
//! Same-thread `unpark` touches only plain cells: a fiber's scheduler-owned state is reached
//! only through [`FiberBlock::owned`], which demands the owning `&Scheduler` (a value that never
//! leaves its thread). Another thread's `unpark` instead pushes the fiber onto
//! [`SchedShared`]'s remote queue and, if the scheduler sleeps in the poller, wakes it.

//! # Files
//!
//! | file           | one idea |
//! |----------------|----------|
//! | `mod.rs`       | the [`Scheduler`] and its thread-local `CURRENT`; [`Installed`] puts one on a thread |
//! | `shared.rs`    | [`SchedShared`]: what other threads touch (remote queue, sleeping flag) |
//! | `switch.rs`    | park, yield, unpark; switching out of a fiber and into the next |
//! | `lifecycle.rs` | spawn (body on a fresh stack), the fiber's entry, finish and reclaim |
//! | `main_loop.rs` | the main context: remote queue, reactor poll, timers, resume |
//! | `io_waits.rs`  | a fiber's waits on fds through the reactor |
//! | `unwind.rs`    | which fiber unwinds and why; cancellation |
//! | `shutdown.rs`  | cancelling, unwinding or abandoning the fibers left when the root returns |
//! | `run_queue.rs`, `budget.rs`, `deadlock.rs`, `capture.rs`, `config.rs` | the run queue; the cooperative budget and poll pacing; deadlock detection; backtraces of suspended fibers; settings |

mod budget;
mod capture;
mod config;
mod deadlock;
mod idle;
mod io_waits;
mod lifecycle;
mod main_loop;
mod run_queue;
mod shared;
mod shutdown;
mod switch;
mod unwind;

pub(crate) use config::SchedConfig;
use deadlock::PARTICIPANTS;
pub(crate) use deadlock::{OFFLOADED_JOBS, jobs_in_flight, note_plain_thread};
use run_queue::RunQueue;
use shared::RemoteQueue;
pub(crate) use shared::{RemoteSpawn, SchedShared};
use switch::stack_of;

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::fiber::{FiberBlock, FiberRef, OwnedState};
use super::monitor::StallMonitor;
use super::reactor::{Notifier, Poller, Reactor};
use super::stats::{Counters, Published};
use super::timer::Timers;
use crate::slab::Slab;
use crate::stack::{self};
use crate::stack::{AltStack, StackPool, install_overflow_handler, round_stack_size};

thread_local! {
    /// The scheduler running on this thread, if any.
    static CURRENT: Cell<*const Scheduler> = const { Cell::new(ptr::null()) };
}

static NEXT_SCHEDULER_ID: AtomicU32 = AtomicU32::new(1);

/// One thread's scheduler. Lives in a `Box` owned by `run`; reached through [`Scheduler::with_current`].
#[derive(Debug)]
pub(crate) struct Scheduler {
    shared: Arc<SchedShared>,
    config: SchedConfig,
    /// Saved stack pointer of the main context while a fiber runs.
    main_sp: Cell<*mut u8>,
    /// The running fiber; null while the main context runs.
    current: Cell<*const FiberBlock>,
    run_queue: RunQueue,
    /// Every fiber not yet reclaimed. This strong reference keeps the raw pointers in the run
    /// queue, the timers and the reactor valid.
    fibers: RefCell<Slab<FiberRef>>,
    timers: RefCell<Timers>,
    reactor: RefCell<Reactor>,
    stacks: RefCell<StackPool>,
    /// A fiber that has just finished and whose stack the main context must reclaim.
    finished: Cell<*const FiberBlock>,
    root: Cell<*const FiberBlock>,
    root_done: Cell<bool>,
    shutting_down: Cell<bool>,
    /// The fiber that ran before `current`, for the overflow handler: a switch saves the
    /// registers of the fiber it leaves on that fiber's stack after `current` has moved on.
    previous: Cell<*const FiberBlock>,
    /// Fibers whose `unwind` is not `Unwind::No`.
    unwinding: Cell<usize>,
    /// Whether the thread was already unwinding when it called `run` (then that unwind, not a
    /// fiber's, makes `std::thread::panicking` true).
    outer_panicking: bool,
    /// Since when the shutdown has been stuck: fibers left, all parked, nothing to wake them.
    stuck_since: Cell<Option<Instant>>,
    /// The deadlock report, once one has been detected; `run` panics with it.
    deadlock: RefCell<Option<String>>,
    /// Direct switches left before the next checkpoint (see the `budget` module).
    until_poll: Cell<u32>,
    /// When the reactor and timers are next looked at while the run queue stays busy.
    pacer: budget::Pacer,
    /// The running fiber's use of its turn's cooperative budget.
    budget: budget::Budget,
    /// Whether to offer the CPU before the next sleep (see the `idle` module).
    idle: idle::IdleYield,
    /// Copy of `shared.id`, read on every state access.
    id: u32,
    pub(crate) counters: Counters,
    /// Backtrace requests to suspended fibers (see `capture`).
    tracer: capture::Tracer,
    /// A coarse clock, read once per pass through the main loop: parks are stamped with it.
    clock: Cell<Instant>,
    /// Strong counts of `shared` held in reserve for new fibers' control blocks (see
    /// [`shared_ref`](Self::shared_ref)); given back to the `Arc` when the scheduler drops.
    shared_refs: Cell<usize>,
    /// `config.stack_size`, rounded as every stack size is (`round_stack_size`).
    default_stack: usize,
}

/// How many strong counts of `SchedShared` the reserve takes at a time.
const SHARED_REF_BATCH: usize = 64;

impl Scheduler {
    /// Calls `f` with the scheduler of the calling thread, or `None` outside a runtime. The
    /// reference lives only as long as the call: it cannot be stored or returned.
    #[inline(always)]
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Scheduler>) -> R) -> R {
        let ptr = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only while `Installed` owns the boxed scheduler on this
        // thread (it is cleared before the box drops). The box is dropped by the main context
        // only after every fiber has finished or been abandoned (never resumed), so the
        // scheduler outlives this call even when `f` parks the calling fiber; and the
        // reference cannot escape `f` (its lifetime is that of the call).
        f(unsafe { ptr.as_ref() })
    }

    /// Whether the calling thread runs a scheduler.
    #[inline]
    pub(crate) fn is_installed() -> bool {
        !CURRENT.with(Cell::get).is_null()
    }

    #[inline]
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Calls `f` with the calling thread's scheduler when the caller runs on one of its
    /// fibers, or `None` (on a plain thread, or in the main context); see
    /// [`with_current`](Scheduler::with_current).
    #[inline(always)]
    pub(crate) fn with_on_fiber<R>(f: impl FnOnce(Option<&Scheduler>) -> R) -> R {
        Scheduler::with_current(|sched| f(sched.filter(|sched| sched.in_fiber())))
    }

    pub(crate) fn shared(&self) -> &Arc<SchedShared> {
        &self.shared
    }

    /// Whether a fiber (not the main context) is running.
    #[inline]
    pub(crate) fn in_fiber(&self) -> bool {
        !self.current.get().is_null()
    }

    /// The running fiber.
    ///
    /// # Panics
    ///
    /// When called from the main context, which runs no user code.
    #[inline]
    pub(crate) fn current_fiber(&self) -> &FiberBlock {
        let ptr = self.current.get();
        assert!(
            !ptr.is_null(),
            "spindle internal error: no fiber is running"
        );
        // SAFETY: `current` points at a fiber held alive by `self.fibers` while it runs.
        unsafe { &*ptr }
    }

    /// The running fiber's scheduler-owned state (see [`current_fiber`](Self::current_fiber)).
    #[inline]
    pub(crate) fn current_owned(&self) -> &OwnedState {
        // SAFETY: `current` only ever holds a fiber of this scheduler: `publish_current` is
        // given the running fiber, one popped from this scheduler's run queue (where only
        // fibers that passed `owned(self)` are pushed), or null.
        unsafe { self.current_fiber().owned_unchecked(self) }
    }

    /// An owning handle to the running fiber.
    pub(crate) fn current_ref(&self) -> FiberRef {
        let slot = self.current_owned().slot.get();
        let fibers = self.fibers.borrow();
        fibers
            .get(slot)
            .expect("the running fiber is in the fiber table")
            .clone()
    }

    /// A strong reference to this scheduler's shared part for a new fiber's control block.
    ///
    /// Every control block owns one strong count of `SchedShared`, so that a handle that
    /// outlives the scheduler, or unparks from another thread, still finds it. Taking and
    /// giving back that count costs two atomic read-modify-writes per fiber; instead the
    /// scheduler keeps a reserve of counts, taken in batches: a control block freed on this
    /// thread while the scheduler runs returns its count to the reserve
    /// ([`return_shared_ref`](Self::return_shared_ref)), one freed elsewhere or later drops
    /// it as an ordinary `Arc`, and the scheduler gives back what is left in the reserve when
    /// it drops.
    pub(crate) fn shared_ref(&self) -> Arc<SchedShared> {
        let mut left = self.shared_refs.get();
        if left == 0 {
            for _ in 0..SHARED_REF_BATCH {
                // SAFETY: `self.shared` is a live `Arc` (we hold it), as the function requires.
                unsafe { Arc::increment_strong_count(Arc::as_ptr(&self.shared)) };
            }
            left = SHARED_REF_BATCH;
        }
        self.shared_refs.set(left - 1);
        // SAFETY: the reserve held `left` strong counts of `self.shared`; this `Arc` now owns
        // one of them, taken out of the reserve above.
        unsafe { Arc::from_raw(Arc::as_ptr(&self.shared)) }
    }

    /// Takes back into the reserve a count that [`shared_ref`](Self::shared_ref) handed out.
    pub(crate) fn return_shared_ref(&self, shared: Arc<SchedShared>) {
        debug_assert!(Arc::ptr_eq(&shared, &self.shared));
        std::mem::forget(shared);
        self.shared_refs.set(self.shared_refs.get() + 1);
    }

    fn new(
        config: SchedConfig,
        poller: Poller,
        notifier: Notifier,
        outer_panicking: bool,
    ) -> Scheduler {
        let shared = Arc::new(SchedShared {
            id: NEXT_SCHEDULER_ID.fetch_add(1, Ordering::Relaxed),
            remote: Mutex::new(Some(RemoteQueue::default())),
            released: Mutex::new(Vec::new()),
            has_remote: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            notifier,
            monitor: StallMonitor::default(),
            exported_handles: AtomicUsize::new(0),
            published: Published::default(),
            dump_requested: AtomicBool::new(false),
        });
        Scheduler {
            id: shared.id,
            until_poll: Cell::new(config.poll_interval.min(8)),
            pacer: budget::Pacer::new(config.poll_interval),
            budget: budget::Budget::default(),
            idle: idle::IdleYield::default(),
            shared,
            stacks: RefCell::new(StackPool::new(config.hot_stacks)),
            default_stack: round_stack_size(config.stack_size),
            config,
            main_sp: Cell::new(ptr::null_mut()),
            current: Cell::new(ptr::null()),
            run_queue: RunQueue::default(),
            fibers: RefCell::new(Slab::default()),
            timers: RefCell::new(Timers::default()),
            reactor: RefCell::new(Reactor::new(poller)),
            finished: Cell::new(ptr::null()),
            root: Cell::new(ptr::null()),
            root_done: Cell::new(false),
            shutting_down: Cell::new(false),
            previous: Cell::new(ptr::null()),
            unwinding: Cell::new(0),
            outer_panicking,
            stuck_since: Cell::new(None),
            deadlock: RefCell::new(None),
            counters: Counters::default(),
            tracer: capture::Tracer::default(),
            clock: Cell::new(Instant::now()),
            shared_refs: Cell::new(0),
        }
    }

    /// Whether no other fiber is waiting to run.
    #[inline]
    pub(crate) fn nothing_else_runnable(&self) -> bool {
        self.run_queue.len() == 0
    }

    /// Number of fibers alive (not yet reclaimed), the root included.
    pub(crate) fn fibers_alive(&self) -> usize {
        self.fibers.borrow().len()
    }

    /// Sizes of the queues, for statistics.
    pub(crate) fn queue_lengths(&self) -> (usize, usize, usize) {
        (
            self.run_queue.len(),
            self.timers.borrow().len(),
            self.reactor.borrow().waiting(),
        )
    }

    /// Async-signal-safe: if `addr` is in the guard page of the fiber running on this thread,
    /// or of the one it is switching away from (whose registers the switch saves on its own
    /// stack), calls `report(name, id, stack KiB)` and returns true. Never panics.
    pub(crate) fn describe_guard_hit(
        addr: usize,
        report: &mut dyn FnMut(&str, u64, usize),
    ) -> bool {
        Scheduler::with_current(|current| {
            let Some(sched) = current else {
                return false;
            };
            [sched.current.get(), sched.previous.get()]
                .into_iter()
                .filter(|ptr| !ptr.is_null())
                .any(|ptr| {
                    // SAFETY: `current` is the running fiber and `previous` the one that ran just
                    // before it. `reclaim` clears `previous` before it frees that fiber, and an
                    // abandoned fiber is never freed, so both are alive.
                    let fiber = unsafe { &*ptr };
                    let Some(local) = fiber.try_owned(sched) else {
                        return false;
                    };
                    let (guard, size) = (local.guard.get(), local.stack_size.get());
                    if addr < guard.0 || addr >= guard.1 {
                        return false;
                    }
                    report(
                        fiber.name().unwrap_or("<unnamed>"),
                        fiber.id.as_u64().get(),
                        size / 1024,
                    );
                    true
                })
        })
    }
}

/// A scheduler installed on the calling thread: [`Scheduler::with_current`] finds it until
/// [`finish`](Installed::finish). The runtime layer (`crate::runtime::run_root`) creates one,
/// spawns the root fiber on it, then calls [`run`](Installed::run).
pub(crate) struct Installed {
    /// Declared first, dropped first: `CURRENT` is cleared before the scheduler is freed.
    current: Option<CurrentGuard>,
    sched: Box<Scheduler>,
    /// Under valgrind, the main context's stack is a registered stack like the fibers'.
    _thread_stack: Option<stack::ThreadStackRegistration>,
    /// Without an alternate signal stack an overflow cannot be reported, but fibers still run.
    _alt_stack: Option<AltStack>,
}

impl std::fmt::Debug for Installed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installed")
            .field("scheduler", &self.sched.id)
            .finish_non_exhaustive()
    }
}

impl Installed {
    /// Creates a scheduler on this thread, with its reactor, and makes it the current one.
    ///
    /// # Panics
    ///
    /// When this thread already runs a scheduler, or the reactor cannot be created.
    pub(crate) fn new(config: SchedConfig) -> Installed {
        assert!(
            !Scheduler::is_installed(),
            "spindle::run called inside a runtime: a thread runs one scheduler at a time; spawn \
             a fiber with spindle::fiber::spawn instead"
        );
        install_overflow_handler(Scheduler::describe_guard_hit);
        let alt_stack = AltStack::ensure().ok();
        let thread_stack = stack::register_thread_stack();
        let (poller, notifier) = Poller::new().unwrap_or_else(|e| {
            panic!("spindle::run: cannot create the reactor's epoll instance: {e}")
        });
        let outer_panicking = std::thread::panicking();
        let sched = Box::new(Scheduler::new(config, poller, notifier, outer_panicking));
        let current = Some(CurrentGuard::enter(&sched));
        Installed {
            current,
            sched,
            _thread_stack: thread_stack,
            _alt_stack: alt_stack,
        }
    }

    /// The installed scheduler.
    pub(crate) fn scheduler(&self) -> &Scheduler {
        &self.sched
    }

    /// Runs the main loop until `root`, then every other fiber, has finished (or was
    /// abandoned).
    pub(crate) fn run(&self, root: *const FiberBlock) {
        self.sched.root.set(root);
        self.sched.run_loop();
        self.sched.shared.published.refresh(&self.sched, true);
    }

    /// Uninstalls and frees the scheduler; returns the deadlock report if one ended the run.
    pub(crate) fn finish(mut self) -> Option<String> {
        drop(self.current.take());
        self.sched.deadlock.borrow_mut().take()
    }
}

/// Aborts the process, naming `self.0`, when dropped: it guards a scope that user code must
/// not unwind out of (it would unwind through the scheduler), and is forgotten at the end of
/// that scope on the normal path.
pub(super) struct AbortOnUnwind(&'static str);

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        eprintln!(
            "spindle: a panic unwound into {}, past fibers suspended on this thread that \
             cannot be unwound from there; aborting the process",
            self.0
        );
        std::process::abort();
    }
}

/// Publishes a scheduler in [`CURRENT`] and clears it on drop (also when unwinding).
struct CurrentGuard;

impl CurrentGuard {
    fn enter(sched: &Scheduler) -> CurrentGuard {
        CURRENT.with(|c| c.set(sched));
        PARTICIPANTS.fetch_add(1, Ordering::Relaxed);
        CurrentGuard
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        PARTICIPANTS.fetch_sub(1, Ordering::Relaxed);
        CURRENT.with(|c| c.set(ptr::null()));
    }
}

#[cfg(test)]
mod tests {
    use super::Scheduler;
    use crate::fiber;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::Arc;

    #[test]
    fn control_blocks_hold_one_count_of_their_scheduler_each_whatever_frees_them() {
        // Blocks freed on their scheduler's thread give their count of `SchedShared` back to
        // the scheduler's reserve; blocks that outlive the scheduler keep a real one. When the
        // runtime is gone, only the blocks still alive count: the reserve gave back the rest.
        let (shared, handles) = crate::Runtime::builder()
            .stall_threshold(None)
            .build()
            .unwrap()
            .run(|| {
                // More than one batch of the reserve, all freed here.
                for _ in 0..200 {
                    fiber::spawn(|| ()).join().unwrap();
                }
                let kept: Vec<_> = (0..3).map(|_| fiber::spawn(|| 7)).collect();
                fiber::yield_now();
                let shared = Scheduler::with_current(|sched| Arc::clone(sched.unwrap().shared()));
                (shared, kept)
            });
        // Ours, and one per block that outlived the runtime.
        assert_eq!(Arc::strong_count(&shared), 1 + handles.len());
        // Freed on a thread without a scheduler: each drops its own count.
        let other = std::thread::spawn(move || {
            for handle in handles {
                assert_eq!(handle.join().unwrap(), 7);
            }
        });
        other.join().unwrap();
        assert_eq!(Arc::strong_count(&shared), 1);
    }

    #[test]
    fn a_guard_hit_while_switching_away_is_reported_for_the_fiber_that_left() {
        // A switch saves the leaving fiber's registers on its own stack after `current` names
        // the next fiber: a fault there is that fiber's overflow, not the next one's.
        let reported = crate::run(|| {
            let guard = Rc::new(Cell::new((0, 0)));
            let left_guard = Rc::clone(&guard);
            let leaving = fiber::Builder::new()
                .name("leaving".into())
                .spawn(move || {
                    Scheduler::with_current(|sched| {
                        let sched = sched.unwrap();
                        left_guard.set(sched.current_owned().guard.get());
                    });
                    fiber::yield_now();
                })
                .unwrap();
            let next = fiber::Builder::new()
                .name("next".into())
                .spawn(move || {
                    // Runs right after "leaving" switched to it.
                    let (start, _) = guard.get();
                    let mut name = String::new();
                    let hit = Scheduler::describe_guard_hit(start, &mut |n, _, _| {
                        name = n.to_owned();
                    });
                    hit.then_some(name)
                })
                .unwrap();
            let reported = next.join().unwrap();
            leaving.join().unwrap();
            reported
        });
        assert_eq!(reported.as_deref(), Some("leaving"));
    }
}
