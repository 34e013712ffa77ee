//! One lock, two threads: 1,000,000 increments of a counter behind `std::sync::Mutex` from two
//! plain threads, and behind `spindle::sync::Mutex` from fibers on the two schedulers of a
//! thread-per-core runtime (one fiber per scheduler, then four). Each case runs `ROUNDS` times
//! (default 5); prints min / median / max wall time.
//!
//! ```sh
//! cargo run --release --example contended_mutex            # ROUNDS=9 for more rounds
//! ```

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

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<44} min {:>8.1} ms   median {:>8.1} ms   max {:>8.1} ms",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let (mut std_t, mut one, mut four) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so that load elsewhere on the machine hits every case alike.
    for _ in 0..rounds {
        std_t.push(std_threads());
        one.push(spindle_schedulers(1));
        four.push(spindle_schedulers(4));
    }
    println!("1,000,000 increments of one counter, {rounds} rounds:");
    summary("std::sync::Mutex, 2 threads", std_t);
    summary("spindle::sync::Mutex, 2 schedulers x 1 fiber", one);
    summary("spindle::sync::Mutex, 2 schedulers x 4 fibers", four);
}
