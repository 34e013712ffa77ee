//! spindle-io: fiber-aware I/O types mirroring `std::net`, `std::os::unix::net`, `std::fs`,
//! `std::io` and `std::process`.
//!
//! Every type here has the methods of the `std` type with the same name, with the same
//! arguments and results. The difference is what a call that would block does:
//!
//! * on a fiber (inside a spindle runtime) it parks the calling fiber until the reactor
//!   reports the file descriptor ready or the timeout passes, and the other fibers of the
//!   thread keep running;
//! * on a plain thread (no runtime) it blocks the thread in `poll(2)`, exactly like `std`.
//!
//! All of it goes through one loop (`Source::do_io` in `io/src/source.rs`): try the
//! non-blocking system call; on `WouldBlock`, wait on the reactor with the deadline taken from
//! the timeout; try again.
//!
//! ```
//! # mod spindle { pub use spindle_core::{fiber, run}; pub use spindle_io::{net, os}; }
//! use spindle::net::{TcpListener, TcpStream};
//! use std::io::{Read, Write};
//!
//! # fn main() -> std::io::Result<()> {
//! spindle::run(|| -> std::io::Result<()> {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = spindle::fiber::spawn(move || -> std::io::Result<()> {
//!         let (mut stream, _) = listener.accept()?;
//!         let mut buf = [0; 5];
//!         stream.read_exact(&mut buf)?;
//!         stream.write_all(&buf)
//!     });
//!     let mut client = TcpStream::connect(addr)?;
//!     client.write_all(b"hello")?;
//!     let mut echoed = [0; 5];
//!     client.read_exact(&mut echoed)?;
//!     assert_eq!(&echoed, b"hello");
//!     server.join().unwrap()
//! })
//! # }
//! ```

pub mod dns;
pub mod fs;
pub mod io;
pub mod net;
pub mod os;
pub mod process;

mod source;
mod sys;
