//! Multi-producer, single-consumer FIFO queues, mirroring [`std::sync::mpsc`].
//!
//! [`channel`] is unbounded: sending never waits. [`sync_channel`] has a fixed buffer:
//! sending waits while it is full, and with a buffer of 0 each send waits until a
//! receiver takes the message. Waiting parks the calling fiber (or plain thread), so a
//! `recv` on an empty channel lets the other fibers of the thread run.
//!
//! Either end may live on any thread and on any runtime: messages flow between fibers,
//! between a fiber and a plain thread, and between runtimes on different threads.
//! The error types are `std`'s own.
//!
//! # Examples
//!
//! ```
//! # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
//! use spindle::sync::mpsc::channel;
//! use std::thread;
//!
//! spindle::run(|| {
//!     let (tx, rx) = channel();
//!     thread::spawn(move || {
//!         for i in 0..10 {
//!             tx.send(i).unwrap();
//!         }
//!     });
//!     // The fiber parks in `recv`; the runtime's other fibers keep running.
//!     let sum: i32 = rx.iter().sum();
//!     assert_eq!(sum, 45);
//! });
//! ```

use crate::chan::{Block, Chan, RecvFail, SendFail, deadline_after};
pub use crate::chan::{Iter, TryIter};
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

/// The sending half of an unbounded [`channel`]; may be cloned and shared.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The sending half of a bounded [`sync_channel`]; may be cloned and shared.
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a [`channel`] or [`sync_channel`]. Only one receiver exists.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// `Send` but not `Sync`, like std's receiver.
    _not_sync: PhantomData<Cell<()>>,
}

/// Creates a new asynchronous (unbounded) channel, returning the sender/receiver halves.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
/// use spindle::sync::mpsc::channel;
/// use std::thread;
///
/// let (sender, receiver) = channel();
/// thread::spawn(move || {
///     sender.send(53).unwrap();
/// });
/// assert_eq!(receiver.recv().unwrap(), 53);
/// ```
#[must_use]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(None));
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            _not_sync: PhantomData,
        },
    )
}

/// Creates a new synchronous, bounded channel with room for `bound` messages.
///
/// With `bound == 0` every send waits until a receiver takes the message.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
/// use spindle::sync::mpsc::sync_channel;
/// use std::thread;
///
/// let (sender, receiver) = sync_channel(1);
/// sender.send(1).unwrap(); // fits in the buffer
/// thread::spawn(move || {
///     sender.send(2).unwrap(); // waits until the first message is received
/// });
/// assert_eq!(receiver.recv().unwrap(), 1);
/// assert_eq!(receiver.recv().unwrap(), 2);
/// ```
#[must_use]
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(Some(bound)));
    (
        SyncSender { chan: chan.clone() },
        Receiver {
            chan,
            _not_sync: PhantomData,
        },
    )
}

impl<T> Sender<T> {
    /// Sends a value on this channel; never waits.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the receiver has been dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpsc::channel;
    ///
    /// let (tx, rx) = channel();
    /// assert!(tx.send(1).is_ok());
    /// drop(rx);
    /// assert_eq!(tx.send(1).unwrap_err().0, 1);
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan
            .send(t, Block::Until(None))
            .map_err(SendFail::into_send_error)
    }
}

impl<T> SyncSender<T> {
    /// Sends a value, parking the current fiber while the buffer is full (for a
    /// zero-capacity channel: until a receiver takes it).
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the receiver has been dropped (also while waiting).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpsc::sync_channel;
    /// use std::thread;
    ///
    /// let (tx, rx) = sync_channel(0);
    /// thread::spawn(move || tx.send(1).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan
            .send(t, Block::Until(None))
            .map_err(SendFail::into_send_error)
    }

    /// Attempts to send a value without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the buffer is full (or, for a zero-capacity channel, no
    /// receiver is waiting); [`TrySendError::Disconnected`] if the receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpsc::{sync_channel, TrySendError};
    ///
    /// let (tx, _rx) = sync_channel(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan
            .send(t, Block::No)
            .map_err(SendFail::into_try_send_error)
    }
}

impl<T> Receiver<T> {
    /// Waits for a value on this channel, parking the current fiber while it is empty.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is empty and every sender has been dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpsc::{channel, RecvError};
    ///
    /// let (tx, rx) = channel();
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.recv(), Ok(1));
    /// assert_eq!(rx.recv(), Err(RecvError));
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(Block::Until(None)).map_err(|_| RecvError)
    }

    /// Attempts to return a pending value without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no message is pending, [`TryRecvError::Disconnected`] if
    /// none is pending and every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpsc::{channel, TryRecvError};
    ///
    /// let (tx, rx) = channel::<i32>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan
            .recv(Block::No)
            .map_err(RecvFail::into_try_recv_error)
    }

    /// Waits for a value, at most for `timeout`.
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
    /// use spindle::sync::mpsc::{channel, RecvTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (_tx, rx) = channel::<i32>();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan
            .recv(Block::Until(deadline_after(timeout)))
            .map_err(RecvFail::into_recv_timeout_error)
    }

    /// Returns an iterator that waits for messages until every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpsc::channel;
    ///
    /// let (tx, rx) = channel();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(&self.chan)
    }

    /// Returns an iterator over the messages pending now; it never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_sync as sync; }
    /// use spindle::sync::mpsc::channel;
    ///
    /// let (tx, rx) = channel();
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1]);
    /// # drop(tx);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter::new(&self.chan)
    }
}

/// An owning iterator over messages on a [`Receiver`], created by `into_iter`.
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
    /// Clones a sender to send to other fibers or threads.
    fn clone(&self) -> Sender<T> {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> SyncSender<T> {
        self.chan.add_sender();
        SyncSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for SyncSender<T> {
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
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
