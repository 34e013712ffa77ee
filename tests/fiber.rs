//! The fiber API through the facade: order, parking, timers, shutdown, threads, locals, stats.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spindle::fiber;

#[test]
fn spawned_fibers_run_in_fifo_order() {
    let order = spindle::run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let log = log.clone();
                fiber::spawn(move || {
                    log.borrow_mut().push(i);
                    fiber::yield_now();
                    log.borrow_mut().push(100 + i);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        Rc::try_unwrap(log).unwrap().into_inner()
    });
    let expected: Vec<i32> = (0..20).chain(100..120).collect();
    assert_eq!(order, expected);
}

#[test]
fn yield_now_round_robins() {
    let trace = spindle::run(|| {
        let trace = Rc::new(RefCell::new(String::new()));
        let hs: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let trace = trace.clone();
                fiber::spawn(move || {
                    for _ in 0..3 {
                        trace.borrow_mut().push_str(name);
                        fiber::yield_now();
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        trace.take()
    });
    assert_eq!(trace, "abcabcabc");
}

#[test]
fn join_returns_values_and_panics() {
    spindle::run(|| {
        assert_eq!(
            fiber::spawn(|| String::from("value")).join().unwrap(),
            "value"
        );
        let err = fiber::spawn(|| -> u32 { panic!("fiber failed on purpose") })
            .join()
            .unwrap_err();
        assert_eq!(*err.downcast::<&str>().unwrap(), "fiber failed on purpose");
        // The runtime keeps going after a fiber's panic.
        assert_eq!(fiber::spawn(|| 5).join().unwrap(), 5);
    });
}

#[test]
fn root_panic_resumes_on_the_caller_after_unwinding_others() {
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        spindle::run(move || {
            struct Flag(Arc<AtomicBool>);
            impl Drop for Flag {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::SeqCst);
                }
            }
            let flag = Flag(d);
            let _parked = fiber::spawn(move || {
                let _flag = flag;
                loop {
                    fiber::park();
                }
            });
            fiber::yield_now();
            panic!("root gives up");
        })
    }));
    assert_eq!(
        *result.unwrap_err().downcast::<&str>().unwrap(),
        "root gives up"
    );
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn leftover_fibers_are_unwound_when_the_root_returns() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let ran_after_root = Arc::new(AtomicBool::new(false));
    let r = ran_after_root.clone();
    spindle::run(move || {
        struct Count(Arc<AtomicUsize>);
        impl Drop for Count {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        for i in 0..40 {
            let c = Count(d.clone());
            match i % 4 {
                // Parked forever.
                0 => drop(fiber::spawn(move || {
                    let _c = c;
                    loop {
                        fiber::park();
                    }
                })),
                // Sleeping far past the end.
                1 => drop(fiber::spawn(move || {
                    let _c = c;
                    fiber::sleep(Duration::from_secs(3600));
                })),
                // Yielding forever.
                2 => drop(fiber::spawn(move || {
                    let _c = c;
                    loop {
                        fiber::yield_now();
                    }
                })),
                // Already finished.
                _ => fiber::spawn(move || drop(c)).join().unwrap(),
            }
            fiber::yield_now();
        }
        // Never started: their captures are dropped without running them.
        for _ in 0..10 {
            let c = Count(d.clone());
            let r = r.clone();
            drop(fiber::spawn(move || {
                let _c = c;
                r.store(true, Ordering::SeqCst);
            }));
        }
    });
    assert_eq!(drops.load(Ordering::SeqCst), 50);
    assert!(!ran_after_root.load(Ordering::SeqCst));
}

