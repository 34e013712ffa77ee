//! The deadlock report shows where each parked fiber waits: its backtrace names the function
//! that blocked on the lock.
//!
//! Deadlock detection stands down while another runtime runs in the process, so this file
//! holds a single test.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

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

#[inline(never)]
fn left_locker(first: &Mutex<u32>, second: &Mutex<u32>) -> u32 {
    let a = first.lock().unwrap();
    fiber::yield_now();
    let b = second.lock().unwrap();
    *a + *b
}

#[inline(never)]
fn right_locker(first: &Mutex<u32>, second: &Mutex<u32>) -> u32 {
    let a = first.lock().unwrap();
    fiber::yield_now();
    let b = second.lock().unwrap();
    *a + *b
}

#[test]
fn the_deadlock_report_names_the_function_each_fiber_waits_in() {
    let rt = spindle::Runtime::builder()
        .deadlock_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        rt.run(|| {
            let m1 = Rc::new(Mutex::new(1));
            let m2 = Rc::new(Mutex::new(2));
            let (a1, a2) = (m1.clone(), m2.clone());
            let a = fiber::Builder::new()
                .name("left".into())
                .spawn(move || left_locker(&a1, &a2))
                .unwrap();
            let b = fiber::Builder::new()
                .name("right".into())
                .spawn(move || right_locker(&m2, &m1))
                .unwrap();
            a.join().unwrap() + b.join().unwrap()
        })
    }));
    let report = panic_message(outcome.expect_err("the deadlocked run returned"));
    assert!(report.starts_with("spindle: deadlock"), "{report}");
    // Each fiber's block: its header line, then its frames, up to the next fiber.
    let block = |name: &str| {
        let start = report
            .find(&format!("fiber '{name}'"))
            .unwrap_or_else(|| panic!("no fiber '{name}' in:\n{report}"));
        let rest = &report[start..];
        let end = rest[1..].find("\n  fiber '").map_or(rest.len(), |e| e + 1);
        rest[..end].to_owned()
    };
    let left = block("left");
    let right = block("right");
    let file = file!();
    assert!(
        left.contains("in deadlock_backtrace::left_locker"),
        "{report}"
    );
    assert!(
        right.contains("in deadlock_backtrace::right_locker"),
        "{report}"
    );
    assert!(left.contains(&format!("at {file}:")), "{report}");
    // Spindle's insides are folded down to the lock call the program made.
    let shown: Vec<&str> = left.lines().skip(1).collect();
    assert!(shown[0].contains("frames folded"), "{report}");
    assert!(shown[1].contains("Mutex<T>::lock"), "{report}");
    assert!(shown[2].contains("left_locker"), "{report}");
    // The root waits in the join.
    assert!(block("main").contains("join of fiber"), "{report}");
}
