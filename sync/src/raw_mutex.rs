//! The mutex state machine: one lock word plus a FIFO of parked waiters.
//!
//! # The lock word
//!
//! | `QUEUED` (bit 1) | `LOCKED` (bit 0) | meaning                                                        |
//! |:---:|:---:|-------------------------------------------------------------------------------------|
//! | 0 | 0 | unlocked, no waiter. `lock` is one `compare_exchange(word → word \| LOCKED)`              |
//! | 0 | 1 | locked, no waiter queued. `unlock` is one `compare_exchange(word → word & !LOCKED)`       |
//! | 1 | 1 | locked, waiters queued. `unlock` takes the slow path (hand-off or release, see below)     |
//! | 1 | 0 | unlocked, waiters queued: released to let a running locker barge; the woken head waiter competes for it |
//!
//! `WOKEN` (bit 2) is set while a waiter woken to compete is on its way (it clears it when
//! it takes the lock or queues again, or when it is unwound); meanwhile an unlock that
//! releases wakes nobody else.
//!
//! Both fast paths load the word before their `compare_exchange` (an L1 hit when
//! uncontended), so a contended `lock` or `unlock` goes to its slow path without a
//! failing read-modify-write.
//!
//! `QUEUED` is set and cleared only while holding the queue's spin lock, and is set iff
//! the queue is non-empty whenever that lock is free. A would-be waiter sets it with a
//! `compare_exchange` that also checks `LOCKED`, so it never queues behind an unlocked
//! mutex; with `QUEUED` set the uncontended unlock fails its `compare_exchange` and must
//! look at the queue, so no wake-up is lost.
//!
//! # Who gets the lock at unlock
//!
//! With waiters queued, `unlock` either **hands off** — ownership passes directly to the
//! head of the FIFO, which wakes up already holding it — or **releases** it and wakes the
//! head to compete, so that a locker already running may take it first ("barging"):
//!
//! | head waiter                                   | what `unlock` does                  |
//! |-----------------------------------------------|-------------------------------------|
//! | a fiber of the unlocker's own scheduler       | hand-off                            |
//! | on another thread, fairness deadline passed   | hand-off, next deadline in 0.5 ms    |
//! | on another thread, before the deadline        | release and wake it                 |
//!
//! Hand-off among the fibers of one thread is what keeps a 1:N runtime fair: the unlocking
//! fiber keeps its thread until it parks, so with barging it would win every re-lock and
//! the woken fiber would find the mutex taken again, every time. Across threads the same
//! strict hand-off makes a convoy: every acquisition waits for a remote thread to be woken
//! and scheduled (microseconds) while the lock sits idle. There, running lockers may barge,
//! and at least every 0.5 ms the head waiter is served by a hand-off (eventual fairness, as
//! in parking_lot). A woken waiter that loses the race queues again. While a woken waiter
//! is on its way, an unlock looks at the clock only every 16th time (a clock reading costs
//! a dozen lock and unlock pairs on a VM), so the deadline may be passed by up to 16
//! critical sections.
//!
//! A locker that finds the mutex held checks it a few more times before it queues when
//! parking would only put its thread to sleep (a plain thread, or a fiber whose scheduler
//! has nothing else to run) and nobody is queued yet: a holder on another thread may be
//! about to release. Only a few, and not behind queued waiters: a locker that keeps polling pulls the lock's cache line away from a holder that
//! re-locks at once, and the lock then ping-pongs between the cores at a cache miss per
//! acquisition, where a loser that goes to sleep leaves the winner a run of uncontended
//! acquisitions (measured below `SPINS`).

use crate::shim::{
    AtomicU8, Ordering, clock_nanos, consume_budget, loom_const_fn, may_spin, scheduler_id,
};
use crate::spin::SpinLock;
use crate::waiter::{List, OnUnwind, Waiter};
use std::fmt;
use std::pin::pin;

const LOCKED: u8 = 0b001;
const QUEUED: u8 = 0b010;
/// A waiter was woken to compete for a released lock and has not yet taken it or queued
/// again; while it is set, an unlock wakes nobody else.
const WOKEN: u8 = 0b100;

