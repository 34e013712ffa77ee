//! `spindle::sync::WaitGroup`: waiting for fibers, threads and fibers of other schedulers,
//! members added while a wait is under way, several waiters, and nothing lost under a hammer.

mod util;

use spindle::fiber;
use spindle::runtime::Runtime;
use spindle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use spindle::sync::{Arc, WaitGroup};
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::Duration;

#[test]
fn a_lone_member_does_not_wait() {
    WaitGroup::new().wait();
    WaitGroup::default().wait();
    util::run(|| WaitGroup::new().wait());
}

#[test]
fn debug_shows_the_member_count() {
    let wg = WaitGroup::new();
    let a = wg.clone();
    let b = a.clone();
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 3 }");
    drop((a, b));
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 1 }");
}

#[test]
fn wait_group_waits_for_fibers_and_threads() {
    let done = Arc::new(AtomicUsize::new(0));
    let wg = WaitGroup::new();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (wg, done) = (wg.clone(), done.clone());
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(5));
                done.fetch_add(1, Ordering::SeqCst);
                drop(wg);
            })
        })
        .collect();
    let done2 = done.clone();
    util::run(move || {
        for _ in 0..20 {
            let (wg, done) = (wg.clone(), done2.clone());
            fiber::spawn(move || {
                fiber::sleep(Duration::from_millis(1));
                done.fetch_add(1, Ordering::SeqCst);
                drop(wg);
            });
        }
        wg.wait();
        assert_eq!(done2.load(Ordering::SeqCst), 22);
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 22);
}

#[test]
fn a_waiting_fiber_parks_only_itself() {
    util::run(|| {
        let wg = WaitGroup::new();
        let released = Arc::new(AtomicBool::new(false));
        let member = wg.clone();
        let waiter = {
            let released = released.clone();
            fiber::spawn(move || {
                wg.wait();
                assert!(
                    released.load(Ordering::SeqCst),
                    "returned before the member left"
                );
            })
        };
        // The waiter parked; this fiber (same thread) still runs.
        for _ in 0..10 {
            fiber::yield_now();
        }
        released.store(true, Ordering::SeqCst);
        drop(member);
        waiter.join().unwrap();
    });
}

#[test]
fn a_member_added_during_a_wait_is_waited_for_too() {
    util::run(|| {
        let wg = WaitGroup::new();
        let first = wg.clone();
        let finished = Arc::new(AtomicUsize::new(0));
        let f = finished.clone();
        // The first member hands a clone to a second one before it leaves.
        fiber::spawn(move || {
            fiber::yield_now();
            let second = first.clone();
            let f2 = f.clone();
            fiber::spawn(move || {
                fiber::sleep(Duration::from_millis(20));
                f2.fetch_add(1, Ordering::SeqCst);
                drop(second);
            });
            f.fetch_add(1, Ordering::SeqCst);
            drop(first);
        });
        wg.wait();
        assert_eq!(finished.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn several_waiters_all_return_when_the_rest_leave() {
    let wg = WaitGroup::new();
    let last = wg.clone();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let wg = wg.clone();
            thread::spawn(move || wg.wait())
        })
        .collect();
    let fibers_done = {
        let wg = wg.clone();
        thread::spawn(move || {
            spindle::run(move || {
                let fibers: Vec<_> = (0..3)
                    .map(|_| {
                        let wg = wg.clone();
                        fiber::spawn(move || wg.wait())
                    })
                    .collect();
                drop(wg);
                for f in fibers {
                    f.join().unwrap();
                }
            })
        })
    };
    // The waiters and the fibers consumed their own clones; `wg` and `last` remain.
    let (tx, rx) = std_mpsc::channel();
    thread::spawn(move || {
        wg.wait();
        tx.send(()).unwrap();
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(200)),
        Err(std_mpsc::RecvTimeoutError::Timeout),
        "a waiter returned while a member was still alive"
    );
    drop(last);
    rx.recv_timeout(util::HANG_LIMIT).unwrap();
    for w in waiters {
        w.join().unwrap();
    }
    fibers_done.join().unwrap();
}

/// Hammer: fibers on two schedulers and plain threads each add and drop members in a loop;
/// every member's work is visible once the wait returns.
#[test]
fn nothing_is_lost_across_schedulers_and_threads() {
    const MEMBERS_PER_FIBER: usize = 50;
    const FIBERS_PER_SCHEDULER: usize = 20;
    const THREADS: usize = 2;
    let done = Arc::new(AtomicUsize::new(0));
    let wg = WaitGroup::new();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (wg, done) = (wg.clone(), done.clone());
            thread::spawn(move || {
                let members: Vec<_> = (0..MEMBERS_PER_FIBER)
                    .map(|_| {
                        let (wg, done) = (wg.clone(), done.clone());
                        thread::spawn(move || {
                            done.fetch_add(1, Ordering::Relaxed);
                            drop(wg);
                        })
                    })
                    .collect();
                drop(wg);
                members
            })
        })
        .collect();
    // One member for each scheduler's root fiber, handed out by `run_on_each`.
    let roots = Arc::new(std::sync::Mutex::new(vec![wg.clone(), wg.clone()]));
    let done2 = done.clone();
    let spawner = thread::spawn(move || {
        let rt = Runtime::builder().threads(2).build().unwrap();
        rt.run_on_each(move |_| {
            let wg = roots.lock().unwrap().pop().unwrap();
            let fibers: Vec<_> = (0..FIBERS_PER_SCHEDULER)
                .map(|_| {
                    let (wg, done) = (wg.clone(), done2.clone());
                    fiber::spawn(move || {
                        let members: Vec<_> = (0..MEMBERS_PER_FIBER)
                            .map(|_| {
                                let (member, done) = (wg.clone(), done.clone());
                                let member = fiber::spawn(move || {
                                    fiber::yield_now();
                                    done.fetch_add(1, Ordering::Relaxed);
                                    drop(member);
                                });
                                fiber::yield_now();
                                member
                            })
                            .collect();
                        drop(wg);
                        // The runtime ends when its root returns: keep it until all are done.
                        for m in members {
                            m.join().unwrap();
                        }
                    })
                })
                .collect();
            drop(wg);
            for f in fibers {
                f.join().unwrap();
            }
        });
    });
    util::on_thread(move || wg.wait());
    // `wait` returned: every member was dropped, after its increment.
    let expected = (THREADS + 2 * FIBERS_PER_SCHEDULER) * MEMBERS_PER_FIBER;
    assert_eq!(done.load(Ordering::Relaxed), expected);
    spawner.join().unwrap();
    for t in threads {
        for m in t.join().unwrap() {
            m.join().unwrap();
        }
    }
}
