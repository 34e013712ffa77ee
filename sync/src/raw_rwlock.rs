//! The reader-writer lock state machine: one word plus a FIFO of parked readers and writers.
//!
//! # The lock word
//!
//! Bits 2.. count the readers holding the lock (`READER` = 4 per reader).
//!
//! | readers | `WRITER` (bit 0) | `QUEUED` (bit 1) | meaning                                                      |
//! |:---:|:---:|:---:|---------------------------------------------------------------------------------|
//! | 0   | 0 | 0 | free. `write` is one `compare_exchange(0 → WRITER)`; `read` one CAS adding `READER`   |
//! | n   | 0 | 0 | n readers, nobody waiting. Another reader joins with one CAS                          |
//! | 0   | 1 | 0 | one writer, nobody waiting. Its unlock is one `compare_exchange(WRITER → 0)`         |
//! | 0   | 1 | 1 | one writer, waiters queued. Its unlock hands the lock to the head of the queue       |
//! | n   | 0 | 1 | n readers and a queued writer (maybe readers behind it). New readers queue too, so a writer is never starved; the last reader out hands off |
//! | 0   | 0 | 1 | transient: the last reader has left and is about to hand off. Whoever next holds the queue lock and sees it performs the hand-off |
//!
//! `QUEUED` changes only under the queue's spin lock and is set iff the queue is
//! non-empty whenever that lock is free. While it is set, no fast path can acquire the lock
//! and only readers leaving change the word, so a holder of the queue lock sees a stable
//! word once the reader count reaches 0.
//!
//! # Who wins a hand-off
//!
//! The head of the FIFO. If it is a writer, it alone gets the lock (`WRITER` is set on its
//! behalf before it wakes). If it is a reader, it and every reader directly behind it
//! (up to the first queued writer) get the lock together. Readers that arrive while anyone
//! is queued queue too, so the order of arrival decides, and neither side starves.

use crate::shim::{AtomicUsize, Ordering, consume_budget, fence, loom_const_fn};
use crate::spin::SpinLock;
use crate::waiter::{List, OnUnwind, Waiter, WakeBatch};
use std::fmt;
use std::pin::{Pin, pin};

const WRITER: usize = 0b01;
const QUEUED: usize = 0b10;
const READER: usize = 0b100;
const MAX_READERS: usize = usize::MAX / READER / 2;

/// What a queued waiter wants: `true` for the write lock.
type IsWriter = bool;
type Queue = List<IsWriter>;

/// A reader-writer lock without data.
pub(crate) struct RawRwLock {
    word: AtomicUsize,
    queue: SpinLock<Queue>,
}

fn list(queue: &mut Queue) -> &mut Queue {
    queue
}

impl RawRwLock {
    loom_const_fn! {
        pub(crate) fn new() -> RawRwLock {
            RawRwLock { word: AtomicUsize::new(0), queue: SpinLock::new(List::new()) }
        }
    }

