//! Stall reports say where the fiber is: the backtrace taken by a signal to the stalled
//! thread names the function that called the blocking `std` function.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::{StallPhase, StallReport};

/// How long a stall may wait for its report before the test is declared hung. Generous: on
/// a loaded machine the stalled thread gets a CPU only now and then, and only its own time
/// counts towards the threshold.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Runs `stall` on a fiber of a fresh runtime whose stall reports are recorded; `stall` is
/// given a flag that turns true once the stall has been reported while it goes on, and
/// should hold the thread until then. Returns that report.
fn reported_stall(backtraces: bool, stall: fn(&AtomicBool)) -> StallReport {
    let reports: Arc<Mutex<Vec<StallReport>>> = Arc::default();
    let reported = Arc::new(AtomicBool::new(false));
    let (sink, flag) = (reports.clone(), reported.clone());
    let rt = spindle::Runtime::builder()
        .stall_threshold(Some(Duration::from_millis(20)))
        .stall_backtraces(backtraces)
        .on_stall(move |r| {
            sink.lock().unwrap().push(r.clone());
            if r.phase == StallPhase::Ongoing {
                flag.store(true, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    rt.run(move || {
        fiber::Builder::new()
            .name("client".into())
            .spawn(move || stall(&reported))
            .unwrap()
            .join()
            .unwrap();
    });
    let reports = reports.lock().unwrap();
    let ongoing = reports
        .iter()
        .find(|r| r.phase == StallPhase::Ongoing)
        .cloned()
        .unwrap_or_else(|| panic!("the stall was not reported while it went on: {reports:?}"));
    // The end-of-stall report does not repeat the backtrace.
    let ended = reports.iter().find(|r| r.phase == StallPhase::Ended);
    assert!(ended.is_some_and(|r| r.backtrace.is_none()), "{reports:?}");
    ongoing
}

/// [`reported_stall`] with backtraces on, repeated (at most five times) while the report
/// comes without one: the watchdog waits only 20 ms for the stalled thread to run the signal
/// handler, which a loaded machine may not grant, and then reports without a backtrace (as
/// `StallReport::backtrace` documents). A capture that never works still fails.
fn reported_stall_with_backtrace(stall: fn(&AtomicBool)) -> (StallReport, spindle::Backtrace) {
    let mut attempts = Vec::new();
    for _ in 0..5 {
        let report = reported_stall(true, stall);
        if let Some(backtrace) = report.backtrace.clone() {
            return (report, backtrace);
        }
        attempts.push(report);
    }
    panic!("no report had a backtrace in five stalls: {attempts:#?}");
}

/// Whether `flag` is still false and the stall has not gone on for [`HANG_LIMIT`].
fn not_yet(flag: &AtomicBool, start: Instant) -> bool {
    !flag.load(Ordering::SeqCst) && start.elapsed() < HANG_LIMIT
}

// With the zero-rewrite hook, std's sleep parks the fiber: nothing stalls (the CPU-loop test
// still runs there).
#[cfg(not(feature = "hook"))]
#[inline(never)]
fn handle_client(reported: &AtomicBool) {
    // The mistake the stall detector exists for: a std call that blocks the whole thread
    // (again and again, until the stall has been reported).
    let start = Instant::now();
    while not_yet(reported, start) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[inline(never)]
fn spin_until(reported: &AtomicBool) -> u64 {
    let start = Instant::now();
    let mut n = 0u64;
    while not_yet(reported, start) {
        n = std::hint::black_box(n.wrapping_add(1));
    }
    n
}

#[cfg(not(feature = "hook"))]
#[test]
fn the_stall_report_names_the_function_that_called_std_sleep() {
    let (report, backtrace) = reported_stall_with_backtrace(handle_client);
    assert!(backtrace.contains_function("handle_client"), "{report}");
    assert!(backtrace.contains_function("sleep"), "{report}");
    let text = report.to_string();
    assert!(text.contains("stall_backtrace::handle_client"), "{text}");
}

#[test]
fn a_cpu_loop_is_caught_in_the_loop() {
    let (report, backtrace) = reported_stall_with_backtrace(|reported| {
        spin_until(reported);
    });
    assert!(
        backtrace.contains_function("spin_until"),
        "{report}\nevery frame:\n{backtrace:#}"
    );
}

#[cfg(not(feature = "hook"))]
#[test]
fn stall_backtraces_false_leaves_them_out() {
    assert!(reported_stall(false, handle_client).backtrace.is_none());
}
