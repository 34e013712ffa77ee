//! `spindle::stats()`, `runtime::stats_of_each()` and `Stats`: each figure moves when the
//! thing it counts happens, per scheduler, and the sum over schedulers adds them up.
//!
//! (`tests/fiber.rs` checks spawns, timers fired and switches once; `tests/fairness.rs` the
//! budget yields; `tests/stall.rs` the stalls; `tests/watchdog_idle.rs` the watchdog wake-ups.)

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::os::unix::net::UnixStream;
use spindle::runtime::{self, Runtime};
use spindle::sync::{Arc, Barrier, mpsc};
use spindle::{Stats, stats};

fn now() -> Stats {
    stats().expect("called on a fiber")
}

#[test]
fn spawned_fibers_are_alive_and_runnable_until_they_finish() {
    spindle::run(|| {
        let before = now();
        assert_eq!(before.fibers_alive, 1, "the root alone: {before:?}");
        assert_eq!(before.fibers_spawned, 1, "the root counts: {before:?}");
        let fibers: Vec<_> = (0..3).map(|_| fiber::spawn(|| ())).collect();
        let queued = now();
        assert_eq!(queued.fibers_spawned, before.fibers_spawned + 3);
        assert_eq!(queued.fibers_alive, before.fibers_alive + 3);
        assert_eq!(queued.runnable, before.runnable + 3, "{queued:?}");
        for f in fibers {
            f.join().unwrap();
        }
        let after = now();
        assert_eq!(after.fibers_alive, before.fibers_alive);
        assert_eq!(after.runnable, 0, "{after:?}");
        assert_eq!(after.fibers_spawned, before.fibers_spawned + 3);
    });
}

#[test]
fn every_yield_is_a_switch_and_every_join_wait_is_a_park() {
    const N: u64 = 100;
    spindle::run(|| {
        let before = now();
        let other = fiber::spawn(|| {
            for _ in 0..N {
                fiber::yield_now();
            }
        });
        for _ in 0..N {
            fiber::yield_now();
        }
        other.join().unwrap();
        let after = now();
        assert!(
            after.switches - before.switches >= 2 * N,
            "{} switches for {N} yields on each side of two fibers",
            after.switches - before.switches
        );

        let before = now();
        for _ in 0..N {
            // The child has not run yet when `join` is called: the root parks in it.
            fiber::spawn(fiber::yield_now).join().unwrap();
        }
        let after = now();
        assert!(
            after.parks - before.parks >= N,
            "{} parks for {N} joins of unfinished fibers",
            after.parks - before.parks
        );
    });
}

#[test]
fn a_timer_is_armed_while_a_fiber_waits_on_it_and_counted_when_it_fires() {
    spindle::run(|| {
        let before = now();
        let waiter = fiber::spawn(|| fiber::park_timeout(Duration::from_secs(60)));
        let sleeper = fiber::spawn(|| fiber::sleep(Duration::from_millis(1)));
        fiber::yield_now(); // both arm their timers and park
        let waiting = now();
        assert_eq!(waiting.timers_armed, before.timers_armed + 2, "{waiting:?}");
        sleeper.join().unwrap();
        let fired = now();
        assert!(fired.timers_fired > before.timers_fired, "{fired:?}");
        assert_eq!(fired.timers_armed, before.timers_armed + 1, "{fired:?}");
        // A timer cancelled by an early wake-up is disarmed without firing.
        waiter.fiber().unpark();
        waiter.join().unwrap();
        let after = now();
        assert_eq!(after.timers_armed, before.timers_armed, "{after:?}");
        assert_eq!(after.timers_fired, fired.timers_fired, "{after:?}");
    });
}

#[test]
fn a_fiber_waiting_on_a_socket_is_an_io_waiter_and_its_wakeup_a_reactor_event() {
    spindle::run(|| {
        let before = now();
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        let reader = fiber::spawn(move || {
            let mut byte = [0u8];
            theirs.read_exact(&mut byte).unwrap();
            (byte[0], theirs)
        });
        fiber::yield_now(); // the reader finds nothing and waits on its socket
        let waiting = now();
        assert_eq!(waiting.io_waiters, before.io_waiters + 1, "{waiting:?}");
        assert!(waiting.io_registered > before.io_registered, "{waiting:?}");
        ours.write_all(&[7]).unwrap();
        let (byte, theirs) = reader.join().unwrap();
        assert_eq!(byte, 7);
        let woken = now();
        assert_eq!(woken.io_waiters, before.io_waiters, "{woken:?}");
        assert!(woken.reactor_events > waiting.reactor_events, "{woken:?}");
        assert!(woken.reactor_polls > waiting.reactor_polls, "{woken:?}");
        drop((ours, theirs));
        let closed = now();
        assert_eq!(closed.io_registered, before.io_registered, "{closed:?}");
    });
}

