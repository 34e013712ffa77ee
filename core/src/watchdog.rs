//! The stall detector: a watchdog thread that notices a fiber holding its thread too long.
//!
//! In the 1:N model a fiber that does not yield — a CPU loop, or a call that really blocks
//! such as `std::thread::sleep` or a `std::net` read — freezes every other fiber of its thread.
//! Each scheduler publishes, on every switch, a switch counter (`epoch`) and the running fiber.
//! One process-wide watchdog thread samples them: when a scheduler has run the same fiber, with
//! the same epoch, for longer than its threshold, the watchdog reports the fiber (name, id,
//! spawn location, how long so far) *while the stall goes on*, and a second report when the
//! thread switches again, with the total.
//!
//! Reading the fiber's name from another thread is guarded by a one-slot hazard pointer: the
//! watchdog publishes the fiber it is about to read, then re-checks that the epoch has not
//! moved; the scheduler, before it frees a finished fiber, waits until no watchdog holds it.
//!
//! # Time that is not the fiber's
//!
//! Wall time alone would blame a fiber for time its thread did not run at all. The watchdog
//! reads, at each sample, the scheduler thread's CPU clock (`pthread_getcpuclockid`) and its
//! run delay (time spent runnable but waiting for a CPU, from the thread's
//! `/proc/thread-self/schedstat`, opened on that thread). A stall counts only the time the
//! thread ran or blocked: time it waited for a CPU (the OS preempted it) is left out, and so
//! is time the whole process was stopped (`SIGSTOP`): the watchdog notices it overslept by
//! more than a sampling period without having waited for a CPU itself (its own run delay),
//! so it was not even runnable, and nothing was observed then. A report says how much
//! of the stall was on the CPU (a CPU loop) and how much was off it (a blocking call).
//!
//! # An idle process costs nothing
//!
//! The watchdog samples every quarter threshold only while some watched scheduler may be
//! running a fiber. Once every watched scheduler has slept in its poller for a whole
//! threshold's worth of samples, the watchdog parks without a timeout; a scheduler that
//! wakes from its poller wakes the watchdog again (one atomic load on that path, plus a
//! `futex` wake only when the watchdog is parked).

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::engine::fiber::FiberId;
use crate::engine::monitor::{WAKEUPS, heavy_fence, register_membarrier};
use crate::engine::scheduler::SchedShared;
use crate::sys;
use crate::trace::{Backtrace, RawTrace, Symbolizer};

/// Set while the watchdog is parked with no timeout because every watched scheduler sleeps.
static PARKED: AtomicBool = AtomicBool::new(false);

/// Samples in a row that find every watched scheduler asleep before the watchdog parks.
const IDLE_SAMPLES_BEFORE_PARK: u32 = 4;

/// Called by a watched scheduler that just woke from its poller: wakes the watchdog if it
/// parked because every scheduler slept.
#[inline]
pub(crate) fn scheduler_woke() {
    // SeqCst pairs with the watchdog's store to PARKED then load of each `sleeping` (the
    // scheduler stored `sleeping = false` before this): one side sees the other.
    if PARKED.load(Ordering::SeqCst) {
        wake_parked();
    }
}

#[cold]
fn wake_parked() {
    let dog = watchdog();
    // Taking the lock orders this notify after the watchdog's wait began (it re-checked
    // the schedulers while holding the lock).
    let _watched = dog.watched.lock().unwrap_or_else(PoisonError::into_inner);
    dog.changed.notify_one();
}

/// What a stalled thread was doing when the stall was first reported: its scheduling state
/// then (from `/proc`), or else its CPU time against the stall's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StallCause {
    /// The thread was running (or ready to): a CPU loop in the fiber, or a stream of system
    /// calls that never block (a socket that stays ready with the budget turned off).
    Computing,
    /// The thread was asleep in the kernel: a call that really blocks (a `std` sleep, read or
    /// lock, a slow system call).
    Blocking,
    /// Neither its state nor its CPU clock could be read.
    Unknown,
}

/// Whether a stall is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallPhase {
    /// The fiber still holds its thread.
    Ongoing,
    /// The fiber has let other fibers run again.
    Ended,
}

