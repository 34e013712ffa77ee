//! [`TcpListener`]: `std::net::TcpListener` whose `accept` parks the fiber.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use crate::dns::ToSocketAddrs;
use crate::net::{TcpStream, addr};
use crate::source::{Direction, Source};
use crate::sys;

/// A TCP socket server, listening for connections; the fiber-aware
/// [`std::net::TcpListener`].
///
/// [`accept`](TcpListener::accept) and the [`Incoming`] iterator park the calling fiber until
/// a connection arrives, so one fiber can accept while others serve. On a plain thread they
/// block the thread, like `std`.
///
/// # Examples
///
/// ```no_run
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
/// use spindle::net::{TcpListener, TcpStream};
/// use std::io::{Read, Write};
///
/// fn handle(mut stream: TcpStream) -> std::io::Result<()> {
///     let mut buf = [0; 4096];
///     loop {
///         let n = stream.read(&mut buf)?;
///         if n == 0 {
///             return Ok(());
///         }
///         stream.write_all(&buf[..n])?;
///     }
/// }
///
/// spindle::run(|| -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:7000")?;
///     for stream in listener.incoming() {
///         let stream = stream?;
///         spindle::fiber::spawn(move || handle(stream));
///     }
///     Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Options `std` does not offer (`SO_REUSEPORT`, the listen backlog, buffer sizes) are set with
/// [`socket2`](https://docs.rs/socket2) before the listener is handed over:
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
/// use socket2::{Domain, Socket, Type};
/// use spindle::net::TcpListener;
/// use std::net::SocketAddr;
///
/// # fn main() -> std::io::Result<()> {
/// let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
/// let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
/// socket.set_reuse_port(true)?;
/// socket.bind(&addr.into())?;
/// socket.listen(4096)?;
/// let listener = TcpListener::from(std::net::TcpListener::from(socket));
/// assert!(listener.local_addr()?.port() != 0);
/// # Ok(())
/// # }
/// ```
pub struct TcpListener {
    source: Source<std::net::TcpListener>,
}

