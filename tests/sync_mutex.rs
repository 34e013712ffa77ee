//! `spindle::sync::Mutex`: guards across switches, fairness, poisoning, threads and runtimes.

use spindle::fiber;
use spindle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use spindle::sync::{Arc, Mutex, TryLockError, mpsc};
use std::thread;
use std::time::Duration;

#[test]
fn guards_held_across_yield_with_hundreds_of_fibers() {
    const FIBERS: usize = 300;
    const ROUNDS: usize = 10;
    let (total, overlaps) = spindle::run(|| {
        let counter = Arc::new(Mutex::new(0usize));
        let inside = Arc::new(AtomicBool::new(false));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let fibers: Vec<_> = (0..FIBERS)
            .map(|_| {
                let (counter, inside, overlaps) =
                    (counter.clone(), inside.clone(), overlaps.clone());
                fiber::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mut n = counter.lock().unwrap();
                        if inside.swap(true, Ordering::SeqCst) {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        let read = *n;
                        fiber::yield_now();
                        *n = read + 1;
                        inside.store(false, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for f in fibers {
            f.join().unwrap();
        }
        let total = *counter.lock().unwrap();
        (total, overlaps.load(Ordering::SeqCst))
    });
    assert_eq!(total, FIBERS * ROUNDS);
    assert_eq!(
        overlaps, 0,
        "two fibers were inside the critical section at once"
    );
}

#[test]
fn lock_is_handed_to_waiters_in_arrival_order() {
    let order = spindle::run(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let guard = m.lock().unwrap();
        let fibers: Vec<_> = (0..8)
            .map(|i| {
                let m = m.clone();
                let f = fiber::spawn(move || m.lock().unwrap().push(i));
                // Let fiber `i` run up to its park on the lock before spawning the next.
                fiber::yield_now();
                f
            })
            .collect();
        drop(guard);
        for f in fibers {
            f.join().unwrap();
        }
        Arc::try_unwrap(m).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, (0..8).collect::<Vec<_>>());
}

#[test]
fn relocking_fiber_queues_behind_waiters() {
    // The unlocking fiber keeps running; with direct hand-off it cannot barge back in.
    let log = spindle::run(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let first = m.lock().unwrap();
        let waiter = {
            let m = m.clone();
            fiber::spawn(move || m.lock().unwrap().push("waiter"))
        };
        fiber::yield_now(); // the waiter parks on the lock
        drop(first);
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        m.lock().unwrap().push("unlocker");
        waiter.join().unwrap();
        Arc::try_unwrap(m).unwrap().into_inner().unwrap()
    });
    assert_eq!(log, ["waiter", "unlocker"]);
}

#[test]
fn try_lock_would_block_while_another_fiber_holds_it() {
    spindle::run(|| {
        let m = Arc::new(Mutex::new(1));
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = {
            let m = m.clone();
            fiber::spawn(move || {
                let _g = m.lock().unwrap();
                held_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
        };
        held_rx.recv().unwrap();
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(*m.try_lock().unwrap(), 1);
    });
}

#[test]
fn panicking_fiber_poisons_the_mutex() {
    spindle::run(|| {
        let m = Arc::new(Mutex::new(5));
        let m2 = m.clone();
        let result = fiber::spawn(move || {
            let _g = m2.lock().unwrap();
            fiber::yield_now();
            panic!("boom while holding the lock");
        })
        .join();
        assert!(result.is_err());
        assert!(m.is_poisoned());
        let err = m.lock().unwrap_err();
        assert_eq!(**err.get_ref(), 5);
        drop(err);
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
        m.clear_poison();
        assert_eq!(*m.lock().unwrap(), 5);
    });
}

#[test]
fn a_panic_in_another_fiber_does_not_poison_a_lock_held_across_it() {
    // Fiber B holds the lock and sleeps; fiber A panics and, while unwinding, sleeps in a
    // destructor; B wakes meanwhile and drops its guard. B did not panic: no poison.
    struct SleepsOnDrop;
    impl Drop for SleepsOnDrop {
        fn drop(&mut self) {
            fiber::sleep(Duration::from_millis(80));
        }
    }
    spindle::run(|| {
        let m = Arc::new(Mutex::new(0));
        let m2 = m.clone();
        let holder = fiber::spawn(move || {
            let mut g = m2.lock().unwrap();
            fiber::sleep(Duration::from_millis(20));
            *g += 1;
        });
        let panicker = fiber::spawn(|| {
            let _s = SleepsOnDrop;
            panic!("fiber A panics on purpose");
        });
        holder.join().unwrap();
        assert!(!m.is_poisoned(), "a lock B held was poisoned by A's panic");
        assert!(panicker.join().is_err());
        assert_eq!(*m.lock().unwrap(), 1);
    });
}

#[test]
fn plain_threads_contend() {
    let m = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..20_000 {
                    *m.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock().unwrap(), 80_000);
}

#[test]
fn many_runtimes_on_many_threads_and_a_plain_thread_share_one_lock() {
    const RUNTIMES: usize = 4;
    const FIBERS: usize = 50;
    const ROUNDS: usize = 40;
    const PLAIN: usize = 2_000;
    let m = Arc::new(Mutex::new(0usize));
    let mut threads: Vec<_> = (0..RUNTIMES)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                spindle::run(move || {
                    let fibers: Vec<_> = (0..FIBERS)
                        .map(|i| {
                            let m = m.clone();
                            fiber::spawn(move || {
                                for r in 0..ROUNDS {
                                    let mut g = m.lock().unwrap();
                                    let v = *g;
                                    if (i + r) % 3 == 0 {
                                        fiber::yield_now();
                                    }
                                    *g = v + 1;
                                }
                            })
                        })
                        .collect();
                    for f in fibers {
                        f.join().unwrap();
                    }
                })
            })
        })
        .collect();
    threads.push({
        let m = m.clone();
        thread::spawn(move || {
            for _ in 0..PLAIN {
                let mut g = m.lock().unwrap();
                let v = *g;
                *g = v + 1;
            }
        })
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock().unwrap(), RUNTIMES * FIBERS * ROUNDS + PLAIN);
}

#[test]
fn fiber_waits_for_a_lock_held_by_a_plain_thread_without_blocking_its_thread() {
    let m = Arc::new(Mutex::new(0));
    let guard_taken = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicUsize::new(0));
    // The plain thread holds the lock until a ticker fiber on the waiting fiber's thread has
    // ticked 5 times (not for a fixed time, which a loaded machine may spend elsewhere); if
    // the wait blocked that thread, the ticker never would, and the holder gives up after
    // the hang limit.
    let holder = {
        let (m, guard_taken, ticks) = (m.clone(), guard_taken.clone(), ticks.clone());
        thread::spawn(move || {
            let mut g = m.lock().unwrap();
            guard_taken.store(true, Ordering::SeqCst);
            let give_up = std::time::Instant::now() + Duration::from_secs(60);
            while ticks.load(Ordering::SeqCst) < 5 && std::time::Instant::now() < give_up {
                thread::sleep(Duration::from_millis(1));
            }
            *g = 1;
        })
    };
    while !guard_taken.load(Ordering::SeqCst) {
        thread::yield_now();
    }
    let (value, ticks) = spindle::run(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (ticks, stop) = (ticks.clone(), stop.clone());
            fiber::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    fiber::sleep(Duration::from_millis(1));
                }
            })
        };
        let value = *m.lock().unwrap();
        let waited = ticks.load(Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        ticker.join().unwrap();
        (value, waited)
    });
    holder.join().unwrap();
    assert_eq!(value, 1);
    // The ticker kept running while the fiber waited.
    assert!(
        ticks >= 5,
        "the thread stalled while a fiber waited: {ticks} ticks"
    );
}

