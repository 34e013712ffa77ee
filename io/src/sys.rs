//! The one doorway to the OS for spindle-io: every direct `libc` call of the crate goes
//! through [`syscall!`] in this module, behind a safe function taking `BorrowedFd`s.
//!
//! What it provides, by the part of the crate that uses it:
//!
//! | for | items |
//! |---|---|
//! | every descriptor | [`set_nonblocking`], [`is_nonblocking`], [`ready_now`], [`read`], [`write`], [`file_type`], [`PIPE_BUF`] |
//! | sockets | [`accept`], [`recv`] (with [`MSG_PEEK`]), [`recv_raw`], [`send_raw`], [`unix_sockaddr`], [`EINPROGRESS`], [`ENOTCONN`], [`EAGAIN`] |
//! | files | [`pread_nowait`], [`pread_nowait_append`], [`open_cached`], [`flock`] |
//! | processes | [`pidfd_open`], [`waitpid`], [`kill`], [`atexit`] |
//!
//! Everything else in the crate reaches the OS through `std`, `socket2` or spindle-core.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr as UnixSocketAddr;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

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
///
/// `ioctl(FIONBIO)` rather than `fcntl(F_GETFL)` + `fcntl(F_SETFL)`: one system call instead of
/// two, and no read-modify-write of the file status flags, so a flag another thread changes
/// between the two `fcntl`s (`O_APPEND`, `O_ASYNC`) cannot be lost. Linux handles `FIONBIO` for
/// every kind of file in the VFS (`ioctl_fionbio`) before any driver sees it, so it is correct
/// for pipes, terminals, eventfds and sockets alike; it is what `std`'s `set_nonblocking` uses.
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

/// `PIPE_BUF`: a write of at most this many bytes to a pipe that polls writable does not block.
pub(crate) const PIPE_BUF: usize = libc::PIPE_BUF;

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
        match syscall!(poll(&mut pfd, 1, 0)) {
            Ok(n) => return Ok(n > 0 && pfd.revents != 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `read(2)` on a borrowed descriptor.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
    let n = syscall!(read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()))?;
    Ok(n as usize)
}

/// `write(2)` on a borrowed descriptor.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the duration of the call.
    let n = syscall!(write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()))?;
    Ok(n as usize)
}

/// What kind of file `fd` is, from `fstat`: `S_IFREG`, `S_IFIFO`, `S_IFCHR`, … (`st_mode & S_IFMT`).
pub(crate) fn file_type(fd: BorrowedFd<'_>) -> io::Result<libc::mode_t> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of one `stat`, which `fstat` fills on success.
    syscall!(fstat(fd.as_raw_fd(), st.as_mut_ptr()))?;
    // SAFETY: `fstat` succeeded, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    Ok(st.st_mode & libc::S_IFMT)
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

/// Set once `preadv2` turned out to be missing (`ENOSYS`, Linux < 4.6): no more attempts.
static NO_PREADV2: AtomicBool = AtomicBool::new(false);

/// `preadv2(2)` with `RWF_NOWAIT` into `len` bytes at `ptr`: reads only what the page cache
/// already holds. `offset` `None` reads at (and advances) the file position, as `read` does.
///
/// `Ok(Some(n))` is a read of `n` bytes (`0` at the end of the file; fewer than asked when
/// only part of the range is cached); `Ok(None)` means the read would have to wait (`EAGAIN`),
/// or the file, its filesystem or the kernel cannot tell (`EOPNOTSUPP`, `ENOSYS`), so the
/// caller should read on the blocking pool instead. Other errors are the read's own.
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes for the duration of the call.
unsafe fn pread_nowait_raw(
    fd: BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
    offset: Option<u64>,
) -> io::Result<Option<usize>> {
    if NO_PREADV2.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let iov = libc::iovec {
        iov_base: ptr.cast(),
        // As std does, read at most `isize::MAX` bytes at once.
        iov_len: len.min(isize::MAX as usize),
    };
    let offset = match offset {
        // An offset past `i64::MAX` cannot be read; let the pool report it as `std` does.
        Some(off) => match libc::off_t::try_from(off) {
            Ok(off) => off,
            Err(_) => return Ok(None),
        },
        None => -1,
    };
    // SAFETY: `fd` is live for the borrow; `iov` describes `len` writable bytes at `ptr`
    // (this function's contract) and lives on our stack across the call; one iovec is passed.
    match syscall!(preadv2(fd.as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT)) {
        Ok(n) => Ok(Some(n as usize)),
        Err(e) => match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EOPNOTSUPP | libc::EINTR) => Ok(None),
            Some(libc::ENOSYS) => {
                NO_PREADV2.store(true, Ordering::Relaxed);
                Ok(None)
            }
            _ => Err(e),
        },
    }
}

