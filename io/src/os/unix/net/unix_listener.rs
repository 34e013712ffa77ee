//! [`UnixListener`]: `std::os::unix::net::UnixListener` whose `accept` parks the fiber.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use crate::os::unix::net::UnixStream;
use crate::source::{Direction, Source};
use crate::sys;

/// A Unix stream socket server; the fiber-aware [`std::os::unix::net::UnixListener`].
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
/// let path = dir.path().join("echo.sock");
/// spindle::run(move || -> std::io::Result<()> {
///     let listener = UnixListener::bind(&path)?;
///     spindle::fiber::spawn(move || -> std::io::Result<()> {
///         for stream in listener.incoming().take(1) {
///             let mut stream = stream?;
///             let mut buf = [0; 4];
///             stream.read_exact(&mut buf)?;
///             stream.write_all(&buf)?;
///         }
///         Ok(())
///     });
///     let mut client = UnixStream::connect(&path)?;
///     client.write_all(b"ping")?;
///     let mut buf = [0; 4];
///     client.read_exact(&mut buf)?;
///     assert_eq!(&buf, b"ping");
///     Ok(())
/// })
/// # }
/// ```
pub struct UnixListener {
    source: Source<std::os::unix::net::UnixListener>,
}

/// An iterator over the connections of a [`UnixListener`], from
/// [`UnixListener::incoming`]. It never returns `None`.
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl UnixListener {
    fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            source: Source::new(listener),
        })
    }

    /// Creates a listener bound to `path`.
    ///
    /// # Errors
    ///
    /// `AddrInUse` when something already exists at `path` (remove a stale socket file
    /// first), `InvalidInput` for a path longer than `SUN_LEN`, or another `bind(2)` error.
    ///
    /// # Examples
    ///
    /// See the [type-level example](UnixListener).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Creates a listener bound to `socket_addr` (a pathname or, on Linux, an abstract name).
    ///
    /// # Errors
    ///
    /// As for [`bind`](Self::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixListener;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let first = UnixListener::bind(dir.path().join("a")).unwrap();
    /// let addr = first.local_addr().unwrap();
    /// drop(first);
    /// std::fs::remove_file(dir.path().join("a")).unwrap();
    /// let again = UnixListener::bind_addr(&addr).unwrap();
    /// assert_eq!(again.local_addr().unwrap().as_pathname(), addr.as_pathname());
    /// ```
    pub fn bind_addr(socket_addr: &SocketAddr) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind_addr(socket_addr)?)
    }

    /// Accepts a new connection, parking the calling fiber (or blocking the thread) until one
    /// arrives. Returns the stream and the peer's address (usually unnamed).
    ///
    /// # Errors
    ///
    /// The `accept4(2)` error (`EMFILE`, …), or `WouldBlock` in non-blocking mode when no
    /// connection is waiting.
    ///
    /// # Examples
    ///
    /// See the [type-level example](UnixListener).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.source.do_io(Direction::Read, |l| l.accept())?;
        // `std` accepts with SOCK_CLOEXEC only; this socket joins the reactor non-blocking.
        sys::set_nonblocking(stream.as_fd(), true)?;
        Ok((UnixStream::from_nonblocking(stream), addr))
    }

    /// Creates a new handle to the same socket.
    ///
    /// # Errors
    ///
    /// The `fcntl(F_DUPFD_CLOEXEC)` error, e.g. `EMFILE`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixListener;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let listener = UnixListener::bind(dir.path().join("s")).unwrap();
    /// let clone = listener.try_clone().unwrap();
    /// assert!(clone.local_addr().unwrap().as_pathname().is_some());
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        let io = self.source.get_ref().try_clone()?;
        Ok(UnixListener {
            source: self.source.clone_with(io),
        })
    }

    /// Returns the address this listener is bound to.
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error, if any.
    ///
    /// # Examples
    ///
    /// See [`bind_addr`](Self::bind_addr).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// Chooses whether [`accept`](Self::accept) returns `WouldBlock` when no connection is
    /// waiting (`true`) or waits (`false`, the default).
    ///
    /// # Errors
    ///
    /// None in practice; the `Result` mirrors `std`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixListener;
    /// use std::io::ErrorKind;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let listener = UnixListener::bind(dir.path().join("s")).unwrap();
    /// listener.set_nonblocking(true).unwrap();
    /// assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    /// ```
    ///
    /// # Notes
    ///
    /// The descriptor is always `O_NONBLOCK` while spindle owns it; this setting only decides
    /// whether spindle waits.
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
    /// use spindle::os::unix::net::UnixListener;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let listener = UnixListener::bind(dir.path().join("s")).unwrap();
    /// assert!(listener.take_error().unwrap().is_none());
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// Returns an iterator over incoming connections: [`accept`](Self::accept) in a loop,
    /// without the peer address.
    ///
    /// # Examples
    ///
    /// See the [type-level example](UnixListener).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

impl<'a> Iterator for Incoming<'a> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl std::iter::FusedIterator for Incoming<'_> {}

impl<'a> IntoIterator for &'a UnixListener {
    type Item = io::Result<UnixStream>;
    type IntoIter = Incoming<'a>;

    fn into_iter(self) -> Incoming<'a> {
        self.incoming()
    }
}

crate::source::socket_traits!(UnixListener, std::os::unix::net::UnixListener);

impl From<std::os::unix::net::UnixListener> for UnixListener {
    /// Takes over a `std` listener: it keeps its non-blocking setting and is switched to
    /// `O_NONBLOCK` underneath.
    fn from(listener: std::os::unix::net::UnixListener) -> UnixListener {
        UnixListener {
            source: Source::adopt(listener, None, None),
        }
    }
}