#[test]
fn an_unblock_job_is_in_flight_until_it_returns() {
    spindle::run(|| {
        let before = now().unblock_jobs;
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let job = fiber::spawn(move || spindle::unblock(move || wait.recv().unwrap()));
        fiber::yield_now(); // the job is handed to the pool; its fiber parks
        assert_eq!(now().unblock_jobs, before + 1);
        release.send(()).unwrap();
        job.join().unwrap();
        // The pool thread counts the job done just after it wakes the fiber.
        let deadline = Instant::now() + Duration::from_secs(60);
        while now().unblock_jobs != before {
            assert!(Instant::now() < deadline, "the job stayed in flight");
            fiber::sleep(Duration::from_millis(1));
        }
    });
}

#[test]
fn each_scheduler_counts_its_own_fibers_and_the_sum_adds_them_up() {
    let rt = Runtime::builder().threads(2).build().unwrap();
    let (to_0, from_1) = mpsc::channel::<Stats>();
    let (to_0, from_1) = (std::sync::Mutex::new(to_0), std::sync::Mutex::new(from_1));
    let done = Arc::new(Barrier::new(2));
    let out = rt.run_on_each(move |index| {
        // Scheduler i spawns and joins 10 × (i + 1) fibers.
        let spawned = 10 * (index as u64 + 1);
        let start = now();
        for _ in 0..spawned {
            fiber::spawn(fiber::yield_now).join().unwrap();
        }
        let mine = now();
        assert_eq!(mine.fibers_spawned, start.fibers_spawned + spawned);
        let each = runtime::stats_of_each().unwrap();
        assert_eq!(each.len(), 2);
        // The caller's own entry is exact.
        assert_eq!(each[index].fibers_spawned, mine.fibers_spawned);
        assert_eq!(each[index].switches, mine.switches);
        if index == 1 {
            to_0.lock().unwrap().send(mine).unwrap();
            // Sleep in the poller (publishing these figures) until scheduler 0 has read them.
            done.wait();
            return (mine, None);
        }
        let theirs = from_1.lock().unwrap().recv().unwrap();
        // The other entry is a copy scheduler 1 refreshes before it sleeps: wait for it.
        let deadline = Instant::now() + Duration::from_secs(60);
        let each = loop {
            let each = runtime::stats_of_each().unwrap();
            if each[1].fibers_spawned >= theirs.fibers_spawned {
                break each;
            }
            assert!(
                Instant::now() < deadline,
                "scheduler 1 never published {theirs:?}; its entry: {:?}",
                each[1]
            );
            fiber::sleep(Duration::from_millis(1));
        };
        done.wait();
        assert_eq!(each[1].fibers_spawned, theirs.fibers_spawned);
        assert!(each[1].switches >= theirs.switches, "{each:?}");
        (mine, Some(each.iter().copied().sum::<Stats>()))
    });
    let (zero, one) = (out[0].0, out[1].0);
    assert!(one.fibers_spawned > zero.fibers_spawned, "{out:?}");
    let total = out[0].1.expect("scheduler 0 adds them up");
    assert_eq!(
        total.fibers_spawned,
        zero.fibers_spawned + one.fibers_spawned
    );
    assert!(total.switches >= zero.switches + one.switches, "{out:?}");
    assert!(total.parks >= zero.parks + one.parks, "{out:?}");
}

#[test]
fn adding_stats_sums_per_scheduler_figures_and_takes_process_figures_once() {
    let mut a = Stats::default();
    a.fibers_alive = 2;
    a.switches = 10;
    a.reactor_events = 4;
    a.unblock_jobs = 3;
    a.watchdog_wakeups = 9;
    let mut b = Stats::default();
    b.fibers_alive = 5;
    b.switches = 1;
    b.reactor_events = 6;
    b.unblock_jobs = 3;
    b.watchdog_wakeups = 9;
    let sum = a + b;
    assert_eq!(sum.fibers_alive, 7);
    assert_eq!(sum.switches, 11);
    assert_eq!(sum.reactor_events, 10);
    assert_eq!(sum.unblock_jobs, 3, "process-wide: counted once");
    assert_eq!(sum.watchdog_wakeups, 9, "process-wide: counted once");
    assert_eq!([a, b].into_iter().sum::<Stats>(), sum);
    assert_eq!(std::iter::empty::<Stats>().sum::<Stats>(), Stats::default());
}
