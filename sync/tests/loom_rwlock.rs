//! Model checks of `RwLock`'s lock word and FIFO hand-off (see `sync/src/raw_rwlock.rs`)
//! under every interleaving loom finds within the preemption bound. The protected value is a
//! loom cell, so a reader that overlaps a writer, or a hand-off that does not order one
//! holder's accesses before the next one's, fails the model. Run with:
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p spindle-sync --release --test loom_rwlock`
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use spindle_sync::{RwLock, RwLockWriteGuard};

/// A counter that loom watches; shared only through the `RwLock` under test.
struct Cell(UnsafeCell<usize>);

// SAFETY: every access goes through a guard of the lock under test; loom reports any access
// that the lock fails to order.
unsafe impl Sync for Cell {}

impl Cell {
    fn new() -> Cell {
        Cell(UnsafeCell::new(0))
    }

    fn get(&self) -> usize {
        self.0.with(|p| {
            // SAFETY: a read guard is held (loom checks that no write overlaps).
            unsafe { *p }
        })
    }

    fn bump(&self) {
        self.0.with_mut(|p| {
            // SAFETY: the write guard is held (loom checks that nothing overlaps).
            unsafe { *p += 1 }
        })
    }
}

fn bounded(bound: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder
}

#[test]
fn two_readers_and_a_writer_never_overlap() {
    bounded(3).check(|| {
        let lock = Arc::new(RwLock::new(Cell::new()));
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || lock.write().unwrap().bump())
        };
        let reader = {
            let lock = lock.clone();
            thread::spawn(move || lock.read().unwrap().get())
        };
        let seen = lock.read().unwrap().get();
        assert!(seen <= 1);
        assert!(reader.join().unwrap() <= 1);
        writer.join().unwrap();
        assert_eq!(lock.read().unwrap().get(), 1);
    });
}

#[test]
fn the_last_reader_out_hands_the_lock_to_a_queued_writer() {
    // Two readers hold the lock while a writer queues: whichever reader leaves last (or the
    // writer itself, finding the "readers gone, hand-off pending" state) must give it the
    // lock, and its write must come after both reads.
    bounded(3).check(|| {
        let lock = Arc::new(RwLock::new(Cell::new()));
        let first = lock.read().unwrap();
        let reader = {
            let lock = lock.clone();
            thread::spawn(move || lock.read().unwrap().get())
        };
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || lock.write().unwrap().bump())
        };
        assert_eq!(first.get(), 0);
        drop(first);
        assert!(reader.join().unwrap() <= 1);
        writer.join().unwrap();
        assert_eq!(lock.read().unwrap().get(), 1);
    });
}

#[test]
fn two_writers_hand_off_in_turn() {
    bounded(3).check(|| {
        let lock = Arc::new(RwLock::new(Cell::new()));
        let other = {
            let lock = lock.clone();
            thread::spawn(move || lock.write().unwrap().bump())
        };
        lock.write().unwrap().bump();
        other.join().unwrap();
        assert_eq!(lock.read().unwrap().get(), 2);
    });
}

#[test]
fn downgrade_lets_a_queued_reader_in_with_the_writer() {
    bounded(3).check(|| {
        let lock = Arc::new(RwLock::new(Cell::new()));
        let reader = {
            let lock = lock.clone();
            thread::spawn(move || lock.read().unwrap().get())
        };
        let guard = lock.write().unwrap();
        guard.bump();
        let read = RwLockWriteGuard::downgrade(guard);
        assert_eq!(read.get(), 1);
        // The reader may hold its share now, together with `read`.
        let seen = reader.join().unwrap();
        assert!(seen <= 1);
        drop(read);
        assert!(lock.try_write().is_ok());
    });
}

#[test]
fn try_write_fails_while_a_reader_holds_and_try_read_while_a_writer_does() {
    loom::model(|| {
        let lock = Arc::new(RwLock::new(Cell::new()));
        let other = {
            let lock = lock.clone();
            thread::spawn(move || {
                if let Ok(guard) = lock.try_write() {
                    guard.bump();
                    true
                } else {
                    false
                }
            })
        };
        let read = lock.try_read().ok().map(|guard| guard.get());
        let wrote = other.join().unwrap();
        // Each try fails only because the other held the lock at that moment.
        assert!(wrote || read.is_some());
        assert_eq!(lock.read().unwrap().get(), usize::from(wrote));
    });
}
