//! `spindle::sync::mpmc`: each message to exactly one receiver, the longest waiter first;
//! rendezvous and bounded back-pressure; timeouts; disconnection from either side; and a hammer
//! with fibers of two schedulers and plain threads on both sides.

mod util;

use spindle::fiber;
use spindle::runtime::Runtime;
use spindle::sync::atomic::{AtomicUsize, Ordering};
use spindle::sync::mpmc::{
    self, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use spindle::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[test]
fn mpmc_delivers_each_message_to_exactly_one_of_many_receivers() {
    const N: usize = 10_000;
    let (sum, count) = spindle::run(|| {
        let (tx, rx) = mpmc::bounded(16);
        let consumers: Vec<_> = (0..8)
            .map(|_| {
                let rx = rx.clone();
                fiber::spawn(move || {
                    rx.iter()
                        .fold((0usize, 0usize), |(s, c), v: usize| (s + v, c + 1))
                })
            })
            .collect();
        drop(rx);
        let producers: Vec<_> = (0..4)
            .map(|k| {
                let tx = tx.clone();
                fiber::spawn(move || {
                    for i in (k..N).step_by(4) {
                        tx.send(i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for p in producers {
            p.join().unwrap();
        }
        consumers
            .into_iter()
            .map(|c| c.join().unwrap())
            .fold((0, 0), |(s, c), (s2, c2)| (s + s2, c + c2))
    });
    assert_eq!(count, N);
    assert_eq!(sum, N * (N - 1) / 2);
}

#[test]
fn mpmc_across_threads_and_send_timeout() {
    let (tx, rx) = mpmc::unbounded();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || spindle::run(move || rx.iter().count()))
        })
        .collect();
    drop(rx);
    for i in 0..3_000 {
        tx.send(i).unwrap();
    }
    drop(tx);
    assert_eq!(
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .sum::<usize>(),
        3_000
    );

    let (tx, rx) = mpmc::bounded(1);
    tx.send(1).unwrap();
    assert_eq!(
        tx.send_timeout(2, Duration::from_millis(5)),
        Err(mpmc::SendTimeoutError::Timeout(2))
    );
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(tx.len(), 0);
    assert_eq!(tx.capacity(), Some(1));
    drop(rx);
    assert_eq!(
        tx.send_timeout(3, Duration::from_millis(5)),
        Err(mpmc::SendTimeoutError::Disconnected(3))
    );
}

#[test]
fn rendezvous_try_send_succeeds_only_when_a_receiver_waits() {
    // As `std::sync::mpsc::sync_channel(0)`: nobody receiving means full.
    util::run(|| {
        let (tx, rx) = mpmc::bounded(0);
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        assert_eq!(tx.len(), 0);
        let receiver = fiber::spawn(move || rx.recv());
        fiber::yield_now(); // the receiver parks in `recv`
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(receiver.join().unwrap(), Ok(2));
        assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
    });
}

#[test]
fn bounded_sender_parks_when_full_and_order_is_kept() {
    const N: usize = 500;
    let received = util::run(|| {
        let (tx, rx) = mpmc::bounded(2);
        assert_eq!(tx.capacity(), Some(2));
        let max_len = Arc::new(AtomicUsize::new(0));
        let receiver = {
            let max_len = max_len.clone();
            fiber::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv() {
                    max_len.fetch_max(rx.len(), Ordering::SeqCst);
                    got.push(v);
                    if got.len() % 7 == 0 {
                        fiber::yield_now();
                    }
                }
                got
            })
        };
        for i in 0..N {
            tx.send(i).unwrap();
            assert!(
                tx.len() <= 2,
                "a bounded channel held {} messages",
                tx.len()
            );
        }
        drop(tx);
        let got = receiver.join().unwrap();
        assert!(max_len.load(Ordering::SeqCst) <= 2);
        got
    });
    assert_eq!(received, (0..N).collect::<Vec<_>>());
}

#[test]
fn the_longest_waiting_receiver_gets_the_next_message() {
    let got = util::run(|| {
        let (tx, rx) = mpmc::unbounded();
        let receivers: Vec<_> = (0..3)
            .map(|k| {
                let rx = rx.clone();
                let receiver = fiber::spawn(move || (k, rx.recv().unwrap()));
                fiber::yield_now(); // receiver `k` parks before `k + 1` does
                receiver
            })
            .collect();
        for msg in ["first", "second", "third"] {
            tx.send(msg).unwrap();
        }
        receivers
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(got, [(0, "first"), (1, "second"), (2, "third")]);
}

#[test]
fn receivers_drain_the_buffer_then_see_disconnection() {
    let (tx, rx) = mpmc::bounded(4);
    let rx2 = rx.clone();
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    drop(tx);
    assert!(!rx.is_disconnected(), "a sender is left");
    tx2.send(3).unwrap();
    drop(tx2);
    assert!(rx.is_disconnected());
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx2.try_recv(), Ok(2));
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(3));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(
        rx2.recv_timeout(Duration::from_secs(5)),
        Err(RecvTimeoutError::Disconnected)
    );
}

#[test]
fn dropping_the_last_sender_wakes_every_parked_receiver() {
    let results = util::run(|| {
        let (tx, rx) = mpmc::bounded::<u32>(1);
        let receivers: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                fiber::spawn(move || rx.recv())
            })
            .collect();
        fiber::yield_now();
        let tx2 = tx.clone();
        drop(tx);
        fiber::yield_now();
        // One sender is left: nobody has been woken with an error.
        assert!(receivers.iter().all(|r| !r.is_finished()));
        drop(tx2);
        receivers
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(results, [Err(RecvError); 4]);
}

/// Counts its drops, to see buffered messages dropped.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_last_receiver_fails_parked_senders_and_drops_the_buffer() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let (buffered_dropped, returned) = util::run(move || {
        let (tx, rx) = mpmc::bounded(2);
        tx.send(Counted(d.clone())).unwrap();
        tx.send(Counted(d.clone())).unwrap();
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let (tx, d) = (tx.clone(), d.clone());
                fiber::spawn(move || match tx.send(Counted(d)) {
                    Ok(()) => panic!("sent into a channel with no receiver"),
                    // The message comes back to its sender, undropped.
                    Err(SendError(msg)) => drop(msg),
                })
            })
            .collect();
        fiber::yield_now(); // both senders park: the channel is full
        let rx2 = rx.clone();
        drop(rx);
        assert!(!tx.is_disconnected(), "a receiver is left");
        drop(rx2);
        assert!(tx.is_disconnected());
        let buffered_dropped = d.load(Ordering::SeqCst);
        let returned: Vec<_> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        assert!(matches!(
            tx.send_timeout(Counted(d.clone()), Duration::from_secs(5)),
            Err(SendTimeoutError::Disconnected(_))
        ));
        (buffered_dropped, returned)
    });
    assert_eq!(
        buffered_dropped, 2,
        "the two buffered messages are dropped with the last receiver"
    );
    assert_eq!(returned.len(), 2);
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}

