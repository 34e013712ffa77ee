//! Starting a scheduler on the current thread: [`run`], [`Runtime`] and its [`Builder`].

use std::fmt;
use std::io;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::scheduler::{Installed, SchedConfig};
use crate::stack::round_stack_size;
use crate::thread_per_core::Member;
use crate::watchdog::{self, StallHook, StallReport};

/// Default usable stack of a fiber: 256 KiB of address space (only touched pages cost memory).
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Default usable stack of a runtime's root fiber, like a main thread's.
pub const DEFAULT_ROOT_STACK_SIZE: usize = 8 * 1024 * 1024;

/// Default stall threshold: a fiber holding its thread longer than this is reported.
pub const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_millis(10);
/// Default cooperative budget: operations a fiber may complete in one turn before it yields.
pub const DEFAULT_BUDGET: u32 = 128;
/// Default time slice: how long a fiber's turn of operations that never block may last.
pub const DEFAULT_TIME_SLICE: Duration = Duration::from_millis(1);

/// Default of [`Builder::yields_before_sleep`].
const DEFAULT_YIELDS_BEFORE_SLEEP: u32 = 32;

/// Default time an idle runtime with nothing that could wake it waits before it reports a
/// deadlock.
pub const DEFAULT_DEADLOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// Settings of a runtime.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) stack_size: usize,
    pub(crate) root_stack_size: usize,
    pub(crate) hot_stacks: usize,
    pub(crate) poll_interval: u32,
    /// Yields offered before a scheduler serving I/O blocks in the poller (0: none).
    pub(crate) yields_before_sleep: u32,
    /// `None`: the cooperative budget is off (and so is the time slice).
    pub(crate) budget_ops: Option<u32>,
    pub(crate) time_slice: Option<Duration>,
    pub(crate) stall_threshold: Option<Duration>,
    pub(crate) stall_hook: Option<StallHook>,
    pub(crate) deadlock_timeout: Option<Duration>,
    pub(crate) blocking: Option<(usize, Duration)>,
    pub(crate) unwind_at_shutdown: bool,
    pub(crate) threads: Option<usize>,
    pub(crate) pin_to_cores: bool,
    pub(crate) name_panics: bool,
    pub(crate) stall_backtraces: bool,
    pub(crate) dump_signal: Option<libc::c_int>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("stack_size", &self.stack_size)
            .field("root_stack_size", &self.root_stack_size)
            .field("hot_stacks", &self.hot_stacks)
            .field("poll_interval", &self.poll_interval)
            .field("yields_before_sleep", &self.yields_before_sleep)
            .field("budget_ops", &self.budget_ops)
            .field("time_slice", &self.time_slice)
            .field("stall_threshold", &self.stall_threshold)
            .field("custom_stall_hook", &self.stall_hook.is_some())
            .field("deadlock_timeout", &self.deadlock_timeout)
            .field("blocking", &self.blocking)
            .field("unwind_at_shutdown", &self.unwind_at_shutdown)
            .field("threads", &self.threads)
            .field("pin_to_cores", &self.pin_to_cores)
            .field("name_panics", &self.name_panics)
            .field("stall_backtraces", &self.stall_backtraces)
            .field("dump_signal", &self.dump_signal)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            stack_size: DEFAULT_STACK_SIZE,
            root_stack_size: DEFAULT_ROOT_STACK_SIZE,
            hot_stacks: 256,
            poll_interval: 128,
            yields_before_sleep: DEFAULT_YIELDS_BEFORE_SLEEP,
            budget_ops: Some(DEFAULT_BUDGET),
            time_slice: Some(DEFAULT_TIME_SLICE),
            stall_threshold: Some(DEFAULT_STALL_THRESHOLD),
            stall_hook: None,
            deadlock_timeout: Some(DEFAULT_DEADLOCK_TIMEOUT),
            blocking: None,
            unwind_at_shutdown: !cfg!(panic = "abort"),
            threads: None,
            pin_to_cores: false,
            name_panics: true,
            stall_backtraces: true,
            dump_signal: None,
        }
    }
}

