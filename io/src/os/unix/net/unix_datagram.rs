//! [`UnixDatagram`]: `std::os::unix::net::UnixDatagram` whose sends and receives park the
//! fiber.

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use spindle_core::fiber;

use crate::source::{Direction, Source};
use crate::sys;

/// The longest pause between two tries of a `send_to` refused by a full receiver queue.
const MAX_SEND_TO_PAUSE: Duration = Duration::from_millis(10);

/// A Unix datagram socket; the fiber-aware [`std::os::unix::net::UnixDatagram`].
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
/// use spindle::os::unix::net::UnixDatagram;
///
/// # fn main() -> std::io::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let server = UnixDatagram::bind(dir.path().join("server"))?;
/// let client = UnixDatagram::unbound()?;
/// client.send_to(b"hello", dir.path().join("server"))?;
/// let mut buf = [0; 16];
/// let (n, _from) = server.recv_from(&mut buf)?;
/// assert_eq!(&buf[..n], b"hello");
/// # Ok(())
/// # }
/// ```
pub struct UnixDatagram {
    source: Source<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram::from_nonblocking(socket))
    }

    fn from_nonblocking(socket: std::os::unix::net::UnixDatagram) -> UnixDatagram {
        UnixDatagram {
            source: Source::new(socket),
        }
    }

    /// Creates a datagram socket bound to `path`.
    ///
    /// # Errors
    ///
    /// `AddrInUse` when something exists at `path`, `InvalidInput` for a path longer than
    /// `SUN_LEN`, or another `bind(2)` error.
    ///
    /// # Examples
    ///
    /// See the [type-level example](UnixDatagram).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind(path)?)
    }

    /// Creates a datagram socket bound to `socket_addr`.
    ///
    /// # Errors
    ///
    /// As for [`bind`](Self::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixDatagram;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let a = UnixDatagram::bind(dir.path().join("a")).unwrap();
    /// let addr = a.local_addr().unwrap();
    /// drop(a);
    /// std::fs::remove_file(dir.path().join("a")).unwrap();
    /// let b = UnixDatagram::bind_addr(&addr).unwrap();
    /// assert_eq!(b.local_addr().unwrap().as_pathname(), addr.as_pathname());
    /// ```
    pub fn bind_addr(socket_addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind_addr(socket_addr)?)
    }

    /// Creates a datagram socket bound to no address.
    ///
    /// # Errors
    ///
    /// The `socket(2)` error, e.g. `EMFILE`.
    ///
    /// # Examples
    ///
    /// See the [type-level example](UnixDatagram).
    pub fn unbound() -> io::Result<UnixDatagram> {
        let socket = Socket::new(Domain::UNIX, Type::DGRAM.nonblocking().cloexec(), None)?;
        Ok(UnixDatagram::from_nonblocking(OwnedFd::from(socket).into()))
    }

    /// Creates a connected pair of unnamed datagram sockets.
    ///
    /// # Errors
    ///
    /// The `socketpair(2)` error, e.g. `EMFILE`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixDatagram;
    ///
    /// let (a, b) = UnixDatagram::pair().unwrap();
    /// a.send(b"one").unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).unwrap(), 3);
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM.nonblocking().cloexec(), None)?;
        Ok((
            UnixDatagram::from_nonblocking(OwnedFd::from(a).into()),
            UnixDatagram::from_nonblocking(OwnedFd::from(b).into()),
        ))
    }

    /// Connects the socket to `path`: [`send`](Self::send) and [`recv`](Self::recv) then use
    /// that peer. Does not wait.
    ///
    /// # Errors
    ///
    /// `NotFound` when nothing is bound at `path`, or another `connect(2)` error.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixDatagram;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let server = UnixDatagram::bind(dir.path().join("s")).unwrap();
    /// let client = UnixDatagram::unbound().unwrap();
    /// client.connect(dir.path().join("s")).unwrap();
    /// client.send(b"hi").unwrap();
    /// assert_eq!(server.recv(&mut [0; 4]).unwrap(), 2);
    /// ```
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.source.get_ref().connect(path)
    }

    /// Connects the socket to `socket_addr`. Does not wait.
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixDatagram;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let server = UnixDatagram::bind(dir.path().join("s")).unwrap();
    /// let client = UnixDatagram::unbound().unwrap();
    /// client.connect_addr(&server.local_addr().unwrap()).unwrap();
    /// assert!(client.peer_addr().unwrap().as_pathname().is_some());
    /// ```
    pub fn connect_addr(&self, socket_addr: &SocketAddr) -> io::Result<()> {
        self.source.get_ref().connect_addr(socket_addr)
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
    /// use spindle::os::unix::net::UnixDatagram;
    ///
    /// let (a, _b) = UnixDatagram::pair().unwrap();
    /// let clone = a.try_clone().unwrap();
    /// assert!(clone.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        let io = self.source.get_ref().try_clone()?;
        Ok(UnixDatagram {
            source: self.source.clone_with(io),
        })
    }

    /// Returns the address this socket is bound to.
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

    /// Returns the address of the connected peer.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the socket is not connected.
    ///
    /// # Examples
    ///
    /// See [`connect_addr`](Self::connect_addr).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    /// Receives one datagram and its sender's address, waiting for it.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the read timeout passes or in non-blocking mode; otherwise the
    /// `recvfrom(2)` error.
    ///
    /// # Examples
    ///
    /// See the [type-level example](UnixDatagram).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source.do_io(Direction::Read, |s| {
            self.unless_read_shut(s.recv_from(&mut *buf), || {
                // What a blocking `recvfrom` reports once the read half is shut: 0 bytes
                // from an unnamed address. An unbound socket is where `std` gets one.
                Ok((
                    0,
                    std::os::unix::net::UnixDatagram::unbound()?.local_addr()?,
                ))
            })
        })
    }

    /// Turns `WouldBlock` into `shut()` once the read half is shut down, so receiving then
    /// returns at once with 0 bytes, as `std`'s blocking receive does, instead of waiting.
    fn unless_read_shut<R>(
        &self,
        result: io::Result<R>,
        shut: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.source.is_read_shut() => shut(),
            r => r,
        }
    }

    /// Receives one datagram, waiting for it.
    ///
    /// # Errors
    ///
    /// As for [`recv_from`](Self::recv_from).
    ///
    /// # Examples
    ///
    /// See [`pair`](Self::pair).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| {
            self.unless_read_shut(s.recv(&mut *buf), || Ok(0))
        })
    }

    /// Sends `buf` to the socket at `path`, waiting while the receiver's queue is full.
    ///
    /// # Errors
    ///
    /// `NotFound` when nothing is bound at `path`; `WouldBlock` when the write timeout passes;
    /// otherwise the `sendto(2)` error.
    ///
    /// # Examples
    ///
    /// See the [type-level example](UnixDatagram).
    ///
    /// # Notes
    ///
    /// Linux reports no readiness event when the queue of an unconnected receiver drains, so
    /// while that queue is full spindle retries after a growing pause (at most 10 ms),
    /// sleeping the fiber, where `std` sleeps in the kernel. A [`connect`](Self::connect)ed
    /// socket's [`send`](Self::send) waits for the exact wake-up instead.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.retry_send_to(|s| s.send_to(buf, path))
    }

    /// Sends `buf` to `socket_addr`, waiting while the receiver's queue is full.
    ///
    /// # Errors
    ///
    /// As for [`send_to`](Self::send_to).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixDatagram;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let server = UnixDatagram::bind(dir.path().join("s")).unwrap();
    /// let client = UnixDatagram::unbound().unwrap();
    /// client.send_to_addr(b"x", &server.local_addr().unwrap()).unwrap();
    /// assert_eq!(server.recv(&mut [0; 4]).unwrap(), 1);
    /// ```
    ///
    /// # Notes
    ///
    /// Waits for a full receiver queue by retrying, as [`send_to`](Self::send_to) does.
    pub fn send_to_addr(&self, buf: &[u8], socket_addr: &SocketAddr) -> io::Result<usize> {
        self.retry_send_to(|s| s.send_to_addr(buf, socket_addr))
    }

    /// Runs a `sendto` until the receiver takes the datagram.
    ///
    /// `EAGAIN` from `sendto` on an unconnected Unix datagram socket usually means the
    /// *receiver's* queue is full, and no event on our descriptor will say when it drains, so
    /// waiting on the reactor could wait forever (edge-triggered) or spin (`poll(2)` calls
    /// it writable). Instead: sleep a growing pause and try again, within the write timeout.
    fn retry_send_to(
        &self,
        mut op: impl FnMut(&std::os::unix::net::UnixDatagram) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut pause = Duration::from_micros(50);
        let mut deadline = None;
        let mut first_wait = true;
        loop {
            match op(self.source.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.source.is_nonblocking() {
                        return Err(e);
                    }
                    if first_wait {
                        first_wait = false;
                        deadline = self
                            .source
                            .timeout(Direction::Write)
                            .and_then(|t| Instant::now().checked_add(t));
                    }
                    let mut nap = pause;
                    if let Some(deadline) = deadline {
                        let now = Instant::now();
                        if now >= deadline {
                            return Err(e);
                        }
                        nap = nap.min(deadline - now);
                    }
                    // On a plain thread `fiber::sleep` is `std::thread::sleep`.
                    fiber::sleep(nap);
                    pause = (pause * 2).min(MAX_SEND_TO_PAUSE);
                }
                result => return result,
            }
        }
    }

    /// Sends `buf` to the connected peer, waiting while its queue is full.
    ///
    /// # Errors
    ///
    /// `NotConnected` without [`connect`](Self::connect); `WouldBlock` when the write timeout
    /// passes; otherwise the `send(2)` error.
    ///
    /// # Examples
    ///
    /// See [`pair`](Self::pair).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Write, |s| s.send(buf))
    }

    /// Sets the read timeout: receiving waits at most this long, then fails with `WouldBlock`
    /// as `std` does on Linux. `None` waits forever.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixDatagram;
    /// use std::io::ErrorKind;
    /// use std::time::{Duration, Instant};
    ///
    /// let (a, _b) = UnixDatagram::pair().unwrap();
    /// a.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    /// assert_eq!(a.recv(&mut [0; 4]).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.get_ref().set_read_timeout(timeout)?;
        self.source.set_timeout(Direction::Read, timeout);
        Ok(())
    }

    /// Sets the write timeout: sending waits at most this long, then fails with `WouldBlock`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixDatagram;
    /// use std::time::{Duration, Instant};
    ///
    /// let (a, _b) = UnixDatagram::pair().unwrap();
    /// a.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(a.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.get_ref().set_write_timeout(timeout)?;
        self.source.set_timeout(Direction::Write, timeout);
        Ok(())
    }

    /// Returns the read timeout, `None` if receiving waits forever.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixDatagram;
    ///
    /// let (a, _b) = UnixDatagram::pair().unwrap();
    /// assert_eq!(a.read_timeout().unwrap(), None);
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.source.get_ref().read_timeout()
    }

    /// Returns the write timeout, `None` if sending waits forever.
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

    /// Chooses whether sends and receives that cannot proceed return `WouldBlock` (`true`) or
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
    /// use spindle::os::unix::net::UnixDatagram;
    /// use std::io::ErrorKind;
    ///
    /// let (a, _b) = UnixDatagram::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// assert_eq!(a.recv(&mut [0; 4]).unwrap_err().kind(), ErrorKind::WouldBlock);
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
    /// use spindle::os::unix::net::UnixDatagram;
    ///
    /// let (a, _b) = UnixDatagram::pair().unwrap();
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
    /// use spindle::os::unix::net::UnixDatagram;
    /// use std::net::Shutdown;
    ///
    /// let (a, _b) = UnixDatagram::pair().unwrap();
    /// a.shutdown(Shutdown::Write).unwrap();
    /// assert!(a.send(b"x").is_err());
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)?;
        if how != Shutdown::Write {
            self.source.set_read_shut();
        }
        Ok(())
    }

    /// Receives a datagram without removing it from the queue, waiting for one.
    ///
    /// # Errors
    ///
    /// As for [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::os::unix::net::UnixDatagram;
    ///
    /// let (a, b) = UnixDatagram::pair().unwrap();
    /// a.send(b"abc").unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek(&mut buf).unwrap(), 3);
    /// assert_eq!(b.recv(&mut buf).unwrap(), 3);
    /// ```
    ///
    /// # Notes
    ///
    /// `UnixDatagram::peek` is still unstable in `std` (`unix_socket_peek`); spindle offers it
    /// with the signature `std` has there. `peek_from` is not offered.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| {
            self.unless_read_shut(sys::recv(s.as_fd(), buf, sys::MSG_PEEK), || Ok(0))
        })
    }
}

crate::source::socket_traits!(UnixDatagram, std::os::unix::net::UnixDatagram);

impl From<std::os::unix::net::UnixDatagram> for UnixDatagram {
    /// Takes over a `std` socket: its timeouts and non-blocking setting carry over, and it is
    /// switched to `O_NONBLOCK` underneath.
    fn from(socket: std::os::unix::net::UnixDatagram) -> UnixDatagram {
        let read = socket.read_timeout().unwrap_or(None);
        let write = socket.write_timeout().unwrap_or(None);
        UnixDatagram {
            source: Source::adopt(socket, read, write),
        }
    }
}
