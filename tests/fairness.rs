//! Fairness under load: a fiber whose I/O never has to wait, or whose channel is never
//! empty, yields under the cooperative budget, so a ticker fiber on the same thread keeps
//! ticking (`runtime::Builder::budget`).

mod util;

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::mpsc;
use util::on_thread;

/// A fiber that sleeps 1 ms at a time until stopped, recording its ticks and how late the
/// latest tick came after it was due.
struct LatenessTicker {
    ticks: Rc<Cell<u64>>,
    worst: Rc<Cell<Duration>>,
    stop: Rc<Cell<bool>>,
    handle: fiber::JoinHandle<()>,
}

impl LatenessTicker {
    fn start() -> LatenessTicker {
        let ticks = Rc::new(Cell::new(0));
        let worst = Rc::new(Cell::new(Duration::ZERO));
        let stop = Rc::new(Cell::new(false));
        let (t, w, s) = (ticks.clone(), worst.clone(), stop.clone());
        let handle = fiber::spawn(move || {
            while !s.get() {
                let due = Instant::now() + Duration::from_millis(1);
                fiber::sleep_until(due);
                w.set(w.get().max(due.elapsed()));
                t.set(t.get() + 1);
            }
        });
        LatenessTicker {
            ticks,
            worst,
            stop,
            handle,
        }
    }

    /// Stops the ticker; returns (ticks, worst lateness).
    fn stop(self) -> (u64, Duration) {
        self.stop.set(true);
        self.handle.join().unwrap();
        (self.ticks.get(), self.worst.get())
    }
}

/// One fiber writes small chunks to a loopback TCP socket as fast as it can while a plain
/// thread drains the other end: its writes always find room, so it never parks. Without the
/// budget the ticker could not run until the stream ends; with it the ticker ticks while the
/// stream goes on. The streamer stops once the ticker has ticked 50 times (not after a fixed
/// time, and with no bound on lateness: a loaded machine may keep the thread off the CPU for
/// long stretches), or after 30 s, which only a frozen ticker takes.
#[test]
fn a_fiber_streaming_over_loopback_does_not_freeze_a_ticker() {
    const TICKS: u64 = 50;
    let (ticks, worst, yields, streamed) = on_thread(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let drain = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0u64;
            loop {
                match peer.read(&mut buf) {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n as u64,
                }
            }
        });
        let out = spindle::run(move || {
            let ticker = LatenessTicker::start();
            fiber::sleep(Duration::from_millis(5));
            let ticks = Rc::clone(&ticker.ticks);
            let streamer = fiber::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                let chunk = [7u8; 16];
                let mut sent = 0u64;
                let before = ticks.get();
                let give_up = Instant::now() + Duration::from_secs(30);
                while ticks.get() - before < TICKS && Instant::now() < give_up {
                    stream.write_all(&chunk).unwrap();
                    sent += chunk.len() as u64;
                }
                (ticks.get() - before, sent)
            });
            let (during, sent) = streamer.join().unwrap();
            let (_, worst) = ticker.stop();
            let yields = spindle::stats().unwrap().budget_yields;
            (during, worst, yields, sent)
        });
        assert_eq!(drain.join().unwrap(), out.3, "bytes lost on the way");
        out
    });
    assert!(streamed > 0);
    assert!(
        yields > 0,
        "the streaming fiber never yielded under its budget"
    );
    assert!(
        ticks >= TICKS,
        "only {ticks} ticks while a fiber streamed for 30 s (worst lateness {worst:?})"
    );
}

