//! Starting a scheduler on the current thread: [`run`], [`Runtime`] and its [`Builder`].

use std::io;
use std::panic::Location;

use crate::scheduler;
use crate::stack::round_stack_size;

/// Default usable stack of a fiber: 256 KiB of address space (only touched pages cost memory).
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Default usable stack of a runtime's root fiber, like a main thread's.
pub const DEFAULT_ROOT_STACK_SIZE: usize = 8 * 1024 * 1024;

/// Settings of a runtime.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) stack_size: usize,
    pub(crate) root_stack_size: usize,
    pub(crate) hot_stacks: usize,
    pub(crate) poll_interval: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            stack_size: DEFAULT_STACK_SIZE,
            root_stack_size: DEFAULT_ROOT_STACK_SIZE,
            hot_stacks: 256,
            poll_interval: 128,
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
#[derive(Debug, Clone, Default)]
pub struct Builder {
    config: Config,
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
    pub fn poll_interval(mut self, switches: u32) -> Builder {
        self.config.poll_interval = switches;
        self
    }

    /// Checks the settings and makes the runtime.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when a setting is out of range (a zero `poll_interval`).
    pub fn build(self) -> io::Result<Runtime> {
        let mut config = self.config;
        if config.poll_interval == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "spindle::runtime::Builder::poll_interval must be at least 1",
            ));
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
#[derive(Debug, Clone)]
pub struct Runtime {
    config: Config,
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
