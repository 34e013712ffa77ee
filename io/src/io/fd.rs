//! [`Fd`]: makes any pollable file descriptor fiber-aware.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

use spindle_core::__private::reactor::Interest;

use crate::source::{Direction, Source};
use crate::sys;

/// A file descriptor made fiber-aware: its reads and writes park the calling fiber instead of
/// blocking the thread.
///
/// `Fd` wraps any `T: AsFd` whose descriptor epoll can watch — a pipe, a socket, an eventfd,
/// an inotify instance, a tty or serial port, a timerfd, a pidfd — puts the descriptor in
/// `O_NONBLOCK` mode and waits on spindle's reactor whenever an operation would block. It is
/// the tool for shimming what spindle does not cover itself.
///
/// - [`read_with`](Fd::read_with) / [`write_with`](Fd::write_with) run any non-blocking
///   operation on `&T` in the one retry loop: on `WouldBlock`, park until the reactor reports
///   the fd ready, try again.
/// - [`Read`] and [`Write`] are implemented for `Fd<T>` when `T` has them, and for `&Fd<T>`
///   when `&T` has them.
/// - [`readable`](Fd::readable) / [`writable`](Fd::writable) just wait.
///
/// On a plain thread (no runtime) the waits are `poll(2)`, so an `Fd` blocks that thread
/// exactly like the blocking descriptor would.
///
/// # Notes
///
/// `O_NONBLOCK` belongs to the open file description, which `dup`, `fork` and passing the fd
/// to a child share. Wrap only descriptions this process alone uses (a pipe end, a socket you
/// created); for a terminal or a descriptor inherited from the parent use
/// [`stdin`](super::stdin) and friends, which leave the mode alone. [`into_inner`](Fd::into_inner)
/// restores the mode found at [`new`](Fd::new).
///
/// epoll refuses regular files (`EPERM`); an `Fd` of one works, but pointlessly: reads never
/// report `WouldBlock` and `readable`/`writable` return at once (`poll` calls a regular file
/// always ready), so a slow disk still blocks the thread. Use [`spindle::fs`](crate::fs),
/// which goes through the blocking pool, for files.
///
/// # Examples
///
/// ```
/// use spindle_io::io::Fd;
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// # fn main() -> std::io::Result<()> {
/// spindle_core::run(|| -> std::io::Result<()> {
///     let (a, b) = UnixStream::pair()?;
///     let (mut a, mut b) = (Fd::new(a)?, Fd::new(b)?);
///     let reader = spindle_core::fiber::spawn(move || -> std::io::Result<String> {
///         let mut text = String::new();
///         b.read_to_string(&mut text)?; // parks until `a` is dropped
///         Ok(text)
///     });
///     a.write_all(b"ping")?;
///     drop(a);
///     assert_eq!(reader.join().unwrap()?, "ping");
///     Ok(())
/// })
/// # }
/// ```
pub struct Fd<T: AsFd> {
    /// The wait loop (`Source::do_io`) and the reactor registration of `io`'s descriptor.
    /// Declared before `io`, so it is dropped first: the descriptor leaves the reactor before
    /// `io` closes it.
    source: Source<Descriptor>,
    io: T,
    /// Whether `O_NONBLOCK` was already set when the fd was wrapped.
    was_nonblocking: bool,
}

/// `io`'s descriptor as the [`Source`] of an [`Fd`] sees it: the number of the descriptor `io`
/// holds, which the `Fd` keeps open for as long as the `Source` exists (see the field order of
/// [`Fd`]).
///
/// The operations of an `Fd` run on `io` itself, not on this; the `Source` needs the
/// descriptor only to wait on it and to deregister it. The number changes only if an `op`
/// given `&mut T` swaps `io`'s descriptor for another (see [`Fd::read_with_mut`]).
#[derive(Debug)]
struct Descriptor(AtomicI32);

impl AsFd for Descriptor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: a `Descriptor` lives only in the `source` of an `Fd`, which is dropped
        // (or, in `into_inner`, dropped first) before the `io` whose open descriptor this is;
        // `Fd::with_mut` writes the new number here if an `op` swapped `io`'s descriptor,
        // before anything borrows it again.
        unsafe { BorrowedFd::borrow_raw(self.0.load(Ordering::Relaxed)) }
    }
}

