//! [`read_dir`], [`ReadDir`] and [`DirEntry`]: directory listing in batches from the pool.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use spindle_core::unblock;

use super::{FileType, Metadata, with_path};

/// Entries fetched per pool round trip.
const BATCH: usize = 128;

/// Returns an iterator over the entries of a directory, mirroring [`std::fs::read_dir`].
///
/// # Errors
///
/// As [`std::fs::read_dir`]: `NotFound`, `NotADirectory`, `PermissionDenied`, …
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("a"), "")?;
/// # std::fs::write(dir.path().join("b"), "")?;
/// # let path = dir.path().to_path_buf();
/// spindle_core::run(move || -> std::io::Result<()> {
///     let mut names = spindle_io::fs::read_dir(&path)?
///         .map(|entry| entry.map(|e| e.file_name()))
///         .collect::<std::io::Result<Vec<_>>>()?;
///     names.sort();
///     assert_eq!(names, ["a", "b"]);
///     Ok(())
/// })
/// # }
/// ```
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let inner = with_path(path.as_ref(), |p| std::fs::read_dir(p))?;
    Ok(ReadDir {
        inner: Some(inner),
        ready: VecDeque::new(),
    })
}

/// Iterator over the entries of a directory, mirroring [`std::fs::ReadDir`].
///
/// # Notes
///
/// Entries are read from the pool 128 at a time, so iterating a directory costs
/// one round trip per 128 entries rather than one per entry.
pub struct ReadDir {
    /// `None` while a batch is being read on the pool, and after the end.
    inner: Option<std::fs::ReadDir>,
    ready: VecDeque<io::Result<DirEntry>>,
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        if let Some(entry) = self.ready.pop_front() {
            return Some(entry);
        }
        let mut inner = self.inner.take()?;
        let (inner, batch) = unblock(move || {
            // The file type comes with the listing on Linux (d_type); where it does not, the
            // `stat` happens here, on the pool, not later on the fiber's thread.
            let batch: Vec<_> = inner
                .by_ref()
                .take(BATCH)
                .map(|entry| entry.map(|e| (e.file_type().ok(), e)))
                .collect();
            let more = batch.len() == BATCH;
            (more.then_some(inner), batch)
        });
        self.inner = inner;
        self.ready.extend(batch.into_iter().map(|entry| {
            entry.map(|(file_type, inner)| DirEntry {
                inner: Arc::new(inner),
                file_type,
            })
        }));
        self.ready.pop_front()
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir")
            .field("buffered", &self.ready.len())
            .field("done", &self.inner.is_none())
            .finish()
    }
}

/// An entry of a directory, mirroring [`std::fs::DirEntry`].
pub struct DirEntry {
    inner: Arc<std::fs::DirEntry>,
    /// Found while listing; `None` if that failed (then asked again on demand).
    file_type: Option<FileType>,
}

impl DirEntry {
    /// The full path of the entry (the directory's path joined with the file name).
    #[must_use]
    pub fn path(&self) -> PathBuf {
        self.inner.path()
    }

    /// The bare file name of the entry.
    #[must_use]
    pub fn file_name(&self) -> OsString {
        self.inner.file_name()
    }

    /// The entry's metadata, not following symlinks, on the blocking pool.
    ///
    /// # Errors
    ///
    /// As [`std::fs::DirEntry::metadata`] (e.g. the entry was removed meanwhile).
    pub fn metadata(&self) -> io::Result<Metadata> {
        let inner = Arc::clone(&self.inner);
        unblock(move || inner.metadata())
    }

    /// The entry's file type, found while listing the directory (no further call).
    ///
    /// # Errors
    ///
    /// As [`std::fs::DirEntry::file_type`].
    pub fn file_type(&self) -> io::Result<FileType> {
        if let Some(file_type) = self.file_type {
            return Ok(file_type);
        }
        let inner = Arc::clone(&self.inner);
        unblock(move || inner.file_type())
    }
}

impl std::os::unix::fs::DirEntryExt for DirEntry {
    fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&*self.inner)
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}
