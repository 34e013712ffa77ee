//! The stall detector and the deadlock report.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spindle_core::fiber::{self, JoinHandle};
use spindle_core::{Runtime, StallPhase, StallReport};

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn a_blocking_call_is_reported_while_it_stalls_and_when_it_ends() {
    let reports: Arc<Mutex<Vec<StallReport>>> = Arc::default();
    let sink = reports.clone();
    let rt = Runtime::builder()
        .stall_threshold(Some(Duration::from_millis(20)))
        .on_stall(move |r| sink.lock().unwrap().push(r.clone()))
        .build()
        .unwrap();
    let (line, seen_during) = rt.run(move || {
        let line = line!() + 3;
        let hog = fiber::Builder::new()
            .name("hog".into())
            .spawn(|| std::thread::sleep(Duration::from_millis(300)))
            .unwrap();
        // The root goes first to sleep; the hog then blocks the whole thread.
        fiber::sleep(Duration::from_millis(1));
        hog.join().unwrap();
        (line, spindle_core::stats().unwrap().stalls)
    });
    let reports = reports.lock().unwrap();
    let ongoing = reports
        .iter()
        .find(|r| r.phase == StallPhase::Ongoing)
        .expect("no ongoing report");
    assert_eq!(ongoing.name.as_deref(), Some("hog"));
    assert_eq!(ongoing.spawned_at.line(), line);
    assert!(ongoing.spawned_at.file().ends_with("hazards.rs"));
    assert!(ongoing.held_for >= Duration::from_millis(20));
    let ended = reports
        .iter()
        .find(|r| r.phase == StallPhase::Ended)
        .expect("no end report");
    assert_eq!(ended.fiber, ongoing.fiber);
    assert!(ended.held_for >= Duration::from_millis(250), "{ended}");
    assert!(ongoing.to_string().contains("fiber 'hog'"), "{ongoing}");
    assert!(seen_during >= 1);
}

#[test]
fn yielding_fibers_are_not_stalls() {
    // The threshold is well above how long a loaded machine may preempt the thread, which
    // is a stall too as far as the other fibers can tell.
    let reports: Arc<Mutex<Vec<StallReport>>> = Arc::default();
    let sink = reports.clone();
    let rt = Runtime::builder()
        .stall_threshold(Some(Duration::from_millis(250)))
        .on_stall(move |r| sink.lock().unwrap().push(r.clone()))
        .build()
        .unwrap();
    rt.run(|| {
        let busy = fiber::spawn(|| {
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_millis(600) {
                fiber::yield_now();
            }
        });
        fiber::sleep(Duration::from_millis(600));
        busy.join().unwrap();
    });
    assert!(
        reports.lock().unwrap().is_empty(),
        "{:?}",
        reports.lock().unwrap()
    );
}

/// Deadlock detection stands down while another runtime runs in the process, which the
/// other tests of this binary do; so these tests re-run this binary for one test alone.
fn in_child(test: &str) -> bool {
    if std::env::var_os("SPINDLE_HAZARDS_CHILD").is_some() {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env("SPINDLE_HAZARDS_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child test {test} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    false
}

#[test]
fn two_fibers_joining_each_other_are_reported() {
    if !in_child("two_fibers_joining_each_other_are_reported") {
        return;
    }
    let rt = Runtime::builder()
        .deadlock_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        rt.run(|| {
            let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
            let s = slot.clone();
            let a = fiber::Builder::new()
                .name("alpha".into())
                .spawn(move || {
                    fiber::yield_now();
                    let b = s.borrow_mut().take().unwrap();
                    b.join().unwrap();
                })
                .unwrap();
            let a_id = a.fiber().id();
            let b = fiber::Builder::new()
                .name("beta".into())
                .spawn(move || a.join().unwrap())
                .unwrap();
            let b_id = b.fiber().id();
            *slot.borrow_mut() = Some(b);
            (a_id, b_id, fiber::park())
        })
    }))
    .unwrap_err();
    let msg = panic_message(err);
    assert!(msg.starts_with("spindle: deadlock"), "{msg}");
    assert!(
        msg.contains("fiber 'alpha'") && msg.contains("fiber 'beta'"),
        "{msg}"
    );
    assert!(msg.contains("waits on join of fiber"), "{msg}");
    assert!(
        msg.contains("fiber 'main'") && msg.contains("waits on fiber::park"),
        "{msg}"
    );
    assert!(msg.contains("hazards.rs"), "{msg}");
}

#[test]
fn a_handle_held_by_another_thread_is_not_a_deadlock() {
    if !in_child("a_handle_held_by_another_thread_is_not_a_deadlock") {
        return;
    }
    let rt = Runtime::builder()
        .deadlock_timeout(Some(Duration::from_millis(20)))
        .build()
        .unwrap();
    rt.run(|| {
        let me = fiber::current();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            me.unpark();
        });
        // Woken only by the thread, long after the deadlock timeout.
        fiber::park();
        t.join().unwrap();
    });
}

#[test]
fn a_deadlock_is_reported_once_other_runtimes_have_ended() {
    // Runs beside the other tests of this binary: the report waits until their runtimes end.
    let other = std::thread::spawn(|| {
        spindle_core::run(|| fiber::sleep(Duration::from_millis(300)));
    });
    let rt = Runtime::builder()
        .deadlock_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.run(fiber::park))).unwrap_err();
    assert!(panic_message(err).contains("spindle: deadlock"));
    assert!(started.elapsed() >= Duration::from_millis(250));
    other.join().unwrap();
}

#[test]
fn a_thread_that_waited_as_a_plain_thread_can_still_report_its_own_deadlock() {
    if !in_child("a_thread_that_waited_as_a_plain_thread_can_still_report_its_own_deadlock") {
        return;
    }
    // A plain-thread wait makes this thread a party that could wake fibers elsewhere...
    fiber::park_timeout(Duration::from_millis(1));
    // ...but while it runs a runtime itself, that must not hide the runtime's own deadlock.
    let rt = Runtime::builder()
        .deadlock_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.run(fiber::park))).unwrap_err();
    assert!(panic_message(err).contains("spindle: deadlock"));
}

#[test]
fn detection_can_be_turned_off() {
    let rt = Runtime::builder().deadlock_timeout(None).build().unwrap();
    // With no detection, a lone parked root would hang; unpark it from a timer instead and
    // check the run completes normally.
    rt.run(|| {
        let root = fiber::current();
        fiber::spawn(move || {
            fiber::sleep(Duration::from_millis(10));
            root.unpark();
        });
        fiber::park();
    });
}
