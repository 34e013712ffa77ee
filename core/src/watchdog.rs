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

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering, compiler_fence, fence};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::fiber::{FiberId, FiberShared};
use crate::scheduler::SchedShared;
use crate::stall_cause::StallCause;

/// What a scheduler publishes for the watchdog. Written only by its own thread, with plain
/// (relaxed) stores on the switch path.
#[derive(Debug, Default)]
pub(crate) struct StallMonitor {
    /// Bumped at every switch.
    pub(crate) epoch: AtomicU64,
    /// The running fiber; null while the main context runs.
    pub(crate) current: AtomicPtr<FiberShared>,
    /// The fiber the watchdog is reading, if any (see the module docs).
    hazard: AtomicPtr<FiberShared>,
    /// Stalls reported so far.
    pub(crate) stalls: AtomicU64,
}

impl StallMonitor {
    /// Called by the scheduler before it frees `fiber`: waits while the watchdog reads it.
    pub(crate) fn before_free(&self, fiber: *const FiberShared) {
        // Pairs with the watchdog's `heavy_fence`: either it sees the epoch moved (and never
        // reads the fiber), or we see its hazard and wait.
        light_fence();
        while std::ptr::eq(self.hazard.load(Ordering::Acquire), fiber) {
            std::hint::spin_loop();
        }
    }
}

/// `membarrier(2)` commands (linux/membarrier.h).
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Set once this process is registered for expedited `membarrier`.
static EXPEDITED: AtomicBool = AtomicBool::new(false);

/// Registers the process for expedited `membarrier`, so the fast side of the hazard protocol
/// (the scheduler, once per finished fiber) needs only a compiler fence. Called before any
/// watched scheduler runs.
fn register_membarrier() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: membarrier takes (cmd, flags, cpu_id) and touches no memory of ours.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                0,
                0,
            )
        };
        EXPEDITED.store(ret == 0, Ordering::SeqCst);
    });
}

/// The scheduler's side of an asymmetric fence: free when the watchdog can force a barrier
/// on every thread with `membarrier`, a full fence otherwise.
#[inline]
fn light_fence() {
    if EXPEDITED.load(Ordering::Relaxed) {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The watchdog's side: a barrier on every running thread of the process. Returns false when
/// none could be had: the schedulers use only a compiler fence (`EXPEDITED`), so a plain fence
/// here would pair with nothing, and the caller must not read the fiber.
#[must_use]
fn heavy_fence() -> bool {
    if EXPEDITED.load(Ordering::Relaxed) {
        // SAFETY: as in `register_membarrier`.
        let ret =
            unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
        return ret == 0;
    }
    // Without membarrier both sides use a full fence.
    fence(Ordering::SeqCst);
    true
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
    /// How long it has held (or held, once ended) the thread without switching.
    pub held_for: Duration,
    /// Whether the stall goes on.
    pub phase: StallPhase,
    /// What the thread was doing when the stall was first reported: the likely cause.
    pub cause: StallCause,
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_deref().unwrap_or("<unnamed>");
        let ms = self.held_for.as_secs_f64() * 1e3;
        match self.phase {
            StallPhase::Ongoing => write!(
                f,
                "spindle: stall: fiber '{name}' ({}) spawned at {} has held its thread for \
                 {ms:.1} ms without yielding; every other fiber on the thread is waiting \
                 ({})",
                self.fiber.as_u64(),
                self.spawned_at,
                self.cause
            ),
            StallPhase::Ended => write!(
                f,
                "spindle: stall: fiber '{name}' ({}) spawned at {} released its thread after \
                 {ms:.1} ms",
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

/// A scheduler the watchdog watches.
struct Watched {
    sched: Arc<SchedShared>,
    threshold: Duration,
    hook: StallHook,
    last_epoch: u64,
    last_change: Instant,
    /// The scheduler thread's kernel id, to see what it is doing (`StallCause::probe`).
    tid: i32,
    /// The stall being reported, if any.
    reported: Option<StallReport>,
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

/// Starts watching a scheduler; the returned guard stops it. Called on the scheduler's own
/// thread, whose kernel id the stall reports' cause is read from.
pub(crate) fn watch(sched: Arc<SchedShared>, threshold: Duration, hook: StallHook) -> WatchGuard {
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
            last_epoch: epoch,
            last_change: Instant::now(),
            tid: crate::sys::gettid(),
            reported: None,
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
        if let Some(mut report) = w.reported.take() {
            report.held_for = w.last_change.elapsed();
            report.phase = StallPhase::Ended;
            (w.hook)(&report);
        }
    }
}

impl Watchdog {
    fn run(&self) {
        let mut reports: Vec<(StallHook, StallReport)> = Vec::new();
        loop {
            let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
            while watched.is_empty() {
                watched = self
                    .changed
                    .wait(watched)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let now = Instant::now();
            let mut tick = Duration::from_millis(100);
            for w in watched.iter_mut() {
                tick = tick.min(w.threshold / 4).max(Duration::from_millis(1));
                if let Some(report) = w.sample(now) {
                    reports.push((w.hook.clone(), report));
                }
            }
            let (guard, _) = self
                .changed
                .wait_timeout(watched, tick)
                .unwrap_or_else(PoisonError::into_inner);
            drop(guard);
            // Hooks run without the lock: they may be slow (stderr) or start runtimes.
            for (hook, report) in reports.drain(..) {
                hook(&report);
            }
        }
    }
}

impl Watched {
    /// Looks at the scheduler once; returns a report to deliver, if any.
    fn sample(&mut self, now: Instant) -> Option<StallReport> {
        let monitor = self.sched.monitor();
        let epoch = monitor.epoch.load(Ordering::Relaxed);
        let idle = self.sched.is_sleeping() || monitor.current.load(Ordering::Relaxed).is_null();
        if epoch != self.last_epoch || idle {
            let ended = self.reported.take().map(|mut report| {
                report.held_for = now.duration_since(self.last_change);
                report.phase = StallPhase::Ended;
                report
            });
            self.last_epoch = epoch;
            self.last_change = now;
            return ended;
        }
        let held_for = now.duration_since(self.last_change);
        if self.reported.is_some() || held_for < self.threshold {
            return None;
        }
        let report = self.describe_current(held_for)?;
        monitor.stalls.fetch_add(1, Ordering::Relaxed);
        self.reported = Some(report.clone());
        Some(report)
    }

    /// Reads the running fiber's identity, if it is still the one that stalls.
    fn describe_current(&self, held_for: Duration) -> Option<StallReport> {
        let monitor = self.sched.monitor();
        let fiber = monitor.current.load(Ordering::Acquire);
        if fiber.is_null() {
            return None;
        }
        // Read before the hazard is published: the scheduler may be spinning on it.
        let cause = StallCause::probe(self.tid);
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
                cause,
            }
        });
        monitor
            .hazard
            .store(std::ptr::null_mut(), Ordering::Release);
        report
    }
}
