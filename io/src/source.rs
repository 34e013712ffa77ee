//! [`Source`]: a non-blocking `std` socket plus its reactor [`Registration`], and the one wait
//! loop every spindle I/O method goes through.
//!
//! ```text
//!   fiber::consume_budget()  ── turn's budget spent and others could run ──▶ yield first
//!    │
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
//! The hot path (the data is there) is one budget count (a compare and a store on the
//! scheduler), one call to `op` and one `match`: no allocation, no clock read. The budget
//! makes a fiber whose socket stays ready yield now and then instead of holding its thread
//! (see `spindle::runtime::Builder::budget`); it is counted before the operation, so a fiber
//! unwound by a shutdown during that yield has not yet moved any data. The deadline is computed only when the first attempt would block and a timeout
//! is set.
//!
//! A `Source` is `Send + Sync` when `T` is, so fibers of different runtimes may wait on one
//! socket, in turn or at once. Its [`Registration`] belongs to one runtime's reactor at a time
//! and is handed over when another runtime waits on it (see [`Registration`] for the rule);
//! `Drop` deregisters it from whichever runtime owns it, from any thread.

use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spindle_core::__private::reactor::{Interest, Registration};

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

/// The largest transfer whose short result [`Source::do_stream_io`] trusts: Linux cuts a
/// single read or write at `MAX_RW_COUNT` (2 GiB less a page), a short result for a reason
/// other than an empty or full buffer.
const TRACKED_MAX_LEN: usize = 1 << 30;

