//! OS-specific extensions, mirroring [`std::os`]: the fiber-aware Unix domain sockets live in
//! [`os::unix::net`](crate::os::unix::net); [`fd`] is std's, re-exported.

pub mod unix;

pub use std::os::fd;