/// How often a waiter on another thread is served by a hand-off, at least.
const FAIR_INTERVAL_NANOS: u64 = 500_000;
/// While a woken waiter is on its way, an unlock with a remote head waiter reads the clock
/// (60 ns on a VM, where a lock and unlock take 5) only every this many times.
const CLOCK_EVERY: u8 = 16;
/// Checks of the lock word a locker makes while spinning before it queues. 1,000,000
/// increments from one fiber on each of two schedulers, both threads running at once
/// (`chrt -f 10 target/release/examples/contended_mutex`, this project's 2-core VM,
/// where a `pause` costs 70 ns), medians of 7 in two runs each: 0 checks 10.8 ms, 4:
/// 11.1–11.8 ms, 8: 13.4–14.4 ms, 16 to 32: 22.6–28.1 ms; `std::sync::Mutex` on two
/// threads 23–26 ms in the same runs. Four fibers on each scheduler: 20–23 ms for 0 to 16
/// checks, 27–28 ms for 32.
const SPINS: u32 = 4;

/// What a queued waiter tells the unlocker, and what the unlocker answers.
#[derive(Debug, Default)]
struct Wait {
    /// The waiter's scheduler (`None`: a plain thread).
    scheduler: Option<u32>,
    /// Set by the unlocker: the lock was handed over (else: released, compete for it).
    handed: bool,
}

/// The wait queue and the fairness deadline, under the mutex's spin lock.
struct Queue {
    list: List<Wait>,
    /// `clock_nanos()` after which the next unlock hands off to a remote head waiter.
    fair_at: u64,
    /// Unlocks that skipped the clock since it was last read (see [`CLOCK_EVERY`]).
    unclocked: u8,
}

fn list(queue: &mut Queue) -> &mut List<Wait> {
    &mut queue.list
}

/// A mutex without data: the lock word and its wait queue.
pub(crate) struct RawMutex {
    word: AtomicU8,
    queue: SpinLock<Queue>,
}

impl RawMutex {
    loom_const_fn! {
        pub(crate) fn new() -> RawMutex {
            RawMutex {
                word: AtomicU8::new(0),
                queue: SpinLock::new(Queue { list: List::new(), fair_at: 0, unclocked: 0 }),
            }
        }
    }

