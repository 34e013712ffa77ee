//! Stall reports say where the fiber is: the backtrace taken by a signal to the stalled
//! thread names the function that called the blocking `std` function.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spindle::fiber;
use spindle::{StallPhase, StallReport};

/// A runtime whose stall reports go to the returned list.
fn recording_runtime(backtraces: bool) -> (spindle::Runtime, Arc<Mutex<Vec<StallReport>>>) {
    let reports: Arc<Mutex<Vec<StallReport>>> = Arc::default();
    let sink = reports.clone();
    let rt = spindle::Runtime::builder()
        .stall_threshold(Some(Duration::from_millis(20)))
        .stall_backtraces(backtraces)
        .on_stall(move |r| sink.lock().unwrap().push(r.clone()))
        .build()
        .unwrap();
    (rt, reports)
}

// With the zero-rewrite hook, std's sleep parks the fiber: nothing stalls (the CPU-loop test
// still runs there).
#[cfg(not(feature = "hook"))]
#[inline(never)]
fn handle_client() {
    // The mistake the stall detector exists for: a std call that blocks the whole thread.
    std::thread::sleep(Duration::from_millis(300));
}

#[inline(never)]
fn spin_for(dur: Duration) -> u64 {
    let start = std::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        n = std::hint::black_box(n.wrapping_add(1));
    }
    n
}

fn ongoing(reports: &Mutex<Vec<StallReport>>) -> StallReport {
    reports
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.phase == StallPhase::Ongoing)
        .cloned()
        .expect("the stall was reported while it went on")
}

#[cfg(not(feature = "hook"))]
#[test]
fn the_stall_report_names_the_function_that_called_std_sleep() {
    let (rt, reports) = recording_runtime(true);
    rt.run(|| {
        fiber::Builder::new()
            .name("client".into())
            .spawn(handle_client)
            .unwrap()
            .join()
            .unwrap();
    });
    let report = ongoing(&reports);
    let backtrace = report.backtrace.clone().expect("a backtrace");
    assert!(backtrace.contains_function("handle_client"), "{report}");
    assert!(backtrace.contains_function("sleep"), "{report}");
    let text = report.to_string();
    assert!(text.contains("stall_backtrace::handle_client"), "{text}");
    // The end-of-stall report does not repeat it.
    let reports = reports.lock().unwrap();
    let ended = reports.iter().find(|r| r.phase == StallPhase::Ended);
    assert!(ended.is_some_and(|r| r.backtrace.is_none()));
}

#[test]
fn a_cpu_loop_is_caught_in_the_loop() {
    let (rt, reports) = recording_runtime(true);
    rt.run(|| {
        fiber::spawn(|| spin_for(Duration::from_millis(300)))
            .join()
            .unwrap();
    });
    let report = ongoing(&reports);
    let backtrace = report.backtrace.clone().expect("a backtrace");
    assert!(backtrace.contains_function("spin_for"), "{report}");
}

#[cfg(not(feature = "hook"))]
#[test]
fn stall_backtraces_false_leaves_them_out() {
    let (rt, reports) = recording_runtime(false);
    rt.run(|| {
        fiber::spawn(handle_client).join().unwrap();
    });
    assert!(ongoing(&reports).backtrace.is_none());
}
