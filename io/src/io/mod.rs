//! Fiber-aware standard streams, pipes and file descriptors, mirroring `std::io`.
//!
//! - [`stdin`], [`stdout`], [`stderr`]: the process's standard streams; reads and writes park
//!   the calling fiber, and the shared descriptors are never switched to non-blocking mode.
//! - [`Fd`]: makes any pollable descriptor fiber-aware (an eventfd, inotify, a serial port, a
//!   socket type spindle does not wrap), with `Read`/`Write` when the wrapped type has them.
//! - [`pipe`]: an anonymous pipe built on [`Fd`].
//!
//! The traits and helper types of `std::io` are re-exported here unchanged, so that
//! `use spindle::io::{self, BufRead, Read, Write}` works like the `std` import it replaces;
//! [`IsTerminal`] is spindle's own (std's is sealed), implemented for every descriptor.

mod fd;
mod lock;
mod pipe;
mod stdio;
mod terminal;

pub use fd::Fd;
pub(crate) use fd::pipe_fd_traits;
pub use pipe::{PipeReader, PipeWriter, pipe};
#[doc(hidden)]
pub use stdio::{_eprint, _print};
pub use stdio::{Stderr, StderrLock, Stdin, StdinLock, Stdout, StdoutLock, stderr, stdin, stdout};
pub use terminal::IsTerminal;

pub use std::io::{
    BufRead, BufReader, BufWriter, Bytes, Chain, Cursor, Empty, Error, ErrorKind, IntoInnerError,
    IoSlice, IoSliceMut, LineWriter, Lines, Read, Repeat, Result, Seek, SeekFrom, Sink, Split,
    Take, Write, WriterPanicked, copy, empty, read_to_string, repeat, sink,
};

/// The traits a program that does I/O usually needs, mirroring `std::io::prelude`:
/// `use spindle::io::prelude::*;`.
pub mod prelude {
    pub use super::{BufRead, Read, Seek, Write};
}