/// One report of the stall detector, handed to the hook set with
/// [`Builder::on_stall`](crate::runtime::Builder::on_stall).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StallReport {
    /// The fiber that held its thread.
    pub fiber: FiberId,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// How long it has held (or held, once ended) the thread without switching, in wall time.
    pub held_for: Duration,
    /// Whether the stall goes on.
    pub phase: StallPhase,
    /// The thread's CPU time during `held_for`, if its CPU clock could be read.
    pub cpu_time: Option<Duration>,
    /// The part of `held_for` that was not the fiber's: the thread was runnable but waited
    /// for a CPU (OS preemption), or the whole process was stopped (`SIGSTOP`) or starved.
    /// A stall is reported only once `held_for - preempted` passes the threshold.
    pub preempted: Duration,
    /// Whether the fiber computed or blocked.
    pub cause: StallCause,
    /// Where the fiber was when the stall was first reported: its stack, innermost frame
    /// first, read by a signal to its thread (see
    /// [`Builder::stall_backtraces`](crate::runtime::Builder::stall_backtraces)). `None` in
    /// the report of a stall's end, when turned off, or when the stack could not be read.
    pub backtrace: Option<Backtrace>,
    /// The addresses behind `backtrace`, until the reporter thread symbolises them.
    raw: Option<RawTrace>,
}

impl StallReport {
    fn cause_text(&self) -> String {
        let mut text = match self.cpu_time {
            Some(cpu) => format!("{:.1} ms of it on the CPU", cpu.as_secs_f64() * 1e3),
            None => String::new(),
        };
        if !self.preempted.is_zero() {
            if !text.is_empty() {
                text.push_str(", ");
            }
            text.push_str(&format!(
                "{:.1} ms waiting for a CPU or stopped, not counted",
                self.preempted.as_secs_f64() * 1e3
            ));
        }
        text
    }
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_deref().unwrap_or("<unnamed>");
        let ms = self.held_for.as_secs_f64() * 1e3;
        let split = self.cause_text();
        let split = if split.is_empty() {
            split
        } else {
            format!(" ({split})")
        };
        let hint = match self.cause {
            StallCause::Computing => {
                "a CPU loop, or ready I/O with the cooperative budget off? move it to \
                 spindle::unblock or call fiber::yield_now in it"
            }
            StallCause::Blocking => "a blocking std call? use its spindle twin or spindle::unblock",
            StallCause::Unknown => {
                "a blocking std call or a CPU loop? use the spindle twin, spindle::unblock, \
                 or fiber::yield_now"
            }
        };
        match self.phase {
            StallPhase::Ongoing => write!(
                f,
                "spindle: stall: fiber '{name}' ({}) spawned at {} has held its thread for \
                 {ms:.1} ms{split} without yielding; every other fiber on the thread is \
                 waiting ({hint}){}",
                self.fiber.as_u64(),
                self.spawned_at,
                match &self.backtrace {
                    Some(backtrace) => format!("; it is at:\n{backtrace}"),
                    None => String::new(),
                }
            ),
            StallPhase::Ended => write!(
                f,
                "spindle: stall: fiber '{name}' ({}) spawned at {} released its thread after \
                 {ms:.1} ms{split}",
                self.fiber.as_u64(),
                self.spawned_at
            ),
        }
    }
}

/// The function stall reports go to.
pub(crate) type StallHook = Arc<dyn Fn(&StallReport) + Send + Sync>;

/// The default hook: stderr, at most 20 reports a second for the whole process.
pub(crate) fn default_hook() -> StallHook {
    Arc::new(|report: &StallReport| {
        static WINDOW: Mutex<(Option<Instant>, u32)> = Mutex::new((None, 0));
        let mut window = WINDOW.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match window.0 {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {
                window.1 += 1;
                if window.1 > 20 {
                    return;
                }
            }
            _ => *window = (Some(now), 1),
        }
        eprintln!("{report}");
    })
}

/// The clocks of a scheduler thread that the watchdog reads (see the module docs).
struct ThreadClocks {
    /// The thread's CPU-time clock.
    cpu: Option<libc::clockid_t>,
    /// The thread's `/proc/thread-self/schedstat`, opened on that thread.
    schedstat: Option<File>,
    /// The thread's `/proc/thread-self/stat`, opened on that thread.
    stat: Option<File>,
}

