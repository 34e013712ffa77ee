//! The 1:N hazard, measured: what a blocking std call does to the other fibers of its thread,
//! and what its spindle twin costs instead.
//!
//! ```text
//! cargo run --release --example hazards                 # the table, as text
//! cargo run --release --example hazards -- --markdown   # the same table in Markdown
//! ```
//!
//! For each blocking call, [`FIBERS`] fibers make the call once each while a ticker fiber
//! wakes every [`TICK`] and records how late each tick came (every tick that was due counts,
//! so a 200 ms freeze shows up as 200 ticks late by 200 ms down to 0). Each call is run once
//! with the std version and once with spindle's twin (`unblock`, or `yield_now` for the CPU
//! loop). A runtime's stall detector (threshold [`STALL_THRESHOLD`]) and deadlock report
//! (timeout [`DEADLOCK_TIMEOUT`]) are on, and the table says whether each fired. A std
//! `Mutex` held across a fiber switch hangs its thread for ever, so those runs happen in a
//! child process that is killed after [`HANG_LIMIT`].
//!
//! The last column is the price of the shim when nothing has to wait: one call of the
//! spindle twin against one call of std, from a small in-process loop. Those figures are
//! indicative only (one short loop on a possibly busy machine); the criterion benches of
//! each crate (`cargo bench -p spindle-core`, `-p spindle-io`, `-p spindle-sync`) are the
//! reference.
//!
//! This program calls the std versions on purpose, which is what spindle's lint preset
//! (`clippy-preset/clippy.toml`) would flag.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::{StallPhase, StallReport};

#[path = "hazards/cases.rs"]
mod cases;
#[path = "hazards/costs.rs"]
mod costs;
#[path = "hazards/table.rs"]
mod table;

pub(crate) use cases::run_child_if_asked;
pub(crate) use table::{legend, render, sample_reports};

/// Fibers that make the blocking call in each run.
pub(crate) const FIBERS: usize = 4;
/// How long one blocking call takes (the sleep, the server's answer, the FIFO's writer, the
/// burst of lookups, the CPU loop).
pub(crate) const BLOCK: Duration = Duration::from_millis(50);
/// The ticker's period.
pub(crate) const TICK: Duration = Duration::from_millis(1);
/// The stall detector's threshold in every run.
pub(crate) const STALL_THRESHOLD: Duration = Duration::from_millis(10);
/// The deadlock report's timeout in every run.
pub(crate) const DEADLOCK_TIMEOUT: Duration = Duration::from_millis(100);
/// How long a child process that hangs is given before it is killed.
pub(crate) const HANG_LIMIT: Duration = Duration::from_millis(300);

/// The blocking calls of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Sleep,
    SocketRead,
    MutexAcrossSwitch,
    Dns,
    FileRead,
    CpuLoop,
    LockOrder,
}

impl Case {
    pub(crate) const ALL: [Case; 7] = [
        Case::Sleep,
        Case::SocketRead,
        Case::MutexAcrossSwitch,
        Case::Dns,
        Case::FileRead,
        Case::CpuLoop,
        Case::LockOrder,
    ];

    /// What each of the fibers does.
    pub(crate) fn call(self) -> &'static str {
        match self {
            Case::Sleep => "sleep 50 ms",
            Case::SocketRead => "TCP read, server answers after 50 ms",
            Case::MutexAcrossSwitch => "Mutex held across a switch (sleep 50 ms inside)",
            Case::Dns => "DNS: burst of lookups of \"localhost\" (~50 ms)",
            Case::FileRead => "fs::read of a FIFO written after 50 ms (slow disk)",
            Case::CpuLoop => "CPU loop, 50 ms of CPU time",
            Case::LockOrder => "2 fibers, 2 Mutexes locked in opposite orders",
        }
    }

    pub(crate) fn std_version(self) -> &'static str {
        match self {
            Case::Sleep => "std::thread::sleep",
            Case::SocketRead => "std::net::TcpStream",
            Case::MutexAcrossSwitch | Case::LockOrder => "std::sync::Mutex",
            Case::Dns => "std::net::ToSocketAddrs",
            Case::FileRead => "std::fs::read",
            Case::CpuLoop => "plain loop",
        }
    }

    pub(crate) fn twin(self) -> &'static str {
        match self {
            Case::Sleep => "spindle::fiber::sleep",
            Case::SocketRead => "spindle::net::TcpStream",
            Case::MutexAcrossSwitch | Case::LockOrder => "spindle::sync::Mutex",
            Case::Dns => "spindle::net::ToSocketAddrs",
            Case::FileRead => "spindle::fs::read (unblock)",
            Case::CpuLoop => "loop + fiber::yield_now",
        }
    }

    /// The argument that runs the std version in a child process, for the cases that hang.
    fn child_arg(self) -> Option<&'static str> {
        match self {
            Case::MutexAcrossSwitch => Some("mutex"),
            Case::LockOrder => Some("lock-order"),
            _ => None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// All the calls returned, this long after the first began.
    Done(Duration),
    /// The thread hung; the child was killed after this long.
    Hung(Duration),
    /// The runtime reported a deadlock this long after the calls began.
    Deadlock(Duration),
}

/// What the ticker saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticks {
    pub(crate) worst: Duration,
    pub(crate) p99: Duration,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) case: Case,
    pub(crate) std: bool,
    pub(crate) outcome: Outcome,
    pub(crate) ticks: Option<Ticks>,
    /// Stall reports (one per stall, when it began).
    pub(crate) stalls: u32,
    /// The first stall report, as printed.
    pub(crate) first_stall: Option<String>,
    /// The deadlock report, if one came.
    pub(crate) deadlock: Option<String>,
    /// Nanoseconds of one call when nothing has to wait.
    pub(crate) cost_ns: Option<f64>,
}