/// [`pread_nowait_raw`] into `buf`.
pub(crate) fn pread_nowait(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    offset: Option<u64>,
) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes while it is borrowed.
    unsafe { pread_nowait_raw(fd, buf.as_mut_ptr(), buf.len(), offset) }
}

/// [`pread_nowait_raw`] into the spare capacity of `buf` (up to `max` bytes), which grows by
/// the bytes read.
pub(crate) fn pread_nowait_append(
    fd: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    max: usize,
    offset: Option<u64>,
) -> io::Result<Option<usize>> {
    let spare = buf.spare_capacity_mut();
    let len = spare.len().min(max);
    // SAFETY: the spare capacity is `spare.len()` bytes of writable (uninitialised) memory
    // owned by `buf`, and `len` is no more than that.
    let read = unsafe { pread_nowait_raw(fd, spare.as_mut_ptr().cast(), len, offset) }?;
    if let Some(n) = read {
        // SAFETY: the kernel wrote (initialised) the first `n ≤ len` bytes of the spare
        // capacity, so `buf.len() + n` bytes are initialised and within the capacity.
        unsafe { buf.set_len(buf.len() + n) };
    }
    Ok(read)
}

/// Set once `openat2` turned out to be missing or to lack `RESOLVE_CACHED` (Linux < 5.12).
static NO_RESOLVE_CACHED: AtomicBool = AtomicBool::new(false);

/// `openat2(2)` of `path` relative to the working directory with `flags` and
/// `RESOLVE_CACHED`: resolves the path only if every step of the lookup is in the dentry
/// cache, so the call cannot wait for the disk while walking the path.
///
/// `Ok(None)` when the lookup would need I/O (`EAGAIN`), when the kernel lacks `openat2` or
/// `RESOLVE_CACHED`, or when `path` holds a NUL byte: the caller should open on the blocking
/// pool instead (where `std` reports any error). Other errors are the open's own.
pub(crate) fn open_cached(path: &Path, flags: libc::c_int) -> io::Result<Option<OwnedFd>> {
    if NO_RESOLVE_CACHED.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
        return Ok(None);
    };
    // SAFETY: `open_how` is plain integers, for which all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_CACHED;
    // SAFETY: `cpath` is a NUL-terminated string and `how` an initialised `open_how`, both
    // alive across the call; the size passed is `how`'s own.
    let res = syscall!(syscall(
        libc::SYS_openat2,
        libc::AT_FDCWD,
        cpath.as_ptr(),
        &how as *const libc::open_how,
        std::mem::size_of::<libc::open_how>()
    ));
    match res {
        // SAFETY: `openat2` succeeded, so `fd` is a new descriptor that nothing else owns.
        Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })),
        Err(e) => match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(None),
            // ENOSYS: no openat2 (< 5.6); EINVAL: no RESOLVE_CACHED (< 5.12), as our
            // arguments are otherwise valid; E2BIG: an `open_how` the kernel does not know;
            // EPERM: a seccomp filter (older container runtimes) that refuses `openat2`.
            Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG | libc::EPERM) => {
                NO_RESOLVE_CACHED.store(true, Ordering::Relaxed);
                Ok(None)
            }
            _ => Err(e),
        },
    }
}