/// A reading of [`ThreadClocks`].
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    cpu: Option<Duration>,
    run_delay: Option<Duration>,
}

impl ThreadClocks {
    /// The clocks of the calling thread.
    fn of_this_thread() -> ThreadClocks {
        ThreadClocks {
            cpu: sys::thread_cpu_clock(),
            schedstat: File::open("/proc/thread-self/schedstat").ok(),
            stat: File::open("/proc/thread-self/stat").ok(),
        }
    }

    /// The thread's state letter (`R` running or runnable, `S` sleeping, `D` in I/O, …).
    fn state(&self) -> Option<u8> {
        let mut buf = [0u8; 512];
        let n = self.stat.as_ref()?.read_at(&mut buf, 0).ok()?;
        // "tid (comm) S ...": the name may hold spaces and parentheses; the state follows
        // the last ')'.
        let after = buf[..n].iter().rposition(|&b| b == b')')?;
        buf.get(after + 2).copied()
    }

    fn read(&self) -> Usage {
        Usage {
            cpu: self.cpu.and_then(sys::clock_time),
            run_delay: self.schedstat.as_ref().and_then(read_run_delay),
        }
    }
}

/// The second field of a schedstat file: nanoseconds spent runnable, waiting for a CPU.
fn read_run_delay(file: &File) -> Option<Duration> {
    let mut buf = [0u8; 96];
    let n = file.read_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let nanos = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// `later - earlier` of one clock, when both were read.
fn delta(later: Option<Duration>, earlier: Option<Duration>) -> Option<Duration> {
    Some(later?.saturating_sub(earlier?))
}

/// A scheduler the watchdog watches.
struct Watched {
    sched: Arc<SchedShared>,
    threshold: Duration,
    hook: StallHook,
    clocks: ThreadClocks,
    last_epoch: u64,
    last_change: Instant,
    /// The thread's clocks at `last_change` (read only when it was running a fiber).
    base: Usage,
    /// Time since `last_change` that the watchdog could not observe (it overslept).
    unobserved: Duration,
    /// Sample intervals since `last_change` in which the thread was runnable but its CPU
    /// clock hardly moved: it waited for a CPU. (Its run delay counts a wait only once the
    /// wait is over.)
    waiting: Duration,
    /// The previous sample of this stall, and the thread's CPU clock then.
    last_sample: (Instant, Option<Duration>),
    /// The stall being reported, if any.
    reported: Option<StallReport>,
    /// The scheduler's thread, when stall reports carry backtraces (see `stall_trace`).
    thread: Option<libc::pthread_t>,
}

struct Watchdog {
    watched: Mutex<Vec<Watched>>,
    changed: Condvar,
}

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(|| {
        let dog: &'static Watchdog = Box::leak(Box::new(Watchdog {
            watched: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("spindle-watchdog".into())
            .spawn(move || dog.run())
            .expect("spindle: cannot start the stall-detector thread");
        dog
    })
}

/// Starts watching a scheduler; the returned guard stops it.
pub(crate) fn watch(
    sched: Arc<SchedShared>,
    threshold: Duration,
    hook: StallHook,
    backtraces: bool,
) -> WatchGuard {
    register_membarrier();
    let dog = watchdog();
    let epoch = sched.monitor().epoch.load(Ordering::Relaxed);
    let sched_id = sched.id();
    dog.watched
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Watched {
            sched,
            threshold,
            hook,
            // `watch` runs on the scheduler's own thread.
            clocks: ThreadClocks::of_this_thread(),
            last_epoch: epoch,
            last_change: Instant::now(),
            base: Usage::default(),
            unobserved: Duration::ZERO,
            waiting: Duration::ZERO,
            last_sample: (Instant::now(), None),
            reported: None,
            // `watch` runs on the scheduler's own thread.
            thread: (backtraces && crate::stall_trace::install())
                .then(crate::stall_trace::this_thread),
        });
    dog.changed.notify_one();
    WatchGuard { sched_id }
}