#[test]
fn a_receiver_that_timed_out_leaves_the_queue_and_loses_nothing() {
    util::run(|| {
        let (tx, rx) = mpmc::unbounded();
        let impatient = {
            let rx = rx.clone();
            fiber::spawn(move || rx.recv_timeout(Duration::from_millis(10)))
        };
        let patient = fiber::spawn(move || rx.recv());
        assert_eq!(impatient.join().unwrap(), Err(RecvTimeoutError::Timeout));
        tx.send(7).unwrap();
        assert_eq!(patient.join().unwrap(), Ok(7));
    });
}

#[test]
fn send_timeout_gives_up_on_a_full_channel_then_succeeds_once_there_is_room() {
    util::run(|| {
        let (tx, rx) = mpmc::bounded(1);
        tx.send(1).unwrap();
        assert_eq!(
            tx.send_timeout(2, Duration::from_millis(10)),
            Err(SendTimeoutError::Timeout(2))
        );
        let drain = fiber::spawn(move || {
            fiber::sleep(Duration::from_millis(10));
            (rx.recv(), rx.recv())
        });
        assert_eq!(tx.send_timeout(3, Duration::from_secs(10)), Ok(()));
        assert_eq!(drain.join().unwrap(), (Ok(1), Ok(3)));
    });
}

