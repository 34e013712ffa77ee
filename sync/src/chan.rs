//! The channel under [`mpsc`](crate::mpsc) and [`mpmc`](crate::mpmc): a buffer and two
//! FIFOs of parked fibers, all behind one spin lock.
//!
//! # State
//!
//! | `recv_waiters` | `send_waiters` | `buf`                | meaning                                          |
//! |---|---|---|---|
//! | empty     | empty     | 0 ..= cap            | nobody waits; `send` pushes, `recv` pops          |
//! | non-empty | empty     | empty                | receivers wait for a message                      |
//! | empty     | non-empty | full (`cap` items)   | senders wait for room (for `cap == 0`: for a receiver) |
//!
//! Both queues are never non-empty at once, and a message is handed over directly
//! whenever a waiter is queued:
//!
//! * `send` with a receiver queued writes the message into the receiver's node and wakes
//!   it (the message never touches `buf`); otherwise it pushes to `buf` if there is room,
//!   otherwise it queues with the message in its node.
//! * `recv` pops `buf`; the room it makes goes to the longest-waiting sender, whose
//!   message moves into `buf`'s tail (order is kept) before it wakes. With `cap == 0`
//!   (rendezvous), `recv` takes the message straight out of the head sender's node.
//!
//! So the longest waiter always wins, and a woken receiver already holds its message: no
//! other receiver can take it in between. Disconnection wakes everyone: when the last
//! sender goes, queued receivers wake with an empty node and re-check (`buf` is empty
//! then, so they see `Disconnected`); when the last receiver goes, queued senders wake
//! with their message still in their node (that is their error) and buffered messages are
//! dropped, as in `std`.
//!
//! A waiting `send` or `recv` counts against the fiber's cooperative budget before it looks
//! at the channel, so a receiver that never finds its channel empty (or a sender that never
//! finds it full) still yields to the other fibers now and then; `try_send`/`try_recv`
//! never yield.

use crate::shim::{consume_budget, loom_const_fn};
use crate::spin::SpinLock;
use crate::waiter::{List, OnUnwind, Waiter, WakeBatch};
use std::collections::VecDeque;
use std::fmt;
use std::pin::{Pin, pin};
use std::sync::mpsc::{RecvTimeoutError, SendError, TryRecvError, TrySendError};
use std::time::Instant;

/// The deadline `timeout` from now; `None` (wait forever) if that overflows, as std does.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// How long an operation may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Block {
    /// Do not wait (`try_*`).
    No,
    /// Wait until the deadline, forever if `None`.
    Until(Option<Instant>),
}

/// Why a send did not happen; carries the message back.
#[derive(Debug)]
pub(crate) enum SendFail<T> {
    Full(T),
    Disconnected(T),
    Timeout(T),
}

/// Why a receive did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvFail {
    Empty,
    Disconnected,
    Timeout,
}

impl<T> SendFail<T> {
    /// As `std`'s error of a waiting send (which fails only on disconnection).
    pub(crate) fn into_send_error(self) -> SendError<T> {
        match self {
            SendFail::Full(t) | SendFail::Disconnected(t) | SendFail::Timeout(t) => SendError(t),
        }
    }

    /// As `std`'s error of `try_send`.
    pub(crate) fn into_try_send_error(self) -> TrySendError<T> {
        match self {
            SendFail::Full(t) | SendFail::Timeout(t) => TrySendError::Full(t),
            SendFail::Disconnected(t) => TrySendError::Disconnected(t),
        }
    }
}

impl RecvFail {
    /// As `std`'s error of `try_recv`.
    pub(crate) fn into_try_recv_error(self) -> TryRecvError {
        match self {
            RecvFail::Disconnected => TryRecvError::Disconnected,
            RecvFail::Empty | RecvFail::Timeout => TryRecvError::Empty,
        }
    }

    /// As `std`'s error of `recv_timeout`.
    pub(crate) fn into_recv_timeout_error(self) -> RecvTimeoutError {
        match self {
            RecvFail::Disconnected => RecvTimeoutError::Disconnected,
            RecvFail::Empty | RecvFail::Timeout => RecvTimeoutError::Timeout,
        }
    }
}