/// `recvfrom(2)` with no flags and no address, issued with `syscall(2)`: what `std`'s
/// `TcpStream::read` does through glibc's `recv`, minus glibc's cancellation-point wrapper.
///
/// In a process with more than one thread (every spindle runtime has its watchdog), glibc's
/// `recv` and `send` switch asynchronous thread cancellation on and off around the call: two
/// atomic read-modify-writes and about 60 instructions per call, for a feature Rust code
/// never uses. The raw system call does the same I/O without them.
pub(crate) fn recv_raw(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call;
    // a null address and length pointer ask for no peer address.
    let n = syscall!(syscall(
        libc::SYS_recvfrom,
        fd.as_raw_fd(),
        buf.as_mut_ptr(),
        buf.len(),
        0,
        ptr::null_mut::<libc::sockaddr>(),
        ptr::null_mut::<libc::socklen_t>()
    ))?;
    Ok(n as usize)
}

/// `sendto(2)` with `MSG_NOSIGNAL` and no address, issued with `syscall(2)`: what `std`'s
/// `TcpStream::write` does through glibc's `send` (a broken connection is `EPIPE`, not
/// `SIGPIPE`), minus the cancellation-point wrapper (see [`recv_raw`]).
pub(crate) fn send_raw(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the duration of the call;
    // a null address of length 0 sends to the connected peer.
    let n = syscall!(syscall(
        libc::SYS_sendto,
        fd.as_raw_fd(),
        buf.as_ptr(),
        buf.len(),
        libc::MSG_NOSIGNAL,
        ptr::null::<libc::sockaddr>(),
        0 as libc::socklen_t
    ))?;
    Ok(n as usize)
}

/// `flock(2)`: `op` is `LOCK_EX`, `LOCK_SH` or `LOCK_UN`, with `LOCK_NB` to fail with
/// `WouldBlock` instead of waiting. A wait interrupted by a signal is restarted.
pub(crate) fn flock(fd: BorrowedFd<'_>, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: `fd` is live for the borrow; `flock` takes an fd and an operation code and
        // touches no memory of ours.
        match syscall!(flock(fd.as_raw_fd(), op)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result.map(drop),
        }
    }
}

/// `pidfd_open(pid, 0)`: a descriptor that polls readable once process `pid` has exited.
/// The new descriptor is close-on-exec.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: SYS_pidfd_open takes a pid and a flags word and returns a new descriptor or -1.
    let fd = syscall!(syscall(libc::SYS_pidfd_open, pid, 0))?;
    // SAFETY: the syscall succeeded, so `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `waitpid(pid, &status, WNOHANG)` (`block == false`) or `waitpid(pid, &status, 0)`:
/// `Some(status)` once the child has been reaped, `None` while it runs.
pub(crate) fn waitpid(pid: u32, block: bool) -> io::Result<Option<libc::c_int>> {
    let pid = pid as libc::pid_t;
    let flags = if block { 0 } else { libc::WNOHANG };
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid `c_int` on our stack for `waitpid` to write.
        match syscall!(waitpid(pid, &mut status, flags)) {
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
    syscall!(kill(pid as libc::pid_t, libc::SIGKILL))?;
    Ok(())
}

/// `atexit(3)`: runs `f` when the process exits normally (returns from `main` or calls `exit`).
///
/// # Errors
///
/// `OutOfMemory` when libc has no room left for another handler (its only failure).
pub(crate) fn atexit(f: extern "C" fn()) -> io::Result<()> {
    // SAFETY: `f` is a plain `extern "C" fn()`, as `atexit` requires; a panic cannot unwind
    // out of it into libc (an `extern "C"` function aborts instead), and it stays valid for
    // the life of the process, being code.
    match unsafe { libc::atexit(f) } {
        0 => Ok(()),
        _ => Err(io::ErrorKind::OutOfMemory.into()),
    }
}