/// An iterator over the connections of a [`TcpListener`], from
/// [`TcpListener::incoming`]. It never returns `None`.
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl TcpListener {
    /// Creates a listener bound to `addr`, like [`std::net::TcpListener::bind`]: each address
    /// `addr` resolves to is tried in turn until one binds.
    ///
    /// Binding to port 0 asks the OS for a free port; [`local_addr`](Self::local_addr) tells
    /// which.
    ///
    /// # Errors
    ///
    /// The error of the last address tried (`AddrInUse`, `PermissionDenied`, …), or
    /// `InvalidInput` when `addr` resolves to no address.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(listener.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let listener = addr::each_addr(addr, |a| std::net::TcpListener::bind(a))?;
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            source: Source::new(listener),
        })
    }

    /// Creates a listener bound to `addr` with `SO_REUSEPORT` (and `SO_REUSEADDR`) set, so that
    /// several listeners — one per scheduler of a thread-per-core runtime — can bind the same
    /// address and the kernel spreads incoming connections among them (by a hash of each
    /// connection's addresses and ports). Each address `addr` resolves to is tried in turn,
    /// as with [`bind`](Self::bind); the backlog is 1024.
    ///
    /// Every listener sharing the port must be bound this way, by the same user. A listener
    /// that closes drops the connections queued on it that were not yet accepted.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind); `AddrInUse` when the port is held by a socket bound without
    /// `SO_REUSEPORT`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::TcpListener;
    ///
    /// let first = TcpListener::bind_reuse_port("127.0.0.1:0").unwrap();
    /// let addr = first.local_addr().unwrap();
    /// let second = TcpListener::bind_reuse_port(addr).unwrap();
    /// assert_eq!(second.local_addr().unwrap(), addr);
    /// ```
    pub fn bind_reuse_port<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let listener = addr::each_addr(addr, |a| {
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(*a),
                socket2::Type::STREAM.nonblocking().cloexec(),
                None,
            )?;
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
            socket.bind(&(*a).into())?;
            socket.listen(1024)?;
            Ok(std::net::TcpListener::from(socket))
        })?;
        Ok(TcpListener {
            source: Source::new(listener),
        })
    }

    /// Returns the local address this listener is bound to.
    ///
    /// # Errors
    ///
    /// The `getsockname(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{Ipv4Addr, TcpListener};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(listener.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// Creates a new handle to the same socket. Both accept connections from one queue, and
    /// share the non-blocking setting.
    ///
    /// # Errors
    ///
    /// The `fcntl(F_DUPFD_CLOEXEC)` error, e.g. `EMFILE`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let clone = listener.try_clone().unwrap();
    /// assert_eq!(clone.local_addr().unwrap(), listener.local_addr().unwrap());
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let io = self.source.get_ref().try_clone()?;
        Ok(TcpListener {
            source: self.source.clone_with(io),
        })
    }

    /// Accepts a new connection, parking the calling fiber (or blocking the thread) until one
    /// arrives. Returns the connected stream and the peer's address.
    ///
    /// # Errors
    ///
    /// The `accept4(2)` error: `EMFILE`/`ENFILE` when out of descriptors (a server should
    /// back off and retry), `ECONNABORTED` for a connection reset while queued, or
    /// `WouldBlock` when [`set_nonblocking(true)`](Self::set_nonblocking) was called and no
    /// connection is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (_stream, peer) = listener.accept().unwrap();
    /// assert_eq!(peer, client.local_addr().unwrap());
    /// ```
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = self
            .source
            .do_io(Direction::Read, |l| sys::accept(l.as_fd()))?;
        let addr = addr.as_socket().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "accept returned a non-IP address",
            )
        })?;
        Ok((TcpStream::from_nonblocking(fd.into()), addr))
    }

    /// Returns an iterator over incoming connections: [`accept`](Self::accept) in a loop,
    /// without the peer address.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let stream = listener.incoming().next().unwrap().unwrap();
    /// assert!(stream.peer_addr().is_ok());
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Sets `IP_TTL` on this socket.
    ///
    /// # Errors
    ///
    /// The `setsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.set_ttl(100).unwrap();
    /// assert_eq!(listener.ttl().unwrap(), 100);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.source.get_ref().set_ttl(ttl)
    }

    /// Gets `IP_TTL` of this socket.
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

    /// Takes the pending `SO_ERROR` of this socket, clearing it.
    ///
    /// # Errors
    ///
    /// The `getsockopt(2)` error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(listener.take_error().unwrap().is_none());
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// Chooses whether [`accept`](Self::accept) returns `WouldBlock` when no connection is
    /// waiting (`true`) or waits for one (`false`, the default).
    ///
    /// # Errors
    ///
    /// None in practice; the `Result` mirrors `std`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::TcpListener;
    /// use std::io::ErrorKind;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.set_nonblocking(true).unwrap();
    /// assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    /// ```
    ///
    /// # Notes
    ///
    /// The descriptor is always in `O_NONBLOCK` mode while spindle owns it; this setting only
    /// decides whether spindle waits. It is shared with [`try_clone`](Self::try_clone)s and
    /// applied to the descriptor when the listener is converted back to `std` or to a raw fd.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking);
        Ok(())
    }
}

impl<'a> Iterator for Incoming<'a> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl std::iter::FusedIterator for Incoming<'_> {}

crate::source::socket_traits!(TcpListener, std::net::TcpListener);

impl From<std::net::TcpListener> for TcpListener {
    /// Takes over a `std` listener: it keeps its non-blocking setting and is switched to
    /// `O_NONBLOCK` underneath.
    fn from(listener: std::net::TcpListener) -> TcpListener {
        TcpListener {
            source: Source::adopt(listener, None, None),
        }
    }
}
