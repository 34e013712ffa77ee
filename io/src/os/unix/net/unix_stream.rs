//! [`UnixStream`]: `std::os::unix::net::UnixStream` whose reads, writes and connects park the
//! fiber.

use std::io::{self};
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};
use spindle_core::fiber;

use crate::source::{Direction, Source};
use crate::sys;

/// A connected Unix stream socket; the fiber-aware [`std::os::unix::net::UnixStream`].
///
/// Reads and writes park the calling fiber until the socket is ready (inside a spindle
/// runtime) or block the thread (outside one). [`Read`](std::io::Read) and [`Write`](std::io::Write) are implemented for
/// `UnixStream` and `&UnixStream`.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
/// use spindle::os::unix::net::{UnixListener, UnixStream};
/// use std::io::{Read, Write};
///
/// # fn main() -> std::io::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("sock");
/// let listener = UnixListener::bind(&path)?;
/// let mut client = UnixStream::connect(&path)?;
/// let (mut server, _) = listener.accept()?;
/// client.write_all(b"hi")?;
/// let mut buf = [0; 2];
/// server.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hi");
/// # Ok(())
/// # }
/// ```
pub struct UnixStream {
    source: Source<std::os::unix::net::UnixStream>,
}

/// The longest pause between two `connect` attempts while the listener's backlog is full.
const MAX_CONNECT_BACKOFF: Duration = Duration::from_millis(20);

/// Connects a new non-blocking Unix stream socket to `addr`.
///
/// A Unix `connect` never runs in the background: it either completes at once or, when the
/// listener's backlog is full, fails with `EAGAIN` and leaves nothing to wait on. So we retry
/// after a growing pause, sleeping the fiber (or the thread) in between.
fn connect_unix(addr: &SockAddr) -> io::Result<UnixStream> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
    let mut pause = Duration::from_micros(50);
    loop {
        match socket.connect(addr) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // On a plain thread `fiber::sleep` is `std::thread::sleep`.
                fiber::sleep(pause);
                pause = (pause * 2).min(MAX_CONNECT_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    }
    let stream = std::os::unix::net::UnixStream::from(OwnedFd::from(socket));
    Ok(UnixStream::from_nonblocking(stream))
}