impl Config {
    /// The part of the settings the scheduler itself reads.
    pub(crate) fn scheduler(&self) -> SchedConfig {
        SchedConfig {
            stack_size: self.stack_size,
            hot_stacks: self.hot_stacks,
            poll_interval: self.poll_interval,
            yields_before_sleep: self.yields_before_sleep,
            budget_ops: self.budget_ops,
            time_slice: self.time_slice,
            watched: self.stall_threshold.is_some(),
            deadlock_timeout: self.deadlock_timeout,
            shutdown_grace: self.deadlock_timeout.unwrap_or(DEFAULT_DEADLOCK_TIMEOUT),
            unwind_at_shutdown: self.unwind_at_shutdown,
            name_panics: self.name_panics,
            after_sleep: self
                .stall_threshold
                .is_some()
                .then_some(watchdog::scheduler_woke as fn()),
        }
    }
}

/// Runs `f` as the root fiber of a new scheduler on this thread, with the services the
/// runtime adds around it (panic hook, dump signal, stall detector, thread-per-core group);
/// see `spindle::run`.
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
    let installed = Installed::new(config.scheduler());
    crate::panic_hook::install();
    let shared = installed.scheduler().shared();
    let _member = member.map(|member| {
        member.register(shared);
        crate::thread_per_core::enter(member)
    });
    let _dump_watch = config.dump_signal.map(|signal| {
        crate::dump_signal::watch(signal, shared).unwrap_or_else(|e| {
            panic!("spindle::run: cannot listen for dump requests on signal {signal}: {e}")
        })
    });
    let watch = config.stall_threshold.map(|threshold| {
        watchdog::watch(
            Arc::clone(shared),
            threshold,
            config
                .stall_hook
                .clone()
                .unwrap_or_else(watchdog::default_hook),
            config.stall_backtraces,
        )
    });
    let root = crate::join::spawn_on(
        installed.scheduler(),
        f,
        Some("main".to_owned()),
        Some(config.root_stack_size),
        caller,
    )
    .unwrap_or_else(|e| panic!("spindle::run: cannot allocate the root fiber's stack: {e}"));
    installed.run(root.fiber_block());
    drop(watch);
    if let Some(report) = installed.finish() {
        panic!("{report}");
    }
    match root.join() {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Configures a [`Runtime`].
///
/// ```
/// # extern crate spindle_core as spindle;
/// let rt = spindle::Runtime::builder().stack_size(64 * 1024).build()?;
/// assert_eq!(rt.run(|| 1 + 1), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Builder {
    config: Config,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish()
    }
}

