//! `spindle::sync::Barrier`: rounds, one leader per round, fibers of one scheduler, of several
//! schedulers and plain threads meeting at one barrier, and a waiter unwound mid-round.

mod util;

use spindle::fiber;
use spindle::runtime::Runtime;
use spindle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use spindle::sync::{Arc, Barrier, Mutex};
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::Duration;

#[test]
fn zero_and_one_party_barriers_never_wait_and_always_lead() {
    // As `std::sync::Barrier`: `new(0)` behaves like `new(1)`, each call is its own round.
    for parties in [0, 1] {
        let barrier = Barrier::new(parties);
        for _ in 0..3 {
            assert!(barrier.wait().is_leader());
        }
        let on_fiber = util::run(move || (0..3).all(|_| barrier.wait().is_leader()));
        assert!(on_fiber);
    }
    let result = Barrier::new(1).wait();
    assert_eq!(
        format!("{result:?}"),
        "BarrierWaitResult { is_leader: true }"
    );
}

#[test]
fn a_waiting_fiber_parks_only_itself() {
    let ticks = util::run(|| {
        let barrier = Arc::new(Barrier::new(2));
        let ticks = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (ticks, stop) = (ticks.clone(), stop.clone());
            fiber::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    fiber::yield_now();
                }
            })
        };
        let waiter = {
            let barrier = barrier.clone();
            fiber::spawn(move || barrier.wait().is_leader())
        };
        // The waiter has parked; if it held the thread, neither the ticker nor this fiber
        // would run again and the test would hang.
        while ticks.load(Ordering::SeqCst) < 100 {
            fiber::yield_now();
        }
        let me = barrier.wait().is_leader();
        assert!(me, "the last to arrive leads, as in std's implementation");
        assert!(!waiter.join().unwrap());
        stop.store(true, Ordering::SeqCst);
        ticker.join().unwrap();
        ticks.load(Ordering::SeqCst)
    });
    assert!(ticks >= 100);
}

#[test]
fn barrier_releases_fibers_in_rounds_with_one_leader_each() {
    const PARTIES: usize = 50;
    const ROUNDS: usize = 5;
    let (leaders, max_skew) = util::run(|| {
        let barrier = Arc::new(Barrier::new(PARTIES));
        let arrived = Arc::new(AtomicUsize::new(0));
        let fibers: Vec<_> = (0..PARTIES)
            .map(|_| {
                let (barrier, arrived) = (barrier.clone(), arrived.clone());
                fiber::spawn(move || {
                    let mut leaders = 0;
                    let mut max_skew = 0;
                    for round in 0..ROUNDS {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        fiber::yield_now();
                        if barrier.wait().is_leader() {
                            leaders += 1;
                        }
                        // Everyone of this round has arrived before anyone leaves.
                        let seen = arrived.load(Ordering::SeqCst);
                        max_skew =
                            max_skew.max((round + 1) * PARTIES - seen.min((round + 1) * PARTIES));
                    }
                    (leaders, max_skew)
                })
            })
            .collect();
        fibers
            .into_iter()
            .map(|f| f.join().unwrap())
            .fold((0, 0), |(l, s), (l2, s2)| (l + l2, s.max(s2)))
    });
    assert_eq!(leaders, ROUNDS);
    assert_eq!(max_skew, 0);
}

#[test]
fn barrier_between_fibers_of_two_runtimes_and_a_plain_thread() {
    let barrier = Arc::new(Barrier::new(3));
    let runtimes: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(move || spindle::run(move || barrier.wait().is_leader()))
        })
        .collect();
    let me = barrier.wait().is_leader();
    let leaders = runtimes
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|&l| l)
        .count()
        + usize::from(me);
    assert_eq!(leaders, 1);
}

/// Hammer: fibers of two schedulers and two plain threads meet for many rounds. Each round
/// has exactly one leader, and nobody leaves a round before every party has arrived.
#[test]
fn many_rounds_across_schedulers_and_threads_elect_one_leader_each() {
    const FIBERS_PER_SCHEDULER: usize = 8;
    const THREADS: usize = 2;
    const PARTIES: usize = 2 * FIBERS_PER_SCHEDULER + THREADS;
    const ROUNDS: usize = 300;

    let barrier = Arc::new(Barrier::new(PARTIES));
    let arrived = Arc::new(AtomicUsize::new(0));
    let leader_rounds = Arc::new(Mutex::new(Vec::new()));
    // One party's whole run: arrive, wait, check that the round is complete.
    let party = {
        let (barrier, arrived, leader_rounds) =
            (barrier.clone(), arrived.clone(), leader_rounds.clone());
        move |switch: &dyn Fn()| {
            for round in 0..ROUNDS {
                arrived.fetch_add(1, Ordering::SeqCst);
                switch();
                let result = barrier.wait();
                let seen = arrived.load(Ordering::SeqCst);
                assert!(
                    seen >= (round + 1) * PARTIES,
                    "left round {round} after only {seen} arrivals"
                );
                if result.is_leader() {
                    leader_rounds.lock().unwrap().push(round);
                }
            }
        }
    };
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let party = party.clone();
            thread::spawn(move || party(&thread::yield_now))
        })
        .collect();
    util::on_thread(move || {
        let rt = Runtime::builder().threads(2).build().unwrap();
        rt.run_on_each(move |_| {
            let fibers: Vec<_> = (0..FIBERS_PER_SCHEDULER)
                .map(|_| {
                    let party = party.clone();
                    fiber::spawn(move || party(&fiber::yield_now))
                })
                .collect();
            for f in fibers {
                f.join().unwrap();
            }
        });
    });
    for t in threads {
        t.join().unwrap();
    }
    let mut rounds = leader_rounds.lock().unwrap().clone();
    rounds.sort_unstable();
    assert_eq!(rounds, (0..ROUNDS).collect::<Vec<_>>());
}

/// Regression: a fiber unwound while it waited (the runtime ended under it) stayed counted
/// as arrived, so the next round let one party too few through.
#[test]
fn a_waiter_unwound_at_shutdown_leaves_its_round() {
    let barrier = Arc::new(Barrier::new(2));
    let b = barrier.clone();
    let returned = util::run(move || {
        let returned = Arc::new(AtomicBool::new(false));
        let r = returned.clone();
        fiber::spawn(move || {
            b.wait();
            r.store(true, Ordering::SeqCst);
        });
        // Let it arrive and park; returning ends the runtime, which unwinds it.
        fiber::yield_now();
        returned
    });
    assert!(!returned.load(Ordering::SeqCst));

    // The round still needs two live parties.
    let (tx, rx) = std_mpsc::channel();
    let b = barrier.clone();
    let other = thread::spawn(move || {
        let leader = b.wait().is_leader();
        tx.send(()).unwrap();
        leader
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(300)),
        Err(std_mpsc::RecvTimeoutError::Timeout),
        "a lone party passed the barrier: the unwound fiber still counted"
    );
    let me = barrier.wait().is_leader();
    assert!(me ^ other.join().unwrap(), "exactly one leader");
}
