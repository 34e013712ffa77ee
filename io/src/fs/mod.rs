//! Filesystem operations that park the fiber, mirroring `std::fs`.
//!
//! Linux has no readiness notification for regular files (epoll refuses them). So on a
//! fiber a read first takes what the page cache already holds, inline, with
//! `preadv2(RWF_NOWAIT)`, and only what would wait for the disk goes to the blocking pool
//! ([`unblock`]) while the fiber parks; the other fibers of its thread keep running. Every
//! other call (writes, metadata, directories, opening a `File`) runs the `std::fs` call on the
//! pool. On a plain thread (no runtime) every call runs right there, exactly like `std`.
//!
//! # What runs inline
//!
//! [`read`], [`read_to_string`] and the reads of a [`File`] (`read`, `read_exact`,
//! `read_to_end`, `read_to_string`, `read_at`, `read_exact_at`) run on the fiber as far as
//! the kernel promises not to wait for a device: the path resolves from the dentry cache
//! (`openat2(RESOLVE_CACHED)`), it names a regular file (looked at through an `O_PATH`
//! descriptor before it is opened, so that a FIFO or a device is never opened inline), and the
//! bytes are in the page cache (`RWF_NOWAIT`). Whatever fails one of these goes to the pool,
//! from where the inline part stopped. A long cached read yields to the other fibers after
//! every MiB. Older kernels (before 5.12 for `RESOLVE_CACHED`, 4.14 for `RWF_NOWAIT`) and
//! filesystems that do not support `RWF_NOWAIT` simply use the pool.
//!
//! # What a call costs against `std`
//!
//! | call | pool hops | extra copying |
//! |------|-----------|---------------|
//! | [`read`], [`read_to_string`], cached | 0 (three more system calls than `std`: the `O_PATH` look) | none |
//! | [`read`], [`read_to_string`], not (all) cached | 1 for the part not cached | none: the `Vec` is moved to the pool and back |
//! | `File::read`, `read_at`, cached | 0 | none |
//! | `File::read`, `read_exact`, `read_at`, not cached | 1 | the bytes read on the pool (into the caller's buffer) |
//! | `File::read_to_end`, `File::read_to_string` | 0 if cached, else 1 for the rest | none |
//! | [`write()`] | 1 | the contents once (the pool needs an owned copy) |
//! | `File::write`, `File::write_all` | 1 for the whole call | the buffer once |
//! | [`metadata`], [`rename`], … (other free functions), `File::open` | 1 | none |
//! | [`ReadDir`] iteration | 1 per 128 entries | none |
//!
//! A pool round trip costs a few microseconds (see the `blocking` bench of spindle-io).
//! Measured on the development machine (a 2-core VM under load; `cargo run --release
//! --example fs_read_ratio`, interleaved rounds, medians): [`read`] of a cached 1 MiB file
//! takes 1.04–1.12x the time of `std::fs::read` over five runs (about 45 µs against 41 µs),
//! where it took 1.6x through the pool before.
//!
//! So prefer whole-file calls and big buffers: reading an uncached file through a
//! small-buffered `BufReader<File>` costs one hop per refill.
//!
//! The plain data types of `std::fs` — [`Metadata`], [`Permissions`], [`FileType`],
//! [`FileTimes`] — are re-exported unchanged.

mod cached;
mod dir;
mod file;
mod lock;
mod options;

#[doc(hidden)]
pub use cached::__read_counts;
pub use dir::{DirEntry, ReadDir, read_dir};
pub use file::File;
pub use lock::TryLockError;
pub use options::{DirBuilder, OpenOptions};
pub use std::fs::{FileTimes, FileType, Metadata, Permissions};

use std::io;
use std::path::{Path, PathBuf};

use spindle_core::{fiber, unblock};

/// Runs `f(path)` on the blocking pool with an owned copy of `path`.
pub(crate) fn with_path<T, F>(path: &Path, f: F) -> io::Result<T>
where
    F: FnOnce(&Path) -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let path = path.to_path_buf();
    unblock(move || f(&path))
}

/// Runs `f(from, to)` on the blocking pool with owned copies of both paths.
pub(crate) fn with_paths<T, F>(from: &Path, to: &Path, f: F) -> io::Result<T>
where
    F: FnOnce(&Path, &Path) -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    unblock(move || f(&from, &to))
}

/// Reads the entire contents of a file into a bytes vector, mirroring [`std::fs::read`].
///
/// # Errors
///
/// As [`std::fs::read`]: `NotFound` if `path` does not exist, `PermissionDenied`, `IsADirectory`…
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("greeting");
/// # std::fs::write(&path, "hello")?;
/// spindle_core::run(move || -> std::io::Result<()> {
///     let bytes = spindle_io::fs::read(&path)?; // cached: no pool round trip
///     assert_eq!(bytes, b"hello");
///     Ok(())
/// })
/// # }
/// ```
///
/// # Notes
///
/// On a fiber, a file whose path and bytes are cached is read inline, with no pool round
/// trip; see the [module docs](self) for the rule.
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    if fiber::is_fiber()
        && let Some(result) = cached::read(path)
    {
        return result;
    }
    with_path(path, |p| std::fs::read(p))
}

