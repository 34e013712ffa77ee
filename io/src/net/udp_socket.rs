//! [`UdpSocket`]: `std::net::UdpSocket` whose sends and receives park the fiber.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use crate::dns::ToSocketAddrs;
use crate::net::addr;
use crate::source::{Direction, Source};

/// A UDP socket; the fiber-aware [`std::net::UdpSocket`].
///
/// `recv`, `recv_from`, `peek`, `peek_from` park the calling fiber until a datagram arrives
/// (or block the thread outside a runtime); `send` and `send_to` park while the send buffer is
/// full.
///
/// # Examples
///
/// ```
/// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
/// use spindle::net::UdpSocket;
///
/// # fn main() -> std::io::Result<()> {
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// a.send_to(b"ping", b.local_addr()?)?;
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf)?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
/// # Ok(())
/// # }
/// ```
pub struct UdpSocket {
    source: Source<std::net::UdpSocket>,
}

/// Generates a method that forwards to the `std` socket unchanged: socket options and
/// addresses, which never wait.
macro_rules! forward {
    ($(#[$doc:meta])* $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty) => {
        $(#[$doc])*
        pub fn $name(&self $(, $arg: $ty)*) -> $ret {
            self.source.get_ref().$name($($arg),*)
        }
    };
}

impl UdpSocket {
    /// Creates a UDP socket bound to `addr`, trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// The error of the last address tried (`AddrInUse`, …), or `InvalidInput` when `addr`
    /// resolves to no address.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(socket.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let socket = addr::each_addr(addr, |a| std::net::UdpSocket::bind(a))?;
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            source: Source::new(socket),
        })
    }

    /// Receives one datagram, waiting for it; returns its length and sender. Bytes that do
    /// not fit in `buf` are discarded.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the read timeout passes or in non-blocking mode; otherwise the
    /// `recvfrom(2)` error (e.g. `ConnectionRefused` after an ICMP error on a connected socket).
    ///
    /// # Examples
    ///
    /// See the [type-level example](UdpSocket).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source
            .do_io(Direction::Read, |s| s.recv_from(&mut *buf))
    }

    /// Like [`recv_from`](Self::recv_from), but leaves the datagram in the queue.
    ///
    /// # Errors
    ///
    /// As for `recv_from`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.send_to(b"x", b.local_addr().unwrap()).unwrap();
    /// let mut buf = [0; 4];
    /// assert_eq!(b.peek_from(&mut buf).unwrap().0, 1);
    /// assert_eq!(b.recv_from(&mut buf).unwrap().0, 1);
    /// ```
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.source
            .do_io(Direction::Read, |s| s.peek_from(&mut *buf))
    }

    /// Sends `buf` to `addr` (its first resolved address), waiting while the send buffer is
    /// full. Returns the number of bytes sent.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `addr` resolves to no address; `WouldBlock` when the write timeout
    /// passes; otherwise the `sendto(2)` error.
    ///
    /// # Examples
    ///
    /// See the [type-level example](UdpSocket).
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = addr::first_addr(addr)?;
        self.source
            .do_io(Direction::Write, |s| s.send_to(buf, addr))
    }

    forward! {
        /// Returns the address this socket is connected to.
        ///
        /// # Errors
        ///
        /// `NotConnected` if [`connect`](Self::connect) was not called.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
        /// use spindle::net::UdpSocket;
        ///
        /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        /// assert!(a.peer_addr().is_err());
        /// a.connect("127.0.0.1:9").unwrap();
        /// assert_eq!(a.peer_addr().unwrap().port(), 9);
        /// ```
        peer_addr(&self) -> io::Result<SocketAddr>
    }

    forward! {
        /// Returns the address this socket is bound to.
        ///
        /// # Errors
        ///
        /// The `getsockname(2)` error, if any.
        ///
        /// # Examples
        ///
        /// See [`bind`](Self::bind).
        local_addr(&self) -> io::Result<SocketAddr>
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
    /// use spindle::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = a.try_clone().unwrap();
    /// assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
    /// ```
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let io = self.source.get_ref().try_clone()?;
        Ok(UdpSocket {
            source: self.source.clone_with(io),
        })
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
    /// use spindle::net::UdpSocket;
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    /// let err = socket.recv_from(&mut [0; 8]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::WouldBlock);
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.source.get_ref().set_read_timeout(dur)?;
        self.source.set_timeout(Direction::Read, dur);
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
    /// use spindle::net::UdpSocket;
    /// use std::time::Duration;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(socket.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.source.get_ref().set_write_timeout(dur)?;
        self.source.set_timeout(Direction::Write, dur);
        Ok(())
    }

    forward! {
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
        /// use spindle::net::UdpSocket;
        ///
        /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        /// assert_eq!(socket.read_timeout().unwrap(), None);
        /// ```
        read_timeout(&self) -> io::Result<Option<Duration>>
    }

    forward! {
        /// Returns the write timeout, `None` if sending waits forever.
        ///
        /// # Errors
        ///
        /// The `getsockopt(2)` error, if any.
        ///
        /// # Examples
        ///
        /// See [`set_write_timeout`](Self::set_write_timeout).
        write_timeout(&self) -> io::Result<Option<Duration>>
    }

    forward! {
        /// Sets `SO_BROADCAST`.
        ///
        /// # Errors
        ///
        /// The `setsockopt(2)` error, if any.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
        /// use spindle::net::UdpSocket;
        ///
        /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        /// socket.set_broadcast(true).unwrap();
        /// assert!(socket.broadcast().unwrap());
        /// ```
        set_broadcast(&self, broadcast: bool) -> io::Result<()>
    }

    forward! {
        /// Gets `SO_BROADCAST`.
        ///
        /// # Errors
        ///
        /// The `getsockopt(2)` error, if any.
        ///
        /// # Examples
        ///
        /// See [`set_broadcast`](Self::set_broadcast).
        broadcast(&self) -> io::Result<bool>
    }

    forward! {
        /// Sets `IP_MULTICAST_LOOP`.
        ///
        /// # Errors
        ///
        /// The `setsockopt(2)` error, if any.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
        /// use spindle::net::UdpSocket;
        ///
        /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        /// socket.set_multicast_loop_v4(false).unwrap();
        /// assert!(!socket.multicast_loop_v4().unwrap());
        /// ```
        set_multicast_loop_v4(&self, multicast_loop_v4: bool) -> io::Result<()>
    }

    forward! {
        /// Gets `IP_MULTICAST_LOOP`.
        ///
        /// # Errors
        ///
        /// The `getsockopt(2)` error, if any.
        ///
        /// # Examples
        ///
        /// See [`set_multicast_loop_v4`](Self::set_multicast_loop_v4).
        multicast_loop_v4(&self) -> io::Result<bool>
    }

    forward! {
        /// Sets `IP_MULTICAST_TTL`.
        ///
        /// # Errors
        ///
        /// The `setsockopt(2)` error, if any.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
        /// use spindle::net::UdpSocket;
        ///
        /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        /// socket.set_multicast_ttl_v4(8).unwrap();
        /// assert_eq!(socket.multicast_ttl_v4().unwrap(), 8);
        /// ```
        set_multicast_ttl_v4(&self, multicast_ttl_v4: u32) -> io::Result<()>
    }

    forward! {
        /// Gets `IP_MULTICAST_TTL`.
        ///
        /// # Errors
        ///
        /// The `getsockopt(2)` error, if any.
        ///
        /// # Examples
        ///
        /// See [`set_multicast_ttl_v4`](Self::set_multicast_ttl_v4).
        multicast_ttl_v4(&self) -> io::Result<u32>
    }

    forward! {
        /// Sets `IPV6_MULTICAST_LOOP` (on an IPv6 socket).
        ///
        /// # Errors
        ///
        /// The `setsockopt(2)` error, e.g. on an IPv4 socket.
        ///
        /// # Examples
        ///
        /// ```no_run
        /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
        /// use spindle::net::UdpSocket;
        ///
        /// let socket = UdpSocket::bind("[::1]:0").unwrap();
        /// socket.set_multicast_loop_v6(false).unwrap();
        /// assert!(!socket.multicast_loop_v6().unwrap());
        /// ```
        set_multicast_loop_v6(&self, multicast_loop_v6: bool) -> io::Result<()>
    }

    forward! {
        /// Gets `IPV6_MULTICAST_LOOP`.
        ///
        /// # Errors
        ///
        /// The `getsockopt(2)` error, e.g. on an IPv4 socket.
        ///
        /// # Examples
        ///
        /// See [`set_multicast_loop_v6`](Self::set_multicast_loop_v6).
        multicast_loop_v6(&self) -> io::Result<bool>
    }

    forward! {
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
        /// use spindle::net::UdpSocket;
        ///
        /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        /// socket.set_ttl(42).unwrap();
        /// assert_eq!(socket.ttl().unwrap(), 42);
        /// ```
        set_ttl(&self, ttl: u32) -> io::Result<()>
    }

    forward! {
        /// Gets `IP_TTL`.
        ///
        /// # Errors
        ///
        /// The `getsockopt(2)` error, if any.
        ///
        /// # Examples
        ///
        /// See [`set_ttl`](Self::set_ttl).
        ttl(&self) -> io::Result<u32>
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface with address `interface`
    /// (`Ipv4Addr::UNSPECIFIED` lets the OS choose).
    ///
    /// # Errors
    ///
    /// The `setsockopt(IP_ADD_MEMBERSHIP)` error, e.g. for a non-multicast address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{Ipv4Addr, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    /// let group = Ipv4Addr::new(239, 255, 0, 1);
    /// socket.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED).unwrap();
    /// socket.leave_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED).unwrap();
    /// ```
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.source
            .get_ref()
            .join_multicast_v4(multiaddr, interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on interface index `interface` (0: any).
    ///
    /// # Errors
    ///
    /// The `setsockopt(IPV6_ADD_MEMBERSHIP)` error, e.g. on an IPv4 socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::{Ipv6Addr, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("[::]:0").unwrap();
    /// let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x1234);
    /// socket.join_multicast_v6(&group, 0).unwrap();
    /// socket.leave_multicast_v6(&group, 0).unwrap();
    /// ```
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.source
            .get_ref()
            .join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group joined with
    /// [`join_multicast_v4`](Self::join_multicast_v4).
    ///
    /// # Errors
    ///
    /// The `setsockopt(IP_DROP_MEMBERSHIP)` error, e.g. for a group not joined.
    ///
    /// # Examples
    ///
    /// See [`join_multicast_v4`](Self::join_multicast_v4).
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.source
            .get_ref()
            .leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group joined with
    /// [`join_multicast_v6`](Self::join_multicast_v6).
    ///
    /// # Errors
    ///
    /// The `setsockopt(IPV6_DROP_MEMBERSHIP)` error, e.g. for a group not joined.
    ///
    /// # Examples
    ///
    /// See [`join_multicast_v6`](Self::join_multicast_v6).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.source
            .get_ref()
            .leave_multicast_v6(multiaddr, interface)
    }

    forward! {
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
        /// use spindle::net::UdpSocket;
        ///
        /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        /// assert!(socket.take_error().unwrap().is_none());
        /// ```
        take_error(&self) -> io::Result<Option<io::Error>>
    }

    /// Connects this socket to `addr`: `send`/`recv` then use that peer, and datagrams from
    /// other addresses are dropped. UDP connect does not wait.
    ///
    /// # Errors
    ///
    /// The error of the last address tried, or `InvalidInput` when `addr` resolves to none.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// b.connect(a.local_addr().unwrap()).unwrap();
    /// a.send(b"hi").unwrap();
    /// let mut buf = [0; 4];
    /// assert_eq!(b.recv(&mut buf).unwrap(), 2);
    /// ```
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        addr::each_addr(addr, |a| self.source.get_ref().connect(a))
    }

    /// Sends `buf` to the connected peer, waiting while the send buffer is full.
    ///
    /// # Errors
    ///
    /// `NotConnected`-like errors (`EDESTADDRREQ`) without [`connect`](Self::connect);
    /// `ConnectionRefused` after the peer's port answered with an ICMP error; `WouldBlock`
    /// when the write timeout passes.
    ///
    /// # Examples
    ///
    /// See [`connect`](Self::connect).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Write, |s| s.send(buf))
    }

    /// Receives a datagram from the connected peer, waiting for it.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the read timeout passes; otherwise the `recv(2)` error.
    ///
    /// # Examples
    ///
    /// See [`connect`](Self::connect).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| s.recv(&mut *buf))
    }

    /// Like [`recv`](Self::recv), but leaves the datagram in the queue.
    ///
    /// # Errors
    ///
    /// As for `recv`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
    /// use spindle::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// b.connect(a.local_addr().unwrap()).unwrap();
    /// a.send_to(b"xy", b.local_addr().unwrap()).unwrap();
    /// let mut buf = [0; 4];
    /// assert_eq!(b.peek(&mut buf).unwrap(), 2);
    /// assert_eq!(b.recv(&mut buf).unwrap(), 2);
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| s.peek(&mut *buf))
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
    /// use spindle::net::UdpSocket;
    /// use std::io::ErrorKind;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_nonblocking(true).unwrap();
    /// assert_eq!(socket.recv(&mut [0; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// ```
    ///
    /// # Notes
    ///
    /// The descriptor is always `O_NONBLOCK` while spindle owns it; this setting only decides
    /// whether spindle waits. It is applied to the descriptor when the socket is converted
    /// back to `std` or to a raw fd.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.source.set_nonblocking(nonblocking);
        Ok(())
    }
}

crate::source::socket_traits!(UdpSocket, std::net::UdpSocket);

impl From<std::net::UdpSocket> for UdpSocket {
    /// Takes over a `std` socket: its timeouts and non-blocking setting carry over, and it is
    /// switched to `O_NONBLOCK` underneath.
    fn from(socket: std::net::UdpSocket) -> UdpSocket {
        let read = socket.read_timeout().unwrap_or(None);
        let write = socket.write_timeout().unwrap_or(None);
        UdpSocket {
            source: Source::adopt(socket, read, write),
        }
    }
}
