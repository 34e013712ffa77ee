//! Model checks of the channel state machine under every interleaving loom can find.
//! Run with:
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p spindle-sync --release --test loom_channel`
#![cfg(loom)]

use loom::thread;
use spindle_sync::{mpmc, mpsc};

#[test]
fn unbounded_send_then_disconnect() {
    loom::model(|| {
        let (tx, rx) = mpsc::channel();
        let t = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert!(rx.recv().is_err());
        t.join().unwrap();
    });
}

#[test]
fn rendezvous_hand_off() {
    loom::model(|| {
        let (tx, rx) = mpsc::sync_channel(0);
        let t = thread::spawn(move || tx.send(7).unwrap());
        assert_eq!(rx.recv(), Ok(7));
        t.join().unwrap();
    });
}

#[test]
fn bounded_back_pressure() {
    loom::model(|| {
        let (tx, rx) = mpsc::sync_channel(1);
        let t = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        t.join().unwrap();
    });
}

#[test]
fn receiver_drop_wakes_blocked_sender() {
    loom::model(|| {
        let (tx, rx) = mpsc::sync_channel(0);
        let t = thread::spawn(move || tx.send(1));
        drop(rx);
        assert_eq!(t.join().unwrap(), Err(mpsc::SendError(1)));
    });
}

#[test]
fn two_receivers_get_each_message_once() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let (tx, rx) = mpmc::bounded(1);
        let rx2 = rx.clone();
        let t = thread::spawn(move || rx2.recv().ok());
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        drop(tx);
        let mine = rx.recv().ok();
        let theirs = t.join().unwrap();
        let mut got: Vec<_> = [mine, theirs].into_iter().flatten().collect();
        // The main thread may take both before the other receiver runs.
        if got.len() == 1 {
            got.extend(rx.recv().ok());
        }
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}