#[test]
fn timers_fire_in_deadline_order() {
    let order = spindle::run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let delays = [50u64, 10, 40, 20, 30, 0];
        let hs: Vec<_> = delays
            .into_iter()
            .map(|ms| {
                let log = log.clone();
                fiber::spawn(move || {
                    fiber::sleep(Duration::from_millis(ms));
                    log.borrow_mut().push(ms);
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        log.take()
    });
    assert_eq!(order, vec![0, 10, 20, 30, 40, 50]);
}

#[test]
fn a_thousand_concurrent_sleeps_overlap() {
    let elapsed = spindle::run(|| {
        let start = Instant::now();
        let hs: Vec<_> = (0..1000)
            .map(|_| fiber::spawn(|| fiber::sleep(Duration::from_millis(100))))
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        start.elapsed()
    });
    assert!(elapsed >= Duration::from_millis(100));
    // Serial sleeps would take 100 s; overlapping ones take one sleep plus overhead.
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn sleep_until_a_past_deadline_returns_at_once() {
    spindle::run(|| {
        let before = Instant::now();
        fiber::sleep_until(before - Duration::from_millis(5));
        fiber::sleep(Duration::ZERO);
    });
}

#[test]
fn park_token_and_park_timeout() {
    spindle::run(|| {
        // An unpark before park makes park return at once.
        fiber::current().unpark();
        fiber::park();
        // park_timeout returns after the timeout with nobody unparking.
        let start = Instant::now();
        fiber::park_timeout(Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(30));
        // A fiber unparked by another fiber.
        let me = fiber::current();
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        fiber::spawn(move || {
            d.set(true);
            me.unpark();
        });
        while !done.get() {
            fiber::park();
        }
    });
}

#[test]
fn plain_threads_unpark_parked_fibers() {
    const ROUNDS: usize = 2000;
    let woken = spindle::run(|| {
        let me = fiber::current();
        let flag = Arc::new(AtomicUsize::new(0));
        let f = flag.clone();
        let helper = std::thread::spawn(move || {
            for round in 1..=ROUNDS {
                f.store(round, Ordering::Release);
                me.unpark();
                // Wait for the fiber to acknowledge before the next round.
                while f.load(Ordering::Acquire) == round {
                    std::thread::yield_now();
                }
            }
        });
        let mut seen = 0;
        // A ticker proves the runtime keeps running while the root waits on the thread.
        let ticks = Rc::new(Cell::new(0u32));
        let t = ticks.clone();
        let ticker = fiber::spawn(move || {
            for _ in 0..5 {
                fiber::sleep(Duration::from_millis(1));
                t.set(t.get() + 1);
            }
        });
        while seen < ROUNDS {
            let round = flag.load(Ordering::Acquire);
            if round > seen && round != usize::MAX {
                seen = round;
                flag.store(usize::MAX, Ordering::Release); // acknowledge
                continue;
            }
            fiber::park();
        }
        helper.join().unwrap();
        ticker.join().unwrap();
        assert_eq!(ticks.get(), 5);
        seen
    });
    assert_eq!(woken, ROUNDS);
}

#[test]
fn fiber_handles_unpark_from_many_threads_at_once() {
    spindle::run(|| {
        let counter = Arc::new(AtomicUsize::new(0));
        let waiter = fiber::current();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                let waiter = waiter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.fetch_add(1, Ordering::SeqCst);
                        waiter.unpark();
                    }
                })
            })
            .collect();
        while counter.load(Ordering::SeqCst) < 4000 {
            fiber::park();
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
    });
}

#[test]
fn two_runtimes_on_two_threads() {
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            std::thread::spawn(move || {
                spindle::run(move || {
                    let hs: Vec<_> = (0..100u64)
                        .map(|i| {
                            fiber::spawn(move || {
                                fiber::sleep(Duration::from_millis(i % 7));
                                i * t
                            })
                        })
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                })
            })
        })
        .collect();
    let sums: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(sums, vec![0, 4950]);
}

#[test]
fn names_ids_and_current() {
    spindle::run(|| {
        assert_eq!(fiber::current().name(), Some("main"));
        let h = fiber::Builder::new()
            .name("worker".into())
            .spawn(|| {
                (
                    fiber::current().name().map(str::to_owned),
                    fiber::current().id(),
                )
            })
            .unwrap();
        let id = h.fiber().id();
        assert_eq!(h.fiber().name(), Some("worker"));
        let (name, seen_id) = h.join().unwrap();
        assert_eq!(name.as_deref(), Some("worker"));
        assert_eq!(seen_id, id);
        let a = fiber::spawn(|| ());
        let b = fiber::spawn(|| ());
        assert_ne!(a.fiber().id(), b.fiber().id());
        assert_eq!(a.fiber().name(), None);
        assert!(!a.is_finished());
        a.join().unwrap();
        fiber::yield_now();
        assert!(b.is_finished());
    });
}

#[test]
fn outside_a_runtime_functions_behave_like_std() {
    assert!(!fiber::is_fiber());
    let me = fiber::current();
    assert_eq!(me.id(), fiber::current().id());
    me.unpark();
    fiber::park(); // token consumed, returns at once
    let start = Instant::now();
    fiber::sleep(Duration::from_millis(20));
    fiber::park_timeout(Duration::from_millis(1));
    fiber::yield_now();
    assert!(start.elapsed() >= Duration::from_millis(20));
    let err = fiber::Builder::new().spawn(|| ()).unwrap_err();
    assert!(err.to_string().contains("spindle::run"), "{err}");
    let panic = std::panic::catch_unwind(|| fiber::spawn(|| ())).unwrap_err();
    let msg = panic.downcast::<String>().unwrap();
    assert!(msg.contains("outside a spindle runtime"), "{msg}");
}

