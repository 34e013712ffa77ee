//! `spindle::sync::SemaphorePermit`: a permit goes back to its semaphore whenever it is
//! dropped — by its fiber, by unwinding, by the shutdown that cancels its fiber, on another
//! scheduler — and never when it is forgotten.
//!
//! (`tests/sync_semaphore.rs` covers the semaphore itself: the bound on concurrency, FIFO
//! hand-off, timeouts, plain threads.)

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use spindle::fiber;
use spindle::runtime::{self, Runtime};
use spindle::sync::{Arc, Barrier, Semaphore};

#[test]
fn a_permit_is_released_when_its_fiber_panics_and_goes_to_the_next_waiter() {
    spindle::run(|| {
        let sem = Rc::new(Semaphore::new(1));
        let holder = {
            let sem = Rc::clone(&sem);
            fiber::spawn(move || {
                let _permit = sem.acquire();
                fiber::yield_now();
                panic!("the holder fails while it holds the permit");
            })
        };
        fiber::yield_now(); // the holder takes the permit
        assert_eq!(sem.available_permits(), 0);
        let waiter = {
            let sem = Rc::clone(&sem);
            fiber::spawn(move || {
                let permit = sem.acquire();
                let left = sem.available_permits();
                drop(permit);
                left
            })
        };
        assert!(holder.join().is_err());
        // The unwound permit went to the queued waiter, not to the count.
        assert_eq!(waiter.join().unwrap(), 0);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn permits_of_fibers_cancelled_at_shutdown_are_returned() {
    let sem = Arc::new(Semaphore::new(2));
    let inner = Arc::clone(&sem);
    spindle::run(move || {
        for _ in 0..2 {
            let sem = Arc::clone(&inner);
            fiber::spawn(move || {
                let _permit = sem.acquire();
                loop {
                    fiber::park();
                }
            });
        }
        // A third fiber queues for a permit; at shutdown it may be handed the permit of a
        // holder that unwinds first, and must pass it on as it unwinds in turn.
        let sem = Arc::clone(&inner);
        fiber::spawn(move || {
            let _permit = sem.acquire();
            loop {
                fiber::park();
            }
        });
        fiber::yield_now();
        assert_eq!(inner.available_permits(), 0);
        // The root returns with all three fibers parked: they are unwound.
    });
    assert_eq!(
        sem.available_permits(),
        2,
        "a cancelled fiber kept a permit"
    );
    // Nobody is queued any more: a fresh acquire does not wait.
    assert!(sem.try_acquire().is_some());
}

#[test]
fn a_forgotten_permit_stays_taken_and_wakes_nobody() {
    spindle::run(|| {
        let sem = Rc::new(Semaphore::new(2));
        sem.acquire().forget();
        let held = sem.acquire();
        assert_eq!(sem.available_permits(), 0);
        let waiter = {
            let sem = Rc::clone(&sem);
            fiber::spawn(move || sem.acquire_timeout(Duration::from_millis(30)).is_some())
        };
        fiber::yield_now(); // the waiter queues
        held.forget();
        assert!(
            !waiter.join().unwrap(),
            "forgetting a permit released it to a waiter"
        );
        assert_eq!(sem.available_permits(), 0);
        // Only `release` brings forgotten permits back.
        sem.release();
        sem.release();
        assert_eq!(sem.available_permits(), 2);
        drop(sem.acquire());
        assert_eq!(sem.available_permits(), 2, "a dropped permit came back");
    });
}

#[test]
fn a_permit_dropped_on_another_scheduler_wakes_the_waiter_on_this_one() {
    static SEM: Semaphore = Semaphore::new(1);
    let rt = Runtime::builder().threads(2).build().unwrap();
    let done = Arc::new(Barrier::new(2));
    rt.run_on_each(move |index| {
        if index == 1 {
            // Stay up while scheduler 0 sends work here.
            done.wait();
            return;
        }
        let permit = SEM.acquire();
        let waiter = fiber::spawn(|| {
            let permit = SEM.acquire();
            let on = runtime::scheduler_index();
            drop(permit);
            on
        });
        fiber::yield_now(); // the waiter queues here, on scheduler 0
        assert_eq!(SEM.available_permits(), 0);
        let dropped_on = runtime::spawn_on(1, move || {
            drop(permit);
            runtime::scheduler_index()
        })
        .join()
        .unwrap();
        assert_eq!(dropped_on, Some(1));
        assert_eq!(waiter.join().unwrap(), Some(0));
        assert_eq!(SEM.available_permits(), 1);
        done.wait();
    });
}

#[test]
fn permits_bound_the_fibers_of_two_schedulers_together() {
    const PERMITS: usize = 2;
    const FIBERS: usize = 50;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::builder().threads(2).build().unwrap();
    let (s, i, m) = (Arc::clone(&sem), Arc::clone(&inside), Arc::clone(&most));
    let finished = rt.run_on_each(move |_| {
        let fibers: Vec<_> = (0..FIBERS)
            .map(|_| {
                let (sem, inside, most) = (Arc::clone(&s), Arc::clone(&i), Arc::clone(&m));
                fiber::spawn(move || {
                    for _ in 0..10 {
                        let _permit = sem.acquire();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        fiber::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        fibers.into_iter().map(|f| f.join().unwrap()).count()
    });
    assert_eq!(finished, [FIBERS, FIBERS]);
    assert!(
        most.load(Ordering::SeqCst) <= PERMITS,
        "{} inside at once",
        most.load(Ordering::SeqCst)
    );
    assert_eq!(sem.available_permits(), PERMITS);
}