impl Builder {
    /// A builder with the defaults.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Default usable stack size of the fibers this runtime spawns, rounded up to whole pages
    /// (at least 16 KiB). Default: 256 KiB.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.config.stack_size = bytes;
        self
    }

    /// Usable stack size of the root fiber (the closure given to [`Runtime::run`]). Default:
    /// 8 MiB, like a main thread.
    pub fn root_stack_size(mut self, bytes: usize) -> Builder {
        self.config.root_stack_size = bytes;
        self
    }

    /// How many finished stacks of each size keep their memory for reuse; stacks freed beyond
    /// this give their pages back to the kernel. Default: 256.
    pub fn stack_cache(mut self, stacks: usize) -> Builder {
        self.config.hot_stacks = stacks;
        self
    }

    /// How many fiber switches may pass, while fibers stay runnable, before the reactor and
    /// timers are checked again. Default: 128.
    ///
    /// Switch counts alone do not bound the wait when fibers run long between switches, so
    /// the scheduler also reads the clock now and then (about every 100 µs of running fibers,
    /// never more than once per switch and, for fibers that switch every few nanoseconds, once
    /// per `switches`): the reactor is polled at least every 1 ms, and a due timer fires at
    /// the next such reading. A timer is then late by about one reading's spacing plus the
    /// longest time a fiber runs without switching.
    pub fn poll_interval(mut self, switches: u32) -> Builder {
        self.config.poll_interval = switches;
        self
    }

    /// How many times a scheduler that is serving I/O offers its CPU to other threads before
    /// it blocks in `epoll_wait` for lack of runnable fibers; 0 turns this off. Default: 32.
    ///
    /// When the last poll of the reactor reported events, a scheduler that runs out of
    /// runnable fibers does not go to sleep at once: up to `yields` times it polls without
    /// blocking and, finding nothing, calls `sched_yield`, so that a thread waiting for this
    /// CPU (often the peer that will send the next request) runs first. A sleep costs a
    /// context switch out and a wake-up back in; on a machine where the runtime's threads
    /// share the cores with their clients, most of those are saved (see `README.md`, "Many
    /// cores"). A scheduler whose yields found nothing skips them before its next sleeps
    /// (1, 2, 4, … up to 32 sleeps), so a lone connection or an idle runtime pays almost
    /// nothing; a runtime with no events (idle, or woken only by timers) never yields.
    pub fn yields_before_sleep(mut self, yields: u32) -> Builder {
        self.config.yields_before_sleep = yields;
        self
    }

    /// The cooperative budget: how many operations a fiber may complete in one turn (from a
    /// switch into it to the next) before it yields to the others; `None` turns the budget,
    /// and the [`time_slice`](Builder::time_slice), off. Default: 128.
    ///
    /// In a cooperative scheduler a fiber whose socket stays ready would otherwise never
    /// yield: `read` and `write` return as soon as the system call succeeds, and one busy
    /// connection would freeze every other fiber of its thread. Every operation that may
    /// complete without parking counts: a `read`, `write`, `send`, `recv` or `accept` of the
    /// `spindle-io` types (sockets, pipes, `Fd`, stdio), a lock of a `spindle-sync` `Mutex`
    /// or `RwLock`, a `Semaphore::acquire`, a waiting channel `send` or `recv` (the `try_`
    /// forms never yield), and [`fiber::consume_budget`](crate::fiber::consume_budget) for
    /// loops of your own. A park ends the turn, so a fiber that waits now and then never
    /// meets its budget.
    ///
    /// When the budget is spent the fiber yields if another fiber is runnable, or if the
    /// reactor, a timer or another thread might make one runnable; then the reactor is polled
    /// and due timers fire before it runs again; with nobody to yield to it goes on with a
    /// fresh budget. So while others could run, no fiber holds its thread for more than `ops`
    /// operations, nor for more than 16 operations past a [`time_slice`](Builder::time_slice)
    /// of them, whichever comes first: with the defaults, 128 operations or about 1 ms. (One
    /// operation is one system call or lock, so the bound holds for a fiber that does I/O or
    /// takes locks; a CPU loop that calls nothing of spindle's still has to yield on its own,
    /// and the stall detector reports it.)
    ///
    /// The count costs a compare and a store per operation; the echo fast path (two or three
    /// operations per turn) never reaches the first clock reading.
    pub fn budget(mut self, ops: Option<u32>) -> Builder {
        self.config.budget_ops = ops;
        self
    }

    /// The time slice of the cooperative budget: a fiber whose operations complete without
    /// parking yields once its turn has lasted this long, even before it has spent its
    /// [`budget`](Builder::budget) of operations (a few large writes can take milliseconds).
    /// `None` counts operations only. Default: 1 ms.
    ///
    /// The clock is read every 16 operations of a turn, not on each, so the slice is measured
    /// from the 16th operation and checked with a granularity of 16 operations.
    pub fn time_slice(mut self, slice: Option<Duration>) -> Builder {
        self.config.time_slice = slice;
        self
    }

    /// Reports a fiber that holds its thread (does not park or yield) for longer than
    /// `threshold`, while it goes on and again when it ends; `None` turns the stall detector
    /// off. Default: 10 ms.
    ///
    /// A watchdog thread samples each runtime's switch counter a few times per threshold, so
    /// a stall is reported between `threshold` and about 1.25 × `threshold` after it began.
    /// It samples only while some runtime may be running a fiber: once every runtime has
    /// slept in its poller for a threshold's worth of samples, it sleeps until one wakes.
    ///
    /// Only the fiber's own time counts: time its thread spent waiting for a CPU (the OS ran
    /// other threads) or stopped (`SIGSTOP`) is measured, from the thread's CPU clock and
    /// scheduler statistics, and left out; a report gives the thread's CPU time, the time left
    /// out, and whether the fiber computed or blocked ([`StallReport`]).
    /// Reports go to the hook set with [`on_stall`](Builder::on_stall) (default: stderr, at
    /// most 20 a second) and are counted in [`Stats::stalls`](crate::Stats::stalls).
    pub fn stall_threshold(mut self, threshold: Option<Duration>) -> Builder {
        self.config.stall_threshold = threshold;
        self
    }

    /// Sends stall reports to `hook` instead of stderr. The hook runs on the watchdog thread.
    pub fn on_stall<F>(mut self, hook: F) -> Builder
    where
        F: Fn(&StallReport) + Send + Sync + 'static,
    {
        self.config.stall_hook = Some(Arc::new(hook));
        self
    }

    /// How long the runtime must have been idle with nothing that could ever wake a fiber
    /// before `run` panics with a deadlock report; `None` turns detection off. Default: 1 s.
    ///
    /// # What is detected
    ///
    /// The root fiber has not returned, no fiber is runnable, no timer is armed (no
    /// `sleep`, `park_timeout` or I/O timeout), no fiber waits on a file descriptor, no
    /// [`unblock`](crate::unblock) job is in flight, no other runtime is running in the
    /// process, no plain thread has waited on a spindle object (`fiber::park`, a spindle lock
    /// or channel, a join) and is still alive, and no `Fiber` handle obtained by user code
    /// (`fiber::current()`, or a clone) is alive — and this lasts for the whole timeout. Then
    /// every parked fiber is listed with its name, id, spawn location and what it waits on (a
    /// lock, a channel, a join, a park), all fibers are unwound, and `run` panics with the
    /// report.
    ///
    /// # What is not
    ///
    /// Whenever another thread could still wake a fiber, nothing is reported. The one case
    /// spindle cannot see is a plain thread that holds a spindle object (a locked `Mutex`, a
    /// `Sender`) without ever having waited on a spindle object: if it stays silent for the
    /// whole timeout, the report is a false alarm. Raise the timeout or turn it off for such
    /// programs.
    pub fn deadlock_timeout(mut self, timeout: Option<Duration>) -> Builder {
        self.config.deadlock_timeout = timeout;
        self
    }

    /// Sets the process-wide [`unblock`](crate::unblock) pool: at most `threads` OS threads
    /// (default 64), and how long an idle one waits for work before it exits (default 10 s).
    /// Takes effect when the runtime is built, for every runtime of the process.
    pub fn blocking_pool(mut self, threads: usize, keep_alive: Duration) -> Builder {
        self.config.blocking = Some((threads, keep_alive));
        self
    }

    /// Chooses what happens to the fibers still alive when the root fiber returns: unwound
    /// (`true`, the default; their destructors run) or abandoned (`false`).
    ///
    /// An abandoned fiber is never resumed again: its stack stays mapped (so the wait-queue
    /// entries it may have left in locks shared with other threads stay valid) and everything
    /// it owns is leaked, as if the fiber were `std::mem::forget`-ten. A `JoinHandle` to it
    /// returns `Err` with a [`Cancelled`](crate::fiber::Cancelled) payload.
    ///
    /// Builds with `panic = "abort"` cannot unwind, so there leftover fibers are always
    /// abandoned, whatever this says.
    pub fn unwind_at_shutdown(mut self, unwind: bool) -> Builder {
        self.config.unwind_at_shutdown = unwind && !cfg!(panic = "abort");
        self
    }

    /// Sets how many schedulers (threads) [`Runtime::run_on_each`] starts. Default: one per
    /// core this process may run on (`std::thread::available_parallelism`). [`Runtime::run`]
    /// and [`run`] always use one, on the calling thread.
    pub fn threads(mut self, n: usize) -> Builder {
        self.config.threads = Some(n);
        self
    }

    /// Pins each scheduler of [`Runtime::run_on_each`] to its own CPU (scheduler `i` to the
    /// `i`-th CPU this process may run on, modulo their number). Off by default. A thread
    /// that cannot be pinned runs unpinned, with a message on stderr.
    pub fn pin_to_cores(mut self, pin: bool) -> Builder {
        self.config.pin_to_cores = pin;
        self
    }

    /// Whether a stall report carries the stalled fiber's backtrace
    /// ([`StallReport::backtrace`]): where it blocks or computes, down to the blocking call.
    /// Default: on.
    ///
    /// When the watchdog first reports a stall, it sends a real-time signal (`SIGRTMIN + 7`)
    /// to the stalled thread; the handler walks the fiber's stack (frame pointers where there
    /// are some, else a scan for return addresses) into a preallocated buffer, and the
    /// watchdog symbolises it. This costs nothing until a stall is reported, then a few
    /// microseconds of the stalled thread. The handler restarts interrupted system calls
    /// (`SA_RESTART`), but the kernel never restarts some (`poll`, `epoll_wait`,
    /// `nanosleep`, socket calls with a timeout): those return `EINTR` to the stalled code,
    /// which std retries in `sleep`, `read_exact` and `write_all` but a plain `read` passes
    /// on. If the program already handles that signal, spindle leaves it alone and reports
    /// stalls without backtraces.
    ///
    /// rustc omits frame pointers by default on x86_64 Linux, in debug builds too, so the
    /// walk mostly *scans* the stack for return addresses (words pointing right after a
    /// `call` instruction): the innermost frames and the program's are found, but a scanned
    /// backtrace may also show a stale frame (a return address left in an unused stack slot)
    /// and miss a tail call. Building with `RUSTFLAGS="-C force-frame-pointers=yes"` makes the
    /// walk follow the frame chain instead. Deadlock reports and [`dump`](crate::dump()) do
    /// not have this limit: they unwind suspended fibers with the unwind tables.
    pub fn stall_backtraces(mut self, on: bool) -> Builder {
        self.config.stall_backtraces = on;
        self
    }

    /// Whether a panic in a fiber is reported as `fiber 'name' (id) panicked at …` rather
    /// than std's `thread 'main' panicked at …`. Default: on.
    ///
    /// spindle's panic hook, chained in front of the one in place when the first runtime of
    /// the process starts, prints the fiber-named message (with a backtrace when
    /// `RUST_BACKTRACE` asks for one, like std) only if that hook is std's default. A hook the
    /// program installed before is always called and prints what it likes; one installed
    /// after replaces spindle's. Panics off fibers always go to the previous hook.
    pub fn name_panics(mut self, name: bool) -> Builder {
        self.config.name_panics = name;
        self
    }

    /// Prints [`spindle::dump()`](crate::dump())'s list of every fiber of this runtime to
    /// stderr each time the process receives `signal` (for example `libc::SIGQUIT`, as Go
    /// does, or `SIGUSR1`). Off by default.
    ///
    /// A dedicated thread receives the signal and asks each runtime watching it for a dump;
    /// the runtime takes it on its own thread, between fibers, so a runtime whose thread is
    /// stalled prints when the stall ends. The handler replaces the signal's previous
    /// disposition for the whole process, for good, and restarts interrupted system calls
    /// (`SA_RESTART`).
    ///
    /// [`build`](Builder::build) refuses signals that cannot be caught or that report faults
    /// (`SIGKILL`, `SIGSTOP`, `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`).
    pub fn dump_on_signal(mut self, signal: std::ffi::c_int) -> Builder {
        self.config.dump_signal = Some(signal);
        self
    }

    /// Checks the settings and makes the runtime.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when a setting is out of range: a zero `poll_interval`, a zero
    /// `budget`, a zero stall threshold, a blocking pool of zero threads, or a
    /// `dump_on_signal` signal that cannot be used.
    pub fn build(self) -> io::Result<Runtime> {
        let mut config = self.config;
        let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned()));
        if config.threads == Some(0) {
            return invalid("spindle::runtime::Builder::threads must be at least 1");
        }
        if config.poll_interval == 0 {
            return invalid("spindle::runtime::Builder::poll_interval must be at least 1");
        }
        if config.budget_ops == Some(0) {
            return invalid(
                "spindle::runtime::Builder::budget must be at least 1 operation (None turns it off)",
            );
        }
        if config.stall_threshold == Some(Duration::ZERO) {
            return invalid(
                "spindle::runtime::Builder::stall_threshold must be above zero (None turns it off)",
            );
        }
        if let Some(signal) = config.dump_signal {
            crate::dump_signal::check(signal)
                .map_err(|msg| io::Error::new(io::ErrorKind::InvalidInput, msg))?;
        }
        if let Some((threads, keep_alive)) = config.blocking {
            if threads == 0 {
                return invalid("spindle::runtime::Builder::blocking_pool needs at least 1 thread");
            }
            crate::blocking::set_blocking_pool_limits(threads, keep_alive);
        }
        config.stack_size = round_stack_size(config.stack_size);
        config.root_stack_size = round_stack_size(config.root_stack_size);
        Ok(Runtime { config })
    }
}

