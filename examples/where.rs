//! What spindle's reports say about *where* a fiber is: a stall report with the stalled
//! fiber's backtrace, a deadlock report with each parked fiber's, and a dump of every fiber.
//!
//! `cargo run --example where` (a debug build keeps every frame; in a release build the
//! optimiser may inline or tail-call the small functions below away).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use spindle::fiber;
use spindle::sync::Mutex;

/// The mistake the stall detector exists for: a std call that blocks the whole thread.
#[inline(never)]
fn handle_client() {
    std::thread::sleep(Duration::from_millis(100));
    fiber::yield_now();
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

#[inline(never)]
fn nap() {
    fiber::sleep(Duration::from_millis(200));
}

fn main() {
    println!("--- a stall: the report goes to stderr ---");
    spindle::run(|| {
        let client = fiber::Builder::new()
            .name("client".into())
            .spawn(handle_client);
        client.unwrap().join().unwrap();
    });

    println!("--- a deadlock: run panics with the report ---");
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The report is printed below, once.
        if info.payload().downcast_ref::<String>().is_none() {
            previous(info);
        }
    }));
    let rt = spindle::Runtime::builder()
        .deadlock_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        rt.run(|| {
            let m1 = Rc::new(Mutex::new(1));
            let m2 = Rc::new(Mutex::new(2));
            let (a1, a2) = (m1.clone(), m2.clone());
            let left = fiber::Builder::new()
                .name("left-locker".into())
                .spawn(move || left_locker(&a1, &a2))
                .unwrap();
            let right = fiber::Builder::new()
                .name("right-locker".into())
                .spawn(move || right_locker(&m2, &m1))
                .unwrap();
            left.join().unwrap() + right.join().unwrap()
        })
    }));
    let _ = std::panic::take_hook();
    match outcome {
        Err(payload) => match payload.downcast::<String>() {
            Ok(report) => println!("{report}"),
            Err(_) => println!("(the run panicked with something else)"),
        },
        Ok(_) => println!("(no deadlock?)"),
    }

    println!("--- a dump: spindle::dump() ---");
    spindle::run(|| {
        let napper = fiber::Builder::new().name("napper".into()).spawn(nap);
        fiber::yield_now();
        println!("{}", spindle::dump());
        napper.unwrap().join().unwrap();
    });
}
