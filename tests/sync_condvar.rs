//! `spindle::sync::Condvar`: hand-offs between fibers and threads, timeouts.

use spindle::fiber;
use spindle::sync::atomic::{AtomicUsize, Ordering};
use spindle::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn condvar_ping_pong_between_two_fibers() {
    const ROUNDS: usize = 1_000;
    let turns = spindle::run(|| {
        let state = Arc::new((Mutex::new((0usize, 0usize)), Condvar::new()));
        let other = {
            let state = state.clone();
            fiber::spawn(move || {
                let (lock, cvar) = &*state;
                let mut g = lock.lock().unwrap();
                for _ in 0..ROUNDS {
                    g = cvar.wait_while(g, |(turn, _)| *turn % 2 == 0).unwrap();
                    g.0 += 1;
                    g.1 += 1;
                    cvar.notify_one();
                }
            })
        };
        let (lock, cvar) = &*state;
        let mut g = lock.lock().unwrap();
        for _ in 0..ROUNDS {
            g = cvar.wait_while(g, |(turn, _)| *turn % 2 == 1).unwrap();
            g.0 += 1;
            cvar.notify_one();
        }
        g = cvar.wait_while(g, |(turn, _)| *turn < 2 * ROUNDS).unwrap();
        let result = *g;
        drop(g);
        other.join().unwrap();
        result
    });
    assert_eq!(turns, (2 * ROUNDS, ROUNDS));
}

#[test]
fn notify_all_wakes_every_waiting_fiber() {
    const WAITERS: usize = 200;
    let woken = spindle::run(|| {
        let state = Arc::new((Mutex::new((false, 0usize)), Condvar::new()));
        let woken = Arc::new(AtomicUsize::new(0));
        let fibers: Vec<_> = (0..WAITERS)
            .map(|_| {
                let (state, woken) = (state.clone(), woken.clone());
                fiber::spawn(move || {
                    let (lock, cvar) = &*state;
                    let mut g = lock.lock().unwrap();
                    g.1 += 1;
                    let _g = cvar.wait_while(g, |(go, _)| !*go).unwrap();
                    woken.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        let (lock, cvar) = &*state;
        // Wait until all are parked on the condvar.
        while lock.lock().unwrap().1 < WAITERS {
            fiber::yield_now();
        }
        lock.lock().unwrap().0 = true;
        cvar.notify_all();
        for f in fibers {
            f.join().unwrap();
        }
        woken.load(Ordering::SeqCst)
    });
    assert_eq!(woken, WAITERS);
}

#[test]
fn plain_thread_notifies_a_fiber_and_a_fiber_notifies_a_plain_thread() {
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let thread_side = {
        let pair = pair.clone();
        thread::spawn(move || {
            let (lock, cvar) = &*pair;
            *lock.lock().unwrap() = 1;
            cvar.notify_all();
            let g = cvar.wait_while(lock.lock().unwrap(), |v| *v != 2).unwrap();
            *g
        })
    };
    spindle::run(move || {
        let (lock, cvar) = &*pair;
        let mut g = cvar.wait_while(lock.lock().unwrap(), |v| *v != 1).unwrap();
        *g = 2;
        cvar.notify_all();
    });
    assert_eq!(thread_side.join().unwrap(), 2);
}

#[test]
fn wait_timeout_times_out_in_a_fiber_while_others_run() {
    spindle::run(|| {
        let lock = Mutex::new(());
        let cvar = Condvar::new();
        let ticker = fiber::spawn(|| {
            let mut ticks = 0;
            for _ in 0..5 {
                fiber::sleep(Duration::from_millis(2));
                ticks += 1;
            }
            ticks
        });
        let start = Instant::now();
        let (_g, result) = cvar
            .wait_timeout(lock.lock().unwrap(), Duration::from_millis(30))
            .unwrap();
        assert!(result.timed_out());
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(ticker.join().unwrap(), 5);
    });
}

#[test]
fn wait_timeout_while_returns_early_when_the_condition_clears() {
    spindle::run(|| {
        let state = Arc::new((Mutex::new(false), Condvar::new()));
        let setter = {
            let state = state.clone();
            fiber::spawn(move || {
                fiber::sleep(Duration::from_millis(5));
                *state.0.lock().unwrap() = true;
                state.1.notify_one();
            })
        };
        let (lock, cvar) = &*state;
        let (g, result) = cvar
            .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(60), |ready| {
                !*ready
            })
            .unwrap();
        assert!(!result.timed_out());
        assert!(*g);
        drop(g);
        setter.join().unwrap();

        let (g, result) = cvar
            .wait_timeout_while(lock.lock().unwrap(), Duration::from_millis(5), |ready| {
                *ready
            })
            .unwrap();
        assert!(result.timed_out());
        assert!(*g);
    });
}