    /// Takes a read lock if nobody writes or waits.
    #[inline]
    pub(crate) fn try_read(&self) -> bool {
        let mut word = self.word.load(Ordering::Relaxed);
        while word & (WRITER | QUEUED) == 0 {
            assert!(
                word / READER < MAX_READERS,
                "too many active read locks on RwLock"
            );
            match self.word.compare_exchange_weak(
                word,
                word + READER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
        false
    }

    /// Takes a read lock, parking while a writer holds it or anyone is queued.
    #[inline]
    pub(crate) fn read(&self) {
        consume_budget();
        if !self.try_read() {
            self.lock_contended(false);
        }
    }

    /// Takes the write lock if the lock is free.
    #[inline]
    pub(crate) fn try_write(&self) -> bool {
        // Looking first spares the contended case a failing compare-exchange.
        self.word.load(Ordering::Relaxed) == 0
            && self
                .word
                .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Takes the write lock, parking while anyone holds it.
    #[inline]
    pub(crate) fn write(&self) {
        consume_budget();
        if !self.try_write() {
            self.lock_contended(true);
        }
    }

    /// Releases one read lock.
    #[inline]
    pub(crate) fn read_unlock(&self) {
        let before = self.word.fetch_sub(READER, Ordering::Release);
        if before == READER | QUEUED {
            // Last reader out with waiters queued: order the other readers' critical
            // sections before the hand-off.
            fence(Ordering::Acquire);
            self.unlock_contended();
        }
    }

    /// Releases the write lock.
    #[inline]
    pub(crate) fn write_unlock(&self) {
        if self.word.load(Ordering::Relaxed) != WRITER
            || self
                .word
                .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
                .is_err()
        {
            // QUEUED is set: the lock goes to the queue.
            let mut queue = self.queue.lock();
            let mut batch = WakeBatch::new();
            self.hand_off(&mut queue, &mut batch);
            drop(queue);
        }
    }

    /// Turns the held write lock into a read lock, letting queued readers at the head of
    /// the queue in with it.
    pub(crate) fn downgrade(&self) {
        if self
            .word
            .compare_exchange(WRITER, READER, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            let mut queue = self.queue.lock();
            let mut batch = WakeBatch::new();
            self.admit_readers(&mut queue, &mut batch, 1);
            drop(queue);
        }
    }

    #[cold]
    fn unlock_contended(&self) {
        let mut queue = self.queue.lock();
        let mut batch = WakeBatch::new();
        if self.word.load(Ordering::Relaxed) == QUEUED {
            self.hand_off(&mut queue, &mut batch);
        }
        drop(queue);
    }

    /// Gives the lock, which nobody holds any more, to the head of the queue (see the
    /// module docs). Runs under the queue lock; wakes happen when `batch` drops.
    ///
    /// The word is stored before any waiter is marked notified: a waiter that sees its
    /// notification early (a spurious wake-up) may unlock at once, and must find the word
    /// already counting it.
    fn hand_off(&self, queue: &mut Queue, batch: &mut WakeBatch) {
        match queue.front() {
            None => self.word.store(0, Ordering::Release),
            Some(&true) => {
                let rest = if queue.len() > 1 { QUEUED } else { 0 };
                self.word.store(WRITER | rest, Ordering::Release);
                let ((), wake) = queue.pop_front_with(|_| ()).expect("front exists");
                batch.push(wake);
            }
            Some(&false) => self.admit_readers(queue, batch, 0),
        }
    }

    /// Stores a word of `held + k` readers, where k readers at the head of the queue (up
    /// to the first writer) are dequeued and woken.
    fn admit_readers(&self, queue: &mut Queue, batch: &mut WakeBatch, held: usize) {
        let readers = queue.count_front_while(|writer| !writer);
        let rest = if queue.len() > readers { QUEUED } else { 0 };
        self.word
            .store(((held + readers) * READER) | rest, Ordering::Release);
        for _ in 0..readers {
            let ((), wake) = queue.pop_front_with(|_| ()).expect("counted reader");
            batch.push(wake);
        }
    }

    #[cold]
    fn lock_contended(&self, writer: bool) {
        let waiter = pin!(Waiter::new("RwLock", &self.queue, list, writer));
        {
            let mut queue = self.queue.lock();
            let mut word = self.word.load(Ordering::Relaxed);
            loop {
                let (free, acquired) = if writer {
                    (word == 0, WRITER)
                } else {
                    (word & (WRITER | QUEUED) == 0, word + READER)
                };
                let (new, order) = if word == QUEUED {
                    // A last reader left and has not handed off yet: do it for it. The word
                    // was read Relaxed; order the readers' critical sections (their Release
                    // decrements) before the hand-off, as `read_unlock` does for the last
                    // reader. Found by the loom model `two_readers_and_a_writer_never_overlap`.
                    fence(Ordering::Acquire);
                    let mut batch = WakeBatch::new();
                    self.hand_off(&mut queue, &mut batch);
                    word = self.word.load(Ordering::Relaxed);
                    continue;
                } else if free {
                    (acquired, Ordering::Acquire)
                } else {
                    (word | QUEUED, Ordering::Relaxed)
                };
                match self
                    .word
                    .compare_exchange_weak(word, new, order, Ordering::Relaxed)
                {
                    Ok(_) if free => return,
                    Ok(_) => break,
                    Err(now) => word = now,
                }
            }
            waiter.as_ref().enqueue(&mut queue);
        }
        let on_unwind = OnUnwind(|| self.abandon(waiter.as_ref(), writer));
        waiter.as_ref().park(None);
        on_unwind.disarm();
        // Notified: the lock was handed to us (`WRITER` or our `READER` share is set).
    }

    /// A queued waiter is being unwound: leave the queue, or give back what was handed over.
    fn abandon(&self, waiter: Pin<&Waiter<'_, Queue, IsWriter>>, writer: bool) {
        let mut queue = self.queue.lock();
        if waiter.cancel(&mut queue) {
            if queue.is_empty() {
                // From the transient "readers gone, hand-off pending" state this frees the
                // lock; the last reader then finds nothing left to hand off.
                self.word.fetch_and(!QUEUED, Ordering::Relaxed);
            }
        } else {
            drop(queue);
            if writer {
                self.write_unlock()
            } else {
                self.read_unlock()
            }
        }
    }
}

impl fmt::Debug for RawRwLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRwLock")
            .field("word", &self.word.load(Ordering::Relaxed))
            .finish()
    }
}
