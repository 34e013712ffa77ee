//! `spindle::sync::mpsc`: fibers and threads in both directions, bounded
//! back-pressure, rendezvous, timeouts, disconnection.

use spindle::fiber;
use spindle::sync::Arc;
use spindle::sync::atomic::{AtomicUsize, Ordering};
use spindle::sync::mpsc::{
    self, RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError,
};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn plain_thread_to_fiber_keeps_order() {
    const N: u64 = 20_000;
    let (tx, rx) = mpsc::channel();
    let producer = thread::spawn(move || {
        for i in 0..N {
            tx.send(i).unwrap();
        }
    });
    let received = spindle::run(move || {
        let mut expected = 0;
        for v in rx.iter() {
            assert_eq!(v, expected);
            expected += 1;
        }
        expected
    });
    producer.join().unwrap();
    assert_eq!(received, N);
}

#[test]
fn fiber_to_plain_thread_over_a_bounded_channel() {
    const N: u64 = 20_000;
    let (tx, rx) = mpsc::sync_channel(8);
    let consumer = thread::spawn(move || rx.iter().sum::<u64>());
    spindle::run(move || {
        let senders: Vec<_> = (0..4)
            .map(|k| {
                let tx = tx.clone();
                fiber::spawn(move || {
                    for i in 0..N / 4 {
                        tx.send(k * (N / 4) + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for s in senders {
            s.join().unwrap();
        }
    });
    assert_eq!(consumer.join().unwrap(), N * (N - 1) / 2);
}

#[test]
fn two_runtimes_talk_both_ways() {
    let (ping_tx, ping_rx) = mpsc::sync_channel::<u32>(0);
    let (pong_tx, pong_rx) = mpsc::channel::<u32>();
    let echo = thread::spawn(move || {
        spindle::run(move || {
            for v in ping_rx {
                pong_tx.send(v + 1).unwrap();
            }
        })
    });
    let last = spindle::run(move || {
        let mut v = 0;
        for _ in 0..2_000 {
            ping_tx.send(v).unwrap();
            v = pong_rx.recv().unwrap();
        }
        v
    });
    echo.join().unwrap();
    assert_eq!(last, 2_000);
}

#[test]
fn fiber_ping_pong_on_a_rendezvous_channel() {
    let n = spindle::run(|| {
        let (a_tx, a_rx) = mpsc::sync_channel::<u32>(0);
        let (b_tx, b_rx) = mpsc::sync_channel::<u32>(0);
        let other = fiber::spawn(move || {
            while let Ok(v) = a_rx.recv() {
                b_tx.send(v + 1).unwrap();
            }
        });
        let mut v = 0;
        for _ in 0..1_000 {
            a_tx.send(v).unwrap();
            v = b_rx.recv().unwrap();
        }
        drop(a_tx);
        other.join().unwrap();
        v
    });
    assert_eq!(n, 1_000);
}

#[test]
fn bounded_channel_applies_back_pressure_to_fibers() {
    const CAP: usize = 3;
    spindle::run(|| {
        let (tx, rx) = mpsc::sync_channel(CAP);
        let sent = Arc::new(AtomicUsize::new(0));
        let producer = {
            let sent = sent.clone();
            fiber::spawn(move || {
                for i in 0..50 {
                    tx.send(i).unwrap();
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        for _ in 0..5 {
            fiber::yield_now();
        }
        // The producer filled the buffer and parks: no more than CAP got through.
        assert_eq!(sent.load(Ordering::SeqCst), CAP);
        for expected in 0..50 {
            assert_eq!(rx.recv().unwrap(), expected);
            let ahead = sent.load(Ordering::SeqCst).saturating_sub(expected + 1);
            assert!(ahead <= CAP, "{ahead} messages past the bound");
        }
        producer.join().unwrap();
    });
}

#[test]
fn try_send_and_try_recv_never_wait() {
    let (tx, rx) = mpsc::sync_channel(1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.try_send(1).unwrap();
    assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    assert_eq!(rx.try_recv(), Ok(1));
    drop(rx);
    assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));

    let (tx, rx) = mpsc::sync_channel(0);
    assert_eq!(
        tx.try_send(1),
        Err(TrySendError::Full(1)),
        "rendezvous with nobody receiving"
    );
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn recv_timeout_in_a_fiber_times_out_then_receives() {
    spindle::run(|| {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(20)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        let sender = fiber::spawn(move || {
            fiber::sleep(Duration::from_millis(5));
            tx.send(9).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Ok(9));
        sender.join().unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(60)),
            Err(RecvTimeoutError::Disconnected)
        );
    });
}

#[test]
fn dropping_the_last_sender_wakes_a_parked_receiver() {
    spindle::run(|| {
        let (tx, rx) = mpsc::channel::<u8>();
        let tx2 = tx.clone();
        let receiver = fiber::spawn(move || rx.recv());
        fiber::yield_now();
        drop(tx);
        fiber::yield_now();
        assert!(!receiver.is_finished(), "woken while a sender is left");
        drop(tx2);
        assert_eq!(receiver.join().unwrap(), Err(RecvError));
    });
}

#[test]
fn dropping_the_receiver_wakes_a_parked_sender_with_its_message() {
    spindle::run(|| {
        let (tx, rx) = mpsc::sync_channel(1);
        tx.send(String::from("buffered")).unwrap();
        let sender = fiber::spawn(move || tx.send(String::from("blocked")));
        fiber::yield_now();
        drop(rx);
        assert_eq!(
            sender.join().unwrap(),
            Err(SendError(String::from("blocked")))
        );
    });
}

#[test]
fn dropping_the_receiver_drops_buffered_messages() {
    let token = Arc::new(());
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        tx.send(token.clone()).unwrap();
    }
    assert_eq!(Arc::strong_count(&token), 4);
    drop(rx);
    assert_eq!(Arc::strong_count(&token), 1);
    assert!(tx.send(token.clone()).is_err());
}

#[test]
fn plain_thread_receiver_is_woken_by_a_fiber_and_by_disconnection() {
    let (tx, rx) = mpsc::channel::<u32>();
    let receiver = thread::spawn(move || {
        let first = rx.recv();
        let second = rx.recv();
        (first, second)
    });
    spindle::run(move || {
        fiber::sleep(Duration::from_millis(5));
        tx.send(1).unwrap();
        fiber::sleep(Duration::from_millis(5));
    });
    assert_eq!(receiver.join().unwrap(), (Ok(1), Err(RecvError)));
}

#[test]
fn try_iter_and_into_iter() {
    let (tx, rx) = mpsc::channel();
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(rx.try_iter().next(), None);
    tx.send(3).unwrap();
    drop(tx);
    assert_eq!(rx.into_iter().collect::<Vec<_>>(), [3]);
}
