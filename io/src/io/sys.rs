//! The OS calls of `spindle::io`, `spindle::fs` and `spindle::process`: each direct `libc`
//! call of these modules is here, behind a safe function taking `BorrowedFd`s.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Turns a `-1` result into `io::Error::last_os_error()`.
fn cvt<T: PartialEq + From<i8>>(res: T) -> io::Result<T> {
    if res == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// `PIPE_BUF`: a write of at most this many bytes to a pipe that polls writable does not block.
pub(crate) const PIPE_BUF: usize = libc::PIPE_BUF;

/// Switches `O_NONBLOCK` on or off for the open file description behind `fd`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    // SAFETY: `fd` is live for the borrow; F_GETFL takes no further argument.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let new = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: `fd` is live for the borrow; F_SETFL takes one `c_int` of flags.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// Reports whether `O_NONBLOCK` is set on the open file description behind `fd`.
pub(crate) fn is_nonblocking(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: `fd` is live for the borrow; F_GETFL takes no further argument.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// Polls `fd` for `events` (`libc::POLLIN`/`POLLOUT`) without waiting. True when `poll`
/// reports anything at all (the events, hang-up, error, or an invalid fd): the next
/// `read`/`write` then returns at once, with data or with the error.
pub(crate) fn ready_now(fd: BorrowedFd<'_>, events: libc::c_short) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is one valid `pollfd` on our stack and we pass a count of 1; a zero
        // timeout never blocks.
        match cvt(unsafe { libc::poll(&mut pfd, 1, 0) }) {
            Ok(n) => return Ok(n > 0 && pfd.revents != 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `read(2)` on a borrowed descriptor.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
    let n = cvt(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

/// `write(2)` on a borrowed descriptor.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the duration of the call.
    let n = cvt(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

/// `flock(2)`: `op` is `LOCK_EX`, `LOCK_SH` or `LOCK_UN`, with `LOCK_NB` to fail with
/// `WouldBlock` instead of waiting. A wait interrupted by a signal is restarted.
pub(crate) fn flock(fd: BorrowedFd<'_>, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: `fd` is live for the borrow; `flock` takes an fd and an operation code and
        // touches no memory of ours.
        match cvt(unsafe { libc::flock(fd.as_raw_fd(), op) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result.map(drop),
        }
    }
}

/// What kind of file `fd` is, from `fstat`: `S_IFREG`, `S_IFIFO`, `S_IFCHR`, … (`st_mode & S_IFMT`).
pub(crate) fn file_type(fd: BorrowedFd<'_>) -> io::Result<libc::mode_t> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of one `stat`, which `fstat` fills on success.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: `fstat` succeeded, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    Ok(st.st_mode & libc::S_IFMT)
}

/// `pidfd_open(pid, 0)`: a descriptor that polls readable once process `pid` has exited.
/// The new descriptor is close-on-exec.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: SYS_pidfd_open takes a pid and a flags word and returns a new descriptor or -1.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the syscall succeeded, so `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `waitpid(pid, &status, WNOHANG)` (`block == false`) or `waitpid(pid, &status, 0)`:
/// `Some(status)` once the child has been reaped, `None` while it runs.
pub(crate) fn waitpid(pid: u32, block: bool) -> io::Result<Option<libc::c_int>> {
    let pid = pid as libc::pid_t;
    let flags = if block { 0 } else { libc::WNOHANG };
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid `c_int` on our stack for `waitpid` to write.
        match cvt(unsafe { libc::waitpid(pid, &mut status, flags) }) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `kill(pid, SIGKILL)`.
pub(crate) fn kill(pid: u32) -> io::Result<()> {
    // SAFETY: `kill` takes plain integers; the caller guarantees `pid` is its unreaped child,
    // so the pid cannot have been reused by another process.
    cvt(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) })?;
    Ok(())
}
