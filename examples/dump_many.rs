//! Measures `spindle::dump()` of many parked fibers, backtraces included (the budget is
//! under 1 s for 10,000 fibers).
//!
//! `cargo run --release --example dump_many -- [fibers]` prints the time of a first dump
//! (which loads the debug info) and the median of five more.

use std::rc::Rc;
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::sync::Mutex;

#[inline(never)]
fn wait_for_lock(lock: &Mutex<()>) {
    drop(lock.lock().unwrap());
}

#[inline(never)]
fn nap() {
    fiber::sleep(Duration::from_secs(3600));
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(10_000, |s| s.parse().expect("usage: dump_many [fibers]"));
    let rt = spindle::Runtime::builder()
        .stall_threshold(None)
        .stack_size(64 * 1024)
        .build()
        .unwrap();
    rt.run(move || {
        let lock = Rc::new(Mutex::new(()));
        let guard = lock.lock().unwrap();
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let lock = Rc::clone(&lock);
            handles.push(fiber::spawn(move || {
                if i % 2 == 0 {
                    wait_for_lock(&lock)
                } else {
                    nap()
                }
            }));
        }
        fiber::yield_now();
        let time = || {
            let start = Instant::now();
            let dump = spindle::dump();
            let took = start.elapsed();
            assert_eq!(dump.fibers().len(), n + 1);
            (took, dump.to_string().len())
        };
        let (first, bytes) = time();
        let mut more: Vec<Duration> = (0..5).map(|_| time().0).collect();
        more.sort();
        println!(
            "dump of {} fibers: first {:.1?} (loads debug info), median of 5 more {:.1?}; {} KiB of text",
            n + 1,
            first,
            more[2],
            bytes / 1024
        );
        drop(guard);
        std::process::exit(0);
    });
}
