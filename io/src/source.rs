//! [`Source`]: a non-blocking `std` socket plus its reactor [`Registration`], and the one wait
//! loop every spindle I/O method goes through.
//!
//! ```text
//!   op()  ── Ok / other error ───────────────────────────────▶ return it
//!    │
//!    └─ WouldBlock ─┬─ user asked for set_nonblocking(true) ──▶ return WouldBlock
//!                   └─ Registration::wait(fd, interest, deadline)
//!                          ├─ Ok ────────────▶ try op() again (the wake-up may be spurious)
//!                          └─ TimedOut ──────▶ the error std gives for this op on Linux
//! ```
//!
//! The descriptor is always in `O_NONBLOCK` mode while a `Source` owns it. What the user
//! asked for with `set_nonblocking` and the read/write timeouts are kept in [`Shared`], which
//! `try_clone` shares between the clones, the way the kernel shares `O_NONBLOCK` and
//! `SO_RCVTIMEO` between duplicated descriptors of one socket under `std`.
//!
//! The hot path (the data is there) is one call to `op` and one `match`: no allocation, no
//! clock read. The deadline is computed only when the first attempt would block and a timeout
//! is set.

use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spindle_core::reactor::{Interest, Registration};

use crate::sys;

/// Which way an operation moves data; selects the interest and the timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// `read`, `recv`, `accept`, `peek`: waits for readability, uses the read timeout.
    Read,
    /// `write`, `send`, `connect`: waits for writability, uses the write timeout.
    Write,
}

impl Direction {
    fn interest(self) -> Interest {
        match self {
            Direction::Read => Interest::READABLE,
            Direction::Write => Interest::WRITABLE,
        }
    }
}

/// Per-socket settings shared by all `try_clone`s of one socket.
///
/// | field          | value          | meaning                                            |
/// |----------------|----------------|----------------------------------------------------|
/// | `read_timeout` | `0`            | no timeout: reads wait forever                     |
/// |                | `n > 0`        | reads give up after `n` nanoseconds                |
/// | `write_timeout`| same encoding  | same, for writes                                   |
/// | `nonblocking`  | `false`        | blocking semantics (the default): park and retry   |
/// |                | `true`         | `set_nonblocking(true)`: return `WouldBlock`       |
/// | `read_shut`    | `true`         | `shutdown(Read)` was called on a datagram socket   |
#[derive(Debug, Default)]
struct Shared {
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
    nonblocking: AtomicBool,
    read_shut: AtomicBool,
}

fn encode(timeout: Option<Duration>) -> u64 {
    match timeout {
        None => 0,
        // A zero duration is rejected before it gets here; saturate absurdly long ones.
        Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1),
    }
}

fn decode(nanos: u64) -> Option<Duration> {
    (nanos != 0).then(|| Duration::from_nanos(nanos))
}

/// A `std` socket in non-blocking mode, registered with the reactor on first wait.
///
/// `io` is in a `ManuallyDrop` so that `Drop` can deregister the descriptor before it is
/// closed, and `into_inner` can hand it back without closing it.
pub(crate) struct Source<T: AsFd> {
    io: ManuallyDrop<T>,
    registration: Registration,
    shared: Arc<Shared>,
}

impl<T: AsFd> Source<T> {
    /// Wraps a socket whose descriptor is already in `O_NONBLOCK` mode (created with
    /// `SOCK_NONBLOCK` or switched by the caller), with no timeouts and blocking semantics.
    pub(crate) fn new(io: T) -> Source<T> {
        Source {
            io: ManuallyDrop::new(io),
            registration: Registration::new(),
            shared: Arc::new(Shared::default()),
        }
    }

    /// Takes over a socket that came from outside (a `std` type, an `OwnedFd`): remembers
    /// whether it was in non-blocking mode and its timeouts, then switches it to `O_NONBLOCK`.
    ///
    /// Conversions are infallible in `std`'s API; if the descriptor cannot be queried or
    /// switched it is not a usable socket and every later operation reports that error.
    pub(crate) fn adopt(
        io: T,
        read_timeout: Option<Duration>,
        write_timeout: Option<Duration>,
    ) -> Source<T> {
        let fd = io.as_fd();
        let nonblocking = sys::is_nonblocking(fd).unwrap_or(false);
        if !nonblocking {
            // Ignoring the error is sound: a descriptor that rejects FIONBIO rejects the
            // socket calls made on it later too, and those report their own errors.
            let _ = sys::set_nonblocking(fd, true);
        }
        let source = Source::new(io);
        source
            .shared
            .nonblocking
            .store(nonblocking, Ordering::Relaxed);
        source.set_timeout(Direction::Read, read_timeout);
        source.set_timeout(Direction::Write, write_timeout);
        source
    }

