//! The one doorway to the OS for spindle-hook's own needs: every direct `libc` call of the
//! crate that is not a hooked function goes through [`syscall!`] here.
//!
//! The functions the crate *hooks* (`read`, `close`, `fcntl`, `poll`, …) cannot be called by
//! name from inside it (the call would land on the hook itself); they are reached through
//! [`crate::real`], which finds libc's definitions with `dlsym` (its own three calls, `dlsym`, `pthread_atfork`
//! and the raw `syscall` fallback, are that lookup's machinery and stay with it). Everything
//! else is here:
//!
//! | for | items |
//! |---|---|
//! | `errno` | [`errno`], [`set_errno`] |
//! | classifying an fd | [`file_type`] |
//! | socket options | [`socket_timeout`], [`socket_error`] |
//! | clocks | [`clock_now`] |
//! | the `poll` hook's private epoll set | [`epoll_create`], [`epoll_add`] |
//!
//! Each returns `io::Result`; a hook that reports an error to its C caller passes
//! `raw_os_error()` on through `errno`. Descriptors are the raw `c_int`s the hooks' C callers
//! pass in: the kernel checks them, and a bad one is an `EBADF` error, never memory unsafety.

use std::ffi::c_int;
use std::io;
use std::time::Duration;

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

/// The calling thread's `errno`.
#[inline]
pub(crate) fn errno() -> c_int {
    // SAFETY: `__errno_location` has no preconditions.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: it returns a valid, aligned pointer to the calling thread's errno.
    unsafe { *errno }
}

/// Sets the calling thread's `errno`.
#[inline]
pub(crate) fn set_errno(value: c_int) {
    // SAFETY: `__errno_location` has no preconditions.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: it returns a valid, aligned pointer to the calling thread's errno.
    unsafe { *errno = value }
}

/// What kind of file `fd` is, from `fstat`: `S_IFSOCK`, `S_IFREG`, … (`st_mode & S_IFMT`).
pub(crate) fn file_type(fd: c_int) -> io::Result<libc::mode_t> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of one `stat`, which `fstat` fills on success.
    syscall!(fstat(fd, st.as_mut_ptr()))?;
    // SAFETY: `fstat` succeeded, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    Ok(st.st_mode & libc::S_IFMT)
}

/// The `SO_RCVTIMEO` or `SO_SNDTIMEO` (`opt`) of socket `fd`; `None` when it is unset (zero).
pub(crate) fn socket_timeout(fd: c_int, opt: c_int) -> io::Result<Option<Duration>> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are valid for writes and `len` holds `tv`'s size.
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        opt,
        (&raw mut tv).cast(),
        &mut len
    ))?;
    if tv.tv_sec <= 0 && tv.tv_usec <= 0 {
        return Ok(None);
    }
    Ok(Some(Duration::new(
        tv.tv_sec as u64,
        tv.tv_usec as u32 * 1000,
    )))
}

/// `SO_ERROR` of socket `fd`: the error a non-blocking `connect` ended with, `0` for none.
pub(crate) fn socket_error(fd: c_int) -> io::Result<c_int> {
    let mut err: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for writes and `len` holds `err`'s size.
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_ERROR,
        (&raw mut err).cast(),
        &mut len
    ))?;
    Ok(err)
}

/// The current time of `clock`.
pub(crate) fn clock_now(clock: libc::clockid_t) -> io::Result<libc::timespec> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    syscall!(clock_gettime(clock, &mut ts))?;
    Ok(ts)
}

/// A new close-on-exec epoll instance. The caller owns the descriptor and closes it through
/// [`crate::real::CLOSE`] (an `OwnedFd` would close it through the hooked `close`).
pub(crate) fn epoll_create() -> io::Result<c_int> {
    // SAFETY: epoll_create1 takes no pointers.
    syscall!(epoll_create1(libc::EPOLL_CLOEXEC))
}

/// Adds `fd` to the epoll instance `epoll`, level-triggered, for `events` (`EPOLLIN`, …).
pub(crate) fn epoll_add(epoll: c_int, fd: c_int, events: u32) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: 0 };
    // SAFETY: `ev` is a valid epoll_event that the kernel copies; `fd` is only a number to
    // the kernel, which reports EBADF for one that is not open.
    syscall!(epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut ev))?;
    Ok(())
}