/// Reads the entire contents of a file into a string, mirroring [`std::fs::read_to_string`].
///
/// # Errors
///
/// As [`std::fs::read_to_string`]; `InvalidData` if the contents are not UTF-8.
///
/// # Notes
///
/// Inline when cached, as [`read`].
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let path = path.as_ref();
    if fiber::is_fiber()
        && let Some(result) = cached::read(path)
    {
        return String::from_utf8(result?).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        });
    }
    with_path(path, |p| std::fs::read_to_string(p))
}

/// Writes a slice as the entire contents of a file, mirroring [`std::fs::write`].
///
/// # Errors
///
/// As [`std::fs::write`].
///
/// # Notes
///
/// `contents` is copied once, so that the pool thread owns it.
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let contents = contents.as_ref().to_vec();
    with_path(path.as_ref(), move |p| std::fs::write(p, contents))
}

/// Copies the contents and permissions of one file to another, mirroring [`std::fs::copy`].
/// Returns the number of bytes copied.
///
/// # Errors
///
/// As [`std::fs::copy`]: `from` missing or not a regular file, `to` not writable, …
pub fn copy<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<u64> {
    with_paths(from.as_ref(), to.as_ref(), |f, t| std::fs::copy(f, t))
}

/// Renames a file or directory, replacing `to` if it exists, mirroring [`std::fs::rename`].
///
/// # Errors
///
/// As [`std::fs::rename`].
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    with_paths(from.as_ref(), to.as_ref(), |f, t| std::fs::rename(f, t))
}

/// Creates a hard link, mirroring [`std::fs::hard_link`].
///
/// # Errors
///
/// As [`std::fs::hard_link`].
pub fn hard_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    with_paths(original.as_ref(), link.as_ref(), |o, l| {
        std::fs::hard_link(o, l)
    })
}

/// Removes a file, mirroring [`std::fs::remove_file`].
///
/// # Errors
///
/// As [`std::fs::remove_file`]: `NotFound`, `IsADirectory`, `PermissionDenied`, …
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    with_path(path.as_ref(), |p| std::fs::remove_file(p))
}

/// Creates a new, empty directory, mirroring [`std::fs::create_dir`].
///
/// # Errors
///
/// As [`std::fs::create_dir`]: `AlreadyExists`, `NotFound` for a missing parent, …
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    with_path(path.as_ref(), |p| std::fs::create_dir(p))
}

/// Creates a directory and all missing parents, mirroring [`std::fs::create_dir_all`].
///
/// # Errors
///
/// As [`std::fs::create_dir_all`].
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    with_path(path.as_ref(), |p| std::fs::create_dir_all(p))
}

/// Removes an empty directory, mirroring [`std::fs::remove_dir`].
///
/// # Errors
///
/// As [`std::fs::remove_dir`]: `NotFound`, `DirectoryNotEmpty`, `NotADirectory`, …
pub fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    with_path(path.as_ref(), |p| std::fs::remove_dir(p))
}

/// Removes a directory and everything in it, mirroring [`std::fs::remove_dir_all`].
/// The whole walk is one pool round trip.
///
/// # Errors
///
/// As [`std::fs::remove_dir_all`].
pub fn remove_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    with_path(path.as_ref(), |p| std::fs::remove_dir_all(p))
}

/// Queries metadata, following symlinks, mirroring [`std::fs::metadata`].
///
/// # Errors
///
/// As [`std::fs::metadata`].
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    with_path(path.as_ref(), |p| std::fs::metadata(p))
}

/// Queries metadata without following symlinks, mirroring [`std::fs::symlink_metadata`].
///
/// # Errors
///
/// As [`std::fs::symlink_metadata`].
pub fn symlink_metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    with_path(path.as_ref(), |p| std::fs::symlink_metadata(p))
}

/// Returns the canonical, absolute form of a path, mirroring [`std::fs::canonicalize`].
///
/// # Errors
///
/// As [`std::fs::canonicalize`]: `NotFound` if a component does not exist, …
pub fn canonicalize<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    with_path(path.as_ref(), |p| std::fs::canonicalize(p))
}

/// Reads the target of a symbolic link, mirroring [`std::fs::read_link`].
///
/// # Errors
///
/// As [`std::fs::read_link`]: `InvalidInput` if `path` is not a symlink, …
pub fn read_link<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    with_path(path.as_ref(), |p| std::fs::read_link(p))
}

/// Changes the permissions of a file or directory, mirroring [`std::fs::set_permissions`].
///
/// # Errors
///
/// As [`std::fs::set_permissions`].
pub fn set_permissions<P: AsRef<Path>>(path: P, perm: Permissions) -> io::Result<()> {
    with_path(path.as_ref(), move |p| std::fs::set_permissions(p, perm))
}

/// Returns `Ok(true)` if `path` points at an existing entity, mirroring [`std::fs::exists`].
///
/// # Errors
///
/// As [`std::fs::exists`]: an error other than "not found" while checking.
pub fn exists<P: AsRef<Path>>(path: P) -> io::Result<bool> {
    with_path(path.as_ref(), |p| std::fs::exists(p))
}
