//! [`TcpStream`]: `std::net::TcpStream` whose reads, writes and connects park the fiber.

use std::io::{self};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::dns::ToSocketAddrs;
use crate::net::addr;
use crate::source::{Direction, Source};

/// A TCP connection; the fiber-aware [`std::net::TcpStream`].
///
/// Reads and writes park the calling fiber until the socket is ready (inside a spindle
/// runtime) or block the thread (outside one), so code written in the blocking style of
/// `std` serves thousands of connections from one thread. [`Read`](std::io::Read) and [`Write`](std::io::Write) are
/// implemented for `TcpStream` and `&TcpStream`, so one fiber may read while another writes.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
/// use spindle::net::{TcpListener, TcpStream};
/// use std::io::{Read, Write};
///
/// # fn main() -> std::io::Result<()> {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut stream = TcpStream::connect(listener.local_addr()?)?;
/// let (mut peer, _) = listener.accept()?;
/// stream.write_all(b"hi")?;
/// let mut buf = [0; 2];
/// peer.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hi");
/// # Ok(())
/// # }
/// ```
///
/// Buffer sizes and other options `std` lacks are reachable through
/// [`socket2::SockRef`](https://docs.rs/socket2), since `TcpStream` implements [`AsFd`]:
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
/// # use spindle::net::{TcpListener, TcpStream};
/// # let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// # let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// socket2::SockRef::from(&stream).set_recv_buffer_size(1 << 20).unwrap();
/// ```
pub struct TcpStream {
    source: Source<std::net::TcpStream>,
}

impl TcpStream {
    /// Wraps a stream whose descriptor is already `O_NONBLOCK` (from `accept4` or `connect`).
    pub(crate) fn from_nonblocking(stream: std::net::TcpStream) -> TcpStream {
        TcpStream {
            source: Source::new(stream),
        }
    }

    /// Opens a TCP connection to `addr`, trying each address it resolves to in turn, like
    /// [`std::net::TcpStream::connect`]. The calling fiber parks while the handshake runs.
    ///
    /// # Errors
    ///
    /// The error of the last address tried (`ConnectionRefused`, `TimedOut`, …), or
    /// `InvalidInput` when `addr` resolves to no address.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    /// use std::io::ErrorKind;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// assert!(TcpStream::connect(addr).is_ok());
    /// drop(listener);
    /// let refused = TcpStream::connect(addr).unwrap_err();
    /// assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    /// ```
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        addr::each_addr(addr, |a| addr::connect_tcp(a, None)).map(|source| TcpStream { source })
    }

    /// Opens a TCP connection to `addr`, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// `TimedOut` ("connection timed out") when `timeout` passes first; `InvalidInput` for a
    /// zero `timeout`; otherwise the connect error (`ConnectionRefused`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), addr);
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        let deadline = Instant::now().checked_add(timeout);
        addr::connect_tcp(addr, deadline).map(|source| TcpStream { source })
    }

    /// Returns the address of the remote peer.
    ///
    /// # Errors
    ///
    /// `NotConnected` after the peer is gone, or another `getpeername(2)` error.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), listener.local_addr().unwrap());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    /// Returns the local address of this end of the connection.
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{Ipv4Addr, TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert_eq!(stream.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// Shuts down the read half, the write half or both (`shutdown(2)`).
    ///
    /// # Errors
    ///
    /// `NotConnected` when the socket is not connected, or another `shutdown(2)` error.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{Shutdown, TcpListener, TcpStream};
    /// use std::io::Read;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (mut server, _) = listener.accept().unwrap();
    /// client.shutdown(Shutdown::Write).unwrap();
    /// assert_eq!(server.read(&mut [0; 8]).unwrap(), 0);
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// Creates a new handle to the same socket (a duplicated descriptor). Timeouts and the
    /// non-blocking setting are shared with the original, as with `std`.
    ///
    /// # Errors
    ///
    /// The `fcntl(F_DUPFD_CLOEXEC)` error, e.g. `EMFILE`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let clone = stream.try_clone().unwrap();
    /// assert_eq!(clone.local_addr().unwrap(), stream.local_addr().unwrap());
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let io = self.source.get_ref().try_clone()?;
        Ok(TcpStream {
            source: self.source.clone_with(io),
        })
    }

    /// Sets the read timeout: a read that waits longer fails with `WouldBlock`, as `std`'s does
    /// on Linux (EAGAIN from `SO_RCVTIMEO`). `None` waits forever.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    /// use std::io::{ErrorKind, Read};
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    /// let err = stream.read(&mut [0; 8]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::WouldBlock);
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.source.get_ref().set_read_timeout(dur)?;
        self.source.set_timeout(Direction::Read, dur);
        Ok(())
    }

    /// Sets the write timeout: a write that waits longer fails with `WouldBlock`, as `std`'s
    /// does on Linux. `None` waits forever.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(stream.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.source.get_ref().set_write_timeout(dur)?;
        self.source.set_timeout(Direction::Write, dur);
        Ok(())
    }

    /// Returns the read timeout (`SO_RCVTIMEO`), `None` if reads wait forever.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert_eq!(stream.read_timeout().unwrap(), None);
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.source.get_ref().read_timeout()
    }

    /// Returns the write timeout (`SO_SNDTIMEO`), `None` if writes wait forever.
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

    /// Receives data without removing it from the queue (`MSG_PEEK`), waiting for some to
    /// arrive like [`read`](std::io::Read::read).
    ///
    /// # Errors
    ///
    /// As for `read`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    /// use std::io::{Read, Write};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (mut server, _) = listener.accept().unwrap();
    /// client.write_all(b"abc").unwrap();
    /// let mut buf = [0; 3];
    /// server.peek(&mut buf).unwrap();
    /// server.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"abc");
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| s.peek(buf))
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    ///
    /// # Errors
    ///
    /// The `setsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_nodelay(true).unwrap();
    /// assert!(stream.nodelay().unwrap());
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.source.get_ref().set_nodelay(nodelay)
    }

    /// Gets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// See [`set_nodelay`](Self::set_nodelay).
    pub fn nodelay(&self) -> io::Result<bool> {
        self.source.get_ref().nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// The `setsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_ttl(100).unwrap();
    /// assert_eq!(stream.ttl().unwrap(), 100);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.source.get_ref().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// See [`set_ttl`](Self::set_ttl).
    pub fn ttl(&self) -> io::Result<u32> {
        self.source.get_ref().ttl()
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
    /// use spindle::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert!(stream.take_error().unwrap().is_none());
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
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
    /// use spindle::net::{TcpListener, TcpStream};
    /// use std::io::{ErrorKind, Read};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_nonblocking(true).unwrap();
    /// assert_eq!(stream.read(&mut [0; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
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
}

crate::source::stream_read_write!(TcpStream);

crate::source::socket_traits!(TcpStream, std::net::TcpStream);

impl From<std::net::TcpStream> for TcpStream {
    /// Takes over a `std` stream: its timeouts and non-blocking setting carry over, and it is
    /// switched to `O_NONBLOCK` underneath.
    fn from(stream: std::net::TcpStream) -> TcpStream {
        let read = stream.read_timeout().unwrap_or(None);
        let write = stream.write_timeout().unwrap_or(None);
        TcpStream {
            source: Source::adopt(stream, read, write),
        }
    }
}
