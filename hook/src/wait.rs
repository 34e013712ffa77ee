//! The one wait loop every hooked I/O call shares, and the first-use adoption of sockets.
//!
//! ```text
//!  hooked call ──► on a fiber? ──yes──► adopt(fd): first sight of a blocking socket → O_NONBLOCK
//!                      │                      │
//!                      ▼                      ▼
//!                 real call ◄──────────────── real call ◄───────────────┐
//!                      │                                                │
//!        done, or an error other than EAGAIN ─► return it as libc would │
//!                      │ EAGAIN                                         │
//!        fd not managed, or non-blocking for its user ─► return EAGAIN  │
//!                      │                                                │
//!        on a fiber: park on the reactor │ plain thread: poll(2) ──────►┘
//!        (deadline: SO_RCVTIMEO / SO_SNDTIMEO, read at the first EAGAIN; when it passes the
//!         call fails with EAGAIN, as a blocking socket with a timeout does)
//! ```

use std::ffi::c_int;
use std::io;
use std::os::fd::BorrowedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use spindle_core::__private::reactor::{Interest, Registration};
use spindle_core::fiber;

use crate::real;
use crate::sys;
use crate::table::{self, MANAGED, RCVTIMEO, SEEN, SNDTIMEO, USER_NB};

pub(crate) use crate::sys::{errno, set_errno};

/// Whether the caller runs on a spindle fiber: the one thread-local check of the fast path.
#[inline]
pub(crate) fn on_fiber() -> bool {
    fiber::is_fiber()
}

/// Classifies `fd` the first time a fiber uses it: a socket becomes managed (made `O_NONBLOCK`
/// unless its user did so already); anything else, and fds 0–2 (shared with other processes),
/// is left alone for good.
#[inline]
pub(crate) fn adopt(fd: c_int) {
    if let Some(entry) = table::entry(fd)
        && entry.state() & SEEN == 0
    {
        adopt_slow(fd, entry);
    }
}

#[cold]
fn adopt_slow(fd: c_int, entry: &table::Entry) {
    let saved = errno();
    let Ok(file_type) = sys::file_type(fd) else {
        set_errno(saved);
        return;
    };
    // Standard streams are usually shared with other processes (a parent, a terminal, a
    // supervisor's socket): O_NONBLOCK on their open file would change it for all of them.
    let state = if file_type != libc::S_IFSOCK || fd <= 2 {
        SEEN
    } else {
        match get_fl(fd) {
            Some(fl) if fl & libc::O_NONBLOCK != 0 => SEEN | MANAGED | USER_NB,
            Some(fl) if set_fl(fd, fl | libc::O_NONBLOCK) => SEEN | MANAGED,
            _ => SEEN,
        }
    };
    entry.add(state);
    set_errno(saved);
}

/// The real `fcntl(fd, F_GETFL)`.
pub(crate) fn get_fl(fd: c_int) -> Option<c_int> {
    let fcntl = real::FCNTL.get()?;
    // SAFETY: F_GETFL takes no argument and touches no memory.
    let fl = unsafe { fcntl(fd, libc::F_GETFL) };
    (fl >= 0).then_some(fl)
}

/// The real `fcntl(fd, F_SETFL, fl)`.
pub(crate) fn set_fl(fd: c_int, fl: c_int) -> bool {
    let Some(fcntl) = real::FCNTL.get() else {
        return false;
    };
    // SAFETY: F_SETFL takes an int and touches no memory.
    unsafe { fcntl(fd, libc::F_SETFL, fl) == 0 }
}

/// Which socket timeout bounds a wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timeout {
    /// `SO_RCVTIMEO` (reads, `accept`).
    Recv,
    /// `SO_SNDTIMEO` (writes, `connect`).
    Send,
}

/// The deadline `SO_RCVTIMEO`/`SO_SNDTIMEO` of `fd` sets for a wait starting now, if any.
/// Asks the kernel only if the program ever set that timeout on the fd.
pub(crate) fn socket_deadline(fd: c_int, which: Timeout) -> Option<Instant> {
    let state = table::entry(fd)?.state();
    let opt = match which {
        Timeout::Recv if state & RCVTIMEO != 0 => libc::SO_RCVTIMEO,
        Timeout::Send if state & SNDTIMEO != 0 => libc::SO_SNDTIMEO,
        _ => return None,
    };
    let timeout = sys::socket_timeout(fd, opt).ok()??;
    Instant::now().checked_add(timeout)
}

/// How a wait ended, when it did not end in "try again".
#[derive(Clone, Copy, Debug)]
pub(crate) enum WaitError {
    /// The deadline passed.
    TimedOut,
    /// The wait failed with this errno (`ECANCELED` when the runtime is shutting down).
    Errno(c_int),
}

/// Parks the calling fiber until `fd` may be ready (or, on a plain thread, polls).
pub(crate) fn wait_fd(
    reg: &Registration,
    fd: c_int,
    interest: Interest,
    deadline: Option<Instant>,
) -> Result<(), WaitError> {
    // SAFETY: `fd` is open for the duration of the hooked call that waits on it (its caller
    // passed it to that call; closing it meanwhile from another thread is the caller's race,
    // and then the wait only fails).
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    // `wait` unwinds a fiber when its runtime shuts down; a panic must not cross the C ABI,
    // so it ends the call with ECANCELED instead, and the fiber's next park unwinds it again.
    match catch_unwind(AssertUnwindSafe(|| reg.wait(borrowed, interest, deadline))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => Err(WaitError::TimedOut),
        Ok(Err(e)) => Err(WaitError::Errno(e.raw_os_error().unwrap_or(libc::EIO))),
        Err(_) => Err(WaitError::Errno(libc::ECANCELED)),
    }
}

/// Runs `op` — one real call on `fd`, returning `-1` with `errno` on failure — with the
/// blocking behaviour its user expects, parking the fiber instead of the thread. `nowait`
/// is set by calls that asked not to block (`MSG_DONTWAIT`).
#[inline]
pub(crate) fn blocking<R>(
    fd: c_int,
    interest: Interest,
    timeout: Timeout,
    nowait: bool,
    mut op: impl FnMut() -> R,
) -> R
where
    R: Copy + PartialOrd + From<i8>,
{
    if on_fiber() {
        adopt(fd);
    }
    let r = op();
    if r >= R::from(0) || errno() != libc::EAGAIN || nowait {
        return r;
    }
    retry(fd, interest, timeout, r, op)
}

#[cold]
fn retry<R>(
    fd: c_int,
    interest: Interest,
    timeout: Timeout,
    mut r: R,
    mut op: impl FnMut() -> R,
) -> R
where
    R: Copy + PartialOrd + From<i8>,
{
    let Some(entry) = table::entry(fd) else {
        return r;
    };
    let mut deadline = None;
    let mut first = true;
    while entry.waits() {
        if first {
            deadline = socket_deadline(fd, timeout);
            first = false;
        }
        match wait_fd(&entry.reg, fd, interest, deadline) {
            Ok(()) => {}
            Err(WaitError::TimedOut) => {
                set_errno(libc::EAGAIN);
                return R::from(-1);
            }
            Err(WaitError::Errno(e)) => {
                set_errno(e);
                return R::from(-1);
            }
        }
        r = op();
        if r >= R::from(0) || errno() != libc::EAGAIN {
            return r;
        }
    }
    // Not ours, or made non-blocking by its user meanwhile: the EAGAIN is the answer.
    set_errno(libc::EAGAIN);
    r
}