impl UnixStream {
    /// Wraps a stream whose descriptor is already `O_NONBLOCK`.
    pub(crate) fn from_nonblocking(stream: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream {
            source: Source::new(stream),
        }
    }

    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// `NotFound` when nothing is bound at `path`, `ConnectionRefused` when the socket there
    /// is not listening, `InvalidInput` for a path longer than `SUN_LEN`.
    ///
    /// # Examples
    ///
    /// See the [type-level example](UnixStream).
    ///
    /// # Notes
    ///
    /// When the listener's backlog is full, `std` blocks in the kernel; spindle retries with a
    /// growing pause (at most 20 ms), sleeping the fiber, since there is no descriptor event to
    /// wait for.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        connect_unix(&SockAddr::unix(path)?)
    }

    /// Connects to the socket at `socket_addr` (a pathname or, on Linux, an abstract name).
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect); `InvalidInput` (EINVAL) for an unnamed address.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::{UnixListener, UnixStream};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let listener = UnixListener::bind(dir.path().join("sock")).unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let stream = UnixStream::connect_addr(&addr).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap().as_pathname(), addr.as_pathname());
    /// ```
    pub fn connect_addr(socket_addr: &SocketAddr) -> io::Result<UnixStream> {
        connect_unix(&sys::unix_sockaddr(socket_addr)?)
    }

    /// Creates a connected pair of unnamed sockets (`socketpair(2)`).
    ///
    /// # Errors
    ///
    /// The `socketpair(2)` error, e.g. `EMFILE`.
    ///
    /// # Examples
    ///
    /// See the [module example](crate::os::unix::net).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        let a = std::os::unix::net::UnixStream::from(OwnedFd::from(a));
        let b = std::os::unix::net::UnixStream::from(OwnedFd::from(b));
        Ok((
            UnixStream::from_nonblocking(a),
            UnixStream::from_nonblocking(b),
        ))
    }

    /// Creates a new handle to the same socket; timeouts and the non-blocking setting are
    /// shared.
    ///
    /// # Errors
    ///
    /// The `fcntl(F_DUPFD_CLOEXEC)` error, e.g. `EMFILE`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let clone = a.try_clone().unwrap();
    /// assert!(clone.peer_addr().unwrap().is_unnamed());
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let io = self.source.get_ref().try_clone()?;
        Ok(UnixStream {
            source: self.source.clone_with(io),
        })
    }

    /// Returns the address of this end.
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// Returns the address of the other end.
    ///
    /// # Errors
    ///
    /// The `getpeername(2)` error, if any.
    ///
    /// # Examples
    ///
    /// See [`connect_addr`](Self::connect_addr).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    /// Sets the read timeout: a read that waits longer fails with `WouldBlock`, as `std`'s does
    /// on Linux. `None` waits forever.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixStream;
    /// use std::io::{ErrorKind, Read};
    /// use std::time::Duration;
    ///
    /// let (mut a, _b) = UnixStream::pair().unwrap();
    /// a.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    /// assert_eq!(a.read(&mut [0; 4]).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.get_ref().set_read_timeout(timeout)?;
        self.source.set_timeout(Direction::Read, timeout);
        Ok(())
    }

    /// Sets the write timeout: a write that waits longer fails with `WouldBlock`. `None`
    /// waits forever.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixStream;
    /// use std::time::Duration;
    ///
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// a.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(a.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.get_ref().set_write_timeout(timeout)?;
        self.source.set_timeout(Direction::Write, timeout);
        Ok(())
    }

    /// Returns the read timeout, `None` if reads wait forever.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// assert_eq!(a.read_timeout().unwrap(), None);
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.source.get_ref().read_timeout()
    }

    /// Returns the write timeout, `None` if writes wait forever.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// See [`set_write_timeout`](Self::set_write_timeout).
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.source.get_ref().write_timeout()
    }

    /// Chooses whether reads and writes that cannot proceed return `WouldBlock` (`true`) or
    /// wait (`false`, the default).
    ///
    /// # Errors
    ///
    /// None in practice; the `Result` mirrors `std`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixStream;
    /// use std::io::{ErrorKind, Read};
    ///
    /// let (mut a, _b) = UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// assert_eq!(a.read(&mut [0; 4]).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// ```
    ///
    /// # Notes
    ///
    /// The descriptor is always `O_NONBLOCK` while spindle owns it; this setting only decides
    /// whether spindle waits. It is applied to the descriptor when the stream is converted
    /// back to `std` or to a raw fd.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the pending `SO_ERROR`, clearing it.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// assert!(a.take_error().unwrap().is_none());
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// # Errors
    ///
    /// The `shutdown(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixStream;
    /// use std::io::Read;
    /// use std::net::Shutdown;
    ///
    /// let (a, mut b) = UnixStream::pair().unwrap();
    /// a.shutdown(Shutdown::Write).unwrap();
    /// assert_eq!(b.read(&mut [0; 4]).unwrap(), 0);
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// Receives data without removing it from the queue (`MSG_PEEK`), waiting for some.
    ///
    /// # Errors
    ///
    /// As for `read`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixStream;
    /// use std::io::Write;
    ///
    /// let (mut a, b) = UnixStream::pair().unwrap();
    /// a.write_all(b"abc").unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek(&mut buf).unwrap(), 3);
    /// ```
    ///
    /// # Notes
    ///
    /// `UnixStream::peek` is still unstable in `std` (`unix_socket_peek`); spindle offers it
    /// with the signature `std` has there.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| {
            sys::recv(s.as_fd(), buf, sys::MSG_PEEK)
        })
    }
}

crate::source::stream_read_write!(UnixStream);

crate::source::socket_traits!(UnixStream, std::os::unix::net::UnixStream);

impl From<std::os::unix::net::UnixStream> for UnixStream {
    /// Takes over a `std` stream: its timeouts and non-blocking setting carry over, and it is
    /// switched to `O_NONBLOCK` underneath.
    fn from(stream: std::os::unix::net::UnixStream) -> UnixStream {
        let read = stream.read_timeout().unwrap_or(None);
        let write = stream.write_timeout().unwrap_or(None);
        UnixStream {
            source: Source::adopt(stream, read, write),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_missing_path_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let err = UnixStream::connect(dir.path().join("nothing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn pair_is_nonblocking_underneath_and_blocking_when_returned_to_std() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(sys::is_nonblocking(a.as_fd()).unwrap());
        let std_a = std::os::unix::net::UnixStream::from(a);
        assert!(!sys::is_nonblocking(std_a.as_fd()).unwrap());
    }
}
