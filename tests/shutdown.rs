//! What happens to fibers still alive when their runtime's root returns: each is unwound with
//! the `spindle::fiber::Cancelled` payload, one at a time, and `run` always returns.
//!
//! Every test runs its runtime on a thread of its own and fails (instead of hanging the suite)
//! when `run` has not returned within a generous bound.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use spindle::fiber;
use spindle::sync::Mutex;

/// Runs `f` on a new thread; panics if it has not returned after `limit` (the thread is left
/// behind: the test process ends anyway).
fn returns_within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => panic!("run did not return within {limit:?}: shutdown hangs"),
    }
}

/// Locks `mutex` when dropped (as a connection's destructor might, to unregister itself).
struct LocksOnDrop {
    mutex: Arc<Mutex<u32>>,
    done: Arc<AtomicBool>,
}

impl Drop for LocksOnDrop {
    fn drop(&mut self) {
        *self.mutex.lock().unwrap() += 1;
        self.done.store(true, Ordering::SeqCst);
    }
}

#[test]
fn shutdown_ends_when_an_unwinding_fiber_waits_for_a_lock_held_by_a_sleeper() {
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&done);
    let count = returns_within(Duration::from_secs(20), move || {
        let mutex = Arc::new(Mutex::new(0));
        let m = Arc::clone(&mutex);
        spindle::run(move || {
            // Spawned first, so it is unwound first: its destructor waits for the lock.
            let guard = LocksOnDrop {
                mutex: Arc::clone(&m),
                done: seen,
            };
            fiber::spawn(move || {
                let _guard = guard;
                fiber::sleep(Duration::from_secs(3600));
            });
            // Holds the lock while it sleeps; it must be unwound too, to release it.
            let holder = Arc::clone(&m);
            fiber::spawn(move || {
                let _held = holder.lock().unwrap();
                fiber::sleep(Duration::from_secs(3600));
            });
            fiber::yield_now();
        });
        *mutex.lock().unwrap()
    });
    assert!(done.load(Ordering::SeqCst), "the destructor did not finish");
    assert_eq!(count, 1);
}

#[test]
fn a_fiber_that_catches_cancelled_does_not_keep_the_runtime_alive() {
    let caught = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&caught);
    returns_within(Duration::from_secs(20), move || {
        spindle::run(move || {
            fiber::spawn(move || {
                // A request loop that survives any panic of a handler, cancellation included.
                loop {
                    let result = panic::catch_unwind(|| fiber::sleep(Duration::from_millis(5)));
                    if let Err(payload) = result {
                        assert!(payload.is::<fiber::Cancelled>(), "unexpected payload");
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
            fiber::sleep(Duration::from_millis(20));
        })
    });
    assert!(
        caught.load(Ordering::SeqCst) >= 1,
        "the cancellation payload was never raised in the looping fiber"
    );
}

#[test]
fn cancelled_payload_reraised_ends_the_fiber() {
    let unwound = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&unwound);
    returns_within(Duration::from_secs(20), move || {
        spindle::run(move || {
            fiber::spawn(move || {
                let result = panic::catch_unwind(|| fiber::sleep(Duration::from_secs(3600)));
                if let Err(payload) = result {
                    seen.store(payload.is::<fiber::Cancelled>(), Ordering::SeqCst);
                    panic::resume_unwind(payload);
                }
            });
            fiber::yield_now();
        })
    });
    assert!(unwound.load(Ordering::SeqCst));
}

/// Panics when dropped.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("PanicsOnDrop dropped");
    }
}

#[test]
fn a_detached_result_that_panics_when_dropped_does_not_take_down_the_others() {
    let finished = returns_within(Duration::from_secs(20), || {
        spindle::run(|| {
            let other = fiber::spawn(|| {
                for _ in 0..10 {
                    fiber::yield_now();
                }
                7
            });
            // Detached before it finishes: the fiber drops its own result, which panics.
            drop(fiber::spawn(|| {
                fiber::yield_now();
                PanicsOnDrop
            }));
            other.join().unwrap()
        })
    });
    assert_eq!(finished, 7);
}

#[test]
fn fibers_left_at_shutdown_can_be_abandoned_instead_of_unwound() {
    // What a `panic = "abort"` build does: leftover fibers cannot be unwound, so they are
    // left suspended for good, and what they own is leaked.
    let dropped = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&dropped);
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let value = returns_within(Duration::from_secs(20), move || {
        let runtime = spindle::Runtime::builder()
            .unwind_at_shutdown(false)
            .build()
            .unwrap();
        runtime.run(move || {
            let owned = SetOnDrop(seen);
            fiber::spawn(move || {
                let _owned = owned;
                fiber::sleep(Duration::from_secs(3600));
            });
            fiber::yield_now();
            5
        })
    });
    assert_eq!(value, 5);
    assert!(
        !dropped.load(Ordering::SeqCst),
        "an abandoned fiber's values must not be dropped"
    );
}

#[test]
fn panicking_is_per_fiber() {
    returns_within(Duration::from_secs(20), || {
        spindle::run(|| {
            let observed = Rc::new(Cell::new(None));
            let seen = Rc::clone(&observed);
            // Asks `panicking()` while another fiber is suspended in the middle of unwinding.
            let asker = fiber::spawn(move || {
                fiber::sleep(Duration::from_millis(20));
                seen.set(Some((fiber::panicking(), std::thread::panicking())));
            });
            struct SleepsOnDrop(Rc<Cell<Option<bool>>>);
            impl Drop for SleepsOnDrop {
                fn drop(&mut self) {
                    self.0.set(Some(fiber::panicking()));
                    fiber::sleep(Duration::from_millis(60));
                }
            }
            let in_drop = Rc::new(Cell::new(None));
            let sleeper = SleepsOnDrop(Rc::clone(&in_drop));
            let panicker = fiber::spawn(move || {
                let _sleeper = sleeper;
                panic!("this fiber panics on purpose");
            });
            asker.join().unwrap();
            assert!(panicker.join().is_err());
            assert_eq!(
                in_drop.get(),
                Some(true),
                "the unwinding fiber is panicking"
            );
            assert_eq!(
                observed.get(),
                Some((false, true)),
                "another fiber is not panicking, though its thread is"
            );
            assert!(!fiber::panicking());
        })
    });
}

#[test]
fn a_destructor_that_parks_for_ever_at_shutdown_is_abandoned() {
    struct ParksForEver;
    impl Drop for ParksForEver {
        fn drop(&mut self) {
            loop {
                fiber::park();
            }
        }
    }
    let value = returns_within(Duration::from_secs(20), || {
        let runtime = spindle::Runtime::builder()
            .deadlock_timeout(Some(Duration::from_millis(100)))
            .build()
            .unwrap();
        runtime.run(|| {
            fiber::spawn(|| {
                let _p = ParksForEver;
                fiber::sleep(Duration::from_secs(3600));
            });
            fiber::yield_now();
            9
        })
    });
    assert_eq!(value, 9);
}
