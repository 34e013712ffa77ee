//! The deadlock report through the facade: two fibers that take two `spindle::sync::Mutex`es
//! in opposite orders make `Runtime::run` panic with a report instead of hanging.
//!
//! Deadlock detection stands down while another runtime runs in the process, so this file
//! holds a single test (test binaries run their tests on parallel threads).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::sync::Mutex;

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast::<&str>()
            .map(|s| (*s).to_owned())
            .unwrap_or_default(),
    }
}

#[test]
fn two_fibers_locking_two_mutexes_in_opposite_orders_get_a_report_not_a_hang() {
    let rt = spindle::Runtime::builder()
        .deadlock_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let started = Instant::now();
    let line = line!() + 8; // the `.spawn(` of "lock-a"
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        rt.run(|| {
            let m1 = Rc::new(Mutex::new(1));
            let m2 = Rc::new(Mutex::new(2));
            let (a1, a2) = (m1.clone(), m2.clone());
            let a = fiber::Builder::new()
                .name("lock-a".into())
                .spawn(move || {
                    let g1 = a1.lock().unwrap();
                    fiber::yield_now();
                    let g2 = a2.lock().unwrap();
                    *g1 + *g2
                })
                .unwrap();
            let b = fiber::Builder::new()
                .name("lock-b".into())
                .spawn(move || {
                    let g2 = m2.lock().unwrap();
                    fiber::yield_now();
                    let g1 = m1.lock().unwrap();
                    *g1 + *g2
                })
                .unwrap();
            a.join().unwrap() + b.join().unwrap()
        })
    }));
    let report = panic_message(outcome.expect_err("the deadlocked run returned"));
    assert!(report.starts_with("spindle: deadlock"), "{report}");
    let file = file!();
    let fiber_line = |name: &str| {
        report
            .lines()
            .find(|l| l.contains(&format!("fiber '{name}'")))
            .unwrap_or_else(|| panic!("no line for fiber '{name}' in:\n{report}"))
            .to_owned()
    };
    let a = fiber_line("lock-a");
    let b = fiber_line("lock-b");
    assert!(a.contains("Mutex") && b.contains("Mutex"), "{report}");
    assert!(
        a.contains(&format!("{file}:{line}:")),
        "{a}\nexpected spawn site {file}:{line}"
    );
    assert!(b.contains(&format!("{file}:{}:", line + 9)), "{b}");
    // The root waits on a join, not on a lock.
    assert!(fiber_line("main").contains("join of fiber"), "{report}");
    // Generous: the report comes after the 100 ms timeout, not never.
    assert!(started.elapsed() < Duration::from_secs(30));
}
