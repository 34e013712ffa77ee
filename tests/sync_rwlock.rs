//! `spindle::sync::RwLock`: readers overlapping across switches, writers exclusive, FIFO.

use spindle::fiber;
use spindle::sync::atomic::{AtomicUsize, Ordering};
use spindle::sync::{Arc, RwLock, RwLockWriteGuard, TryLockError};
use std::thread;

#[test]
fn readers_overlap_across_fiber_switches() {
    const READERS: usize = 20;
    let max_inside = spindle::run(|| {
        let lock = Arc::new(RwLock::new(7));
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let fibers: Vec<_> = (0..READERS)
            .map(|_| {
                let (lock, inside, max_inside) = (lock.clone(), inside.clone(), max_inside.clone());
                fiber::spawn(move || {
                    let r = lock.read().unwrap();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_inside.fetch_max(now, Ordering::SeqCst);
                    for _ in 0..3 {
                        fiber::yield_now();
                    }
                    assert_eq!(*r, 7);
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for f in fibers {
            f.join().unwrap();
        }
        max_inside.load(Ordering::SeqCst)
    });
    assert_eq!(
        max_inside, READERS,
        "readers did not all hold the lock together"
    );
}

#[test]
fn writers_are_exclusive_against_readers_and_writers() {
    const WRITERS: usize = 30;
    const READERS: usize = 30;
    const ROUNDS: usize = 20;
    let total = spindle::run(|| {
        // Writers keep both fields equal outside their critical section; readers check it.
        let lock = Arc::new(RwLock::new((0usize, 0usize)));
        let mut fibers = Vec::new();
        for i in 0..WRITERS + READERS {
            let lock = lock.clone();
            fibers.push(fiber::spawn(move || {
                for r in 0..ROUNDS {
                    if i < WRITERS {
                        let mut w = lock.write().unwrap();
                        w.0 += 1;
                        if (i + r) % 2 == 0 {
                            fiber::yield_now();
                        }
                        w.1 += 1;
                    } else {
                        let g = lock.read().unwrap();
                        let a = g.0;
                        fiber::yield_now();
                        assert_eq!(g.0, a, "a writer got in while reading");
                        assert_eq!(g.0, g.1, "saw a half-done write");
                    }
                }
            }));
        }
        for f in fibers {
            f.join().unwrap();
        }
        let g = lock.read().unwrap();
        *g
    });
    assert_eq!(total, (WRITERS * ROUNDS, WRITERS * ROUNDS));
}

#[test]
fn queued_writer_holds_back_new_readers_then_gets_the_lock() {
    let log = spindle::run(|| {
        let lock = Arc::new(RwLock::new(Vec::new()));
        let first_reader = lock.read().unwrap();
        let writer = {
            let lock = lock.clone();
            fiber::spawn(move || lock.write().unwrap().push("writer"))
        };
        fiber::yield_now(); // the writer parks behind the reader
        assert!(
            matches!(lock.try_read(), Err(TryLockError::WouldBlock)),
            "a reader barged past a queued writer"
        );
        let late_reader = {
            let lock = lock.clone();
            fiber::spawn(move || {
                let r = lock.read().unwrap();
                r.len()
            })
        };
        fiber::yield_now();
        drop(first_reader);
        writer.join().unwrap();
        assert_eq!(
            late_reader.join().unwrap(),
            1,
            "the late reader ran before the queued writer"
        );
        Arc::try_unwrap(lock).unwrap().into_inner().unwrap()
    });
    assert_eq!(log, ["writer"]);
}

#[test]
fn writer_release_admits_all_queued_readers_together() {
    spindle::run(|| {
        let lock = Arc::new(RwLock::new(0));
        let inside = Arc::new(AtomicUsize::new(0));
        let w = lock.write().unwrap();
        let readers: Vec<_> = (0..10)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                fiber::spawn(move || {
                    let _r = lock.read().unwrap();
                    inside.fetch_add(1, Ordering::SeqCst);
                    fiber::yield_now();
                    inside.load(Ordering::SeqCst)
                })
            })
            .collect();
        fiber::yield_now();
        drop(w);
        for r in readers {
            assert_eq!(r.join().unwrap(), 10);
        }
    });
}

#[test]
fn downgrade_keeps_writers_out_and_lets_readers_in() {
    spindle::run(|| {
        let lock = Arc::new(RwLock::new(1));
        let mut w = lock.write().unwrap();
        let reader = {
            let lock = lock.clone();
            fiber::spawn(move || *lock.read().unwrap())
        };
        let writer = {
            let lock = lock.clone();
            fiber::spawn(move || *lock.write().unwrap() = 3)
        };
        fiber::yield_now();
        *w = 2;
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(reader.join().unwrap(), 2);
        assert_eq!(*r, 2);
        drop(r);
        writer.join().unwrap();
        assert_eq!(*lock.read().unwrap(), 3);
    });
}

#[test]
fn panicking_writer_poisons_a_panicking_reader_does_not() {
    spindle::run(|| {
        let lock = Arc::new(RwLock::new(0));
        let l = lock.clone();
        assert!(
            fiber::spawn(move || {
                let _r = l.read().unwrap();
                panic!("reader panics");
            })
            .join()
            .is_err()
        );
        assert!(!lock.is_poisoned());
        let l = lock.clone();
        assert!(
            fiber::spawn(move || {
                let _w = l.write().unwrap();
                fiber::yield_now();
                panic!("writer panics");
            })
            .join()
            .is_err()
        );
        assert!(lock.is_poisoned());
        assert!(lock.read().is_err());
        assert!(matches!(lock.try_write(), Err(TryLockError::Poisoned(_))));
        lock.clear_poison();
        assert_eq!(*lock.read().unwrap(), 0);
    });
}

#[test]
fn runtimes_and_plain_threads_share_one_rwlock() {
    let lock = Arc::new(RwLock::new(0usize));
    let mut threads: Vec<_> = (0..3)
        .map(|_| {
            let lock = lock.clone();
            thread::spawn(move || {
                spindle::run(move || {
                    let fibers: Vec<_> = (0..20)
                        .map(|i| {
                            let lock = lock.clone();
                            fiber::spawn(move || {
                                for _ in 0..50 {
                                    if i % 4 == 0 {
                                        *lock.write().unwrap() += 1;
                                    } else {
                                        let r = lock.read().unwrap();
                                        fiber::yield_now();
                                        let _ = *r;
                                    }
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
        let lock = lock.clone();
        thread::spawn(move || {
            for _ in 0..1000 {
                *lock.write().unwrap() += 1;
            }
        })
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*lock.read().unwrap(), 3 * 5 * 50 + 1000);
}
