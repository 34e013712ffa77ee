//! Fiber-aware Unix domain sockets, mirroring [`std::os::unix::net`].
//!
//! [`UnixListener`], [`UnixStream`] and [`UnixDatagram`] have the methods of their `std`
//! namesakes; a call that would block parks the calling fiber inside a spindle runtime and
//! blocks the thread outside one. [`SocketAddr`] is `std`'s own.
//!
//! ```
//! # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
//! use spindle::os::unix::net::UnixStream;
//! use std::io::{Read, Write};
//!
//! # fn main() -> std::io::Result<()> {
//! let (mut a, mut b) = UnixStream::pair()?;
//! a.write_all(b"hello")?;
//! let mut buf = [0; 5];
//! b.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"hello");
//! # Ok(())
//! # }
//! ```

mod unix_datagram;
mod unix_listener;
mod unix_stream;

pub use std::os::unix::net::SocketAddr;

pub use unix_datagram::UnixDatagram;
pub use unix_listener::{Incoming, UnixListener};
pub use unix_stream::UnixStream;
