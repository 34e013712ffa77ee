//! [`File`]: an open file whose I/O runs on the blocking pool.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use spindle_core::{fiber, unblock};

use super::{FileTimes, Metadata, OpenOptions, Permissions, cached};
use crate::sys;

/// An open file, mirroring [`std::fs::File`]; each call that may touch the disk runs on the
/// blocking pool while the calling fiber parks, except reads of bytes that are in the page
/// cache, which run inline.
///
/// # Notes
///
/// - A read takes what the page cache holds inline (`preadv2(RWF_NOWAIT)`) and reads the rest
///   on the pool. Other calls cost one pool round trip (a few µs) on top of `std`'s, and calls
///   that lend a buffer to the pool copy the bytes once; see the [module docs](super).
///   [`read_to_end`](Read::read_to_end), [`read_to_string`](Read::read_to_string),
///   [`read_exact`](Read::read_exact) and [`write_all`](Write::write_all) are each at most
///   one round trip for the whole call.
/// - [`seek`](Seek::seek) and [`try_clone`](File::try_clone) run inline: `lseek` and `dup`
///   do no I/O.
/// - Closing (dropping) the file runs inline too, as `close` on a local filesystem does not
///   wait for the disk.
///
/// # Examples
///
/// ```
/// use spindle_io::fs::File;
/// use std::io::{Read, Write};
///
/// # fn main() -> std::io::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("notes.txt");
/// spindle_core::run(move || -> std::io::Result<()> {
///     let mut file = File::create(&path)?;
///     file.write_all(b"written from a fiber")?;
///     let mut text = String::new();
///     File::open(&path)?.read_to_string(&mut text)?;
///     assert_eq!(text, "written from a fiber");
///     Ok(())
/// })
/// # }
/// ```
pub struct File {
    inner: Arc<std::fs::File>,
}