#[test]
fn nested_run_panics_with_a_clear_message() {
    spindle::run(|| {
        let err = std::panic::catch_unwind(|| spindle::run(|| ())).unwrap_err();
        let msg = err
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default();
        assert!(msg.contains("inside a runtime"), "{msg}");
    });
}

#[test]
fn join_handle_joined_from_a_plain_thread() {
    spindle::run(|| {
        let h = fiber::spawn(|| {
            fiber::sleep(Duration::from_millis(20));
            7u32
        });
        let t = std::thread::spawn(move || h.join().unwrap());
        // The root must keep the runtime going while the thread waits.
        while !t.is_finished() {
            fiber::sleep(Duration::from_millis(1));
        }
        assert_eq!(t.join().unwrap(), 7);
    });
}

#[test]
fn fiber_locals_are_per_fiber_and_dropped_at_exit() {
    thread_local! { static DROPS: Cell<u32> = const { Cell::new(0) }; }
    struct Noisy(u32);
    impl Drop for Noisy {
        fn drop(&mut self) {
            DROPS.with(|d| d.set(d.get() + 1));
        }
    }
    spindle::fiber_local! {
        static VALUE: RefCell<Noisy> = RefCell::new(Noisy(0));
        static OTHER: Cell<u8> = Cell::new(9);
    }
    spindle::run(|| {
        VALUE.with_borrow_mut(|v| v.0 = 1);
        let hs: Vec<_> = (2..6)
            .map(|i| {
                fiber::spawn(move || {
                    VALUE.with_borrow_mut(|v| v.0 = i);
                    fiber::yield_now();
                    assert_eq!(OTHER.get(), 9);
                    VALUE.with_borrow(|v| v.0)
                })
            })
            .collect();
        let seen: Vec<u32> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(seen, vec![2, 3, 4, 5]);
        assert_eq!(VALUE.with_borrow(|v| v.0), 1);
        assert_eq!(DROPS.with(Cell::get), 4);
    });
    // The root fiber's value is dropped when it finishes.
    assert_eq!(DROPS.with(Cell::get), 5);
}

#[test]
fn stats_count_what_happened() {
    spindle::run(|| {
        let before = spindle::stats().unwrap();
        fiber::spawn(|| fiber::sleep(Duration::from_millis(1)))
            .join()
            .unwrap();
        let after = spindle::stats().unwrap();
        assert_eq!(after.fibers_spawned, before.fibers_spawned + 1);
        assert!(after.timers_fired > before.timers_fired);
        assert!(after.switches > before.switches);
        assert_eq!(after.fibers_alive, 1);
    });
    assert!(spindle::stats().is_none());
}

#[test]
fn fiber_locals_touched_by_a_result_destructor_are_dropped_on_the_fiber() {
    // Where each `Probe` was dropped: (on a fiber?, the id of the fiber or thread).
    thread_local! {
        static DROPPED_ON: RefCell<Vec<(bool, fiber::FiberId)>> = const { RefCell::new(Vec::new()) };
    }
    struct Probe;
    impl Drop for Probe {
        fn drop(&mut self) {
            let place = (fiber::is_fiber(), fiber::current().id());
            DROPPED_ON.with(|d| d.borrow_mut().push(place));
        }
    }
    spindle::fiber_local! {
        static PROBE: RefCell<Option<Probe>> = RefCell::new(None);
    }
    /// The fiber's result: its destructor runs after the fiber's body, when the handle is
    /// already gone, and touches a fiber-local.
    struct TouchesLocal;
    impl Drop for TouchesLocal {
        fn drop(&mut self) {
            PROBE.with(|p| *p.borrow_mut() = Some(Probe));
        }
    }
    let id = spindle::run(|| {
        let handle = fiber::spawn(|| {
            fiber::yield_now();
            TouchesLocal
        });
        let id = handle.fiber().id();
        drop(handle);
        fiber::sleep(Duration::from_millis(5));
        id
    });
    let places = DROPPED_ON.with(|d| d.borrow().clone());
    assert_eq!(
        places,
        vec![(true, id)],
        "the fiber-local was dropped elsewhere"
    );
}
