//! OS-specific extensions, mirroring [`std::os`]: the fiber-aware Unix domain sockets live in
//! [`os::unix::net`](crate::os::unix::net).

pub mod unix;
