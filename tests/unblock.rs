//! `unblock`: results, panics, the stall it avoids, concurrency, plain threads, several runtimes.

use spindle::{fiber, unblock};
use std::cell::Cell;
use std::panic;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

/// A fiber that ticks every 10 ms until stopped; `stop()` returns how many ticks it made.
struct Ticker {
    ticks: Rc<Cell<usize>>,
    stop: Rc<Cell<bool>>,
    handle: fiber::JoinHandle<()>,
}

impl Ticker {
    fn start() -> Ticker {
        let ticks = Rc::new(Cell::new(0));
        let stop = Rc::new(Cell::new(false));
        let (t, s) = (ticks.clone(), stop.clone());
        let handle = fiber::spawn(move || {
            while !s.get() {
                fiber::sleep(Duration::from_millis(10));
                t.set(t.get() + 1);
            }
        });
        Ticker {
            ticks,
            stop,
            handle,
        }
    }

    fn stop(self) -> usize {
        self.stop.set(true);
        self.handle.join().unwrap();
        self.ticks.get()
    }
}

#[test]
fn returns_the_closures_value_computed_on_another_thread() {
    let here = thread::current().id();
    let (value, there) = spindle::run(|| unblock(|| (6 * 7, thread::current().id())));
    assert_eq!(value, 42);
    assert_ne!(there, here, "a fiber's unblock must run on a pool thread");
}

#[test]
fn on_a_plain_thread_it_just_calls_the_closure() {
    let here = thread::current().id();
    assert_eq!(unblock(move || thread::current().id()), here);
}

#[test]
fn a_panic_in_the_closure_resumes_in_the_caller_with_its_payload() {
    let payload = spindle::run(|| {
        let caught = panic::catch_unwind(|| unblock(|| -> () { panic!("from the pool") }));
        let payload = caught.unwrap_err();
        payload.downcast_ref::<&str>().map(|s| s.to_string())
    });
    assert_eq!(payload.as_deref(), Some("from the pool"));
}

#[test]
fn a_blocking_call_on_the_pool_stalls_only_its_fiber() {
    let ticks = spindle::run(|| {
        let ticker = Ticker::start();
        unblock(|| thread::sleep(Duration::from_millis(300)));
        ticker.stop()
    });
    // 300 ms of 10 ms ticks is ~30; a stalled thread would give at most 1.
    assert!(
        ticks >= 5,
        "the ticker ticked only {ticks} times: the thread stalled"
    );
}

// With the `hook` feature std's sleep parks the fiber, so there is no stall to show.
#[cfg(not(feature = "hook"))]
#[test]
fn std_thread_sleep_on_the_fiber_would_stall_the_ticker() {
    // The contrast that shows the test above can fail.
    let ticks = spindle::run(|| {
        let ticker = Ticker::start();
        fiber::yield_now();
        thread::sleep(Duration::from_millis(300));
        ticker.stop()
    });
    assert!(
        ticks <= 2,
        "ticks {ticks}: std::thread::sleep did not stall the thread?"
    );
}

#[test]
fn many_fibers_block_concurrently_on_the_pool() {
    const FIBERS: u64 = 40;
    let start = Instant::now();
    let sum = spindle::run(|| {
        let handles: Vec<_> = (0..FIBERS)
            .map(|i| {
                fiber::spawn(move || {
                    unblock(move || {
                        thread::sleep(Duration::from_millis(100));
                        i
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, FIBERS * (FIBERS - 1) / 2);
    // One after another would take 4 s; the pool runs them side by side.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{FIBERS} sleeps of 100 ms took {:?}",
        start.elapsed()
    );
}

#[test]
fn runtimes_on_several_threads_share_the_pool() {
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            thread::spawn(move || {
                spindle::run(move || {
                    let handles: Vec<_> = (0..10u32)
                        .map(|i| fiber::spawn(move || unblock(move || t * 100 + i)))
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
                })
            })
        })
        .collect();
    let sums: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(sums, [45, 1045, 2045, 3045]);
}

#[test]
fn the_result_may_own_heap_data_and_non_copy_values() {
    let text = spindle::run(|| unblock(|| "x".repeat(1 << 20)));
    assert_eq!(text.len(), 1 << 20);
}