/// A receiver draining an unbounded channel that never runs empty (a million messages queued
/// up front) yields under the same budget: the ticker ticks during the drain. Without the
/// budget `recv` never parks and the ticker could not tick before the drain ended.
#[test]
fn draining_a_full_channel_lets_a_ticker_run() {
    let (ticks_during, drain_time) = on_thread(|| {
        spindle::run(|| {
            let (tx, rx) = mpsc::channel::<u64>();
            for i in 0..1_000_000 {
                tx.send(i).unwrap();
            }
            let ticker = LatenessTicker::start();
            fiber::sleep(Duration::from_millis(3));
            let ticks = ticker.ticks.clone();
            let before = ticks.get();
            let start = Instant::now();
            let mut sum = 0u64;
            for _ in 0..1_000_000 {
                sum += rx.recv().unwrap();
            }
            let drain_time = start.elapsed();
            let during = ticks.get() - before;
            assert_eq!(sum, 999_999 * 1_000_000 / 2);
            ticker.stop();
            (during, drain_time)
        })
    });
    // A drain shorter than a tick proves nothing either way.
    if drain_time >= Duration::from_millis(5) {
        assert!(
            ticks_during >= 1,
            "the ticker never ticked during a {drain_time:?} drain"
        );
    }
}

/// `accept` counts against the budget: a fiber accepting a burst of connections that are
/// all queued already (so `accept` never waits) still lets another fiber run every few
/// accepts. The servers in `examples/` rely on it instead of yielding after each accept.
#[test]
fn an_acceptor_in_a_burst_of_connections_lets_others_run() {
    const BURST: usize = 100;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Connected before the runtime starts: the kernel queues them (the backlog is 128).
    let clients: Vec<_> = (0..BURST)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let ticks_during_burst = on_thread(move || {
        let rt = spindle::Runtime::builder().budget(Some(8)).build().unwrap();
        rt.run(move || {
            let listener = TcpListener::from(listener);
            let ticks = Rc::new(Cell::new(0u64));
            let stop = Rc::new(Cell::new(false));
            let ticker = {
                let (ticks, stop) = (ticks.clone(), stop.clone());
                fiber::spawn(move || {
                    while !stop.get() {
                        ticks.set(ticks.get() + 1);
                        fiber::yield_now();
                    }
                })
            };
            fiber::yield_now(); // the ticker is running
            let first = ticks.get();
            let accepted: Vec<_> = (0..BURST).map(|_| listener.accept().unwrap()).collect();
            let during = ticks.get() - first;
            stop.set(true);
            ticker.join().unwrap();
            assert_eq!(accepted.len(), BURST);
            during
        })
    });
    drop(clients);
    // With a budget of 8 the ticker gets about BURST / 8 turns; without the budget, none.
    assert!(
        ticks_during_burst >= 5,
        "another fiber ran only {ticks_during_burst} times while {BURST} connections were accepted"
    );
}

/// The budget can be turned off, and `consume_budget` then never yields.
#[test]
fn budget_none_turns_it_off() {
    let yields = on_thread(|| {
        let rt = spindle::Runtime::builder().budget(None).build().unwrap();
        rt.run(|| {
            let other = fiber::spawn(|| ());
            for _ in 0..10_000 {
                fiber::consume_budget();
            }
            let yields = spindle::stats().unwrap().budget_yields;
            other.join().unwrap();
            yields
        })
    });
    assert_eq!(yields, 0);
}

/// A fiber alone on its thread (nothing else runnable, no timer, no fd) spends its budget
/// without looking at the clock or the reactor; a wake-up from another thread must still get
/// the woken fiber its turn, at the next spent budget.
#[test]
fn a_fiber_alone_taking_locks_lets_a_fiber_woken_from_another_thread_run() {
    let ran = on_thread(|| {
        spindle::run(|| {
            let go = Arc::new(AtomicBool::new(false));
            let ran = Rc::new(Cell::new(false));
            let woken = {
                let (go, ran) = (Arc::clone(&go), Rc::clone(&ran));
                fiber::spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        fiber::park();
                    }
                    ran.set(true);
                })
            };
            fiber::yield_now(); // `woken` parks: this fiber is now alone on its thread
            let handle = woken.fiber().clone();
            let waker = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                go.store(true, Ordering::Release);
                handle.unpark();
            });
            // Only uncontended locks, which count against the budget and never park. The
            // bound only keeps a broken build from hanging the test.
            let m = spindle::sync::Mutex::new(0u64);
            let start = Instant::now();
            while !ran.get() && start.elapsed() < Duration::from_secs(10) {
                for _ in 0..1000 {
                    *m.lock().unwrap() += 1;
                }
            }
            let ran_meanwhile = ran.get();
            waker.join().unwrap();
            woken.join().unwrap();
            ran_meanwhile
        })
    });
    assert!(
        ran,
        "a fiber woken from another thread never ran while another held the thread"
    );
}