impl File {
    /// Opens a file in read-only mode, mirroring [`std::fs::File::open`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::open`]: `NotFound`, `PermissionDenied`, …
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Opens a file in write-only mode, creating or truncating it, mirroring
    /// [`std::fs::File::create`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::create`].
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Creates a new file in read-write mode; fails if it exists, mirroring
    /// [`std::fs::File::create_new`].
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the file exists; otherwise as [`File::create`].
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
    }

    /// A new [`OpenOptions`], mirroring [`std::fs::File::options`].
    #[must_use]
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Flushes the file's data and metadata to the disk, mirroring
    /// [`std::fs::File::sync_all`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::sync_all`].
    pub fn sync_all(&self) -> io::Result<()> {
        self.on_pool(|f| f.sync_all())
    }

    /// Flushes the file's data (not all metadata) to the disk, mirroring
    /// [`std::fs::File::sync_data`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::sync_data`].
    pub fn sync_data(&self) -> io::Result<()> {
        self.on_pool(|f| f.sync_data())
    }

    /// Truncates or extends the file to `size` bytes, mirroring [`std::fs::File::set_len`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::set_len`]: the file was not opened for writing, …
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.on_pool(move |f| f.set_len(size))
    }

    /// Queries the file's metadata, mirroring [`std::fs::File::metadata`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::metadata`].
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.on_pool(|f| f.metadata())
    }

    /// Creates a new `File` sharing the same open file (and cursor), mirroring
    /// [`std::fs::File::try_clone`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::try_clone`] (`dup` fails, e.g. out of descriptors).
    pub fn try_clone(&self) -> io::Result<File> {
        Ok(File::from(self.inner.try_clone()?))
    }

    /// Changes the file's permissions, mirroring [`std::fs::File::set_permissions`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::set_permissions`].
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.on_pool(move |f| f.set_permissions(perm))
    }

    /// Changes the file's timestamps, mirroring [`std::fs::File::set_times`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::set_times`].
    pub fn set_times(&self, times: FileTimes) -> io::Result<()> {
        self.on_pool(move |f| f.set_times(times))
    }

    /// Changes the file's modification time, mirroring [`std::fs::File::set_modified`].
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::set_modified`].
    pub fn set_modified(&self, time: SystemTime) -> io::Result<()> {
        self.on_pool(move |f| f.set_modified(time))
    }

    /// Runs `op` on the open file, on the blocking pool (or right here on a plain thread).
    fn on_pool<T, F>(&self, op: F) -> T
    where
        F: FnOnce(&std::fs::File) -> T + Send + 'static,
        T: Send + 'static,
    {
        let file = Arc::clone(&self.inner);
        unblock(move || op(&file))
    }

    /// Reads up to `buf.len()` bytes at `offset` (`None`: at the file position): inline what
    /// the page cache holds, else with `op` into a pool-owned buffer, copied over.
    ///
    /// `exact` asks for all of `buf` (`read_exact`): then a partly cached range is kept and
    /// only the rest is read with `op` on the pool, at the offset where the inline part ended.
    fn read_into(
        &self,
        buf: &mut [u8],
        offset: Option<u64>,
        exact: bool,
        op: impl FnOnce(&std::fs::File, &mut [u8], Option<u64>) -> io::Result<usize> + Send + 'static,
    ) -> io::Result<usize> {
        if !fiber::is_fiber() {
            return op(&self.inner, buf, offset);
        }
        let done = if exact {
            cached::read_some(self.inner.as_fd(), buf, offset)?
        } else if let Some(n) = sys::pread_nowait(self.inner.as_fd(), buf, offset)? {
            // Bytes, or the end of the file (`0`): done either way.
            cached::count_inline();
            return Ok(n);
        } else {
            0
        };
        if exact && done == buf.len() {
            cached::count_inline();
            return Ok(done);
        }
        cached::count_pool();
        let rest = &mut buf[done..];
        let len = rest.len();
        let at = offset.map(|o| o + done as u64);
        let (result, data) = self.on_pool(move |f| {
            let mut data = vec![0; len];
            let result = op(f, &mut data, at);
            (result, data)
        });
        let n = result?;
        rest[..n].copy_from_slice(&data[..n]);
        Ok(done + n)
    }

    /// Reads to the end of the file into `buf`: inline while the page cache holds the bytes,
    /// then the rest on the pool in one round trip (moving `buf` there and back, no copy).
    fn read_to_end_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let start = buf.len();
        // As std does: room for the rest of the file, so that one read takes it all.
        let hint = self.inner.metadata().ok().and_then(|m| {
            let pos = (&*self.inner).stream_position().ok()?;
            usize::try_from(m.len().saturating_sub(pos)).ok()
        });
        buf.try_reserve(hint.unwrap_or(8192)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "cannot allocate a buffer for the file's contents",
            )
        })?;
        if cached::read_to_end(self.inner.as_fd(), buf)? {
            cached::count_inline();
            return Ok(buf.len() - start);
        }
        cached::count_pool();
        let data = std::mem::take(buf);
        let (result, data) = self.on_pool(move |mut f| {
            let mut data = data;
            let result = f.read_to_end(&mut data);
            (result, data)
        });
        // Like std, bytes read before an error stay in `buf`.
        *buf = data;
        result.map(|_| buf.len() - start)
    }

    /// Runs `op` with `buf`, copied to the pool if the caller is a fiber.
    fn write_from<T: Send + 'static>(
        &self,
        buf: &[u8],
        op: impl FnOnce(&std::fs::File, &[u8]) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        if !fiber::is_fiber() {
            return op(&self.inner, buf);
        }
        let data = buf.to_vec();
        self.on_pool(move |f| op(f, &data))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        (&*self).read_exact(buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_into(buf, None, false, |mut f, data, _| f.read(data))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.read_into(buf, None, true, |mut f, data, _| {
            f.read_exact(data).map(|()| data.len())
        })?;
        Ok(())
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if !fiber::is_fiber() {
            return (&*self.inner).read_to_end(buf);
        }
        self.read_to_end_into(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        if !fiber::is_fiber() {
            return (&*self.inner).read_to_string(buf);
        }
        let mut data = Vec::new();
        let result = self.read_to_end_into(&mut data);
        let text = String::from_utf8(data).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        })?;
        if buf.is_empty() {
            *buf = text;
        } else {
            buf.push_str(&text);
        }
        result
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_from(buf, |mut f, data| f.write(data))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write_from(buf, |mut f, data| f.write_all(data))
    }

    /// A no-op, as for `std::fs::File`: writes are not buffered in user space.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

impl Seek for &File {
    /// Runs inline: `lseek` moves the cursor without any I/O.
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self.inner).seek(pos)
    }
}

impl FileExt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.read_into(buf, Some(offset), false, move |f, data, at| {
            f.read_at(data, at.unwrap_or(offset))
        })
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_into(buf, Some(offset), true, move |f, data, at| {
            f.read_exact_at(data, at.unwrap_or(offset))
                .map(|()| data.len())
        })?;
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.write_from(buf, move |f, data| f.write_at(data, offset))
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write_from(buf, move |f, data| f.write_all_at(data, offset))
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        // Files count toward the descriptor table as sockets do (`spindle_core`'s
        // `descriptor_table`): an open on a scheduler thread must not wait for the kernel to
        // grow the table.
        spindle_core::__private::note_descriptor(file.as_raw_fd());
        File {
            inner: Arc::new(file),
        }
    }
}

impl From<File> for std::fs::File {
    fn from(file: File) -> std::fs::File {
        // Only a pool job of a fiber unwound mid-call can still share the `Arc`; give the
        // caller its own descriptor of the same open file then.
        Arc::try_unwrap(file.inner).unwrap_or_else(|shared| {
            shared
                .try_clone()
                .unwrap_or_else(|e| panic!("cannot duplicate a file descriptor: {e}"))
        })
    }
}

impl From<OwnedFd> for File {
    fn from(fd: OwnedFd) -> File {
        File::from(std::fs::File::from(fd))
    }
}

impl From<File> for OwnedFd {
    fn from(file: File) -> OwnedFd {
        OwnedFd::from(std::fs::File::from(file))
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl FromRawFd for File {
    /// # Safety
    ///
    /// As [`std::fs::File::from_raw_fd`]: `fd` must be an open descriptor that nothing else
    /// owns.
    unsafe fn from_raw_fd(fd: RawFd) -> File {
        // SAFETY: the caller passes on the guarantee `std::fs::File::from_raw_fd` needs.
        File::from(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

impl IntoRawFd for File {
    fn into_raw_fd(self) -> RawFd {
        std::fs::File::from(self).into_raw_fd()
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}