type Queue<T> = List<Option<T>>;

struct State<T> {
    buf: VecDeque<T>,
    /// `usize::MAX` for an unbounded channel.
    cap: usize,
    senders: usize,
    receivers: usize,
    recv_waiters: Queue<T>,
    send_waiters: Queue<T>,
}

fn recv_list<T>(state: &mut State<T>) -> &mut Queue<T> {
    &mut state.recv_waiters
}

fn send_list<T>(state: &mut State<T>) -> &mut Queue<T> {
    &mut state.send_waiters
}

/// A channel shared by its senders and receivers (behind an `Arc`).
pub(crate) struct Chan<T> {
    state: SpinLock<State<T>>,
}

impl<T> Chan<T> {
    loom_const_fn! {
        /// A channel with one sender and one receiver; `cap` is `None` when unbounded.
        pub(crate) fn new(cap: Option<usize>) -> Chan<T> {
            let cap = match cap {
                Some(cap) => cap,
                None => usize::MAX,
            };
            Chan {
                state: SpinLock::new(State {
                    buf: VecDeque::new(),
                    cap,
                    senders: 1,
                    receivers: 1,
                    recv_waiters: List::new(),
                    send_waiters: List::new(),
                }),
            }
        }
    }

    /// Sends `value`, waiting for room (or a receiver) as `block` allows.
    pub(crate) fn send(&self, value: T, block: Block) -> Result<(), SendFail<T>> {
        if let Block::Until(_) = block {
            consume_budget();
        }
        let mut state = self.state.lock();
        if state.receivers == 0 {
            return Err(SendFail::Disconnected(value));
        }
        if !state.recv_waiters.is_empty() {
            let ((), wake) = state
                .recv_waiters
                .pop_front_with(move |slot| *slot = Some(value))
                .expect("a receiver is queued");
            drop(state);
            wake.wake();
            return Ok(());
        }
        if state.buf.len() < state.cap {
            state.buf.push_back(value);
            return Ok(());
        }
        let deadline = match block {
            Block::No => return Err(SendFail::Full(value)),
            Block::Until(deadline) => deadline,
        };
        let waiter = pin!(Waiter::new(
            "channel send",
            &self.state,
            send_list,
            Some(value)
        ));
        waiter.as_ref().enqueue(&mut state);
        drop(state);
        // Unwound while parked: `Waiter`'s drop unlinks us; the message, if still ours,
        // is dropped with the node. Nothing else to undo.
        let notified =
            waiter.as_ref().park(deadline) || !waiter.as_ref().cancel(&mut self.state.lock());
        let unsent = waiter.take_payload();
        match unsent {
            None => Ok(()),
            Some(value) if notified => Err(SendFail::Disconnected(value)),
            Some(value) => Err(SendFail::Timeout(value)),
        }
    }

    /// Receives a message, waiting as `block` allows.
    pub(crate) fn recv(&self, block: Block) -> Result<T, RecvFail> {
        if let Block::Until(_) = block {
            consume_budget();
        }
        loop {
            let mut state = self.state.lock();
            if let Some(value) = state.buf.pop_front() {
                let mut refill = None;
                if state.buf.len() < state.cap
                    && let Some((unsent, wake)) = state.send_waiters.pop_front_with(Option::take)
                {
                    state
                        .buf
                        .push_back(unsent.expect("a queued sender holds its message"));
                    refill = Some(wake);
                }
                drop(state);
                if let Some(wake) = refill {
                    wake.wake();
                }
                return Ok(value);
            }
            // Rendezvous (cap 0): take the message straight from the longest sender.
            if let Some((unsent, wake)) = state.send_waiters.pop_front_with(Option::take) {
                drop(state);
                wake.wake();
                return Ok(unsent.expect("a queued sender holds its message"));
            }
            if state.senders == 0 {
                return Err(RecvFail::Disconnected);
            }
            let deadline = match block {
                Block::No => return Err(RecvFail::Empty),
                Block::Until(deadline) => deadline,
            };
            let waiter = pin!(Waiter::new("channel receive", &self.state, recv_list, None));
            waiter.as_ref().enqueue(&mut state);
            drop(state);
            let on_unwind = OnUnwind(|| self.abandon_recv(waiter.as_ref()));
            let notified =
                waiter.as_ref().park(deadline) || !waiter.as_ref().cancel(&mut self.state.lock());
            on_unwind.disarm();
            if !notified {
                return Err(RecvFail::Timeout);
            }
            if let Some(value) = waiter.take_payload() {
                return Ok(value);
            }
            // Woken without a message: the last sender left. Re-check from the top.
        }
    }

