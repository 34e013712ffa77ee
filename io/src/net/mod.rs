//! Fiber-aware TCP/UDP networking, mirroring [`std::net`].
//!
//! [`TcpListener`], [`TcpStream`] and [`UdpSocket`] have the methods of their `std`
//! namesakes. A call that would block parks the calling fiber (inside a spindle runtime) or
//! blocks the thread in `poll(2)` (on a plain thread), so the same code runs in both worlds.
//! The address and option types are `std`'s own, re-exported here so that changing
//! `use std::net::…` to `use spindle::net::…` is the whole port.
//!
//! ```
//! # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
//! use spindle::net::{Shutdown, TcpListener, TcpStream};
//! use std::io::{Read, Write};
//!
//! # fn main() -> std::io::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let mut client = TcpStream::connect(listener.local_addr()?)?;
//! let (mut server, _) = listener.accept()?;
//! client.write_all(b"ping")?;
//! client.shutdown(Shutdown::Write)?;
//! let mut got = String::new();
//! server.read_to_string(&mut got)?;
//! assert_eq!(got, "ping");
//! # Ok(())
//! # }
//! ```
//!
//! # Notes
//!
//! [`ToSocketAddrs`] is spindle's twin of `std`'s trait (same method, same implementing
//! types): a host name such as `"example.com:80"` is looked up on the blocking pool while the
//! fiber parks, instead of stalling the thread in `getaddrinfo`. IP literals need no lookup.
//! A type of your own that implements only `std::net::ToSocketAddrs` needs this trait too
//! (see [`dns`](crate::dns)).
//!
//! A socket may be moved to another thread or shared between threads (`Arc<UdpSocket>`), as
//! with `std`, also between threads that each run a spindle runtime. Its reactor registration
//! then follows it: it belongs to one runtime at a time, and a runtime that waits on the socket
//! takes it over from the last one, unless fibers of that one are waiting on it right now; its
//! fiber then polls the socket every millisecond until they are done. The rule is spelled out
//! on [`Registration`](spindle_core::__private::reactor::Registration).

mod addr;
mod tcp_listener;
mod tcp_stream;
mod udp_socket;

pub use std::net::{
    AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6,
};

pub use crate::dns::ToSocketAddrs;

pub use tcp_listener::{Incoming, TcpListener};
pub use tcp_stream::TcpStream;
pub use udp_socket::UdpSocket;
