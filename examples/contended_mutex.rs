//! One lock, two threads: 1,000,000 increments of a counter behind `std::sync::Mutex` from two
//! plain threads, and behind `spindle::sync::Mutex` from fibers on the two schedulers of a
//! thread-per-core runtime (one fiber per scheduler, then four). Each case runs `ROUNDS` times
//! (default 5), after one untimed round of each; prints min / median / max wall time and
//! each spindle median as a multiple of std's.
//!
//! ```sh
//! cargo run --release --example contended_mutex            # ROUNDS=9 for more rounds
//! ```
//!
//! On a loaded 2-core machine the two threads of a case often run one after the other, which
//! measures uncontended locking. To have both run at once (as root; SCHED_FIFO, so keep runs
//! short): `chrt -f 10 target/release/examples/contended_mutex`.

use std::sync::Arc;
use std::time::{Duration, Instant};

const TOTAL: usize = 1_000_000;

fn std_threads() -> Duration {
    let counter = Arc::new(std::sync::Mutex::new(0usize));
    let start = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                for _ in 0..TOTAL / 2 {
                    *counter.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = start.elapsed();
    assert_eq!(*counter.lock().unwrap(), TOTAL);
    elapsed
}

fn spindle_schedulers(fibers_per_scheduler: usize) -> Duration {
    let counter = Arc::new(spindle::sync::Mutex::new(0usize));
    let runtime = spindle::Runtime::builder().threads(2).build().unwrap();
    let start = Instant::now();
    let c = Arc::clone(&counter);
    runtime.run_on_each(move |_| {
        let fibers: Vec<_> = (0..fibers_per_scheduler)
            .map(|_| {
                let counter = Arc::clone(&c);
                spindle::fiber::spawn(move || {
                    for _ in 0..TOTAL / 2 / fibers_per_scheduler {
                        *counter.lock().unwrap() += 1;
                    }
                })
            })
            .collect();
        for f in fibers {
            f.join().unwrap();
        }
    });
    let elapsed = start.elapsed();
    assert_eq!(*counter.lock().unwrap(), TOTAL);
    elapsed
}

/// Prints min / median / max, and the median's ratio to `base` (std's median); returns the
/// median.
fn summary(name: &str, mut times: Vec<Duration>, base: Option<Duration>) -> Duration {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = times[times.len() / 2];
    let ratio = base
        .map(|base| format!("   {:.2}x std", median.as_secs_f64() / base.as_secs_f64()))
        .unwrap_or_default();
    println!(
        "{name:<46} min {:>6.1} ms   median {:>6.1} ms   max {:>6.1} ms{ratio}",
        ms(times[0]),
        ms(median),
        ms(times[times.len() - 1])
    );
    median
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    // One untimed round of each first: the first runtime of a process pays one-time set-up
    // (the stall detector registers the process for `membarrier`, 16 ms on a loaded VM).
    std_threads();
    spindle_schedulers(1);
    spindle_schedulers(4);
    let (mut std_t, mut one, mut four) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so that load elsewhere on the machine hits every case alike.
    for _ in 0..rounds {
        std_t.push(std_threads());
        one.push(spindle_schedulers(1));
        four.push(spindle_schedulers(4));
    }
    println!("1,000,000 increments of one counter, {rounds} rounds:");
    let base = summary("std::sync::Mutex, 2 threads", std_t, None);
    summary(
        "spindle::sync::Mutex, 2 schedulers x 1 fiber",
        one,
        Some(base),
    );
    summary(
        "spindle::sync::Mutex, 2 schedulers x 4 fibers",
        four,
        Some(base),
    );
}