impl<T: AsFd> Fd<T> {
    /// Wraps `io`, switching its descriptor to `O_NONBLOCK` mode.
    ///
    /// # Errors
    ///
    /// The error of `fcntl(2)` or `ioctl(2)` if the mode cannot be read or set (for example
    /// `EBADF`).
    pub fn new(io: T) -> io::Result<Fd<T>> {
        let fd = io.as_fd();
        let was_nonblocking = sys::is_nonblocking(fd)?;
        if !was_nonblocking {
            sys::set_nonblocking(fd, true)?;
        }
        Ok(Fd {
            source: Source::new(Descriptor(AtomicI32::new(fd.as_raw_fd()))),
            io,
            was_nonblocking,
        })
    }

    /// The wrapped value. Its descriptor is in `O_NONBLOCK` mode: calling a method of `T`
    /// directly may return `WouldBlock`; go through [`read_with`](Fd::read_with) to wait.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Gives the wrapped value back: removes the fd from the reactor and restores the
    /// blocking mode it had when wrapped.
    ///
    /// # Errors
    ///
    /// The error of `ioctl(2)` if the mode cannot be restored; the value is dropped then.
    pub fn into_inner(self) -> io::Result<T> {
        let Fd {
            source,
            io,
            was_nonblocking,
        } = self;
        // Dropping the source takes the descriptor out of the reactor.
        drop(source);
        if !was_nonblocking {
            sys::set_nonblocking(io.as_fd(), false)?;
        }
        Ok(io)
    }

    /// Waits until the fd may be readable (or has hung up or failed).
    ///
    /// Returns at once if `poll` reports it readable now; otherwise parks the fiber until the
    /// reactor reports a readiness change. Readiness can be spurious: the next read may still
    /// give `WouldBlock`. [`read_with`](Fd::read_with) does the retrying for you.
    ///
    /// # Errors
    ///
    /// The error of `poll(2)` or of registering the fd with the reactor.
    pub fn readable(&self) -> io::Result<()> {
        self.ready(Interest::READABLE, libc::POLLIN, None)
    }

    /// Like [`readable`](Fd::readable), giving up at `deadline` with an error of kind
    /// [`io::ErrorKind::TimedOut`].
    ///
    /// # Errors
    ///
    /// `TimedOut` when `deadline` passes first; otherwise as [`readable`](Fd::readable).
    pub fn readable_until(&self, deadline: Instant) -> io::Result<()> {
        self.ready(Interest::READABLE, libc::POLLIN, Some(deadline))
    }

    /// Waits until the fd may be writable (or has hung up or failed). See
    /// [`readable`](Fd::readable).
    ///
    /// # Errors
    ///
    /// The error of `poll(2)` or of registering the fd with the reactor.
    pub fn writable(&self) -> io::Result<()> {
        self.ready(Interest::WRITABLE, libc::POLLOUT, None)
    }

    /// Like [`writable`](Fd::writable), giving up at `deadline` with an error of kind
    /// [`io::ErrorKind::TimedOut`].
    ///
    /// # Errors
    ///
    /// `TimedOut` when `deadline` passes first; otherwise as [`writable`](Fd::writable).
    pub fn writable_until(&self, deadline: Instant) -> io::Result<()> {
        self.ready(Interest::WRITABLE, libc::POLLOUT, Some(deadline))
    }

    fn ready(
        &self,
        interest: Interest,
        events: libc::c_short,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        // The reactor is edge-triggered: an fd that is ready already and stays so would not
        // wake us, so look first.
        if sys::ready_now(self.io.as_fd(), events)? {
            return Ok(());
        }
        self.source.wait(interest, deadline)
    }

