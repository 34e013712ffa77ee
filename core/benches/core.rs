#![allow(missing_docs)] // criterion_group! generates undocumented items
//! The core's budgets, measured side by side with peers in one process.
//!
//! `cargo bench -p spindle-core` — groups:
//! - `switch`: one `yield_now` between two fibers (spindle), a bare resume/suspend switch
//!   (corosensei), `tokio::task::yield_now` between two tasks (tokio current_thread).
//! - `spawn_join`: spawn an empty fiber / task / thread and join it.
//! - `park_unpark`: two fibers waking each other in turn (one park + one unpark per step).
//! - `timer`: the same with `park_timeout`, so each step also arms and cancels a timer.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use spindle_core::fiber;

#[inline(never)]
fn yielder(n: u64) {
    for _ in 0..n {
        fiber::yield_now();
    }
}

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch");
    g.bench_function("spindle_yield_now", |b| {
        b.iter_custom(|iters| {
            spindle_core::run(move || {
                let half = iters.div_ceil(2);
                let a = fiber::spawn(move || yielder(half));
                let b = fiber::spawn(move || yielder(half));
                let start = Instant::now();
                a.join().unwrap();
                b.join().unwrap();
                start.elapsed()
            })
        })
    });
    g.bench_function("corosensei_switch", |b| {
        use corosensei::{Coroutine, CoroutineResult};
        let mut co = Coroutine::new(|yielder: &corosensei::Yielder<(), ()>, ()| {
            loop {
                yielder.suspend(());
            }
        });
        // One iteration = resume + suspend = two switches; report per switch.
        b.iter_custom(|iters| {
            let n = iters.div_ceil(2);
            let start = Instant::now();
            for _ in 0..n {
                if let CoroutineResult::Return(()) = co.resume(()) {
                    unreachable!()
                }
            }
            start.elapsed()
        })
    });
    g.bench_function("tokio_yield_now", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let half = iters.div_ceil(2);
                let task = || async move {
                    for _ in 0..half {
                        tokio::task::yield_now().await;
                    }
                };
                let start = Instant::now();
                let a = tokio::task::spawn(task());
                let b = tokio::task::spawn(task());
                a.await.unwrap();
                b.await.unwrap();
                start.elapsed()
            })
        })
    });
    g.finish();
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    g.bench_function("spindle", |b| {
        b.iter_custom(|iters| {
            spindle_core::run(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    fiber::spawn(|| black_box(())).join().unwrap();
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("tokio_current_thread", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            rt.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    tokio::task::spawn(async { black_box(()) }).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    g.bench_function("std_thread", |b| {
        b.iter(|| std::thread::spawn(|| black_box(())).join().unwrap())
    });
    g.finish();
}

fn ping_pong(c: &mut Criterion, name: &str, timeout: Option<Duration>) {
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            spindle_core::run(move || {
                use std::cell::Cell;
                use std::rc::Rc;
                // `turn` says whose step it is; each step: wake the other, park until our turn.
                let turn = Rc::new(Cell::new(0u8));
                let root = fiber::current();
                let t = turn.clone();
                let other = fiber::spawn(move || {
                    for _ in 0..iters {
                        while t.get() != 1 {
                            match timeout {
                                Some(d) => fiber::park_timeout(d),
                                None => fiber::park(),
                            }
                        }
                        t.set(0);
                        root.unpark();
                    }
                });
                fiber::yield_now();
                let peer = other.fiber().clone();
                let start = Instant::now();
                for _ in 0..iters {
                    turn.set(1);
                    peer.unpark();
                    while turn.get() != 0 {
                        match timeout {
                            Some(d) => fiber::park_timeout(d),
                            None => fiber::park(),
                        }
                    }
                }
                let elapsed = start.elapsed();
                other.join().unwrap();
                // Two park/unpark steps per iteration.
                elapsed / 2
            })
        })
    });
}

fn park_unpark(c: &mut Criterion) {
    ping_pong(c, "park_unpark/spindle", None);
    ping_pong(
        c,
        "timer/spindle_park_timeout_unpark",
        Some(Duration::from_secs(60)),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = switch, spawn_join, park_unpark
}
criterion_main!(benches);
