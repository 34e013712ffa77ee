//! Name resolution that parks the fiber: [`ToSocketAddrs`], spindle's twin of
//! [`std::net::ToSocketAddrs`], and [`resolve`].
//!
//! `getaddrinfo(3)` blocks its thread for as long as the resolver takes, and no non-blocking
//! form of it exists in libc. So a host name is resolved on the blocking pool
//! ([`unblock`]) while the asking fiber parks: a slow resolver stalls
//! only that fiber. IP literals (`"127.0.0.1:80"`, `("::1", 80)`, a `SocketAddr`) are parsed
//! inline with no pool hop.
//!
//! Every spindle networking call that takes an address (`connect`, `bind`, `send_to`, …) takes
//! `impl ToSocketAddrs` of this trait, which has the same method and is implemented for the
//! same types as `std`'s.
//!
//! # Notes
//!
//! A type of your own that implements only `std::net::ToSocketAddrs` must implement this
//! trait too to be passed to spindle (or convert it to a `SocketAddr` first). `std`'s trait
//! cannot be used for the pool hop: a generic value of it is neither `Send` nor `'static`, and
//! a lookup cannot be told apart from a literal until it has run.

use std::io;
use std::iter::Cloned;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::{option, slice, vec};

use spindle_core::unblock;

/// A value that can be turned into one or more socket addresses, mirroring
/// [`std::net::ToSocketAddrs`]; host names are looked up on the blocking pool.
///
/// Implemented for `SocketAddr`, `SocketAddrV4`, `SocketAddrV6`, `(IpAddr, u16)`,
/// `(Ipv4Addr, u16)`, `(Ipv6Addr, u16)`, `(&str, u16)`, `(String, u16)`, `str` and `String`
/// (`"host:port"`), `&[SocketAddr]` and references to any of these.
///
/// # Examples
///
/// ```
/// use spindle_io::dns::ToSocketAddrs;
///
/// # fn main() -> std::io::Result<()> {
/// spindle_core::run(|| -> std::io::Result<()> {
///     let addrs: Vec<_> = ("localhost", 8080).to_socket_addrs()?.collect();
///     assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
///     Ok(())
/// })
/// # }
/// ```
pub trait ToSocketAddrs {
    /// The iterator over the resolved addresses.
    type Iter: Iterator<Item = SocketAddr>;

    /// Resolves `self` to socket addresses, parking the calling fiber during a name lookup.
    ///
    /// # Errors
    ///
    /// As `std`: `InvalidInput` for a string that is not `host:port`, and the resolver's error
    /// (e.g. an unknown host) for a lookup that fails.
    fn to_socket_addrs(&self) -> io::Result<Self::Iter>;
}

/// Resolves `addr` to its socket addresses, parking the calling fiber during a name lookup.
///
/// # Errors
///
/// As [`ToSocketAddrs::to_socket_addrs`].
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let addrs = spindle_io::dns::resolve("127.0.0.1:80")?; // a literal: no lookup at all
/// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
/// # Ok(())
/// # }
/// ```
pub fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<std::net::SocketAddr>> {
    Ok(addr.to_socket_addrs()?.collect())
}

/// Looks `host` up on the blocking pool with `std`'s resolver (so errors are `std`'s).
fn lookup(host: String, port: u16) -> io::Result<vec::IntoIter<SocketAddr>> {
    let addrs = unblock(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .map(Iterator::collect::<Vec<_>>)
    })?;
    Ok(addrs.into_iter())
}

impl ToSocketAddrs for SocketAddr {
    type Iter = option::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(Some(*self).into_iter())
    }
}

macro_rules! literal_impls {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {
            type Iter = option::IntoIter<SocketAddr>;
            fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
                Ok(Some(SocketAddr::from(*self)).into_iter())
            }
        }
    )*};
}

literal_impls!(
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for (&str, u16) {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        let (host, port) = *self;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)].into_iter());
        }
        lookup(host.to_owned(), port)
    }
}

impl ToSocketAddrs for (String, u16) {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        (self.0.as_str(), self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr].into_iter());
        }
        // "host:port", split like std does: at the last colon.
        let Some((host, port)) = self.rsplit_once(':') else {
            return Err(invalid_input("invalid socket address"));
        };
        let Ok(port) = port.parse::<u16>() else {
            return Err(invalid_input("invalid port value"));
        };
        lookup(host.to_owned(), port)
    }
}

impl ToSocketAddrs for String {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        self.as_str().to_socket_addrs()
    }
}

impl<'a> ToSocketAddrs for &'a [SocketAddr] {
    type Iter = Cloned<slice::Iter<'a, SocketAddr>>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(self.iter().cloned())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    type Iter = T::Iter;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        (**self).to_socket_addrs()
    }
}

fn invalid_input(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
