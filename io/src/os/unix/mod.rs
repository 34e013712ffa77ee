//! Unix-specific extensions, mirroring [`std::os::unix`].
//!
//! [`net`], [`fs`] and [`process`] are spindle's (fiber-aware sockets, pool-run filesystem
//! calls, a `CommandExt` for spindle's `Command`); [`ffi`] and [`io`] are std's, re-exported.

pub mod fs;
pub mod net;
pub mod process;

pub use std::os::unix::{ffi, io};