/// The length [`Source::do_stream_io`] is given for a vectored transfer: the total of
/// `bufs`, or `usize::MAX` (never trusted) past 1024 buffers, where `std` passes only the
/// first `IOV_MAX` (1024 on Linux) to the kernel.
pub(crate) fn total_len<B: std::ops::Deref<Target = [u8]>>(bufs: &[B]) -> usize {
    if bufs.len() > 1024 {
        return usize::MAX;
    }
    bufs.iter().fold(0, |sum, b| sum.saturating_add(b.len()))
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
        spindle_core::__private::note_descriptor(io.as_fd().as_raw_fd());
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

    /// The one wait loop: counts one operation against the fiber's cooperative budget, then
    /// runs `op` until it does not report `WouldBlock`, waiting on the reactor in between. A timeout set for `dir` gives `std`'s Linux error for an expired
    /// `SO_RCVTIMEO`/`SO_SNDTIMEO`: `WouldBlock` (EAGAIN).
    #[inline]
    pub(crate) fn do_io<R>(
        &self,
        dir: Direction,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        spindle_core::fiber::consume_budget();
        self.io_loop(dir, false, op, |_| false)
    }

    /// [`do_io`](Self::do_io) for a stream socket's read or write of `len` bytes, where a
    /// short result proves the socket was drained (or its send buffer filled): then the
    /// next call skips the try that would only say `EAGAIN` and waits for the reactor's next
    /// event first. `T::SHORT_READ_DRAINS` and `T::SHORT_WRITE_FILLS` say where that holds.
    ///
    /// Why a short transfer proves it, on a TCP socket: `recv` stops before `len` only when
    /// the receive queue (and the backlog it processes on the way) is empty, at end of stream,
    /// or at the urgent mark; `send` stops short only when the send buffer is full, after
    /// setting `SOCK_NOSPACE` so that freed space wakes the socket's waiters. Bytes, buffer
    /// space, a FIN or an error that come after the call each raise a new edge-triggered
    /// event, which moves the registration's event count past the tick taken before the call
    /// (see `Registration::ready_tick`), so the record of the short call no longer holds. End
    /// of stream, errors and urgent data already reported stay visible: the reactor keeps a
    /// direction that has seen them out of the record. Zero bytes (end of stream) and empty
    /// buffers are never recorded; with `set_nonblocking(true)` the try is never skipped, so
    /// a caller polling the socket sees bytes as soon as the kernel has them.
    #[inline]
    pub(crate) fn do_stream_io(
        &self,
        dir: Direction,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize>
    where
        T: StreamIo,
    {
        spindle_core::fiber::consume_budget();
        let tracked = match dir {
            Direction::Read => T::SHORT_READ_DRAINS,
            Direction::Write => T::SHORT_WRITE_FILLS,
        } && len > 0
            && len <= TRACKED_MAX_LEN;
        self.io_loop(dir, tracked, op, |&n| n < len)
    }

    /// The body of [`do_io`](Self::do_io). With `tracked`, takes the registration's ready
    /// tick before each try, records a result that `short` says came out short, and skips
    /// the first try when the tick says it could only say `EAGAIN`.
    #[inline]
    fn io_loop<R>(
        &self,
        dir: Direction,
        tracked: bool,
        mut op: impl FnMut(&T) -> io::Result<R>,
        short: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let interest = dir.interest();
        let mut deadline = None;
        let mut waited = false;
        loop {
            let tick = if tracked {
                Some(self.registration.ready_tick(interest))
            } else {
                None
            };
            // Only the first try is ever skipped: after a wait, try whatever woke it.
            let skip = !waited
                && tick.is_some_and(|t| !t.may_be_ready())
                && !self.shared.nonblocking.load(Ordering::Relaxed);
            if !skip {
                match op(&self.io) {
                    Ok(r) => {
                        if let Some(tick) = tick
                            && short(&r)
                        {
                            self.registration.clear_ready(interest, tick);
                        }
                        return Ok(r);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if self.shared.nonblocking.load(Ordering::Relaxed) {
                            return Err(e);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            if !waited {
                waited = true;
                deadline = self
                    .timeout(dir)
                    .and_then(|t| Instant::now().checked_add(t));
            }
            match self.wait(interest, deadline) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    // A deadline that passes before the first try still gets one try.
                    if skip {
                        return match op(&self.io) {
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                Err(io::Error::from_raw_os_error(sys::EAGAIN))
                            }
                            result => result,
                        };
                    }
                    return Err(io::Error::from_raw_os_error(sys::EAGAIN));
                }
                Err(e) => return Err(e),
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
    /// Of clones converted at the same time on several threads, exactly one is the last
    /// (`Arc::into_inner`), and it sees every setting the others made before they let go.
    pub(crate) fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        this.registration.deregister(this.io.as_fd());
        // `this` is a `ManuallyDrop`, so its fields are dropped or moved out only here, each
        // exactly once, and `this` is not used afterwards.
        // SAFETY: `registration` is a valid, initialised field, dropped in place once.
        unsafe { ptr::drop_in_place(&mut this.registration) };
        // SAFETY: `shared` is valid and initialised; read out once, the local owns it now.
        let shared = unsafe { ptr::read(&this.shared) };
        // SAFETY: `io` is taken out of its `ManuallyDrop` once and never touched again.
        let io = unsafe { ManuallyDrop::take(&mut this.io) };
        // `into_inner` decrements the count with Release and, for the last handle, pairs it
        // with an Acquire fence: the clones' last settings and system calls happen before this.
        if let Some(shared) = Arc::into_inner(shared)
            && !shared.nonblocking.into_inner()
        {
            // Ignoring the error is sound: it can only fail for a descriptor that is not
            // usable, and the caller's next call on it reports that.
            let _ = sys::set_nonblocking(io.as_fd(), false);
        }
        io
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

/// The conversions every socket type shares with its `std` twin: `Debug`, `AsFd`, `AsRawFd`,
/// `FromRawFd`, `IntoRawFd`, `From<OwnedFd>`, `From<$ty> for OwnedFd` and the way back to
/// `std`. `From<std type>` stays with each type: what it carries over differs.
macro_rules! socket_traits {
    ($ty:ident, $std:ty) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.source.fmt(f)
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                self.source.as_fd()
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&self.source.as_fd())
            }
        }

        impl ::std::os::fd::FromRawFd for $ty {
            /// # Safety
            ///
            /// `fd` must be an open socket of the right kind that the caller owns and gives
            /// up.
            unsafe fn from_raw_fd(fd: ::std::os::fd::RawFd) -> $ty {
                // SAFETY: the caller upholds `from_raw_fd`'s contract: `fd` is an open socket
                // of this kind that it owns and gives up.
                <$ty>::from(unsafe { <$std as ::std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }
        }

        impl ::std::os::fd::IntoRawFd for $ty {
            fn into_raw_fd(self) -> ::std::os::fd::RawFd {
                ::std::os::fd::IntoRawFd::into_raw_fd(<$std>::from(self))
            }
        }

        impl From<::std::os::fd::OwnedFd> for $ty {
            fn from(fd: ::std::os::fd::OwnedFd) -> $ty {
                <$ty>::from(<$std>::from(fd))
            }
        }

        impl From<$ty> for ::std::os::fd::OwnedFd {
            fn from(socket: $ty) -> ::std::os::fd::OwnedFd {
                <$std>::from(socket).into()
            }
        }

        impl From<$ty> for $std {
            /// Hands the socket back to `std`, in blocking mode unless `set_nonblocking(true)`
            /// was called or a `try_clone` of it is still open in spindle; its timeouts are
            /// already on the socket.
            fn from(socket: $ty) -> $std {
                socket.source.into_inner()
            }
        }
    };
}
pub(crate) use socket_traits;

/// One try of a stream socket's `read` and `write`, as `std` makes it.
pub(crate) trait StreamIo {
    /// Whether a read that returns fewer bytes than asked (more than zero) proves the receive
    /// queue was empty (see [`Source::do_stream_io`]).
    const SHORT_READ_DRAINS: bool;
    /// Whether a write that takes fewer bytes than offered (more than zero) proves the send
    /// buffer was full.
    const SHORT_WRITE_FILLS: bool;
    /// One `read` (`recv` with no flags), `WouldBlock` included.
    fn read_once(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// One `write`, `WouldBlock` included.
    fn write_once(&self, buf: &[u8]) -> io::Result<usize>;
}

/// TCP: the raw system calls, skipping glibc's cancellation wrappers (see
/// [`sys::recv_raw`]); the same calls and flags as `std`.
impl StreamIo for std::net::TcpStream {
    const SHORT_READ_DRAINS: bool = true;
    const SHORT_WRITE_FILLS: bool = true;

    #[inline]
    fn read_once(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::recv_raw(self.as_fd(), buf)
    }

    #[inline]
    fn write_once(&self, buf: &[u8]) -> io::Result<usize> {
        sys::send_raw(self.as_fd(), buf)
    }
}

/// Unix streams: `std`'s own calls (its `write` is `write(2)`, not `send`).
///
/// A short read proves nothing here: the kernel ends a read at a message that carried file
/// descriptors, at a change of sender when `SO_PASSCRED` is on, and at an out-of-band mark,
/// with bytes still queued. A short write does prove the send buffer full (the writer's
/// memory reached `SO_SNDBUF`; freed space wakes the socket's waiters).
impl StreamIo for std::os::unix::net::UnixStream {
    const SHORT_READ_DRAINS: bool = false;
    const SHORT_WRITE_FILLS: bool = true;

    #[inline]
    fn read_once(&self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &*self, buf)
    }

    #[inline]
    fn write_once(&self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut &*self, buf)
    }
}

/// `Read` and `Write` for a stream socket and for a shared reference to it, each call one
/// try of the system call and, on `WouldBlock`, a wait on the reactor (see [`Source::do_io`]).
macro_rules! stream_read_write {
    ($ty:ident) => {
        impl ::std::io::Read for &$ty {
            #[inline]
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                let len = buf.len();
                self.source
                    .do_stream_io($crate::source::Direction::Read, len, |s| {
                        $crate::source::StreamIo::read_once(s, &mut *buf)
                    })
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [::std::io::IoSliceMut<'_>],
            ) -> ::std::io::Result<usize> {
                let len = $crate::source::total_len(bufs);
                self.source
                    .do_stream_io($crate::source::Direction::Read, len, |mut s| {
                        ::std::io::Read::read_vectored(&mut s, &mut *bufs)
                    })
            }
        }

        impl ::std::io::Write for &$ty {
            #[inline]
            fn write(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                self.source
                    .do_stream_io($crate::source::Direction::Write, buf.len(), |s| {
                        $crate::source::StreamIo::write_once(s, buf)
                    })
            }

            fn write_vectored(
                &mut self,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::io::Result<usize> {
                let len = $crate::source::total_len(bufs);
                self.source
                    .do_stream_io($crate::source::Direction::Write, len, |mut s| {
                        ::std::io::Write::write_vectored(&mut s, bufs)
                    })
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }

        impl ::std::io::Read for $ty {
            #[inline]
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                ::std::io::Read::read(&mut &*self, buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [::std::io::IoSliceMut<'_>],
            ) -> ::std::io::Result<usize> {
                ::std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl ::std::io::Write for $ty {
            #[inline]
            fn write(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                ::std::io::Write::write(&mut &*self, buf)
            }

            fn write_vectored(
                &mut self,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::io::Result<usize> {
                ::std::io::Write::write_vectored(&mut &*self, bufs)
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use stream_read_write;