/// The stall reports of one run.
#[derive(Debug, Default)]
struct StallLog {
    began: AtomicU32,
    first: StdMutex<Option<String>>,
}

impl StallLog {
    fn record(&self, report: &StallReport) {
        if report.phase == StallPhase::Ongoing {
            self.began.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first.lock().unwrap();
            if first.is_none() {
                *first = Some(report.to_string());
            }
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}

/// Keeps the expected deadlock panics off stderr; other panics print as usual.
pub(crate) fn quiet_deadlock_panics() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let expected =
            panic_message(info.payload()).is_some_and(|m| m.starts_with("spindle: deadlock"));
        if !expected {
            previous(info);
        }
    }));
}

/// A ticker fiber: wakes every `TICK` on an absolute schedule until `stop` is set or
/// `window` has passed, and records how late each due tick came.
pub(crate) fn ticker(stop: Rc<Cell<bool>>, window: Duration, out: Arc<StdMutex<Vec<Duration>>>) {
    let start = Instant::now();
    let mut late = Vec::with_capacity(4096);
    let mut due = start;
    while !stop.get() && due.duration_since(start) < window {
        due += TICK;
        fiber::sleep_until(due);
        late.push(Instant::now().saturating_duration_since(due));
    }
    *out.lock().unwrap() = late;
}

fn tick_stats(mut late: Vec<Duration>) -> Option<Ticks> {
    if late.is_empty() {
        return None;
    }
    late.sort_unstable();
    let rank = (late.len() * 99).div_ceil(100).max(1);
    Some(Ticks {
        worst: late[late.len() - 1],
        p99: late[rank - 1],
    })
}

/// Runs `work` on the root fiber of a fresh runtime, next to a ticker, and describes what
/// happened. `window` bounds the ticker (a ticker's timer keeps a deadlock from being seen).
pub(crate) fn measure<F>(case: Case, std: bool, window: Duration, work: F) -> Run
where
    F: FnOnce() + 'static,
{
    let log = Arc::new(StallLog::default());
    let hook_log = log.clone();
    let rt = spindle::Runtime::builder()
        .stall_threshold(Some(STALL_THRESHOLD))
        .on_stall(move |r| hook_log.record(r))
        .deadlock_timeout(Some(DEADLOCK_TIMEOUT))
        .build()
        .expect("runtime settings are valid");
    let late = Arc::new(StdMutex::new(Vec::new()));
    let ticker_late = late.clone();
    let began = Rc::new(Cell::new(None::<Instant>));
    let began_in = began.clone();
    let result = catch_unwind(AssertUnwindSafe(|| {
        rt.run(move || {
            let stop = Rc::new(Cell::new(false));
            let stop_ticker = stop.clone();
            let ticker = fiber::Builder::new()
                .name("ticker".into())
                .spawn(move || ticker(stop_ticker, window, ticker_late))
                .expect("spawn the ticker");
            fiber::sleep(Duration::from_millis(5));
            let t0 = Instant::now();
            began_in.set(Some(t0));
            work();
            let wall = t0.elapsed();
            stop.set(true);
            ticker.join().expect("the ticker panicked");
            wall
        })
    }));
    let since_work = || began.get().map_or(Duration::ZERO, |t| t.elapsed());
    let (outcome, deadlock) = match result {
        Ok(wall) => (Outcome::Done(wall), None),
        Err(payload) => match panic_message(&*payload) {
            Some(m) if m.starts_with("spindle: deadlock") => {
                (Outcome::Deadlock(since_work()), Some(m.to_owned()))
            }
            _ => resume_unwind(payload),
        },
    };
    let late = std::mem::take(&mut *late.lock().unwrap());
    let first_stall = log.first.lock().unwrap().take();
    Run {
        case,
        std,
        outcome,
        ticks: tick_stats(late),
        stalls: log.began.load(Ordering::Relaxed),
        first_stall,
        deadlock,
        cost_ns: None,
    }
}

/// Runs the whole table: for each case, the std version then the twin; `with_costs` also
/// measures one call of each when nothing has to wait.
pub(crate) fn run_all(with_costs: bool) -> Vec<Run> {
    quiet_deadlock_panics();
    let lookups = cases::calibrate_lookups();
    let mut runs = Vec::new();
    for case in Case::ALL {
        let cost = if with_costs { costs::costs(case) } else { None };
        let mut std_run = match case.child_arg() {
            Some(arg) => cases::run_in_child(case, arg),
            None => cases::run_in_process(case, true, lookups),
        };
        let mut twin_run = cases::run_in_process(case, false, lookups);
        if let Some((twin_ns, std_ns)) = cost {
            std_run.cost_ns = Some(std_ns);
            twin_run.cost_ns = Some(twin_ns);
        }
        runs.push(std_run);
        runs.push(twin_run);
    }
    runs
}

#[allow(dead_code)] // Unused when this file is a module of the tour.
fn main() {
    run_child_if_asked();
    let markdown = std::env::args().any(|a| a == "--markdown");
    if std::env::args().skip(1).any(|a| a != "--markdown") {
        eprintln!("usage: hazards [--markdown]");
        std::process::exit(2);
    }
    let runs = run_all(true);
    if markdown {
        println!("{}", render(&runs, true, false));
        println!("{}", legend(false));
    } else {
        println!("{}\n", legend(false));
        println!("{}", render(&runs, false, false));
        print!("{}", sample_reports(&runs));
    }
}
