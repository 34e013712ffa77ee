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
//! reclaimed from elsewhere), or every `poll_interval` switches, so that the reactor and timers
//! are still served while the run queue stays busy.
//!
//! # Fiber states
//!
//! | state      | meaning                                 | in run queue | next states               |
//! |------------|-----------------------------------------|--------------|---------------------------|
//! | `Runnable` | waiting for its turn (or not started)   | yes          | `Running`                 |
//! | `Running`  | on the CPU; `current` points at it      | no           | `Parked`, `Runnable`, `Finished` |
//! | `Parked`   | suspended until `unpark` or a timer     | no           | `Runnable`                |
//! | `Finished` | entry returned; stack about to be freed | no           | (none)                    |
//!
//! Beside the state, a `notified` flag holds std's park token: `unpark` of a fiber that is not
//! parked sets it, and the next `park` consumes it and returns at once.
//!
//! Same-thread `unpark` touches only plain cells: a fiber's scheduler-owned state is reached
//! only through [`FiberShared::local`], which demands the owning `&Scheduler` (a value that never
//! leaves its thread). Another thread's `unpark` instead pushes the fiber onto
//! [`SchedShared`]'s remote queue and, if the scheduler sleeps in the poller, wakes it.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::panic::{self, Location};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::arch;
use crate::fiber::{FiberShared, State};
use crate::reactor::{self, Interest, Notifier, Poller, Reactor};
use crate::runtime::Config;
use crate::slab::Slab;
use crate::stack::{AltStack, Stack, StackPool, install_overflow_handler, round_stack_size};
use crate::stats::Counters;
use crate::timer::Timers;

thread_local! {
    /// The scheduler running on this thread, if any.
    static CURRENT: Cell<*const Scheduler> = const { Cell::new(ptr::null()) };
}

static NEXT_SCHEDULER_ID: AtomicU32 = AtomicU32::new(1);

/// A closure bigger than this is boxed instead of being written onto the fiber's stack.
const MAX_INLINE_CLOSURE: usize = 1024;

/// Panic payload that unwinds fibers still alive when their runtime's root returns.
#[derive(Debug)]
pub(crate) struct Cancelled;

/// The part of a scheduler that other threads may touch.
#[derive(Debug)]
pub(crate) struct SchedShared {
    id: u32,
    /// Fibers unparked from other threads; `None` once the scheduler has ended.
    remote: Mutex<Option<Vec<Arc<FiberShared>>>>,
    /// Set when `remote` may be non-empty (checked without the lock).
    has_remote: AtomicBool,
    /// Set while the scheduler blocks in the poller.
    sleeping: AtomicBool,
    notifier: Notifier,
}

impl SchedShared {
    /// Queues `fiber` to be unparked by its scheduler, waking the scheduler if it sleeps.
    pub(crate) fn unpark_remote(&self, fiber: Arc<FiberShared>) {
        let mut queue = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = queue.as_mut() else {
            // The scheduler has ended; its fibers all finished.
            return;
        };
        queue.push(fiber);
        // SeqCst pairs with the scheduler's store to `sleeping` then load of `has_remote`:
        // at least one side sees the other's write, so a wake-up is never lost.
        self.has_remote.store(true, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.notifier.notify();
        }
    }
}

/// A FIFO of runnable fibers. Plain memory: only its own thread touches it.
#[derive(Debug, Default)]
struct RunQueue(UnsafeCell<VecDeque<*const FiberShared>>);

impl RunQueue {
    fn push(&self, f: *const FiberShared) {
        // SAFETY: the queue belongs to a `Scheduler`, which is neither Send nor Sync, and no
        // method of RunQueue calls out while holding the reference.
        unsafe { (*self.0.get()).push_back(f) }
    }

    fn pop(&self) -> Option<*const FiberShared> {
        // SAFETY: as in `push`.
        unsafe { (*self.0.get()).pop_front() }
    }

    fn len(&self) -> usize {
        // SAFETY: as in `push`.
        unsafe { (*self.0.get()).len() }
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
    fibers: RefCell<Slab<Arc<FiberShared>>>,
    timers: RefCell<Timers>,
    reactor: RefCell<Reactor>,
    stacks: RefCell<StackPool>,
    /// A fiber that has just finished and whose stack the main context must reclaim.
    finished: Cell<*const FiberShared>,
    root: Cell<*const FiberShared>,
    root_done: Cell<bool>,
    shutting_down: Cell<bool>,
    switches: Cell<u32>,
    pub(crate) counters: Counters,
}

impl Scheduler {
    /// The scheduler of the calling thread, if it runs inside `run`.
    pub(crate) fn current() -> Option<&'static Scheduler> {
        let ptr = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only while `run` owns the boxed scheduler on this thread
        // (it is cleared before the box drops), and everything that calls this runs inside that
        // `run` call. Callers use the reference within the call and never store it.
        unsafe { ptr.as_ref() }
    }

