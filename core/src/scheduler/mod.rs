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
//! only through [`FiberShared::local`], which demands the owning `&Scheduler` (a value that never
//! leaves its thread). Another thread's `unpark` instead pushes the fiber onto
//! [`SchedShared`]'s remote queue and, if the scheduler sleeps in the poller, wakes it.

mod budget;
mod capture;
mod deadlock;
mod run_queue;

use deadlock::PARTICIPANTS;
pub(crate) use deadlock::note_plain_thread;
use run_queue::RunQueue;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::panic::{self, Location};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::arch;
use crate::fiber::{Cancelled, FiberShared, State, Unwind};
use crate::join::FiberRef;
use crate::reactor::{self, Interest, Notifier, Poller, Reactor};
use crate::runtime::{self, Config};
use crate::slab::Slab;
use crate::stack::{self, SwitchTo};
use crate::stack::{AltStack, Stack, StackPool, install_overflow_handler, round_stack_size};
use crate::stats::Counters;
use crate::thread_per_core::Member;
use crate::timer::Timers;
use crate::watchdog::{self, StallMonitor};

thread_local! {
    /// The scheduler running on this thread, if any.
    static CURRENT: Cell<*const Scheduler> = const { Cell::new(ptr::null()) };
}

static NEXT_SCHEDULER_ID: AtomicU32 = AtomicU32::new(1);

/// A closure bigger than this is boxed instead of being written onto the fiber's stack.
const MAX_INLINE_CLOSURE: usize = 1024;

/// How many times shutdown raises [`Cancelled`] in a fiber that keeps catching it before the
/// fiber is abandoned.
const MAX_CANCEL_RAISES: u32 = 4;

/// A fiber that another thread asked this scheduler to start (`spawn_on`).
pub(crate) struct RemoteSpawn {
    pub(crate) fiber: FiberRef,
    pub(crate) body: Box<dyn FnOnce(bool) + Send>,
    pub(crate) stack_size: Option<usize>,
}

impl std::fmt::Debug for RemoteSpawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSpawn")
            .field("fiber", &self.fiber)
            .finish_non_exhaustive()
    }
}

/// What other threads hand a scheduler.
#[derive(Debug, Default)]
struct RemoteQueue {
    /// Fibers of this scheduler unparked from other threads.
    unparks: Vec<FiberRef>,
    /// Fibers to start here.
    spawns: Vec<RemoteSpawn>,
}

/// The part of a scheduler that other threads may touch.
#[derive(Debug)]
pub(crate) struct SchedShared {
    id: u32,
    /// Wake-ups and spawns from other threads; `None` once the scheduler has ended.
    remote: Mutex<Option<RemoteQueue>>,
    /// Reactor tokens another thread took over (see `Registration`), for this scheduler to
    /// forget; their fds are already out of its poller.
    released: Mutex<Vec<usize>>,
    /// Set when `remote` or `released` may be non-empty (checked without the lock).
    has_remote: AtomicBool,
    /// Set while the scheduler blocks in the poller.
    sleeping: AtomicBool,
    notifier: Notifier,
    /// What the stall detector reads.
    monitor: StallMonitor,
    /// Live `Fiber` handles to this scheduler's fibers that user code holds (see
    /// `Fiber::clone`): while there are any, another thread might unpark a fiber, so an idle
    /// scheduler is not called deadlocked.
    pub(crate) exported_handles: AtomicUsize,
    /// Counters published for other threads (see `spindle::runtime::stats_of_each`).
    pub(crate) published: crate::stats::Published,
    /// Set by `dump_on_signal`'s listener: print a dump at the next pass through the main loop.
    dump_requested: AtomicBool,
}

impl SchedShared {
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn monitor(&self) -> &StallMonitor {
        &self.monitor
    }

    pub(crate) fn is_sleeping(&self) -> bool {
        // SeqCst: the watchdog's decision to park pairs with the scheduler's wake-up.
        self.sleeping.load(Ordering::SeqCst)
    }

    /// Queues `fiber` to be unparked by its scheduler, waking the scheduler if it sleeps.
    pub(crate) fn unpark_remote(&self, fiber: FiberRef) {
        // An ended scheduler's fibers have all finished (or were abandoned): nothing to wake.
        let _ = self.push_remote(|queue| queue.unparks.push(fiber));
    }

    /// Queues a fiber to be started by this scheduler; `Err` (the spawn dropped) if the
    /// scheduler has ended.
    pub(crate) fn spawn_remote(&self, spawn: RemoteSpawn) -> Result<(), ()> {
        self.push_remote(move |queue| queue.spawns.push(spawn))
    }

    /// Runs `push` on the remote queue and wakes the scheduler if it sleeps; `Err` once the
    /// scheduler has ended.
    fn push_remote(&self, push: impl FnOnce(&mut RemoteQueue)) -> Result<(), ()> {
        {
            let mut queue = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
            push(queue.as_mut().ok_or(())?);
        }
        self.wake_for_remote();
        Ok(())
    }

