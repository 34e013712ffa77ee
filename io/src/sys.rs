//! The one doorway to the OS for spindle-io: every direct `libc` call goes through
//! [`syscall!`], and the few Linux-only items live here.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr as UnixSocketAddr;

use socket2::{SockAddr, SockAddrStorage};

/// Calls `libc::$fn(args…)` and turns a `-1` result into `io::Error::last_os_error()`.
///
/// The expansion contains an `unsafe` call: every use site must carry a `// SAFETY:` comment
/// for the arguments it passes.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller of `syscall!` justifies the arguments at the use site.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// `EINPROGRESS`: a non-blocking `connect` has started and will finish later.
pub(crate) const EINPROGRESS: i32 = libc::EINPROGRESS;
/// `ENOTCONN`: the socket is not (yet) connected.
pub(crate) const ENOTCONN: i32 = libc::ENOTCONN;
/// `EAGAIN`: what `read`/`write` return on Linux when `SO_RCVTIMEO`/`SO_SNDTIMEO` expire.
pub(crate) const EAGAIN: i32 = libc::EAGAIN;

/// Switches `O_NONBLOCK` on or off for the open file description behind `fd`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    let mut on = libc::c_int::from(nonblocking);
    // SAFETY: `fd` is a live descriptor for the duration of the borrow; FIONBIO reads one
    // `c_int` through the pointer, which points at `on` on our stack.
    syscall!(ioctl(
        fd.as_raw_fd(),
        libc::FIONBIO,
        &mut on as *mut libc::c_int
    ))?;
    Ok(())
}

/// Reports whether `O_NONBLOCK` is set on the open file description behind `fd`.
pub(crate) fn is_nonblocking(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: `fd` is a live descriptor for the duration of the borrow; F_GETFL takes no
    // further argument.
    let flags = syscall!(fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: the new socket comes out ready for the
/// reactor in one system call.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SockAddr)> {
    let accept4 = |storage: *mut SockAddrStorage, len: *mut libc::socklen_t| {
        // SAFETY: `fd` is live for the borrow; `storage` and `len` come from
        // `SockAddr::try_init`, which passes a zeroed `sockaddr_storage` and its size, so
        // `accept4` may write up to `*len` bytes there and update `*len`.
        syscall!(accept4(
            fd.as_raw_fd(),
            storage.cast(),
            len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC
        ))
    };
    // SAFETY: `try_init`'s contract is that the closure initialises the address up to the
    // length it leaves in `*len` when it returns `Ok`; `accept4` does exactly that.
    let (raw, addr) = unsafe { SockAddr::try_init(accept4) }?;
    // SAFETY: `accept4` succeeded, so `raw` is a new descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
    Ok((owned, addr))
}

/// `recv(2)` with `flags` (used for `MSG_PEEK` where `std` has no stable method).
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
    let n = syscall!(recv(
        fd.as_raw_fd(),
        buf.as_mut_ptr().cast(),
        buf.len(),
        flags
    ))?;
    Ok(n as usize)
}

/// `MSG_PEEK`.
pub(crate) const MSG_PEEK: libc::c_int = libc::MSG_PEEK;

/// Converts a `std` Unix socket address (pathname, abstract or unnamed) into a `SockAddr`
/// for `connect`.
pub(crate) fn unix_sockaddr(addr: &UnixSocketAddr) -> io::Result<SockAddr> {
    if let Some(path) = addr.as_pathname() {
        SockAddr::unix(path)
    } else if let Some(name) = addr.as_abstract_name() {
        let mut bytes = Vec::with_capacity(name.len() + 1);
        bytes.push(0);
        bytes.extend_from_slice(name);
        SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))
    } else {
        // An unnamed address has no `sun_path` at all: the kernel rejects it with EINVAL,
        // which is what `std`'s `connect_addr` reports for it too.
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    }
}