    /// Acquires the lock, parking the calling fiber (or thread) while it is held. Counts
    /// against the fiber's cooperative budget first, so a fiber that locks and unlocks in a
    /// loop still lets the others run.
    #[inline]
    pub(crate) fn lock(&self) {
        consume_budget();
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    /// Acquires the lock if it is free (`LOCKED` clear, even with waiters queued: a lock
    /// released for its waiters to compete for goes to whoever takes it first).
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        // Looking first spares the contended case a failing compare-exchange.
        let word = self.word.load(Ordering::Relaxed);
        word & LOCKED == 0
            && self
                .word
                .compare_exchange(word, word | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Releases the lock, handing it to the longest waiter or waking it (see the module
    /// docs).
    #[inline]
    pub(crate) fn unlock(&self) {
        // Looking first spares the contended case a failing compare-exchange. With nobody
        // queued there is nobody to hand off to or wake (a waiter woken earlier, `WOKEN`,
        // is on its way and stays marked): clear `LOCKED` alone.
        let word = self.word.load(Ordering::Relaxed);
        if word & QUEUED != 0
            || self
                .word
                .compare_exchange(word, word & !LOCKED, Ordering::Release, Ordering::Relaxed)
                .is_err()
        {
            self.unlock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        // Whether this locker is the one an unlock woke to compete (`WOKEN` stands for it).
        let mut woken = false;
        loop {
            // Not while others are queued (as parking_lot): the lock is already contended,
            // and a spinner that wins only makes it change cores once more.
            if may_spin() && self.word.load(Ordering::Relaxed) & QUEUED == 0 {
                for _ in 0..SPINS {
                    std::hint::spin_loop();
                    if self.try_lock() {
                        if woken {
                            self.word.fetch_and(!WOKEN, Ordering::Relaxed);
                        }
                        return;
                    }
                }
            }
            if self.queue_and_park(woken) {
                return;
            }
            // Woken to compete for a released lock: go round.
            woken = true;
        }
    }

    /// Queues the caller (unless the lock is free) and parks it. Returns whether it holds
    /// the lock: `false` when it was woken to compete for a released lock. `woken`: the
    /// caller is the waiter `WOKEN` stands for, and clears it as it takes the lock or queues.
    fn queue_and_park(&self, woken: bool) -> bool {
        let clear = if woken { WOKEN } else { 0 };
        let wait = Wait {
            scheduler: scheduler_id(),
            handed: false,
        };
        let waiter = pin!(Waiter::new("Mutex", &self.queue, list, wait));
        {
            let mut queue = self.queue.lock();
            let mut word = self.word.load(Ordering::Relaxed);
            loop {
                if word & LOCKED == 0 {
                    // Free (possibly with waiters queued, woken to compete): take it.
                    match self.word.compare_exchange_weak(
                        word,
                        (word | LOCKED) & !clear,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return true,
                        Err(now) => word = now,
                    }
                } else {
                    match self.word.compare_exchange_weak(
                        word,
                        (word | QUEUED) & !clear,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(now) => word = now,
                    }
                }
            }
            waiter.as_ref().enqueue(&mut queue);
        }
        // If we are unwound while parked, a hand-off (or a wake-up to compete) that reached
        // us must be passed on.
        let on_unwind = OnUnwind(|| self.abandon(waiter.as_ref()));
        waiter.as_ref().park(None);
        on_unwind.disarm();
        waiter.take_payload().handed
    }

    #[cold]
    fn unlock_contended(&self) {
        let mut queue = self.queue.lock();
        // We hold `LOCKED` and the queue lock: nobody else changes the word meanwhile (a
        // locker's compare-exchange fails on `LOCKED`; `QUEUED` and `WOKEN` change only under
        // the queue lock or by the holder).
        let word = self.word.load(Ordering::Relaxed);
        let me = scheduler_id();
        let hand_off = match queue.list.front() {
            None => false,
            Some(head) if me.is_some() && head.scheduler == me => true,
            // Nobody would be woken (one is on its way): the deadline may be looked at
            // every few unlocks, which stretches it by as many (short) critical sections.
            Some(_) if word & WOKEN != 0 && queue.unclocked < CLOCK_EVERY => {
                queue.unclocked += 1;
                false
            }
            Some(_) => {
                queue.unclocked = 0;
                let now = clock_nanos();
                let due = now >= queue.fair_at;
                if due {
                    queue.fair_at = now.saturating_add(FAIR_INTERVAL_NANOS);
                }
                due
            }
        };
        // Released: wake the head to compete, unless a waiter woken earlier is still on its
        // way (it will compete; waking more would only cost wake-ups).
        let wake_one = !hand_off && word & WOKEN == 0 && !queue.list.is_empty();
        let pops = hand_off || wake_one;
        let left = queue.list.len() - usize::from(pops);
        let mut next = word & WOKEN;
        if hand_off {
            next |= LOCKED;
        }
        if wake_one {
            next |= WOKEN;
        }
        if left > 0 {
            next |= QUEUED;
        }
        // Store the word before marking the waiter notified: once notified it may unlock
        // at once, and must find `LOCKED` (and `QUEUED` if others still wait) in place.
        self.word.store(next, Ordering::Release);
        let woken = if pops {
            queue.list.pop_front_with(|wait| wait.handed = hand_off)
        } else {
            None
        };
        drop(queue);
        if let Some(((), wake)) = woken {
            wake.wake();
        }
    }

    /// A queued waiter is being unwound: leave the queue, or pass on what reached it.
    fn abandon(&self, waiter: std::pin::Pin<&Waiter<'_, Queue, Wait>>) {
        let mut queue = self.queue.lock();
        if waiter.cancel(&mut queue) {
            if queue.list.is_empty() {
                self.word.fetch_and(!QUEUED, Ordering::Relaxed);
            }
        } else {
            drop(queue);
            if waiter.take_payload().handed {
                self.unlock();
            } else {
                // We were woken to compete for a released lock and leave instead: pass the
                // wake-up on, or the next waiter could sleep on a free lock.
                self.wake_next_if_free();
            }
        }
    }

    /// The waiter `WOKEN` stands for gives up: clears `WOKEN` and, if the lock is free and
    /// waiters are queued, wakes the head to compete in its place. Under the queue lock, so
    /// that an unlocker's store of the word (also under it) cannot bring `WOKEN` back.
    fn wake_next_if_free(&self) {
        let mut queue = self.queue.lock();
        let word = self.word.fetch_and(!WOKEN, Ordering::Relaxed) & !WOKEN;
        if word & LOCKED != 0 || queue.list.is_empty() {
            return;
        }
        // Under the queue lock only a locker's compare-exchange (setting `LOCKED`) can race
        // with us: set `WOKEN` (and clear `QUEUED` for the last waiter) without losing it.
        let clear = if queue.list.len() == 1 { QUEUED } else { 0 };
        let mut word = word;
        loop {
            match self.word.compare_exchange_weak(
                word,
                (word | WOKEN) & !clear,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) if now & LOCKED != 0 => return,
                Err(now) => word = now,
            }
        }
        let woken = queue.list.pop_front_with(|wait| wait.handed = false);
        drop(queue);
        if let Some(((), wake)) = woken {
            wake.wake();
        }
    }
}

impl fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMutex")
            .field("word", &self.word.load(Ordering::Relaxed))
            .finish()
    }
}
