//! Address resolution and the non-blocking TCP connect shared by `connect` and
//! `connect_timeout`.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use spindle_core::__private::reactor::Interest;

use crate::dns::ToSocketAddrs;
use crate::source::Source;
use crate::sys;

/// Calls `f` with each address `addr` resolves to, until one succeeds; otherwise returns the
/// last error, or `std`'s "could not resolve to any addresses" when there was none.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last_err = None;
    for addr in addr.to_socket_addrs()? {
        match f(&addr) {
            Ok(t) => return Ok(t),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// Resolves `addr` to its first address, for `send_to`; `std`'s error when there is none.
pub(crate) fn first_addr<A: ToSocketAddrs>(addr: A) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))
}

/// The error `std::net::TcpStream::connect_timeout` gives on Linux when the time runs out.
pub(crate) fn connect_timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection timed out")
}

/// Connects a new non-blocking TCP socket to `addr`: `connect(2)` returns `EINPROGRESS`,
/// then we wait for writability (until `deadline`) and read the outcome.
///
/// The outcome is read as `getpeername` first, `SO_ERROR` second: connected means done; not
/// connected with a pending error means failed; not connected and no error means the wake-up
/// was early, so wait again. In that order no interleaving with the kernel finishing the
/// handshake gives a wrong answer.
pub(crate) fn connect_tcp(
    addr: &SocketAddr,
    deadline: Option<Instant>,
) -> io::Result<Source<std::net::TcpStream>> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    let source = Source::new(std::net::TcpStream::from(socket));
    match SockRef::from(source.get_ref()).connect(&(*addr).into()) {
        Ok(()) => return Ok(source),
        Err(e) if e.raw_os_error() == Some(sys::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    loop {
        match source.wait(Interest::WRITABLE, deadline) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(connect_timed_out()),
            Err(e) => return Err(e),
        }
        match source.get_ref().peer_addr() {
            Ok(_) => return Ok(source),
            Err(e) if e.raw_os_error() == Some(sys::ENOTCONN) => {}
            Err(e) => return Err(e),
        }
        if let Some(e) = source.get_ref().take_error()? {
            return Err(e);
        }
    }
}