/// Stops watching a scheduler when dropped.
#[derive(Debug)]
pub(crate) struct WatchGuard {
    sched_id: u32,
}

impl Drop for WatchGuard {
    /// Stops watching; a stall still being reported gets its end report here (the runtime may
    /// end before the watchdog samples again).
    fn drop(&mut self) {
        let dog = watchdog();
        let mut watched = dog.watched.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(pos) = watched.iter().position(|w| w.sched.id() == self.sched_id) else {
            return;
        };
        let mut w = watched.swap_remove(pos);
        drop(watched);
        let last = match w.reported.take() {
            Some(report) => {
                let report = w.ended(report, Instant::now());
                reporter().send(w.hook.clone(), report)
            }
            None => reporter().sent(),
        };
        // Every report of this runtime's stalls reaches its hook before `run` returns.
        reporter().wait(last);
    }
}

/// Delivers stall reports to their hooks, in order, on a thread of its own, so that the
/// watchdog keeps sampling meanwhile: a report's backtrace is symbolised first, and reading
/// debug info takes long the first time (about a second for a large debug build).
struct Reporter {
    queue: Mutex<ReportQueue>,
    changed: Condvar,
}

#[derive(Default)]
struct ReportQueue {
    pending: std::collections::VecDeque<(StallHook, StallReport)>,
    /// Reports queued so far.
    sent: u64,
    /// Reports delivered so far.
    done: u64,
}

fn reporter() -> &'static Reporter {
    static REPORTER: OnceLock<&'static Reporter> = OnceLock::new();
    REPORTER.get_or_init(|| {
        let reporter: &'static Reporter = Box::leak(Box::new(Reporter {
            queue: Mutex::default(),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("spindle-stall-report".into())
            .spawn(move || reporter.run())
            .expect("spindle: cannot start the stall-report thread");
        reporter
    })
}

impl Reporter {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReportQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `report` for `hook`; returns its number, for [`wait`](Self::wait).
    fn send(&self, hook: StallHook, report: StallReport) -> u64 {
        let mut queue = self.lock();
        queue.pending.push_back((hook, report));
        queue.sent += 1;
        self.changed.notify_all();
        queue.sent
    }

    /// The number of the last report queued.
    fn sent(&self) -> u64 {
        self.lock().sent
    }