    pub(crate) fn id(&self) -> u32 {
        self.shared.id
    }

    pub(crate) fn shared(&self) -> &Arc<SchedShared> {
        &self.shared
    }

    /// Whether a fiber (not the main context) is running.
    pub(crate) fn in_fiber(&self) -> bool {
        !self.current.get().is_null()
    }

    /// The running fiber.
    ///
    /// # Panics
    ///
    /// When called from the main context, which runs no user code.
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
    pub(crate) fn current_arc(&self) -> Arc<FiberShared> {
        let ptr: *const FiberShared = self.current_fiber();
        // SAFETY: `ptr` came from `Arc::as_ptr` of an Arc in `self.fibers`, which stays there
        // while the fiber runs, so the strong count is at least one during this increment.
        unsafe {
            Arc::increment_strong_count(ptr);
            Arc::from_raw(ptr)
        }
    }

    /// Whether the running fiber is being unwound because the runtime is shutting down.
    pub(crate) fn current_cancelled(&self) -> bool {
        self.in_fiber() && self.current_fiber().local(self).cancelled.get()
    }

    /// Unwinds the running fiber if its runtime is shutting down (and it is not unwinding
    /// already).
    pub(crate) fn check_cancelled(&self) {
        if self.current_cancelled() && !std::thread::panicking() {
            panic::resume_unwind(Box::new(Cancelled));
        }
    }

    fn new(config: Config, poller: Poller, notifier: Notifier) -> Scheduler {
        let shared = Arc::new(SchedShared {
            id: NEXT_SCHEDULER_ID.fetch_add(1, Ordering::Relaxed),
            remote: Mutex::new(Some(Vec::new())),
            has_remote: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            notifier,
        });
        Scheduler {
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
            switches: Cell::new(0),
            counters: Counters::default(),
        }
    }