    /// Takes `fd`, registered here under `token`, out of this scheduler's reactor from any
    /// thread: removes it from the poller now, and queues `token` for the scheduler to forget
    /// (waking the fibers that wait on it, so that they retry). The caller keeps `fd` open.
    pub(crate) fn release_io(&self, token: usize, fd: RawFd) {
        self.notifier.deregister(fd);
        self.released
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(token);
        self.wake_for_remote();
    }

    /// Asks the scheduler to print its dump to stderr between fibers (`dump_on_signal`).
    pub(crate) fn request_dump(&self) {
        self.dump_requested.store(true, Ordering::Relaxed);
        self.wake_for_remote();
    }

    /// Flags remote work and wakes the scheduler if it sleeps in the poller.
    fn wake_for_remote(&self) {
        // SeqCst pairs with the scheduler's store to `sleeping` then load of `has_remote`:
        // at least one side sees the other's write, so a wake-up is never lost.
        self.has_remote.store(true, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.notifier.notify();
        }
    }
}

/// One thread's scheduler. Lives in a `Box` owned by `run`; reached through [`Scheduler::current`].
#[derive(Debug)]
pub(crate) struct Scheduler {
    shared: Arc<SchedShared>,
    config: Config,
    /// Saved stack pointer of the main context while a fiber runs.
    main_sp: Cell<*mut u8>,
    /// The running fiber; null while the main context runs.
    current: Cell<*const FiberShared>,
    run_queue: RunQueue,
    /// Every fiber not yet reclaimed. This strong reference keeps the raw pointers in the run
    /// queue, the timers and the reactor valid.
    fibers: RefCell<Slab<FiberRef>>,
    timers: RefCell<Timers>,
    reactor: RefCell<Reactor>,
    stacks: RefCell<StackPool>,
    /// A fiber that has just finished and whose stack the main context must reclaim.
    finished: Cell<*const FiberShared>,
    root: Cell<*const FiberShared>,
    root_done: Cell<bool>,
    shutting_down: Cell<bool>,
    /// The fiber that ran before `current`, for the overflow handler: a switch saves the
    /// registers of the fiber it leaves on that fiber's stack after `current` has moved on.
    previous: Cell<*const FiberShared>,
    /// Fibers whose `unwind` is not `Unwind::No`.
    unwinding: Cell<usize>,
    /// Whether the thread was already unwinding when it called `run` (then that unwind, not a
    /// fiber's, makes `std::thread::panicking` true).
    outer_panicking: bool,
    /// Since when the shutdown has been stuck: fibers left, all parked, nothing to wake them.
    stuck_since: Cell<Option<Instant>>,
    /// Its place among the schedulers of a thread-per-core runtime.
    member: Option<Member>,
    /// The deadlock report, once one has been detected; `run` panics with it.
    deadlock: RefCell<Option<String>>,
    /// Direct switches left before the next checkpoint (see the `budget` module).
    until_poll: Cell<u32>,
    /// When the reactor and timers are next looked at while the run queue stays busy.
    pacer: budget::Pacer,
    /// The running fiber's use of its turn's cooperative budget.
    budget: budget::Budget,
    /// Copy of `shared.id`, read on every state access.
    id: u32,
    pub(crate) counters: Counters,
    /// Backtrace requests to suspended fibers (see `capture`).
    tracer: capture::Tracer,
    /// A coarse clock, read once per pass through the main loop: parks are stamped with it.
    clock: Cell<Instant>,
}

