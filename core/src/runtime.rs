//! Starting a scheduler on the current thread: [`run`], [`Runtime`] and its [`Builder`].

use std::fmt;
use std::io;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use crate::watchdog::{StallHook, StallReport};

use crate::scheduler;
use crate::stack::round_stack_size;

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
    /// `None`: the cooperative budget is off (and so is the time slice).
    pub(crate) budget_ops: Option<u32>,
    pub(crate) time_slice: Option<Duration>,
    pub(crate) stall_threshold: Option<Duration>,
    pub(crate) stall_hook: Option<StallHook>,
    pub(crate) deadlock_timeout: Option<Duration>,
    pub(crate) blocking: Option<(usize, Duration)>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("stack_size", &self.stack_size)
            .field("root_stack_size", &self.root_stack_size)
            .field("hot_stacks", &self.hot_stacks)
            .field("poll_interval", &self.poll_interval)
            .field("budget_ops", &self.budget_ops)
            .field("time_slice", &self.time_slice)
            .field("stall_threshold", &self.stall_threshold)
            .field("custom_stall_hook", &self.stall_hook.is_some())
            .field("deadlock_timeout", &self.deadlock_timeout)
            .field("blocking", &self.blocking)
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
            budget_ops: Some(DEFAULT_BUDGET),
            time_slice: Some(DEFAULT_TIME_SLICE),
            stall_threshold: Some(DEFAULT_STALL_THRESHOLD),
            stall_hook: None,
            deadlock_timeout: Some(DEFAULT_DEADLOCK_TIMEOUT),
            blocking: None,
        }
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

    /// Checks the settings and makes the runtime.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when a setting is out of range: a zero `poll_interval`, a zero
    /// `budget`, a zero stall threshold, or a blocking pool of zero threads.
    pub fn build(self) -> io::Result<Runtime> {
        let mut config = self.config;
        let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned()));
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
    /// When `f` returns, fibers still alive are unwound (their destructors run) before `run`
    /// returns; a panic in `f` resumes on the caller after that.
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
        scheduler::run_root(self.config.clone(), f, Location::caller())
    }
}

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
    scheduler::run_root(Config::default(), f, Location::caller())
}