/// Hammer: producers and consumers on fibers of two schedulers and on plain threads, for a
/// rendezvous, a bounded and an unbounded channel. Every message arrives exactly once, and each
/// consumer sees each producer's messages in the order they were sent.
#[test]
fn nothing_lost_or_duplicated_across_schedulers_and_threads() {
    const PER_PRODUCER: u64 = 2_000;
    const FIBER_PRODUCERS: usize = 2; // per scheduler
    const FIBER_CONSUMERS: usize = 2; // per scheduler
    const THREAD_PRODUCERS: usize = 2;
    const THREAD_CONSUMERS: usize = 1;
    const PRODUCERS: usize = 2 * FIBER_PRODUCERS + THREAD_PRODUCERS;
    const CONSUMERS: usize = 2 * FIBER_CONSUMERS + THREAD_CONSUMERS;

    for cap in [Some(0), Some(4), None] {
        let (tx, rx) = match cap {
            Some(cap) => mpmc::bounded::<(usize, u64)>(cap),
            None => mpmc::unbounded(),
        };
        // Exactly one handle per party, so the channel disconnects when the last one is done.
        let senders = Arc::new(Mutex::new(vec![tx.clone(); PRODUCERS - 1]));
        senders.lock().unwrap().push(tx);
        let receivers = Arc::new(Mutex::new(vec![rx.clone(); CONSUMERS - 1]));
        receivers.lock().unwrap().push(rx);

        let produce = |id: usize, tx: mpmc::Sender<(usize, u64)>, switch: fn()| {
            for seq in 0..PER_PRODUCER {
                tx.send((id, seq)).unwrap();
                if seq % 64 == 0 {
                    switch();
                }
            }
        };
        let consume = |rx: mpmc::Receiver<(usize, u64)>| -> Vec<(usize, u64)> {
            let mut got = Vec::new();
            let mut last = [None; PRODUCERS];
            for (id, seq) in rx {
                assert!(
                    last[id].is_none_or(|prev| prev < seq),
                    "producer {id}'s message {seq} came after {:?}",
                    last[id]
                );
                last[id] = Some(seq);
                got.push((id, seq));
            }
            got
        };
        let threads: Vec<_> = (0..THREAD_PRODUCERS + THREAD_CONSUMERS)
            .map(|k| {
                let (senders, receivers) = (senders.clone(), receivers.clone());
                thread::spawn(move || {
                    if k < THREAD_PRODUCERS {
                        let tx = senders.lock().unwrap().pop().unwrap();
                        produce(k, tx, thread::yield_now);
                        Vec::new()
                    } else {
                        consume(receivers.lock().unwrap().pop().unwrap())
                    }
                })
            })
            .collect();
        let fiber_side = util::on_thread(move || {
            let rt = Runtime::builder().threads(2).build().unwrap();
            rt.run_on_each(move |index| {
                let producers: Vec<_> = (0..FIBER_PRODUCERS)
                    .map(|k| {
                        let id = THREAD_PRODUCERS + index * FIBER_PRODUCERS + k;
                        let tx = senders.lock().unwrap().pop().unwrap();
                        fiber::spawn(move || produce(id, tx, fiber::yield_now))
                    })
                    .collect();
                let consumers: Vec<_> = (0..FIBER_CONSUMERS)
                    .map(|_| {
                        let rx = receivers.lock().unwrap().pop().unwrap();
                        fiber::spawn(move || consume(rx))
                    })
                    .collect();
                for p in producers {
                    p.join().unwrap();
                }
                consumers
                    .into_iter()
                    .flat_map(|c| c.join().unwrap())
                    .collect::<Vec<_>>()
            })
        });
        let mut all: Vec<(usize, u64)> = fiber_side.into_iter().flatten().collect();
        for t in threads {
            all.extend(t.join().unwrap());
        }
        all.sort_unstable();
        let expected: Vec<_> = (0..PRODUCERS)
            .flat_map(|id| (0..PER_PRODUCER).map(move |seq| (id, seq)))
            .collect();
        assert!(
            all == expected,
            "capacity {cap:?}: messages lost or duplicated"
        );
    }
}