impl Scheduler {
    /// The scheduler of the calling thread, if it runs inside `run`.
    #[inline]
    pub(crate) fn current() -> Option<&'static Scheduler> {
        let ptr = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only while `run` owns the boxed scheduler on this thread
        // (it is cleared before the box drops), and everything that calls this runs inside that
        // `run` call. Callers use the reference within the call and never store it.
        unsafe { ptr.as_ref() }
    }

    #[inline]
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The calling thread's scheduler when the caller runs on one of its fibers (not on a
    /// plain thread, and not in the main context).
    #[inline]
    pub(crate) fn on_fiber() -> Option<&'static Scheduler> {
        Scheduler::current().filter(|sched| sched.in_fiber())
    }

    pub(crate) fn shared(&self) -> &Arc<SchedShared> {
        &self.shared
    }

    /// Its place among the schedulers of a thread-per-core runtime, if it is one of them.
    pub(crate) fn member(&self) -> Option<&Member> {
        self.member.as_ref()
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
    pub(crate) fn current_fiber(&self) -> &FiberShared {
        let ptr = self.current.get();
        assert!(
            !ptr.is_null(),
            "spindle internal error: no fiber is running"
        );
        // SAFETY: `current` points at a fiber held alive by `self.fibers` while it runs.
        unsafe { &*ptr }
    }

    /// An owning handle to the running fiber.
    pub(crate) fn current_ref(&self) -> FiberRef {
        let slot = self.current_fiber().local(self).slot.get();
        let fibers = self.fibers.borrow();
        Arc::clone(
            fibers
                .get(slot)
                .expect("the running fiber is in the fiber table"),
        )
    }

    /// Unwinds the running fiber with [`Cancelled`] if its runtime is shutting down, unless
    /// it is unwinding already (a second unwind from inside a destructor would abort).
    #[inline]
    pub(crate) fn check_cancelled(&self) {
        let local = self.current_fiber().local(self);
        if local.cancelled.get() && self.current_unwind() == Unwind::No {
            local.cancel_raises.set(local.cancel_raises.get() + 1);
            self.set_unwind(local, Unwind::Cancel);
            panic::resume_unwind(Box::new(Cancelled));
        }
    }

    /// Whether, and why, the running fiber unwinds.
    ///
    /// `std::thread::panicking` is true while *any* fiber of the thread is in the middle of
    /// unwinding. The panic hook marks the fiber a panic starts on, `check_cancelled` the one
    /// it cancels; the mark is dropped when the fiber's entry catches the unwind, or as soon as
    /// the thread is seen not panicking. A thread that panics while no fiber is marked (the
    /// hook was replaced, or `resume_unwind` was called) is taken to unwind the running fiber.
    pub(crate) fn current_unwind(&self) -> Unwind {
        let local = self.current_fiber().local(self);
        if local.unwind.get() == Unwind::Held {
            return Unwind::Held;
        }
        if !std::thread::panicking() {
            if local.unwind.get() != Unwind::No {
                self.set_unwind(local, Unwind::No);
            }
            return Unwind::No;
        }
        match local.unwind.get() {
            Unwind::No if self.unwinding.get() == 0 && !self.outer_panicking => Unwind::Panic,
            kind => kind,
        }
    }

    /// Records why the running fiber unwinds (or that it no longer does).
    pub(crate) fn set_unwind(&self, local: &crate::fiber::LocalState, kind: Unwind) {
        let was = local.unwind.replace(kind);
        match (was == Unwind::No, kind == Unwind::No) {
            (true, false) => self.unwinding.set(self.unwinding.get() + 1),
            (false, true) => self.unwinding.set(self.unwinding.get() - 1),
            _ => {}
        }
    }

    /// Marks the running fiber as holding an unwind it caught (see [`Unwind::Held`]) until
    /// [`release_unwind`](Self::release_unwind); returns what to restore then.
    pub(crate) fn hold_unwind(&self) -> Unwind {
        let local = self.current_fiber().local(self);
        let was = local.unwind.get();
        self.set_unwind(local, Unwind::Held);
        was
    }

    /// Ends [`hold_unwind`](Self::hold_unwind).
    pub(crate) fn release_unwind(&self, was: Unwind) {
        self.set_unwind(self.current_fiber().local(self), was);
    }

    /// Whether this runtime names fibers in panic messages (see `crate::panic_hook`).
    pub(crate) fn names_panics(&self) -> bool {
        self.config.name_panics
    }

    /// Marks the running fiber as panicking (called by spindle's panic hook).
    pub(crate) fn note_panic(&self) {
        let local = self.current_fiber().local(self);
        if local.unwind.get() == Unwind::No {
            self.set_unwind(local, Unwind::Panic);
        }
    }

    fn new(
        config: Config,
        poller: Poller,
        notifier: Notifier,
        outer_panicking: bool,
        member: Option<Member>,
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
            published: crate::stats::Published::default(),
            dump_requested: AtomicBool::new(false),
        });
        Scheduler {
            id: shared.id,
            until_poll: Cell::new(config.poll_interval.min(8)),
            pacer: budget::Pacer::new(config.poll_interval),
            budget: budget::Budget::default(),
            shared,
            stacks: RefCell::new(StackPool::new(config.hot_stacks)),
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
            member,
            deadlock: RefCell::new(None),
            counters: Counters::default(),
            tracer: capture::Tracer::default(),
            clock: Cell::new(Instant::now()),
        }
    }

    /// Gives `fiber` a stack on which it will run `body(cancelled)`, and queues it.
    pub(crate) fn spawn<B>(
        &self,
        fiber: FiberRef,
        body: B,
        stack_size: Option<usize>,
    ) -> io::Result<()>
    where
        B: FnOnce(bool) + 'static,
    {
        let usable = round_stack_size(stack_size.unwrap_or(self.config.stack_size));
        let stack = self.stacks.borrow_mut().alloc(usable)?;
        let sp = if size_of::<B>() <= MAX_INLINE_CLOSURE {
            place_body(&stack, body)
        } else {
            let boxed = Box::new(body);
            place_body(&stack, move |cancelled: bool| boxed(cancelled))
        };
        let shared: *const FiberShared = fiber.shared();
        let slot = self.fibers.borrow_mut().insert(fiber);
        // SAFETY: the fiber table now owns the cell `shared` points into.
        let shared = unsafe { &*shared };
        let local = shared.local(self);
        local.sp.set(sp);
        local.install_stack(stack);
        local.cancelled.set(self.shutting_down.get());
        local.slot.set(slot);
        self.run_queue.push(self, shared);
        self.counters.spawned.set(self.counters.spawned.get() + 1);
        crate::events::fiber_spawned(shared, self.id);
        Ok(())
    }

    /// Makes a parked fiber of this scheduler runnable, or stores the park token.
    pub(crate) fn unpark_local(&self, fiber: &FiberShared) {
        let local = fiber.local(self);
        match local.state.get() {
            State::Parked => {
                local.state.set(State::Runnable);
                self.run_queue.push(self, fiber);
            }
            State::Running | State::Runnable => local.notified.set(true),
            State::Finished | State::Abandoned => {}
        }
    }

    /// Records what the running fiber is about to wait for (kept if a more precise reason was
    /// already given with `fiber::waiting_on`).
    #[inline]
    pub(crate) fn note_wait(&self, wait: crate::fiber::Wait) {
        let cell = &self.current_fiber().local(self).wait;
        if cell.get() == crate::fiber::Wait::Nothing {
            cell.set(wait);
        }
    }

    /// Parks the running fiber until it is unparked or `deadline` passes. Returns whether the
    /// deadline passed. Does not unwind for cancellation: callers clean up, then call
    /// [`check_cancelled`](Self::check_cancelled).
    pub(crate) fn park(&self, deadline: Option<Instant>) -> bool {
        let me = self.current_fiber();
        let local = me.local(self);
        if local.notified.replace(false) {
            local.wait.set(crate::fiber::Wait::Nothing);
            return false;
        }
        // Shutting down and not unwinding yet: return at once, so that the caller's
        // `check_cancelled` unwinds the fiber, after the others had a turn. A fiber that keeps
        // catching `Cancelled` is given up on. One unwinding already (a destructor waits for
        // something) parks like any fiber.
        if local.cancelled.get() && self.current_unwind() == Unwind::No {
            if local.cancel_raises.get() >= MAX_CANCEL_RAISES {
                self.abandon_current();
            }
            self.yield_now();
            return false;
        }
        if let Some(deadline) = deadline {
            local
                .timer
                .set(Some(self.timers.borrow_mut().insert(deadline, me)));
        }
        local.state.set(State::Parked);
        local.parked_at.set(Some(self.clock.get()));
        self.counters.parks.set(self.counters.parks.get() + 1);
        self.switch_out(me);
        local.wait.set(crate::fiber::Wait::Nothing);
        match local.timer.take() {
            Some(key) => {
                self.timers.borrow_mut().cancel(key);
                false
            }
            None => deadline.is_some(),
        }
    }

    /// Moves the running fiber to the back of the run queue and runs the next one.
    #[inline]
    pub(crate) fn yield_now(&self) {
        let me = self.current_fiber();
        me.local(self).state.set(State::Runnable);
        self.run_queue.push(self, me);
        self.switch_out(me);
    }

    /// Suspends `me` (already marked parked or runnable) and resumes the next runnable fiber,
    /// or the main context. Returns when `me` is resumed.
    #[inline]
    fn switch_out(&self, me: &FiberShared) {
        let local = me.local(self);
        match self.next_to_run() {
            Some(next) if ptr::eq(next, me) => {
                local.state.set(State::Running);
                self.publish_current(me);
            }
            Some(next) => {
                let next_local = next.local(self);
                next_local.state.set(State::Running);
                self.publish_current(next);
                // SAFETY: `local.sp` is where this suspended context will be found; `next` is a
                // runnable fiber whose saved (or initial) stack pointer has not been resumed
                // since it was saved; its stack stays mapped while it is alive (held by
                // `self.fibers`). We come back here when some context switches to `local.sp`.
                unsafe {
                    stack::switch(
                        local.sp.as_ptr(),
                        next_local.sp.get(),
                        stack_of(next_local),
                        false,
                    )
                };
            }
            None => {
                self.publish_current(ptr::null());
                // SAFETY: the main context saved `main_sp` when it resumed a fiber, and runs
                // nothing else until a fiber switches back to it.
                unsafe {
                    stack::switch(local.sp.as_ptr(), self.main_sp.get(), SwitchTo::Main, false)
                };
            }
        }
        // We may have been entered only to report our backtrace.
        self.answer_trace_requests(local);
        // Whoever switched to us may have just finished.
        self.reclaim_finished();
    }

    /// The next fiber to switch to directly, or `None` to go through the main context (nothing
    /// runnable, or time to poll the reactor and timers).
    #[inline]
    fn next_to_run(&self) -> Option<&FiberShared> {
        let left = self.until_poll.get() - 1;
        self.until_poll.set(left);
        if left == 0 && self.poll_due() {
            return None;
        }
        self.run_queue.pop(self)
    }

    /// Records a switch to `fiber` (null: the main context), for `current_fiber` and for the
    /// stall detector.
    #[inline]
    fn publish_current(&self, fiber: *const FiberShared) {
        let switches = self.counters.switches.get() + 1;
        self.counters.switches.set(switches);
        self.previous.set(self.current.replace(fiber));
        self.shared.monitor.epoch.store(switches, Ordering::Relaxed);
        // Release: the watchdog loads `current` with Acquire before it reads the fiber's
        // identity (written when the fiber was created, on this thread).
        self.shared
            .monitor
            .current
            .store(fiber.cast_mut(), Ordering::Release);
    }

    /// Ends the running fiber: marks it finished and leaves its stack for good.
    pub(crate) fn finish(&self) -> ! {
        let me = self.current_fiber();
        crate::events::fiber_finished(me, self.id);
        me.local(self).state.set(State::Finished);
        // The next context to run reclaims this stack, once we are off it.
        self.finished.set(me);
        self.leave_for_good(me)
    }

    /// Abandons the running fiber (see [`Scheduler::abandon`]) and switches away from it.
    fn abandon_current(&self) -> ! {
        let me = self.current_fiber();
        eprintln!(
            "spindle: shutdown: fiber '{}' ({}) spawned at {} caught spindle::fiber::Cancelled \
             {MAX_CANCEL_RAISES} times; abandoning it (never resumed, what it owns is leaked). \
             Re-raise Cancelled with std::panic::resume_unwind.",
            me.name().unwrap_or("<unnamed>"),
            me.id.as_u64(),
            me.spawned_at,
        );
        self.abandon(me);
        self.leave_for_good(me)
    }

    /// Switches away from `me`, which never runs again.
    fn leave_for_good(&self, me: &FiberShared) -> ! {
        // When the root finishes, nothing else may run before the main context has begun the
        // shutdown, so the root always returns there.
        let next = if ptr::eq(me, self.root.get()) {
            None
        } else {
            self.next_to_run()
        };
        let (target, to) = match next {
            Some(next) => {
                next.local(self).state.set(State::Running);
                self.publish_current(next);
                (next.local(self).sp.get(), stack_of(next.local(self)))
            }
            None => {
                self.publish_current(ptr::null());
                (self.main_sp.get(), SwitchTo::Main)
            }
        };
        let mut abandoned: *mut u8 = ptr::null_mut();
        // SAFETY: `target` is a runnable fiber's unresumed saved stack pointer or the main
        // context's (see `switch_out`); the stack pointer saved into `abandoned` is never used.
        unsafe { stack::switch(&mut abandoned, target, to, true) };
        // Nothing ever resumes a finished fiber.
        std::process::abort()
    }

    /// Resumes `fiber` from the main context; returns when a fiber switches back to main.
    fn resume(&self, fiber: &FiberShared) {
        let local = fiber.local(self);
        local.state.set(State::Running);
        self.publish_current(fiber);
        // SAFETY: the fiber is runnable, so its saved stack pointer is valid and unresumed;
        // we save the main context in `main_sp`, which only fibers of this scheduler load.
        unsafe {
            stack::switch(
                self.main_sp.as_ptr(),
                local.sp.get(),
                stack_of(local),
                false,
            )
        };
    }

    /// Frees the stack and slot of the fiber that just finished (called by the context that
    /// runs after it).
    #[inline]
    fn reclaim_finished(&self) {
        let ptr = self.finished.get();
        if !ptr.is_null() {
            self.reclaim(ptr);
        }
    }

    #[inline(never)]
    fn reclaim(&self, ptr: *const FiberShared) {
        self.finished.set(ptr::null());
        // SAFETY: a finished fiber is still held by `self.fibers` until removed below.
        let fiber = unsafe { &*ptr };
        let local = fiber.local(self);
        if let Some(stack) = local.take_stack() {
            self.stacks.borrow_mut().release(stack);
        }
        let slot = local.slot.get();
        if ptr::eq(ptr, self.root.get()) {
            self.root_done.set(true);
        }
        if ptr::eq(self.previous.get(), ptr) {
            self.previous.set(ptr::null());
        }
        if self.config.stall_threshold.is_some() {
            self.shared.monitor.before_free(ptr);
        }
        let removed = self.fibers.borrow_mut().remove(slot);
        drop(removed);
    }

    /// Takes the fibers other threads unparked.
    fn drain_remote(&self) {
        if !self.shared.has_remote.load(Ordering::Relaxed)
            || !self.shared.has_remote.swap(false, Ordering::AcqRel)
        {
            return;
        }
        if self.shared.dump_requested.swap(false, Ordering::Relaxed) {
            eprintln!("{}", self.dump());
        }
        let RemoteQueue { unparks, spawns } = {
            let mut queue = self
                .shared
                .remote
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            queue.as_mut().map(std::mem::take).unwrap_or_default()
        };
        for fiber in &unparks {
            self.unpark_local(fiber.shared());
        }
        for RemoteSpawn {
            fiber,
            body,
            stack_size,
        } in spawns
        {
            if let Err(e) = self.spawn(Arc::clone(&fiber), body, stack_size) {
                fiber.complete_without_running(Box::new(format!(
                    "spindle: spawn_on: cannot start fiber {} on scheduler {}: {e}",
                    fiber.shared().id.as_u64(),
                    self.id
                )));
            }
        }
        let released = std::mem::take(
            &mut *self
                .shared
                .released
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut waiters = Vec::new();
        for token in released {
            self.reactor
                .borrow_mut()
                .forget(token, |fiber| waiters.push(fiber));
        }
        for fiber in waiters {
            // SAFETY: fibers on reactor waiter lists are parked and held by `self.fibers`.
            self.unpark_local(unsafe { &*fiber });
        }
    }

    /// Wakes the fibers whose timers are due.
    fn fire_timers(&self) {
        if self.timers.borrow().len() == 0 {
            return;
        }
        let now = Instant::now();
        loop {
            let Some(fiber) = self.timers.borrow_mut().pop_due(now) else {
                break;
            };
            // SAFETY: a fiber with an armed timer is parked and held alive by `self.fibers`;
            // it disarms its timer before it can finish.
            let fiber = unsafe { &*fiber };
            fiber.local(self).timer.set(None);
            self.counters
                .timers_fired
                .set(self.counters.timers_fired.get() + 1);
            self.unpark_local(fiber);
        }
    }

    /// Polls the reactor: without blocking when fibers are runnable, otherwise until the next
    /// timer, a remote wake-up or I/O. Detects a deadlock when nothing can ever wake a fiber.
    fn poll_reactor(&self) {
        let busy = self.run_queue.len() > 0;
        let mut timeout = if busy {
            if self.reactor.borrow().registered() == 0 {
                return;
            }
            Some(Duration::ZERO)
        } else {
            self.timers
                .borrow_mut()
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
        // Nothing here can wake a fiber: wake up now and then to look for a deadlock, which
        // needs the rest of the process to be unable to wake one too, before and after.
        let stuck = timeout.is_none() && self.locally_stuck();
        if stuck {
            timeout = self.config.deadlock_timeout;
        }
        let watch_deadlock = stuck && self.nobody_else_can_wake();
        let shutdown_stuck = timeout.is_none() && self.shutdown_stuck();
        if shutdown_stuck {
            let since = *self.stuck_since.get().get_or_insert_with(Instant::now);
            self.stuck_since.set(Some(since));
            timeout = Some(self.shutdown_grace().saturating_sub(since.elapsed()));
        } else {
            self.stuck_since.set(None);
        }
        self.shared.published.refresh(self, !busy);
        if !busy {
            self.shared.sleeping.store(true, Ordering::SeqCst);
            if self.shared.has_remote.load(Ordering::SeqCst) {
                timeout = Some(Duration::ZERO);
            }
        }
        let mut woken = Vec::new();
        let result = self
            .reactor
            .borrow_mut()
            .poll(timeout, |fiber| woken.push(fiber));
        // SeqCst pairs with the watchdog's park (see `watchdog::scheduler_woke`).
        self.shared.sleeping.store(false, Ordering::SeqCst);
        if !busy && self.config.stall_threshold.is_some() {
            watchdog::scheduler_woke();
        }
        self.counters.polls.set(self.counters.polls.get() + 1);
        let events = match result {
            Ok(events) => events,
            Err(e) => panic!("spindle: polling the reactor failed: {e}"),
        };
        self.counters
            .events
            .set(self.counters.events.get() + events as u64);
        for fiber in woken {
            // SAFETY: fibers on reactor waiter lists are parked and held by `self.fibers`.
            self.unpark_local(unsafe { &*fiber });
        }
        if watch_deadlock
            && events == 0
            && !self.shared.has_remote.load(Ordering::SeqCst)
            && self.locally_stuck()
            && self.nobody_else_can_wake()
        {
            self.report_deadlock();
        }
        if shutdown_stuck
            && events == 0
            && !self.shared.has_remote.load(Ordering::SeqCst)
            && self.shutdown_stuck()
            && self
                .stuck_since
                .get()
                .is_some_and(|since| since.elapsed() >= self.shutdown_grace())
        {
            self.abandon_all(Some(&format!(
                "the root returned and the fibers left have all been parked for {:?} with \
                 nothing in this runtime able to wake them",
                self.shutdown_grace()
            )));
        }
    }

    /// Whether the shutdown cannot go on by itself: fibers are left, none is runnable, and no
    /// timer, fd or `unblock` job could wake one (another thread still might).
    fn shutdown_stuck(&self) -> bool {
        self.shutting_down.get()
            && self.fibers.borrow().len() > 0
            && self.run_queue.len() == 0
            && self.timers.borrow().len() == 0
            && self.reactor.borrow().waiting() == 0
            && crate::blocking::jobs_in_flight() == 0
    }

    /// How long a stuck shutdown waits before it abandons the fibers left.
    fn shutdown_grace(&self) -> Duration {
        self.config
            .deadlock_timeout
            .unwrap_or(runtime::DEFAULT_DEADLOCK_TIMEOUT)
    }

    /// Gives up on `fiber` for good: it is never resumed; its stack stays mapped and its
    /// control block alive (wait-queue entries on its stack and handles to it stay valid),
    /// everything it owns is leaked, and its `JoinHandle` gets `Err(Cancelled)`.
    fn abandon(&self, fiber: &FiberShared) {
        let local = fiber.local(self);
        local.state.set(State::Abandoned);
        if local.unwind.get() != Unwind::No {
            self.set_unwind(local, Unwind::No);
        }
        if let Some(key) = local.timer.take() {
            self.timers.borrow_mut().cancel(key);
        }
        self.stacks.borrow_mut().keep_mapped();
        if ptr::eq(fiber, self.root.get()) {
            self.root_done.set(true);
        }
        let fiber_ref = self.fibers.borrow_mut().remove(local.slot.get());
        if let Some(fiber_ref) = fiber_ref {
            fiber_ref.complete_without_running(Box::new(Cancelled));
            // The control block is leaked on purpose, see above.
            std::mem::forget(fiber_ref);
        }
    }

    /// Abandons every fiber left (none is running: called from the main context), saying why
    /// on stderr when `why` is given (not when it is the configured way to shut down).
    fn abandon_all(&self, why: Option<&str>) {
        let left: Vec<*const FiberShared> = self
            .fibers
            .borrow()
            .iter()
            .map(|(_, f)| f.shared() as *const FiberShared)
            .collect();
        if left.is_empty() {
            return;
        }
        if let Some(why) = why {
            eprintln!(
                "spindle: shutdown: {why}; abandoning {} fiber(s) (never resumed, what they \
                 own is leaked):{}",
                left.len(),
                self.list_fibers_with_backtraces()
            );
        }
        self.run_queue.clear(self);
        for ptr in left {
            // SAFETY: collected from `self.fibers`, which still holds each until `abandon`
            // takes it out (and leaks it, so the pointer stays valid).
            self.abandon(unsafe { &*ptr });
        }
    }

    /// Marks every fiber cancelled and makes the parked ones runnable, so that each unwinds
    /// (or abandons them all when they cannot be unwound).
    fn begin_shutdown(&self) {
        self.shutting_down.set(true);
        if !self.config.unwind_at_shutdown {
            self.abandon_all(None);
            return;
        }
        let alive: Vec<*const FiberShared> = self
            .fibers
            .borrow()
            .iter()
            .map(|(_, f)| f.shared() as *const FiberShared)
            .collect();
        for ptr in alive {
            // SAFETY: collected from `self.fibers`, which nothing modifies during this loop.
            let fiber = unsafe { &*ptr };
            fiber.local(self).cancelled.set(true);
            if fiber.local(self).state.get() == State::Parked {
                self.unpark_local(fiber);
            }
        }
    }

    /// The main context: runs until the root fiber and then every other fiber have finished.
    fn run_loop(&self) {
        // Unwinding out of here would unmap the stacks of suspended fibers whose wait-queue
        // entries may still be linked into locks that other threads use.
        let abort = AbortOnUnwind("the scheduler's main loop");
        self.serve();
        std::mem::forget(abort);
    }

    /// The body of [`run_loop`](Self::run_loop).
    fn serve(&self) {
        loop {
            self.reclaim_finished();
            if self.root_done.get() {
                if self.fibers.borrow().len() == 0 {
                    return;
                }
                if !self.shutting_down.get() {
                    self.begin_shutdown();
                    // It may have abandoned every fiber left.
                    continue;
                }
            }
            self.drain_remote();
            self.poll_reactor();
            self.clock.set(Instant::now());
            self.fire_timers();
            if let Some(next) = self.run_queue.pop(self) {
                self.resume(next);
            }
        }
    }

    /// Registers `fd` with this scheduler's reactor, its events counted in `state`.
    pub(crate) fn register_io(&self, fd: RawFd, state: Arc<reactor::IoState>) -> io::Result<usize> {
        self.reactor.borrow_mut().register(fd, state)
    }

    /// Removes a registration of this scheduler's reactor.
    pub(crate) fn deregister_io(&self, token: usize, fd: RawFd) {
        self.reactor.borrow_mut().deregister(token, fd)
    }

    /// Parks the running fiber until `token`'s fd reports `interest`, or `deadline`.
    pub(crate) fn wait_io(
        &self,
        token: usize,
        fd: RawFd,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let me: *const FiberShared = self.current_fiber();
        self.note_wait(crate::fiber::Wait::Io(fd, interest));
        self.reactor.borrow_mut().add_waiter(token, interest, me);
        let timed_out = self.park(deadline);
        self.reactor.borrow_mut().remove_waiter(token, me);
        self.check_cancelled();
        if timed_out {
            Err(reactor::timed_out())
        } else {
            Ok(())
        }
    }

    /// Whether no other fiber is waiting to run.
    #[inline]
    pub(crate) fn nothing_else_runnable(&self) -> bool {
        self.run_queue.len() == 0
    }

    /// Number of fds registered with this scheduler's reactor.
    pub(crate) fn io_registered(&self) -> usize {
        self.reactor.borrow().registered()
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
        let Some(sched) = Scheduler::current() else {
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
                let Some(local) = fiber.try_local(sched) else {
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
    }
}

/// The stack `local`'s fiber runs on, for [`stack::switch`].
#[inline(always)]
fn stack_of(local: &crate::fiber::LocalState) -> SwitchTo {
    SwitchTo::Fiber {
        bottom: local.guard.get().1,
        size: local.stack_size.get(),
    }
}

/// Writes `body` at the top of `stack` and prepares the stack to start in [`fiber_entry`].
fn place_body<B: FnOnce(bool) + 'static>(stack: &Stack, body: B) -> *mut u8 {
    let align = align_of::<B>().max(arch::STACK_ALIGN);
    let addr = (stack.top() as usize - size_of::<B>()) & !(align - 1);
    debug_assert!(addr - (stack.bottom() as usize) > stack.usable() / 2);
    let slot = addr as *mut B;
    // SAFETY: `slot` lies within the top MAX_INLINE_CLOSURE + alignment bytes of a fresh
    // stack of at least MIN_STACK_SIZE bytes, is aligned for B, and nothing else uses it.
    unsafe { slot.write(body) };
    // SAFETY: `addr` is 16-aligned with the stack's free space below it; `fiber_entry::<B>`
    // never returns; its argument is the B just written.
    unsafe { arch::init_stack(addr as *mut u8, fiber_entry::<B>, addr as *mut u8) }
}

/// First Rust frame of every fiber: runs the body written by [`place_body`], then finishes.
unsafe extern "C" fn fiber_entry<B: FnOnce(bool)>(arg: *mut u8) -> ! {
    stack::fiber_started();
    let Some(sched) = Scheduler::current() else {
        std::process::abort()
    };
    // A fiber that just finished may have switched straight here.
    sched.reclaim_finished();
    // SAFETY: `arg` points at the B that `place_body` wrote on this stack; it is read exactly
    // once, here.
    let body = unsafe { arg.cast::<B>().read() };
    let local = sched.current_fiber().local(sched);
    local.started.set(true);
    let cancelled = local.cancelled.get();
    // `body` catches the fiber's panics; one escaping it could only unwind into the scheduler.
    let abort = AbortOnUnwind("a fiber's entry");
    body(cancelled);
    std::mem::forget(abort);
    sched.finish()
}

/// Runs `f` as the root fiber of a new scheduler on this thread; see `spindle::run`.
pub(crate) fn run_root<F, T>(
    config: Config,
    f: F,
    caller: &'static Location<'static>,
    member: Option<Member>,
) -> T
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    assert!(
        Scheduler::current().is_none(),
        "spindle::run called inside a runtime: a thread runs one scheduler at a time; spawn a \
         fiber with spindle::fiber::spawn instead"
    );
    install_overflow_handler();
    crate::panic_hook::install();
    // Without an alternate signal stack an overflow cannot be reported, but fibers still run.
    let _alt_stack = AltStack::ensure().ok();
    // Under valgrind, the main context's stack is a registered stack like the fibers'.
    let _thread_stack = crate::stack::register_thread_stack();
    let (poller, notifier) = Poller::new().unwrap_or_else(|e| {
        panic!("spindle::run: cannot create the reactor's epoll instance: {e}")
    });
    let root_stack = config.root_stack_size;
    let stall = config
        .stall_threshold
        .map(|t| (t, config.stall_hook.clone()));
    let backtraces = config.stall_backtraces;
    let outer_panicking = std::thread::panicking();
    let sched = Box::new(Scheduler::new(
        config,
        poller,
        notifier,
        outer_panicking,
        member.clone(),
    ));
    if let Some(member) = &member {
        member.register(&sched.shared);
    }
    let _current = CurrentGuard::enter(&sched);
    let _dump_watch = sched.config.dump_signal.map(|signal| {
        crate::dump_signal::watch(signal, &sched.shared).unwrap_or_else(|e| {
            panic!("spindle::run: cannot listen for dump requests on signal {signal}: {e}")
        })
    });
    let _watch = stall.map(|(threshold, hook)| {
        watchdog::watch(
            Arc::clone(&sched.shared),
            threshold,
            hook.unwrap_or_else(watchdog::default_hook),
            backtraces,
        )
    });

    let root = crate::join::spawn_on(&sched, f, Some("main".to_owned()), Some(root_stack), caller)
        .unwrap_or_else(|e| panic!("spindle::run: cannot allocate the root fiber's stack: {e}"));
    sched.root.set(root.fiber_shared());
    sched.run_loop();
    sched.shared.published.refresh(&sched, true);
    drop(_watch);
    drop(_current);
    let deadlock = sched.deadlock.borrow_mut().take();
    drop(sched);
    if let Some(report) = deadlock {
        panic!("{report}");
    }
    match root.join() {
        Ok(value) => value,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Aborts the process, naming `self.0`, when dropped: it guards a scope that user code must
/// not unwind out of (it would unwind through the scheduler), and is forgotten at the end of
/// that scope on the normal path.
struct AbortOnUnwind(&'static str);

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

impl Drop for Scheduler {
    fn drop(&mut self) {
        // Refuse further remote wake-ups and spawns, and drop the queued handles. Fibers
        // queued to start here never will: their JoinHandles get `Err(Cancelled)`.
        let queued = self
            .shared
            .remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(queued) = queued {
            for spawn in queued.spawns {
                spawn.fiber.complete_without_running(Box::new(Cancelled));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scheduler;
    use crate::fiber;
    use std::cell::Cell;
    use std::rc::Rc;

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
                    let sched = Scheduler::current().unwrap();
                    left_guard.set(sched.current_fiber().local(sched).guard.get());
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