    /// A receiver is unwound while parked: leave the queue, or put back a message that
    /// was already handed to it, so that no message is lost.
    fn abandon_recv(&self, waiter: Pin<&Waiter<'_, State<T>, Option<T>>>) {
        let mut state = self.state.lock();
        if waiter.cancel(&mut state) {
            return;
        }
        let Some(value) = waiter.take_payload() else {
            return;
        };
        let mut value = Some(value);
        let next = state
            .recv_waiters
            .pop_front_with(|slot| *slot = value.take());
        if let Some(value) = value {
            state.buf.push_front(value);
        }
        drop(state);
        if let Some(((), wake)) = next {
            wake.wake();
        }
    }

    /// Registers another sender handle.
    pub(crate) fn add_sender(&self) {
        self.state.lock().senders += 1;
    }

    /// Registers another receiver handle.
    pub(crate) fn add_receiver(&self) {
        self.state.lock().receivers += 1;
    }

    /// A sender handle is gone; the last one wakes every queued receiver.
    pub(crate) fn drop_sender(&self) {
        let mut batch = WakeBatch::new();
        let mut state = self.state.lock();
        state.senders -= 1;
        if state.senders == 0 {
            state.recv_waiters.drain_with(&mut batch, |_| ());
        }
        drop(state);
        drop(batch);
    }

    /// A receiver handle is gone; the last one wakes every queued sender (with its message
    /// still in hand) and drops the buffered messages.
    pub(crate) fn drop_receiver(&self) {
        let mut batch = WakeBatch::new();
        let mut state = self.state.lock();
        state.receivers -= 1;
        let mut dropped = VecDeque::new();
        if state.receivers == 0 {
            state.send_waiters.drain_with(&mut batch, |_| ());
            dropped = std::mem::take(&mut state.buf);
        }
        drop(state);
        drop(batch);
        drop(dropped);
    }

    /// Messages currently buffered.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().buf.len()
    }

    /// The capacity; `None` when unbounded.
    pub(crate) fn capacity(&self) -> Option<usize> {
        let cap = self.state.lock().cap;
        (cap != usize::MAX).then_some(cap)
    }

    /// Whether the other side is gone: no receivers (for senders) or no senders.
    pub(crate) fn is_disconnected(&self) -> bool {
        let state = self.state.lock();
        state.senders == 0 || state.receivers == 0
    }
}

impl<T> fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Chan")
            .field("len", &state.buf.len())
            .field("senders", &state.senders)
            .field("receivers", &state.receivers)
            .finish_non_exhaustive()
    }
}

/// A waiting iterator over messages, created by `Receiver::iter`; it ends when the
/// channel is empty and every sender is gone.
pub struct Iter<'a, T> {
    chan: &'a Chan<T>,
}

/// A non-waiting iterator over the messages pending now, created by `Receiver::try_iter`.
pub struct TryIter<'a, T> {
    chan: &'a Chan<T>,
}

impl<'a, T> Iter<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>) -> Iter<'a, T> {
        Iter { chan }
    }
}

impl<'a, T> TryIter<'a, T> {
    pub(crate) fn new(chan: &'a Chan<T>) -> TryIter<'a, T> {
        TryIter { chan }
    }
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.chan.recv(Block::Until(None)).ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.chan.recv(Block::No).ok()
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter").finish_non_exhaustive()
    }
}