    /// Waits until report number `seq` and those before it have been delivered.
    fn wait(&self, seq: u64) {
        let mut queue = self.lock();
        while queue.done < seq {
            queue = self
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn run(&self) {
        loop {
            let (hook, mut report) = {
                let mut queue = self.lock();
                loop {
                    match queue.pending.pop_front() {
                        Some(next) => break next,
                        None => {
                            queue = self
                                .changed
                                .wait(queue)
                                .unwrap_or_else(PoisonError::into_inner)
                        }
                    }
                }
            };
            if let Some(raw) = report.raw.take() {
                report.backtrace = Some(Symbolizer::new().resolve(&raw));
            }
            trace_stall(&report);
            // A panicking hook loses its report, not the reports after it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&report)));
            let mut queue = self.lock();
            queue.done += 1;
            self.changed.notify_all();
        }
    }
}

impl Watchdog {
    fn run(&self) {
        let mut reports: Vec<(StallHook, StallReport)> = Vec::new();
        // When the last timed wait should have ended, how long it was, and the watchdog's
        // own run delay before it.
        let mut expected: Option<(Instant, Duration, Option<Duration>)> = None;
        // Only the watchdog's own run delay is needed.
        let own = ThreadClocks {
            cpu: None,
            ..ThreadClocks::of_this_thread()
        };
        let mut idle_samples = 0u32;
        loop {
            let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
            while watched.is_empty() {
                watched = self
                    .changed
                    .wait(watched)
                    .unwrap_or_else(PoisonError::into_inner);
                WAKEUPS.fetch_add(1, Ordering::Relaxed);
                expected = None;
            }
            let now = Instant::now();
            // Oversleeping by more than one period, without having waited for a CPU all that
            // time, means the watchdog was not even runnable: the process was stopped. What
            // happened then was not observed. (Oversleeping because the watchdog waited for
            // a CPU is not that: on a busy core the stalling thread may be what it waited for.)
            let unobserved = expected.map_or(Duration::ZERO, |(end, tick, delay_before)| {
                let waited = delta(own.read().run_delay, delay_before).unwrap_or_default();
                now.saturating_duration_since(end)
                    .saturating_sub(tick)
                    .saturating_sub(waited)
            });
            let mut tick = Duration::from_millis(100);
            for w in watched.iter_mut() {
                tick = tick.min(w.threshold / 4).max(Duration::from_millis(1));
                if let Some(report) = w.sample(now, unobserved) {
                    reports.push((w.hook.clone(), report));
                }
            }
            let all_asleep = watched.iter().all(|w| w.sched.is_sleeping());
            idle_samples = if all_asleep { idle_samples + 1 } else { 0 };
            if !reports.is_empty() {
                // Hooks run without the lock: they may be slow (stderr) or start runtimes.
                drop(watched);
                for (hook, report) in reports.drain(..) {
                    reporter().send(hook, report);
                }
                watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
            }
            if idle_samples >= IDLE_SAMPLES_BEFORE_PARK {
                // SeqCst pairs with `scheduler_woke`: either a scheduler that wakes from now
                // on sees PARKED (and notifies under the lock we hold until `wait`), or the
                // re-check below sees it awake.
                PARKED.store(true, Ordering::SeqCst);
                if !watched.is_empty() && watched.iter().all(|w| w.sched.is_sleeping()) {
                    let guard = self
                        .changed
                        .wait(watched)
                        .unwrap_or_else(PoisonError::into_inner);
                    drop(guard);
                }
                PARKED.store(false, Ordering::Relaxed);
                idle_samples = 0;
                expected = None;
            } else {
                let delay_before = own.read().run_delay;
                let began = Instant::now();
                let (guard, _) = self
                    .changed
                    .wait_timeout(watched, tick)
                    .unwrap_or_else(PoisonError::into_inner);
                drop(guard);
                expected = Some((began + tick, tick, delay_before));
            }
            WAKEUPS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Watched {
    /// Looks at the scheduler once; returns a report to deliver, if any. `unobserved` is the
    /// time since the last sample that the watchdog could not see (it overslept).
    fn sample(&mut self, now: Instant, unobserved: Duration) -> Option<StallReport> {
        let sched = Arc::clone(&self.sched);
        let monitor = sched.monitor();
        let epoch = monitor.epoch.load(Ordering::Relaxed);
        let idle = sched.is_sleeping() || monitor.current.load(Ordering::Relaxed).is_null();
        if epoch != self.last_epoch || idle {
            let ended = self.reported.take().map(|report| self.ended(report, now));
            self.last_epoch = epoch;
            self.last_change = now;
            self.unobserved = Duration::ZERO;
            self.waiting = Duration::ZERO;
            self.base = if idle {
                Usage::default()
            } else {
                self.clocks.read()
            };
            self.last_sample = (now, self.base.cpu);
            return ended;
        }
        self.unobserved += unobserved;
        self.note_waiting(now);
        let held_for = now.duration_since(self.last_change);
        if self.reported.is_some() || held_for.saturating_sub(self.unobserved) < self.threshold {
            return None;
        }
        let (cpu_time, preempted) = self.usage_since_change();
        if held_for.saturating_sub(preempted) < self.threshold {
            return None;
        }
        let mut report = self.describe_current(held_for, cpu_time, preempted)?;
        if let Some(thread) = self.thread {
            // The watchdog's lock is held, so the thread cannot stop being watched and exit.
            // Symbolised by the reporter thread, off the watchdog's path.
            report.raw = crate::stall_trace::capture(thread, self.last_epoch);
        }
        monitor.stalls.fetch_add(1, Ordering::Relaxed);
        self.reported = Some(report.clone());
        Some(report)
    }

    /// Adds the interval since the previous sample to `waiting` if the thread spent it
    /// waiting for a CPU: runnable now, and its CPU clock moved less than an eighth of it.
    fn note_waiting(&mut self, now: Instant) {
        let cpu = self.clocks.cpu.and_then(sys::clock_time);
        let (then, cpu_then) = std::mem::replace(&mut self.last_sample, (now, cpu));
        let interval = now.duration_since(then);
        if let Some(ran) = delta(cpu, cpu_then)
            && ran < interval / 8
            && self.clocks.state() == Some(b'R')
        {
            self.waiting += interval;
        }
    }

    /// The thread's CPU time since `last_change`, and the time that was not the fiber's:
    /// waiting for a CPU (as its run delay counted it, or as seen by `note_waiting` for a wait
    /// still going on), or not observed.
    fn usage_since_change(&self) -> (Option<Duration>, Duration) {
        let now = self.clocks.read();
        let waited = delta(now.run_delay, self.base.run_delay).unwrap_or_default();
        (
            delta(now.cpu, self.base.cpu),
            self.unobserved + waited.max(self.waiting),
        )
    }

    /// `report`, finished: the stall ended by `now`.
    fn ended(&self, mut report: StallReport, now: Instant) -> StallReport {
        let (cpu_time, preempted) = self.usage_since_change();
        report.held_for = now.duration_since(self.last_change);
        report.phase = StallPhase::Ended;
        report.backtrace = None;
        report.raw = None;
        report.cpu_time = cpu_time.or(report.cpu_time);
        report.preempted = preempted.max(report.preempted);
        report
    }

    /// Reads the running fiber's identity, if it is still the one that stalls.
    fn describe_current(
        &self,
        held_for: Duration,
        cpu_time: Option<Duration>,
        preempted: Duration,
    ) -> Option<StallReport> {
        let monitor = self.sched.monitor();
        let fiber = monitor.current.load(Ordering::Acquire);
        if fiber.is_null() {
            return None;
        }
        monitor.hazard.store(fiber, Ordering::SeqCst);
        // Without a barrier the fiber may be freed under us: skip this sample (the next one
        // tries again) rather than read it.
        let still = heavy_fence()
            && monitor.epoch.load(Ordering::SeqCst) == self.last_epoch
            && std::ptr::eq(monitor.current.load(Ordering::SeqCst), fiber);
        let report = still.then(|| {
            // SAFETY: the epoch has not moved since `fiber` was running, with our hazard
            // published before we checked, so the scheduler has not freed it and will not
            // until we clear the hazard (see `StallMonitor::before_free`).
            let fiber = unsafe { &*fiber };
            StallReport {
                fiber: fiber.id,
                name: fiber.name().map(str::to_owned),
                spawned_at: fiber.spawned_at,
                held_for,
                phase: StallPhase::Ongoing,
                cpu_time,
                preempted,
                cause: cause(self.clocks.state(), held_for, cpu_time, preempted),
                backtrace: None,
                raw: None,
            }
        });
        monitor
            .hazard
            .store(std::ptr::null_mut(), Ordering::Release);
        report
    }
}

/// From the thread's state letter if known, else Computing if the thread was on the CPU for
/// at least half of the fiber's time. (The CPU clock alone misjudges system calls whose work
/// runs as soft interrupts, such as loopback TCP: that time is neither the thread's CPU time
/// nor a wait for a CPU.)
fn cause(
    state: Option<u8>,
    held_for: Duration,
    cpu_time: Option<Duration>,
    preempted: Duration,
) -> StallCause {
    match (state, cpu_time) {
        (Some(b'R'), _) => StallCause::Computing,
        (Some(b'S' | b'D'), _) => StallCause::Blocking,
        (_, Some(cpu)) if cpu * 2 >= held_for.saturating_sub(preempted) => StallCause::Computing,
        (_, Some(_)) => StallCause::Blocking,
        (_, None) => StallCause::Unknown,
    }
}

/// A stall report (also given to the stall hook).
fn trace_stall(_report: &StallReport) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "spindle::stall",
        fiber = _report.fiber.as_u64().get(),
        name = _report.name.as_deref().unwrap_or(""),
        spawned_at = %_report.spawned_at,
        held_ms = _report.held_for.as_secs_f64() * 1e3,
        cpu_ms = _report.cpu_time.map(|c| c.as_secs_f64() * 1e3),
        phase = ?_report.phase,
        cause = ?_report.cause,
        backtrace = _report.backtrace.as_ref().map(|b| b.to_string()),
        "{_report}"
    );
}
