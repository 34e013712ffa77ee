//! Model checks of `Condvar` (see `sync/src/condvar.rs`): no notification is lost between a
//! waiter queueing itself, releasing the mutex and parking, and `notify_one`/`notify_all`
//! from other threads. A lost wake-up leaves a thread parked for ever, which loom reports as
//! a deadlock. Timed waits are not modelled (loom has no clock). Run with:
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p spindle-sync --release --test loom_condvar`
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use spindle_sync::{Condvar, Mutex};

fn bounded(bound: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder
}

#[test]
fn notify_all_wakes_every_waiter() {
    bounded(3).check(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let pair = pair.clone();
                thread::spawn(move || {
                    let (lock, cvar) = &*pair;
                    let ready = cvar.wait_while(lock.lock().unwrap(), |ready| !*ready);
                    assert!(*ready.unwrap());
                })
            })
            .collect();
        let (lock, cvar) = &*pair;
        *lock.lock().unwrap() = true;
        cvar.notify_all();
        for w in waiters {
            w.join().unwrap();
        }
    });
}

#[test]
fn each_notify_one_reaches_a_waiter() {
    // Two consumers each take one token; the producer adds one token and notifies one waiter,
    // twice. Both consumers must finish: a notify_one that found a waiter queued must not be
    // absorbed by a waiter that was going to succeed anyway without passing it on. (Three
    // threads with two lock rounds each: bound 2 keeps the model to seconds.)
    bounded(2).check(|| {
        let pair = Arc::new((Mutex::new(0usize), Condvar::new()));
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let pair = pair.clone();
                thread::spawn(move || {
                    let (lock, cvar) = &*pair;
                    let mut tokens = cvar
                        .wait_while(lock.lock().unwrap(), |tokens| *tokens == 0)
                        .unwrap();
                    *tokens -= 1;
                })
            })
            .collect();
        let (lock, cvar) = &*pair;
        for _ in 0..2 {
            *lock.lock().unwrap() += 1;
            cvar.notify_one();
        }
        for c in consumers {
            c.join().unwrap();
        }
        assert_eq!(*lock.lock().unwrap(), 0);
    });
}

#[test]
fn a_waiter_woken_by_notify_one_holds_the_mutex_again() {
    // Ping-pong over one condvar: each side waits for its turn, flips it, notifies. A wait
    // that returned without the mutex, or a notification lost in the hand-over, hangs or
    // breaks the alternation.
    bounded(3).check(|| {
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        let other = {
            let pair = pair.clone();
            thread::spawn(move || {
                let (lock, cvar) = &*pair;
                let mut turn = cvar.wait_while(lock.lock().unwrap(), |t| *t != 1).unwrap();
                *turn = 2;
                drop(turn);
                cvar.notify_one();
            })
        };
        let (lock, cvar) = &*pair;
        *lock.lock().unwrap() = 1;
        cvar.notify_one();
        let turn = cvar.wait_while(lock.lock().unwrap(), |t| *t != 2).unwrap();
        assert_eq!(*turn, 2);
        drop(turn);
        other.join().unwrap();
    });
}
