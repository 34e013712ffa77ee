//! The core's hot paths in plain loops, for instruction counts under callgrind.
//!
//! ```text
//! cargo build --release -p spindle-core --example hot_loops
//! valgrind --tool=callgrind target/release/examples/hot_loops spawn 20000
//! ```
//!
//! Modes: `spawn` (spawn an empty fiber and join it), `yield` (two fibers yielding to each
//! other; the count is switches). Run each at two counts and divide the difference in
//! instructions by the difference in counts: that removes the runtime's start and end.

use std::hint::black_box;
use std::time::Instant;

use spindle_core::fiber;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "spawn".to_owned());
    let n: u64 = args
        .next()
        .map(|s| s.parse().expect("usage: hot_loops spawn|yield [count]"))
        .unwrap_or(100_000);
    let elapsed = spindle_core::run(move || {
        let start = Instant::now();
        run_mode(&mode, n);
        start.elapsed()
    });
    println!(
        "{:.1} ns per iteration",
        elapsed.as_nanos() as f64 / n as f64
    );
}

fn run_mode(mode: &str, n: u64) {
    match mode {
        "spawn" => {
            for _ in 0..n {
                fiber::spawn(|| black_box(())).join().unwrap();
            }
        }
        "yield" => {
            let half = n.div_ceil(2);
            let a = fiber::spawn(move || {
                for _ in 0..half {
                    fiber::yield_now();
                }
            });
            let b = fiber::spawn(move || {
                for _ in 0..half {
                    fiber::yield_now();
                }
            });
            a.join().unwrap();
            b.join().unwrap();
        }
        other => panic!("unknown mode {other:?}: expected spawn or yield"),
    }
}
