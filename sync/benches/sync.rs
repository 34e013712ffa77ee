//! spindle-sync against std, in one run: `cargo bench -p spindle-sync`.
//!
//! * `mutex_uncontended/{spindle,std}`: one lock + unlock, nobody else around.
//! * `fiber_switch/yield_now`: one switch between two fibers, the yardstick for hand-offs.
//! * `fiber_switch/park_unpark`, `fiber_switch/current_clone_drop`: the core operations
//!   every hand-off is made of (a park/unpark turn, taking the waiter's `Fiber` handle).
//! * `mutex_handoff/two_fibers`: one lock hand-off from one fiber to another on the same
//!   thread, including the fiber switch (each `unlock` passes the lock to the other,
//!   parked fiber; each `lock` parks until it comes back).
//! * `channel_ping_pong/*`: one message one way (a round trip is two), between two fibers,
//!   a fiber and a plain thread, and with `std::sync::mpsc` between two plain threads.

#![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn`

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use spindle_core::fiber;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn mutex_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_uncontended");
    let ours = spindle_sync::Mutex::new(0u64);
    group.bench_function("spindle", |b| {
        b.iter(|| {
            *black_box(&ours).lock().unwrap() += 1;
        })
    });
    let theirs = std::sync::Mutex::new(0u64);
    group.bench_function("std", |b| {
        b.iter(|| {
            *black_box(&theirs).lock().unwrap() += 1;
        })
    });
    group.finish();
}

/// Runs `body(n)` in two fibers of a fresh runtime and times only the fibers' work.
fn two_fibers(iters: u64, body: impl Fn(u64) + Clone + 'static) -> Duration {
    spindle_core::run(move || {
        let start = Instant::now();
        let other = {
            let body = body.clone();
            fiber::spawn(move || body(iters))
        };
        body(iters);
        other.join().unwrap();
        start.elapsed()
    })
}

fn fiber_switch(c: &mut Criterion) {
    c.bench_function("fiber_switch/yield_now", |b| {
        // 2 * iters switches in all; report per switch.
        b.iter_custom(|iters| {
            two_fibers(iters, |n| {
                for _ in 0..n {
                    fiber::yield_now();
                }
            }) / 2
        })
    });
}

fn park_unpark(c: &mut Criterion) {
    // Two fibers taking turns through bare park/unpark: the floor under any hand-off.
    c.bench_function("fiber_switch/park_unpark", |b| {
        b.iter_custom(|iters| {
            spindle_core::run(move || {
                let turn = std::rc::Rc::new(std::cell::Cell::new(0u64));
                let main = fiber::current();
                let start = Instant::now();
                let other = {
                    let (turn, main) = (turn.clone(), main.clone());
                    fiber::spawn(move || {
                        for i in 0..iters {
                            while turn.get() != 2 * i + 1 {
                                fiber::park();
                            }
                            turn.set(2 * i + 2);
                            main.unpark();
                        }
                    })
                };
                let other_fiber = other.fiber().clone();
                for i in 0..iters {
                    turn.set(2 * i + 1);
                    other_fiber.unpark();
                    while turn.get() != 2 * i + 2 {
                        fiber::park();
                    }
                }
                other.join().unwrap();
                start.elapsed() / 2
            })
        })
    });
    c.bench_function("fiber_switch/current_clone_drop", |b| {
        b.iter_custom(|iters| {
            spindle_core::run(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(fiber::current());
                }
                start.elapsed()
            })
        })
    });
}

fn mutex_handoff(c: &mut Criterion) {
    c.bench_function("mutex_handoff/two_fibers", |b| {
        b.iter_custom(|iters| {
            let m = std::rc::Rc::new(spindle_sync::Mutex::new(0u64));
            // Each fiber takes the lock and yields once, so the other queues behind it;
            // from then on every `lock` parks until the other fiber's `unlock` hands the
            // lock over: 2 * iters hand-offs, one fiber switch each.
            two_fibers(iters, move |n| {
                let mut guard = m.lock().unwrap();
                fiber::yield_now();
                for _ in 0..n {
                    *guard += 1;
                    drop(guard);
                    guard = m.lock().unwrap();
                }
            }) / 2
        })
    });
}

fn channel_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel_ping_pong");
    group.bench_function("two_fibers", |b| {
        b.iter_custom(|iters| {
            spindle_core::run(move || {
                let (ping_tx, ping_rx) = spindle_sync::mpsc::channel::<u64>();
                let (pong_tx, pong_rx) = spindle_sync::mpsc::channel::<u64>();
                let start = Instant::now();
                let echo = fiber::spawn(move || {
                    for v in ping_rx.iter() {
                        pong_tx.send(v).unwrap();
                    }
                });
                for i in 0..iters {
                    ping_tx.send(i).unwrap();
                    black_box(pong_rx.recv().unwrap());
                }
                drop(ping_tx);
                echo.join().unwrap();
                start.elapsed() / 2
            })
        })
    });
    group.bench_function("fiber_and_thread", |b| {
        b.iter_custom(|iters| {
            let (ping_tx, ping_rx) = spindle_sync::mpsc::channel::<u64>();
            let (pong_tx, pong_rx) = spindle_sync::mpsc::channel::<u64>();
            let echo = thread::spawn(move || {
                for v in ping_rx.iter() {
                    pong_tx.send(v).unwrap();
                }
            });
            let elapsed = spindle_core::run(move || {
                let start = Instant::now();
                for i in 0..iters {
                    ping_tx.send(i).unwrap();
                    black_box(pong_rx.recv().unwrap());
                }
                start.elapsed()
            });
            echo.join().unwrap();
            elapsed / 2
        })
    });
    group.bench_function("std_two_threads", |b| {
        b.iter_custom(|iters| {
            let (ping_tx, ping_rx) = std_mpsc::channel::<u64>();
            let (pong_tx, pong_rx) = std_mpsc::channel::<u64>();
            let echo = thread::spawn(move || {
                for v in ping_rx.iter() {
                    pong_tx.send(v).unwrap();
                }
            });
            let start = Instant::now();
            for i in 0..iters {
                ping_tx.send(i).unwrap();
                black_box(pong_rx.recv().unwrap());
            }
            let elapsed = start.elapsed();
            drop(ping_tx);
            echo.join().unwrap();
            elapsed / 2
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = mutex_uncontended, fiber_switch, park_unpark, mutex_handoff, channel_ping_pong
}
criterion_main!(benches);
