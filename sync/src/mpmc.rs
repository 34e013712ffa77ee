//! Multi-producer, multi-consumer FIFO channels: both halves can be cloned.
//!
//! Beyond `std`: every message goes to exactly one receiver, the one that has waited
//! longest when the message arrives. [`bounded`] waits for room when full (with capacity
//! 0 every send meets a receiver); [`unbounded`] never waits to send.
//!
//! The channel is disconnected for receivers when every [`Sender`] is gone (after the
//! buffered messages are drained) and for senders when every [`Receiver`] is gone
//! (buffered messages are then dropped). Errors reuse `std::sync::mpsc`'s types, plus
//! [`SendTimeoutError`] for [`Sender::send_timeout`].
//!
//! # Examples
//!
//! ```
//! # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
//! use spindle::sync::mpmc;
//! use spindle::fiber;
//!
//! let total = spindle::run(|| {
//!     let (tx, rx) = mpmc::bounded(4);
//!     let workers: Vec<_> = (0..3)
//!         .map(|_| {
//!             let rx = rx.clone();
//!             fiber::spawn(move || rx.iter().sum::<u64>())
//!         })
//!         .collect();
//!     drop(rx);
//!     for i in 1..=100 {
//!         tx.send(i).unwrap();
//!     }
//!     drop(tx);
//!     workers.into_iter().map(|w| w.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total, 5050);
//! ```

use crate::chan::{Block, Chan, RecvFail, SendFail, deadline_after};
pub use crate::chan::{Iter, TryIter};
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

/// The sending half of an [`mpmc`](self) channel; clone it to add senders.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of an [`mpmc`](self) channel; clone it to add receivers.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// The error of [`Sender::send_timeout`]; carries the message back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    /// The channel stayed full for the whole timeout.
    Timeout(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// Creates a channel with room for `cap` messages; with `cap == 0` each send waits for a
/// receiver to take the message.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
/// use spindle::sync::mpmc;
///
/// let (tx, rx) = mpmc::bounded(1);
/// tx.send(1).unwrap();
/// assert!(tx.try_send(2).is_err());
/// assert_eq!(rx.recv(), Ok(1));
/// ```
#[must_use]
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(Some(cap)));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// Creates a channel whose senders never wait.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
/// use spindle::sync::mpmc;
///
/// let (tx, rx) = mpmc::unbounded();
/// let rx2 = rx.clone();
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// assert_eq!(rx.recv(), Ok(1));
/// assert_eq!(rx2.recv(), Ok(2));
/// ```
#[must_use]
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(None));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Sender<T> {
    /// Sends a message, parking the current fiber while the channel is full.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message if every receiver is gone (also while waiting).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpmc;
    ///
    /// let (tx, rx) = mpmc::unbounded();
    /// tx.send("hi").unwrap();
    /// drop(rx);
    /// assert!(tx.send("lost").is_err());
    /// ```
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.chan
            .send(msg, Block::Until(None))
            .map_err(SendFail::into_send_error)
    }

    /// Sends a message without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if there is no room, [`TrySendError::Disconnected`] if every
    /// receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpmc::{self, TrySendError};
    ///
    /// let (tx, _rx) = mpmc::bounded(0);
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Full(1))); // nobody is receiving
    /// ```
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.chan
            .send(msg, Block::No)
            .map_err(SendFail::into_try_send_error)
    }

    /// Sends a message, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] if the channel stayed full,
    /// [`SendTimeoutError::Disconnected`] if every receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpmc::{self, SendTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = mpmc::bounded(1);
    /// tx.send(1).unwrap();
    /// let err = tx.send_timeout(2, Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err, SendTimeoutError::Timeout(2));
    /// ```
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        match self.chan.send(msg, Block::Until(deadline_after(timeout))) {
            Ok(()) => Ok(()),
            Err(SendFail::Full(t) | SendFail::Timeout(t)) => Err(SendTimeoutError::Timeout(t)),
            Err(SendFail::Disconnected(t)) => Err(SendTimeoutError::Disconnected(t)),
        }
    }

    /// Messages buffered now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether no message is buffered now.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity; `None` for an unbounded channel.
    #[must_use]
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// Whether every receiver is gone.
    #[must_use]
    pub fn is_disconnected(&self) -> bool {
        self.chan.is_disconnected()
    }
}

impl<T> Receiver<T> {
    /// Waits for a message, parking the current fiber while the channel is empty.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is empty and every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpmc::{self, RecvError};
    ///
    /// let (tx, rx) = mpmc::unbounded::<i32>();
    /// drop(tx);
    /// assert_eq!(rx.recv(), Err(RecvError));
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(Block::Until(None)).map_err(|_| RecvError)
    }

    /// Takes a pending message without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is pending, [`TryRecvError::Disconnected`] if none
    /// is pending and every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpmc::{self, TryRecvError};
    ///
    /// let (_tx, rx) = mpmc::unbounded::<i32>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan
            .recv(Block::No)
            .map_err(RecvFail::into_try_recv_error)
    }

    /// Waits at most `timeout` for a message.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if nothing arrived in time,
    /// [`RecvTimeoutError::Disconnected`] if the channel is empty and every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpmc::{self, RecvTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (_tx, rx) = mpmc::bounded::<i32>(1);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan
            .recv(Block::Until(deadline_after(timeout)))
            .map_err(RecvFail::into_recv_timeout_error)
    }

    /// An iterator that waits for messages until every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(&self.chan)
    }

    /// An iterator over the messages pending now; it never waits.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter::new(&self.chan)
    }

    /// Messages buffered now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether no message is buffered now.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity; `None` for an unbounded channel.
    #[must_use]
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// Whether every sender is gone.
    #[must_use]
    pub fn is_disconnected(&self) -> bool {
        self.chan.is_disconnected()
    }
}

/// An owning waiting iterator, created by `Receiver::into_iter`.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.chan.add_receiver();
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("chan", &self.chan).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("chan", &self.chan)
            .finish()
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(..) => "Timeout(..)".fmt(f),
            SendTimeoutError::Disconnected(..) => "Disconnected(..)".fmt(f),
        }
    }
}

impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(..) => "timed out waiting on send operation".fmt(f),
            SendTimeoutError::Disconnected(..) => "sending on a disconnected channel".fmt(f),
        }
    }
}

impl<T> Error for SendTimeoutError<T> {}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(err: SendError<T>) -> SendTimeoutError<T> {
        SendTimeoutError::Disconnected(err.0)
    }
}