/// A fiber runtime: runs a root closure and every fiber it spawns on the calling thread.
///
/// A runtime holds only settings; each [`run`](Runtime::run) starts a fresh scheduler on the
/// calling thread. Several threads may each run their own runtime at the same time.
#[derive(Clone)]
pub struct Runtime {
    config: Config,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish()
    }
}

impl Runtime {
    /// A runtime with default settings.
    ///
    /// # Errors
    ///
    /// None today; the signature leaves room for settings read from the environment.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] for a runtime with custom settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `f` as the root fiber of a new scheduler on this thread and returns its value.
    ///
    /// # Shutdown
    ///
    /// When `f` returns, the fibers still alive are cancelled: each is unwound with the
    /// [`Cancelled`](crate::fiber::Cancelled) payload, starting at the park, sleep, yield or
    /// wait where it is suspended, so its destructors run; `run` returns once every fiber has
    /// finished. A panic in `f` resumes on the caller after that. In detail:
    ///
    /// - A destructor that runs during this unwinding may park (sleep, lock a `Mutex`, wait on
    ///   a channel): it waits like any other fiber, while the other fibers unwind.
    /// - A fiber that catches `Cancelled` is unwound again at its next park; after the fourth
    ///   time it is abandoned (see [`Builder::unwind_at_shutdown`]), with a message on stderr.
    /// - When the fibers left are all parked and nothing in this runtime can wake one (no
    ///   runnable fiber, timer, I/O wait or `unblock` job) for the deadlock timeout (1 s by
    ///   default, 1 s also when deadlock detection is off), they are abandoned, with a message
    ///   on stderr naming each: `run` always returns.
    /// - With [`Builder::unwind_at_shutdown`]`(false)`, and always in `panic = "abort"` builds,
    ///   the leftover fibers are abandoned at once instead of unwound.
    ///
    /// A fiber that never parks or yields (a CPU loop) is never reached by cancellation; the
    /// stall detector reports it. A fiber abandoned in the middle of unwinding never finishes
    /// that unwind, so `std::thread::panicking()` stays `true` on this thread afterwards
    /// ([`fiber::panicking`](crate::fiber::panicking) does not).
    ///
    /// # Panics
    ///
    /// When called inside a runtime (a thread runs one scheduler at a time), when the reactor's
    /// epoll instance cannot be created, or when `f` panics.
    #[track_caller]
    pub fn run<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        run_root(self.config.clone(), f, Location::caller(), None)
    }
}

