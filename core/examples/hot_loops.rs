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
    let (elapsed, cpu) = spindle_core::run(move || {
        let (start, cpu_start) = (Instant::now(), thread_cpu_ns());
        run_mode(&mode, n);
        (start.elapsed(), thread_cpu_ns() - cpu_start)
    });
    // On a loaded machine the thread's CPU time is the steadier figure: it leaves out the
    // time the thread waited for a core.
    println!(
        "{:.1} ns per iteration ({:.1} ns of thread CPU time)",
        elapsed.as_nanos() as f64 / n as f64,
        cpu as f64 / n as f64
    );
}

/// CPU time the calling thread has used, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(ret, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
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
