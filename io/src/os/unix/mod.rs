//! Unix-specific extensions, mirroring [`std::os::unix`].
//!
//! [`net`], [`fs`] and [`process`] are spindle's (fiber-aware sockets, pool-run filesystem
//! calls, a `CommandExt` for spindle's `Command`); [`ffi`] and [`io`] are std's, re-exported.

pub mod fs;
pub mod net;
pub mod process;

pub use std::os::unix::{ffi, io};

/// The Unix extension traits in one import, mirroring [`std::os::unix::prelude`]: std's, with
/// spindle's [`CommandExt`](process::CommandExt) in place of std's (which only std's `Command`
/// implements). `std::os::unix::thread::JoinHandleExt` is left out: fibers have no pthread.
pub mod prelude {
    pub use super::process::CommandExt;
    pub use std::os::unix::prelude::{
        AsFd, AsRawFd, BorrowedFd, DirEntryExt, ExitStatusExt, FileExt, FileTypeExt, FromRawFd,
        IntoRawFd, MetadataExt, OpenOptionsExt, OsStrExt, OsStringExt, OwnedFd, PermissionsExt,
        RawFd,
    };
}