impl Runtime {
    /// Runs `f(index)` as the root fiber of each of [`Builder::threads`] schedulers, one per
    /// thread (the calling thread is scheduler 0), and returns their values by index.
    ///
    /// The schedulers are independent 1:N schedulers: a fiber never leaves the scheduler that
    /// started it, so `thread_local!` stays sound. Work crosses schedulers only when asked:
    /// [`spawn_on`] starts a `Send` closure on another scheduler;
    /// spindle's locks, channels and sockets work across them (a socket moved to another
    /// scheduler waits on that one's reactor). Each scheduler shuts down on its own when its
    /// root returns, as [`Runtime::run`] does; the others are unaffected. Fibers queued on a
    /// scheduler that has ended never run: their `JoinHandle`s get `Err(Cancelled)`.
    ///
    /// Returns when every scheduler has ended.
    ///
    /// # Panics
    ///
    /// When a root panics: after every scheduler has ended, with the panic of the
    /// lowest-numbered scheduler that panicked, its message prefixed by `spindle: scheduler
    /// <index> panicked:`. Also as [`Runtime::run`] panics, on any of the threads.
    ///
    /// # Examples
    ///
    /// ```
    /// # extern crate spindle_core as spindle;
    /// let rt = spindle::Runtime::builder().threads(2).build()?;
    /// let threads = rt.run_on_each(|index| (index, std::thread::current().id()));
    /// assert_eq!(threads.len(), 2);
    /// assert_ne!(threads[0].1, threads[1].1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn run_on_each<F, T>(&self, f: F) -> Vec<T>
    where
        F: Fn(usize) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let n = self
            .config
            .threads
            .unwrap_or_else(crate::thread_per_core::default_threads);
        crate::thread_per_core::run_on_each(
            self.config.clone(),
            n,
            self.config.pin_to_cores,
            f,
            Location::caller(),
        )
    }
}

pub use crate::thread_per_core::{scheduler_index, schedulers, spawn_on, stats_of_each};

/// Runs `f` as the root fiber of a runtime with default settings; see [`Runtime::run`].
///
/// # Examples
///
/// ```
/// # extern crate spindle_core as spindle;
/// use spindle::fiber;
/// use std::time::Duration;
///
/// let order = spindle::run(|| {
///     let slow = fiber::spawn(|| { fiber::sleep(Duration::from_millis(20)); "slow" });
///     let fast = fiber::spawn(|| "fast");
///     vec![fast.join().unwrap(), slow.join().unwrap()]
/// });
/// assert_eq!(order, ["fast", "slow"]);
/// ```
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    run_root(Config::default(), f, Location::caller(), None)
}
