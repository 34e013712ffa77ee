//! `spindle::sync::Semaphore`.

use spindle::fiber;
use spindle::sync::atomic::{AtomicUsize, Ordering};
use spindle::sync::{Arc, Semaphore};
use std::thread;
use std::time::Duration;

#[test]
fn semaphore_bounds_concurrency_across_switches() {
    const PERMITS: usize = 3;
    let (max_inside, done) = spindle::run(|| {
        let sem = Arc::new(Semaphore::new(PERMITS));
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let fibers: Vec<_> = (0..100)
            .map(|_| {
                let (sem, inside, max_inside, done) = (
                    sem.clone(),
                    inside.clone(),
                    max_inside.clone(),
                    done.clone(),
                );
                fiber::spawn(move || {
                    let _permit = sem.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_inside.fetch_max(now, Ordering::SeqCst);
                    fiber::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for f in fibers {
            f.join().unwrap();
        }
        assert_eq!(sem.available_permits(), PERMITS);
        (
            max_inside.load(Ordering::SeqCst),
            done.load(Ordering::SeqCst),
        )
    });
    assert_eq!(max_inside, PERMITS);
    assert_eq!(done, 100);
}

#[test]
fn released_permit_goes_to_the_longest_waiter_not_to_try_acquire() {
    spindle::run(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.acquire();
        let waiter = {
            let sem = sem.clone();
            fiber::spawn(move || sem.acquire().forget())
        };
        fiber::yield_now();
        drop(held);
        assert!(
            sem.try_acquire().is_none(),
            "try_acquire barged past a queued waiter"
        );
        waiter.join().unwrap();
        assert_eq!(sem.available_permits(), 0);
        sem.release();
        assert!(sem.try_acquire().is_some());
    });
}

#[test]
fn acquire_timeout_gives_up_and_leaves_the_queue() {
    spindle::run(|| {
        let sem = Semaphore::new(0);
        assert!(sem.acquire_timeout(Duration::from_millis(10)).is_none());
        // The timed-out waiter is gone: a release now counts as a free permit.
        sem.release();
        assert_eq!(sem.available_permits(), 1);
        assert!(sem.acquire_timeout(Duration::from_millis(10)).is_some());
    });
}

#[test]
fn semaphore_between_a_plain_thread_and_a_fiber() {
    let sem = Arc::new(Semaphore::new(0));
    let releaser = {
        let sem = sem.clone();
        thread::spawn(move || {
            for _ in 0..100 {
                sem.release();
                thread::yield_now();
            }
        })
    };
    let got = spindle::run(move || (0..100).map(|_| sem.acquire().forget()).count());
    releaser.join().unwrap();
    assert_eq!(got, 100);
}
