//! Reads of data the page cache already holds, run on the fiber itself.
//!
//! A read from the page cache is a memory copy: sending it to the blocking pool costs two
//! cross-thread wake-ups, more than the copy of a whole megabyte. So a fiber first asks the
//! kernel for the bytes with `preadv2(RWF_NOWAIT)`, which copies what is cached and refuses
//! (`EAGAIN`) instead of waiting for the disk; only what is not cached goes to the pool.
//!
//! # What runs inline (the rule)
//!
//! A call runs on the fiber only as far as the kernel can promise it does not wait for a
//! device; everything else goes to the pool, as before:
//!
//! | step | inline when | else |
//! |------|-------------|------|
//! | path lookup ([`read`], [`read_to_string`]) | every component is in the dentry cache: `openat2(RESOLVE_CACHED)` (Linux ≥ 5.12) | the whole call on the pool |
//! | open | the path names a regular file (checked on an `O_PATH` descriptor first, which opens nothing, so a FIFO or device never sees an inline `open`); opened with `O_NONBLOCK`, which for a regular file only turns a wait for a lease break into `EAGAIN` | the whole call on the pool |
//! | `fstat` (size hint) | always: the inode is in memory once the file is open | — |
//! | read | the bytes are in the page cache: `preadv2(RWF_NOWAIT)` (Linux ≥ 4.14; the filesystem must support it) | the rest of the read on the pool, from where the inline part stopped |
//! | close | always, as for every spindle `File` | — |
//!
//! A read that finds only part of its range cached keeps the part it got and lets the pool
//! read the rest. A long read from the cache yields to the other fibers of its thread
//! after every [`CHUNK`] copied, so a huge cached file does not stall them either.
//!
//! Filesystems that answer lookups or reads from elsewhere than the page cache without
//! saying so (FUSE daemons, some network filesystems) may still make an inline call wait:
//! `RWF_NOWAIT` and `RESOLVE_CACHED` are the kernel's promises, and spindle relies on them.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use spindle_core::{fiber, unblock};

use crate::sys;

/// The bytes a fiber copies from the page cache before it yields once to the other fibers of
/// its thread (about 50 µs of copying).
pub(crate) const CHUNK: usize = 1 << 20;

thread_local! {
    /// Reads finished on this thread's fibers: `(inline, with the pool's help)`.
    static COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Counts a read that finished inline.
pub(crate) fn count_inline() {
    COUNTS.with(|c| {
        let (inline, pool) = c.get();
        c.set((inline + 1, pool));
    });
}

/// Counts a read that needed the pool.
pub(crate) fn count_pool() {
    COUNTS.with(|c| {
        let (inline, pool) = c.get();
        c.set((inline, pool + 1));
    });
}

/// The reads of files (whole-file calls and `File` reads) made by the fibers of the calling
/// thread so far: `(finished inline from the page cache, needed the blocking pool)`.
///
/// Not a stable API: it exists so that tests can see which way a read went.
#[doc(hidden)]
pub fn __read_counts() -> (u64, u64) {
    COUNTS.with(Cell::get)
}

/// Reads from the file position of `fd` to the end of the file into `buf`, inline, for as
/// long as the page cache holds the bytes. `Ok(true)` at the end of the file; `Ok(false)` when
/// the rest must be read on the pool (the file position is where the inline part stopped).
pub(crate) fn read_to_end(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut since_yield = 0;
    loop {
        if buf.len() == buf.capacity() {
            // Like std, look for the end of the file with a small read before growing.
            let mut probe = [0u8; 32];
            match sys::pread_nowait(fd, &mut probe, None)? {
                None => return Ok(false),
                Some(0) => return Ok(true),
                Some(n) => {
                    buf.extend_from_slice(&probe[..n]);
                    buf.try_reserve(8192).map_err(|_| out_of_memory())?;
                    continue;
                }
            }
        }
        if since_yield >= CHUNK {
            fiber::yield_now();
            since_yield = 0;
        }
        match sys::pread_nowait_append(fd, buf, CHUNK - since_yield, None)? {
            None => return Ok(false),
            Some(0) => return Ok(true),
            Some(n) => since_yield += n,
        }
    }
}

/// Reads into all of `buf` at `offset` (`None`: at the file position), inline as far as the
/// page cache holds the bytes; returns how many it read. Fewer than `buf.len()` means the
/// rest is not cached, or the file ended.
pub(crate) fn read_some(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    offset: Option<u64>,
) -> io::Result<usize> {
    let mut done = 0;
    let mut since_yield = 0;
    while done < buf.len() {
        if since_yield >= CHUNK {
            fiber::yield_now();
            since_yield = 0;
        }
        let end = buf.len().min(done + CHUNK - since_yield);
        let at = offset.map(|o| o + done as u64);
        match sys::pread_nowait(fd, &mut buf[done..end], at)? {
            None | Some(0) => break,
            Some(n) => {
                done += n;
                since_yield += n;
            }
        }
    }
    Ok(done)
}

/// `std::fs::read` for a fiber, inline if the path, the file and its bytes are all cached
/// (see the module docs); `None` if the call should go to the pool from the start.
pub(crate) fn read(path: &Path) -> Option<io::Result<Vec<u8>>> {
    let file = match open(path) {
        Ok(Some(file)) => file,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    Some(read_file(file))
}

/// Opens `path` for reading, inline, if it resolves from the dentry cache to a regular file;
/// with the file's size.
fn open(path: &Path) -> io::Result<Option<(File, u64)>> {
    // Look first, without opening: an `open` of a FIFO or a device has effects of its own.
    let Some(handle) = sys::open_cached(path, libc::O_PATH)? else {
        return Ok(None);
    };
    // Counted toward the descriptor table like every descriptor spindle makes on a fiber.
    spindle_core::__private::note_descriptor(handle.as_raw_fd());
    if !File::from(handle).metadata()?.is_file() {
        return Ok(None);
    }
    let Some(fd) = sys::open_cached(path, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)?
    else {
        return Ok(None);
    };
    let file = File::from(fd);
    // The path may have been renamed over since the look; what counts is what was opened.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    Ok(Some((file, meta.len())))
}

/// Reads all of an open regular file of `size` bytes (so far) from its start.
fn read_file((file, size): (File, u64)) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    buf.try_reserve_exact(size).map_err(|_| out_of_memory())?;
    if read_to_end(file.as_fd(), &mut buf)? {
        count_inline();
        return Ok(buf);
    }
    count_pool();
    unblock(move || {
        (&file).read_to_end(&mut buf)?;
        Ok(buf)
    })
}

/// The error `std` gives when a buffer for a file's contents cannot be allocated.
fn out_of_memory() -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        "cannot allocate a buffer for the file's contents",
    )
}