    /// Wraps `io`, a duplicate of this source's descriptor made by `try_clone`: the two share
    /// timeouts and the non-blocking setting, each has its own registration.
    pub(crate) fn clone_with(&self, io: T) -> Source<T> {
        Source {
            io: ManuallyDrop::new(io),
            registration: Registration::new(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// The wrapped socket. Its descriptor is in `O_NONBLOCK` mode.
    #[inline]
    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// The one wait loop: runs `op` until it does not report `WouldBlock`, waiting on the
    /// reactor in between. A timeout set for `dir` gives `std`'s Linux error for an expired
    /// `SO_RCVTIMEO`/`SO_SNDTIMEO`: `WouldBlock` (EAGAIN).
    #[inline]
    pub(crate) fn do_io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut deadline = None;
        let mut first_wait = true;
        loop {
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.shared.nonblocking.load(Ordering::Relaxed) {
                        return Err(e);
                    }
                    if first_wait {
                        first_wait = false;
                        deadline = self
                            .timeout(dir)
                            .and_then(|t| Instant::now().checked_add(t));
                    }
                    match self.wait(dir.interest(), deadline) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                            return Err(io::Error::from_raw_os_error(sys::EAGAIN));
                        }
                        Err(e) => return Err(e),
                    }
                }
                result => return result,
            }
        }
    }

    /// Waits once for `interest` or `deadline` (for `connect`, which is not a retry loop).
    /// An expired deadline is an error of kind `TimedOut`.
    pub(crate) fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        self.registration.wait(self.io.as_fd(), interest, deadline)
    }

    /// The timeout last set for `dir`.
    pub(crate) fn timeout(&self, dir: Direction) -> Option<Duration> {
        decode(match dir {
            Direction::Read => self.shared.read_timeout.load(Ordering::Relaxed),
            Direction::Write => self.shared.write_timeout.load(Ordering::Relaxed),
        })
    }

    /// Records the timeout for `dir`; the caller has already validated it (and set the socket
    /// option, so that the socket carries it when converted back to `std`).
    pub(crate) fn set_timeout(&self, dir: Direction, timeout: Option<Duration>) {
        let nanos = encode(timeout);
        match dir {
            Direction::Read => self.shared.read_timeout.store(nanos, Ordering::Relaxed),
            Direction::Write => self.shared.write_timeout.store(nanos, Ordering::Relaxed),
        }
    }

    /// `set_nonblocking`: the descriptor stays in `O_NONBLOCK` mode; this only decides whether
    /// a would-block result is returned or waited out.
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.shared
            .nonblocking
            .store(nonblocking, Ordering::Relaxed);
    }

    /// Whether `set_nonblocking(true)` is in force (on this socket or a clone).
    pub(crate) fn is_nonblocking(&self) -> bool {
        self.shared.nonblocking.load(Ordering::Relaxed)
    }

    /// Records that the read half was shut down. Datagram sockets need it: after
    /// `shutdown(Read)` a non-blocking receive still says `EAGAIN`, where a blocking one (what
    /// `std` does) returns 0 bytes.
    pub(crate) fn set_read_shut(&self) {
        self.shared.read_shut.store(true, Ordering::Relaxed);
    }

    /// Whether [`set_read_shut`](Self::set_read_shut) was called on this socket or a clone.
    pub(crate) fn is_read_shut(&self) -> bool {
        self.shared.read_shut.load(Ordering::Relaxed)
    }

    /// Gives the socket back without closing it: deregisters it and restores the blocking
    /// mode the user asked for, so a `std` type made from it behaves like one.
    ///
    /// `O_NONBLOCK` belongs to the open file description, which `try_clone`s share. While
    /// another spindle handle to the socket is alive the flag stays set, because clearing it
    /// would make that handle's reads block the whole thread instead of parking one fiber.
    pub(crate) fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        let fd = this.io.as_fd();
        this.registration.deregister(fd);
        let last_handle = Arc::strong_count(&this.shared) == 1;
        if last_handle && !this.shared.nonblocking.load(Ordering::Relaxed) {
            // Ignoring the error is sound: it can only fail for a descriptor that is not
            // usable, and the caller's next call on it reports that.
            let _ = sys::set_nonblocking(fd, false);
        }
        // SAFETY: `this` is never used or dropped again after these three moves/drops, and
        // each field is moved or dropped exactly once:
        // - `io` is taken out of its `ManuallyDrop` once and returned;
        // - `registration` and `shared` are valid, initialised fields dropped in place once.
        unsafe {
            ptr::drop_in_place(&mut this.registration);
            ptr::drop_in_place(&mut this.shared);
            ManuallyDrop::take(&mut this.io)
        }
    }
}

impl<T: AsFd> AsFd for Source<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl<T: AsFd> Drop for Source<T> {
    fn drop(&mut self) {
        self.registration.deregister(self.io.as_fd());
        // SAFETY: `io` is dropped here exactly once and not used afterwards; `into_inner`,
        // the only other place that takes it, forgets `self` so this `drop` does not run.
        unsafe { ManuallyDrop::drop(&mut self.io) }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Source<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.io.fmt(f)
    }
}
