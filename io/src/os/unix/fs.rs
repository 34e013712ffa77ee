//! Unix-specific filesystem extensions, mirroring [`std::os::unix::fs`].
//!
//! The extension traits are std's: spindle's [`File`](crate::fs::File),
//! [`OpenOptions`](crate::fs::OpenOptions), [`DirBuilder`](crate::fs::DirBuilder) and
//! [`DirEntry`](crate::fs::DirEntry) implement them, and [`Metadata`](crate::fs::Metadata),
//! [`Permissions`](crate::fs::Permissions) and [`FileType`](crate::fs::FileType) are std's own
//! types. The free functions touch the disk, so they run on the blocking pool while the fiber
//! parks, like the rest of [`spindle::fs`](crate::fs).

pub use std::os::unix::fs::{
    DirBuilderExt, DirEntryExt, FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt,
};

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use spindle_core::unblock;

use crate::fs::{with_path, with_paths};

/// Creates a symbolic link at `link` pointing to `original`, mirroring
/// [`std::os::unix::fs::symlink`].
///
/// # Errors
///
/// As [`std::os::unix::fs::symlink`]: `link` exists, its directory is missing, …
pub fn symlink<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    with_paths(original.as_ref(), link.as_ref(), |o, l| {
        std::os::unix::fs::symlink(o, l)
    })
}

/// Changes the owner and group of a path, following symlinks, mirroring
/// [`std::os::unix::fs::chown`].
///
/// # Errors
///
/// As [`std::os::unix::fs::chown`]: `NotFound`, `PermissionDenied`, …
pub fn chown<P: AsRef<Path>>(dir: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    with_path(dir.as_ref(), move |p| std::os::unix::fs::chown(p, uid, gid))
}

/// Changes the owner and group of a path without following a final symlink, mirroring
/// [`std::os::unix::fs::lchown`].
///
/// # Errors
///
/// As [`std::os::unix::fs::lchown`].
pub fn lchown<P: AsRef<Path>>(dir: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    with_path(dir.as_ref(), move |p| {
        std::os::unix::fs::lchown(p, uid, gid)
    })
}

/// Changes the owner and group of an open file, mirroring [`std::os::unix::fs::fchown`].
///
/// # Errors
///
/// As [`std::os::unix::fs::fchown`].
pub fn fchown<F: AsFd>(fd: F, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let fd = fd.as_fd().try_clone_to_owned()?;
    unblock(move || std::os::unix::fs::fchown(fd, uid, gid))
}

/// Changes the root directory of the process, mirroring [`std::os::unix::fs::chroot`].
///
/// # Errors
///
/// As [`std::os::unix::fs::chroot`]: `PermissionDenied` without `CAP_SYS_CHROOT`, …
pub fn chroot<P: AsRef<Path>>(dir: P) -> io::Result<()> {
    with_path(dir.as_ref(), |p| std::os::unix::fs::chroot(p))
}