    /// Runs the non-blocking operation `op` until it does not fail with `WouldBlock`,
    /// parking the fiber until the fd is readable in between.
    ///
    /// # Errors
    ///
    /// What `op` returns, other than `WouldBlock`; the reactor's registration error.
    ///
    /// # Examples
    ///
    /// Reading an eventfd-like counter from a socket pair, eight bytes at a time:
    ///
    /// ```
    /// use spindle_io::io::Fd;
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixDatagram;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// spindle_core::run(|| -> std::io::Result<()> {
    ///     let (a, b) = UnixDatagram::pair()?;
    ///     let b = Fd::new(b)?;
    ///     a.send(&7u64.to_ne_bytes())?;
    ///     let mut buf = [0; 8];
    ///     let n = b.read_with(|sock| sock.recv(&mut buf))?;
    ///     assert_eq!((n, u64::from_ne_bytes(buf)), (8, 7));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.source.do_io(Direction::Read, |_| op(&self.io))
    }

    /// Like [`read_with`](Fd::read_with), waiting for writability between attempts.
    ///
    /// # Errors
    ///
    /// What `op` returns, other than `WouldBlock`; the reactor's registration error.
    pub fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.source.do_io(Direction::Write, |_| op(&self.io))
    }

    /// Like [`read_with`](Fd::read_with), with mutable access to the wrapped value.
    ///
    /// # Panics
    ///
    /// If `op` replaces the descriptor (for example by assigning a new value to `*io`): the
    /// reactor watches the old one.
    ///
    /// # Errors
    ///
    /// What `op` returns, other than `WouldBlock`; the reactor's registration error.
    pub fn read_with_mut<R>(&mut self, op: impl FnMut(&mut T) -> io::Result<R>) -> io::Result<R> {
        self.with_mut(Direction::Read, op)
    }

    /// Like [`write_with`](Fd::write_with), with mutable access to the wrapped value. See
    /// [`read_with_mut`](Fd::read_with_mut).
    ///
    /// # Panics
    ///
    /// If `op` replaces the descriptor, as [`read_with_mut`](Fd::read_with_mut).
    ///
    /// # Errors
    ///
    /// What `op` returns, other than `WouldBlock`; the reactor's registration error.
    pub fn write_with_mut<R>(&mut self, op: impl FnMut(&mut T) -> io::Result<R>) -> io::Result<R> {
        self.with_mut(Direction::Write, op)
    }

    /// `Source::do_io` with `&mut T` (the borrows of `source` and `io` are disjoint).
    fn with_mut<R>(
        &mut self,
        dir: Direction,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let Fd { source, io, .. } = self;
        source.do_io(dir, |fd| {
            let result = op(io);
            let now = io.as_fd().as_raw_fd();
            if now != fd.0.load(Ordering::Relaxed) {
                // The old descriptor may be closed already: never name it again.
                fd.0.store(now, Ordering::Relaxed);
                panic!(
                    "Fd::read_with_mut/write_with_mut: `op` replaced the wrapped descriptor; \
                     change the value in place, or wrap the new one in a new `Fd`"
                );
            }
            result
        })
    }
}

impl<T: AsFd + Read> Read for Fd<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with_mut(|io| io.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_with_mut(|io| io.read_vectored(bufs))
    }
}

impl<T: AsFd> Read for &Fd<T>
where
    for<'a> &'a T: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(|mut io| io.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_with(|mut io| io.read_vectored(bufs))
    }
}

impl<T: AsFd + Write> Write for Fd<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_with_mut(|io| io.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_with_mut(|io| io.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_with_mut(|io| io.flush())
    }
}

impl<T: AsFd> Write for &Fd<T>
where
    for<'a> &'a T: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_with(|mut io| io.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_with(|mut io| io.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_with(|mut io| io.flush())
    }
}

impl<T: AsFd> AsFd for Fd<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl<T: AsFd> AsRawFd for Fd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_fd().as_raw_fd()
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Fd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fd")
            .field("io", &self.io)
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// The traits a pipe end wrapping `fd: Fd<OwnedFd>` shares with std's pipe types (`PipeReader`,
/// `PipeWriter`, `ChildStdin`, `ChildStdout`, `ChildStderr`): `AsFd`, `AsRawFd`, the way out to
/// an `OwnedFd` or a `Stdio` (back in blocking mode), and `Debug`.
macro_rules! pipe_fd_traits {
    ($ty:ident) => {
        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(&self.fd)
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&self.fd)
            }
        }

        impl From<$ty> for ::std::os::fd::OwnedFd {
            /// Takes the descriptor out, in blocking mode.
            fn from(end: $ty) -> ::std::os::fd::OwnedFd {
                match end.fd.into_inner() {
                    Ok(fd) => fd,
                    // `ioctl(FIONBIO)` on a descriptor we own cannot fail short of kernel trouble; a
                    // conversion has no way to report it, and a closed fd is worse than one
                    // left non-blocking.
                    Err(e) => panic!("cannot restore blocking mode of a pipe: {e}"),
                }
            }
        }

        impl From<$ty> for ::std::process::Stdio {
            /// Hands the pipe end to a child process, in blocking mode.
            fn from(end: $ty) -> ::std::process::Stdio {
                ::std::process::Stdio::from(::std::os::fd::OwnedFd::from(end))
            }
        }

        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &::std::os::fd::AsRawFd::as_raw_fd(&self.fd))
                    .finish()
            }
        }
    };
}
pub(crate) use pipe_fd_traits;