#[test]
fn fiber_unwound_at_teardown_leaves_the_wait_queue() {
    let m = Arc::new(Mutex::new(0));
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let m = m.clone();
        thread::spawn(move || {
            let _g = m.lock().unwrap();
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
    };
    locked_rx.recv().unwrap();
    {
        let m = m.clone();
        spindle::run(move || {
            // Parks on the lock the plain thread holds, and is still parked when the root
            // fiber returns: the runtime unwinds it.
            fiber::spawn(move || {
                let _g = m.lock();
                unreachable!("the lock is never released during the run");
            });
            fiber::yield_now();
        });
    }
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    // The unwound waiter is gone from the queue: the lock is free and not poisoned.
    assert_eq!(*m.try_lock().unwrap(), 0);
}

#[test]
fn mutex_basics_mirror_std() {
    let mut m = Mutex::new(String::from("a"));
    m.get_mut().unwrap().push('b');
    assert_eq!(
        format!("{:?}", m),
        r#"Mutex { data: "ab", poisoned: false, .. }"#
    );
    let g = m.lock().unwrap();
    assert_eq!(format!("{g} {g:?}"), r#"ab "ab""#);
    drop(g);
    assert_eq!(m.into_inner().unwrap(), "ab");
    let d: Mutex<u8> = Default::default();
    assert_eq!(*d.lock().unwrap(), 0);
    static GLOBAL: Mutex<u32> = Mutex::new(7);
    assert_eq!(*GLOBAL.lock().unwrap(), 7);
}