    /// Creates a fiber that will run `body(cancelled)` and queues it.
    pub(crate) fn spawn<B>(
        &self,
        body: B,
        name: Option<String>,
        stack_size: Option<usize>,
        spawned_at: &'static Location<'static>,
    ) -> io::Result<Arc<FiberShared>>
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
        let fiber = Arc::new(FiberShared::new(self, name, spawned_at));
        let local = fiber.local(self);
        local.sp.set(sp);
        local.install_stack(stack);
        local.cancelled.set(self.shutting_down.get());
        let ptr = Arc::as_ptr(&fiber);
        local
            .slot
            .set(self.fibers.borrow_mut().insert(Arc::clone(&fiber)));
        self.run_queue.push(ptr);
        self.counters.spawned.set(self.counters.spawned.get() + 1);
        Ok(fiber)
    }

    /// Makes a parked fiber of this scheduler runnable, or stores the park token.
    pub(crate) fn unpark_local(&self, fiber: &FiberShared) {
        let local = fiber.local(self);
        match local.state.get() {
            State::Parked => {
                local.state.set(State::Runnable);
                self.run_queue.push(fiber);
            }
            State::Running | State::Runnable => local.notified.set(true),
            State::Finished => {}
        }
    }

    /// Parks the running fiber until it is unparked or `deadline` passes. Returns whether the
    /// deadline passed. Does not unwind for cancellation: callers clean up, then call
    /// [`check_cancelled`](Self::check_cancelled).
    pub(crate) fn park(&self, deadline: Option<Instant>) -> bool {
        let me = self.current_fiber();
        let local = me.local(self);
        if local.notified.replace(false) {
            return false;
        }
        if local.cancelled.get() {
            // Shutting down: never block, but let the others run so they can unwind too.
            self.yield_now();
            return false;
        }
        if let Some(deadline) = deadline {
            local
                .timer
                .set(Some(self.timers.borrow_mut().insert(deadline, me)));
        }
        local.state.set(State::Parked);
        self.counters.parks.set(self.counters.parks.get() + 1);
        self.switch_out(me);
        match local.timer.take() {
            Some(key) => {
                self.timers.borrow_mut().cancel(key);
                false
            }
            None => deadline.is_some(),
        }
    }

    /// Moves the running fiber to the back of the run queue and runs the next one.
    pub(crate) fn yield_now(&self) {
        let me = self.current_fiber();
        me.local(self).state.set(State::Runnable);
        self.run_queue.push(me);
        self.switch_out(me);
    }

    /// Suspends `me` (already marked parked or runnable) and resumes the next runnable fiber,
    /// or the main context. Returns when `me` is resumed.
    fn switch_out(&self, me: &FiberShared) {
        let local = me.local(self);
        let n = self.switches.get().wrapping_add(1);
        self.switches.set(n);
        let next = if n.is_multiple_of(self.config.poll_interval) {
            None
        } else {
            self.run_queue.pop()
        };
        match next {
            Some(next) if ptr::eq(next, me) => local.state.set(State::Running),
            Some(next) => {
                self.counters.switches.set(self.counters.switches.get() + 1);
                // SAFETY: fibers in the run queue are kept alive by `self.fibers`.
                let next_ref = unsafe { &*next };
                next_ref.local(self).state.set(State::Running);
                self.current.set(next);
                // SAFETY: `local.sp` is where this suspended context will be found; `next` is a
                // runnable fiber whose saved (or initial) stack pointer has not been resumed
                // since it was saved; its stack stays mapped while it is alive. We come back
                // here when some context switches to `local.sp`.
                unsafe { arch::switch(local.sp.as_ptr(), next_ref.local(self).sp.get()) };
            }
            None => {
                self.current.set(ptr::null());
                // SAFETY: the main context saved `main_sp` when it resumed a fiber, and runs
                // nothing else until a fiber switches back to it.
                unsafe { arch::switch(local.sp.as_ptr(), self.main_sp.get()) };
            }
        }
    }

    /// Ends the running fiber: marks it finished and leaves its stack for good.
    pub(crate) fn finish(&self) -> ! {
        let me = self.current_fiber();
        me.local(self).state.set(State::Finished);
        self.finished.set(me);
        self.current.set(ptr::null());
        let mut abandoned: *mut u8 = ptr::null_mut();
        // SAFETY: as in `switch_out`; the saved stack pointer is never used again, and the main
        // context reclaims this stack only after we have switched off it.
        unsafe { arch::switch(&mut abandoned, self.main_sp.get()) };
        // Nothing ever resumes a finished fiber.
        std::process::abort()
    }

    /// Resumes `fiber` from the main context; returns when a fiber switches back to main.
    fn resume(&self, fiber: *const FiberShared) {
        // SAFETY: fibers in the run queue are kept alive by `self.fibers`.
        let fiber_ref = unsafe { &*fiber };
        let local = fiber_ref.local(self);
        local.state.set(State::Running);
        self.current.set(fiber);
        self.counters.switches.set(self.counters.switches.get() + 1);
        // SAFETY: the fiber is runnable, so its saved stack pointer is valid and unresumed;
        // we save the main context in `main_sp`, which only fibers of this scheduler load.
        unsafe { arch::switch(self.main_sp.as_ptr(), local.sp.get()) };
    }

    /// Frees the stack and slot of the fiber that just finished.
    fn reclaim_finished(&self) {
        let ptr = self.finished.replace(ptr::null());
        if ptr.is_null() {
            return;
        }
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
        let removed = self.fibers.borrow_mut().remove(slot);
        drop(removed);
    }

    /// Takes the fibers other threads unparked.
    fn drain_remote(&self) {
        if !self.shared.has_remote.swap(false, Ordering::AcqRel) {
            return;
        }
        let woken = {
            let mut queue = self
                .shared
                .remote
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            queue.as_mut().map(std::mem::take).unwrap_or_default()
        };
        for fiber in &woken {
            self.unpark_local(fiber);
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
    /// timer, a remote wake-up or I/O.
    fn poll_reactor(&self) {
        let busy = self.run_queue.len() > 0;
        let mut timeout = if busy {
            if self.reactor.borrow().registered() == 0 {
                return;
            }
            Some(Duration::ZERO)
        } else {
            self.timers
                .borrow()
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
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
        self.shared.sleeping.store(false, Ordering::Relaxed);
        self.counters.polls.set(self.counters.polls.get() + 1);
        match result {
            Ok(events) => {
                self.counters
                    .events
                    .set(self.counters.events.get() + events as u64);
            }
            Err(e) => panic!("spindle: polling the reactor failed: {e}"),
        }
        for fiber in woken {
            // SAFETY: fibers on reactor waiter lists are parked and held by `self.fibers`.
            self.unpark_local(unsafe { &*fiber });
        }
    }

    /// Marks every fiber cancelled and makes the parked ones runnable, so that each unwinds.
    fn begin_shutdown(&self) {
        self.shutting_down.set(true);
        let alive: Vec<*const FiberShared> = self
            .fibers
            .borrow()
            .iter()
            .map(|(_, f)| Arc::as_ptr(f))
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
        loop {
            self.reclaim_finished();
            if self.root_done.get() {
                if self.fibers.borrow().len() == 0 {
                    return;
                }
                if !self.shutting_down.get() {
                    self.begin_shutdown();
                }
            }
            self.drain_remote();
            self.poll_reactor();
            self.fire_timers();
            if let Some(next) = self.run_queue.pop() {
                self.resume(next);
            }
        }
    }

    /// Registers `fd` with this scheduler's reactor.
    pub(crate) fn register_io(&self, fd: RawFd) -> io::Result<usize> {
        self.reactor.borrow_mut().register(fd)
    }

    /// Removes a registration of this scheduler's reactor.
    pub(crate) fn deregister_io(&self, token: usize, fd: RawFd) {
        self.reactor.borrow_mut().deregister(token, fd)
    }

    /// Parks the running fiber until `token`'s fd reports `interest`, or `deadline`.
    pub(crate) fn wait_io(
        &self,
        token: usize,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let me: *const FiberShared = self.current_fiber();
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
    /// calls `report(name, id, stack KiB)` and returns true.
    pub(crate) fn describe_guard_hit(
        addr: usize,
        report: &mut dyn FnMut(&str, u64, usize),
    ) -> bool {
        let Some(sched) = Scheduler::current() else {
            return false;
        };
        let ptr = sched.current.get();
        if ptr.is_null() {
            return false;
        }
        // SAFETY: the running fiber is alive (see `current_fiber`).
        let fiber = unsafe { &*ptr };
        let local = fiber.local(sched);
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
    }
}

/// See [`Scheduler::describe_guard_hit`].
pub(crate) fn describe_guard_hit(addr: usize, report: &mut dyn FnMut(&str, u64, usize)) -> bool {
    Scheduler::describe_guard_hit(addr, report)
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
    let Some(sched) = Scheduler::current() else {
        std::process::abort()
    };
    // SAFETY: `arg` points at the B that `place_body` wrote on this stack; it is read exactly
    // once, here.
    let body = unsafe { arg.cast::<B>().read() };
    let cancelled = sched.current_fiber().local(sched).cancelled.get();
    body(cancelled);
    sched.finish()
}

/// Runs `f` as the root fiber of a new scheduler on this thread; see `spindle::run`.
pub(crate) fn run_root<F, T>(config: Config, f: F, caller: &'static Location<'static>) -> T
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
    // Without an alternate signal stack an overflow cannot be reported, but fibers still run.
    let _alt_stack = AltStack::ensure().ok();
    let (poller, notifier) = Poller::new().unwrap_or_else(|e| {
        panic!("spindle::run: cannot create the reactor's epoll instance: {e}")
    });
    let root_stack = config.root_stack_size;
    let sched = Box::new(Scheduler::new(config, poller, notifier));
    let _current = CurrentGuard::enter(&sched);

    let result: Arc<crate::fiber::Packet<T>> = Arc::new(crate::fiber::Packet::new());
    let packet = Arc::clone(&result);
    let body = move |cancelled: bool| {
        crate::fiber::run_body(cancelled, f, &packet);
    };
    let root = sched
        .spawn(body, Some("main".to_owned()), Some(root_stack), caller)
        .unwrap_or_else(|e| panic!("spindle::run: cannot allocate the root fiber's stack: {e}"));
    sched.root.set(Arc::as_ptr(&root));
    drop(root);
    sched.run_loop();
    drop(_current);
    drop(sched);
    match result.take() {
        Some(Ok(value)) => value,
        Some(Err(payload)) => panic::resume_unwind(payload),
        None => unreachable!("the root fiber finished without a result"),
    }
}

/// Publishes a scheduler in [`CURRENT`] and clears it on drop (also when unwinding).
struct CurrentGuard;

impl CurrentGuard {
    fn enter(sched: &Scheduler) -> CurrentGuard {
        CURRENT.with(|c| c.set(sched));
        CurrentGuard
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(ptr::null()));
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // Refuse further remote wake-ups and drop the queued handles.
        let queued = self
            .shared
            .remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(queued);
    }
}