/// A zero budget is refused with a message that says what to do.
#[test]
fn zero_budget_is_invalid_input() {
    let err = spindle::Runtime::builder()
        .budget(Some(0))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("None turns it off"), "{err}");
}

/// A yield inside a write does not get in the way of shutdown: the root returns while a
/// fiber streams to another fiber of the same thread (yielding under its budget or parking
/// when the socket is full), and `run` still returns after unwinding the streamer.
#[test]
fn a_streaming_fiber_is_unwound_at_shutdown() {
    let dropped = on_thread(|| {
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = dropped.clone();
        spindle::run(move || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            fiber::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4096];
                while let Ok(1..) = s.read(&mut buf) {}
            });
            fiber::spawn(move || {
                struct OnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);
                impl Drop for OnDrop {
                    fn drop(&mut self) {
                        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                let _guard = OnDrop(flag);
                let mut s = TcpStream::connect(addr).unwrap();
                loop {
                    if s.write_all(&[1u8; 16]).is_err() {
                        return;
                    }
                }
            });
            fiber::sleep(Duration::from_millis(20));
        });
        dropped.load(std::sync::atomic::Ordering::SeqCst)
    });
    assert!(dropped, "the streaming fiber's destructors did not run");
}

/// Timers are checked by elapsed time, not only every `poll_interval` switches: with a
/// switch count that would take 100 s to reach, a 1 ms ticker next to two fibers that
/// compute 100 µs between yields still ticks. Before, it could not tick until they finished.
///
/// The workers go on until the ticker has ticked 30 times (not for a fixed time, which a
/// loaded machine may spend mostly off the CPU), and their switches are counted: the ticks
/// must have come long before `poll_interval` switches. Broken, the ticker never ticks and
/// the workers give up after the hang limit.
#[test]
fn timers_fire_by_elapsed_time_not_only_by_switch_count() {
    const POLL_INTERVAL: u32 = 1_000_000;
    const TICKS: u64 = 30;
    let (ticks, switches, worst) = on_thread(|| {
        let rt = spindle::Runtime::builder()
            .poll_interval(POLL_INTERVAL)
            .build()
            .unwrap();
        rt.run(|| {
            let ticker = LatenessTicker::start();
            fiber::sleep(Duration::from_millis(3));
            let before = ticker.ticks.get();
            let switches_before = spindle::stats().unwrap().switches;
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let ticks = Rc::clone(&ticker.ticks);
                    fiber::spawn(move || {
                        let give_up = Instant::now() + Duration::from_secs(30);
                        while ticks.get() - before < TICKS && Instant::now() < give_up {
                            let slice = Instant::now() + Duration::from_micros(100);
                            while Instant::now() < slice {
                                std::hint::spin_loop();
                            }
                            fiber::yield_now();
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            let during = ticker.ticks.get() - before;
            let switches = spindle::stats().unwrap().switches - switches_before;
            let (_, worst) = ticker.stop();
            (during, switches, worst)
        })
    });
    assert!(
        ticks >= TICKS,
        "only {ticks} ticks in {switches} switches of yielding fibers (worst lateness {worst:?})"
    );
    assert!(
        switches < u64::from(POLL_INTERVAL),
        "{switches} switches: the ticks may have come from the switch count"
    );
}
