//! The calls that wait for time or for several fds: `nanosleep`, `clock_nanosleep`, `poll`.

use std::ffi::c_int;
use std::panic::catch_unwind;
use std::time::{Duration, Instant};

use libc::{nfds_t, pollfd, timespec};
use spindle_core::__private::reactor::{Interest, Registration};
use spindle_core::fiber;

use crate::real;
use crate::sys;
use crate::wait::{WaitError, on_fiber, set_errno};

/// A `timespec` that `nanosleep` accepts, as a `Duration`.
fn duration(ts: &timespec) -> Option<Duration> {
    (ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec))
        .then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Parks the fiber until `deadline`. `Err` when the runtime shuts down under it.
fn sleep_until(deadline: Instant) -> Result<(), ()> {
    catch_unwind(|| fiber::sleep_until(deadline)).map_err(drop)
}

fn remaining(deadline: Instant) -> timespec {
    let left = deadline.saturating_duration_since(Instant::now());
    timespec {
        tv_sec: left.as_secs() as libc::time_t,
        tv_nsec: left.subsec_nanos().into(),
    }
}

/// `nanosleep(2)`: on a fiber, parks it for the duration. The sleep is never cut short by a
/// signal there; if the runtime shuts down meanwhile it fails with `EINTR` and the time left.
///
/// # Safety
///
/// As for libc's `nanosleep`: `req` is readable, `rem` null or writable.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    // SAFETY: `req` is null or readable by the caller's contract; null is left to libc.
    let dur = match unsafe { req.as_ref() } {
        Some(req) if on_fiber() => duration(req),
        _ => None,
    };
    let Some(dur) = dur else {
        return match real::NANOSLEEP.get() {
            // SAFETY: the caller's arguments, passed on to the real `nanosleep`.
            Some(nanosleep) => unsafe { nanosleep(req, rem) },
            None => real::syscall3(libc::SYS_nanosleep, req as usize, rem as usize, 0) as c_int,
        };
    };
    let deadline = Instant::now() + dur;
    if sleep_until(deadline).is_ok() {
        return 0;
    }
    if !rem.is_null() {
        // SAFETY: `rem` is non-null, so writable by the caller's contract.
        unsafe { rem.write(remaining(deadline)) };
    }
    set_errno(libc::EINTR);
    -1
}

/// The current time of `clock`.
fn now(clock: libc::clockid_t) -> Option<Duration> {
    duration(&sys::clock_now(clock).ok()?)
}

/// `clock_nanosleep(2)`: on a fiber, for `CLOCK_MONOTONIC`, `CLOCK_REALTIME` and
/// `CLOCK_BOOTTIME`, relative or `TIMER_ABSTIME`, parks the fiber. An absolute deadline is
/// converted to a monotonic one when the call starts (a later jump of the realtime clock does
/// not move it). Other clocks go to libc.
///
/// # Safety
///
/// As for libc's `clock_nanosleep`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let parks = matches!(
        clock,
        libc::CLOCK_MONOTONIC | libc::CLOCK_REALTIME | libc::CLOCK_BOOTTIME
    ) && on_fiber();
    // SAFETY: `req` is null or readable by the caller's contract; null is left to libc.
    let req_dur = match unsafe { req.as_ref() } {
        Some(req) if parks => duration(req),
        _ => None,
    };
    let Some(req_dur) = req_dur else {
        return match real::CLOCK_NANOSLEEP.get() {
            // SAFETY: the caller's arguments, passed on to the real `clock_nanosleep`.
            Some(real) => unsafe { real(clock, flags, req, rem) },
            None => libc::ENOSYS,
        };
    };
    let dur = if flags & libc::TIMER_ABSTIME != 0 {
        match now(clock) {
            Some(now) => req_dur.saturating_sub(now),
            None => return libc::EINVAL,
        }
    } else {
        req_dur
    };
    let deadline = Instant::now() + dur;
    if sleep_until(deadline).is_ok() {
        return 0;
    }
    if !rem.is_null() && flags & libc::TIMER_ABSTIME == 0 {
        // SAFETY: `rem` is non-null, so writable by the caller's contract.
        unsafe { rem.write(remaining(deadline)) };
    }
    libc::EINTR
}

/// The real `poll`.
///
/// # Safety
///
/// `fds` points at `nfds` valid pollfds.
unsafe fn real_poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    match real::POLL.get() {
        // SAFETY: the caller's arguments, passed on to the real `poll`.
        Some(poll) => unsafe { poll(fds, nfds, timeout) },
        None => real::syscall3(
            libc::SYS_poll,
            fds as usize,
            nfds as usize,
            timeout as usize,
        ) as c_int,
    }
}

/// `poll(2)`: on a fiber, one non-blocking poll; if nothing is ready, the fds are put in a
/// private epoll set whose own fd the fiber waits on in the reactor, then polled again.
///
/// # Safety
///
/// As for libc's `poll`: `fds` points at `nfds` valid pollfds.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if timeout == 0 || !on_fiber() {
        // SAFETY: the caller's arguments.
        return unsafe { real_poll(fds, nfds, timeout) };
    }
    // SAFETY: the caller's arguments.
    let ready = unsafe { real_poll(fds, nfds, 0) };
    if ready != 0 {
        return ready;
    }
    let deadline = u64::try_from(timeout)
        .ok()
        .and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms)));
    let list = if fds.is_null() || nfds == 0 {
        &[][..]
    } else {
        // SAFETY: `fds` points at `nfds` valid pollfds by the caller's contract.
        unsafe { std::slice::from_raw_parts(fds, nfds as usize) }
    };
    let Some(set) = EpollSet::new(list) else {
        // No private epoll set: block the thread in the real poll, as libc would.
        // SAFETY: the caller's arguments.
        return unsafe { real_poll(fds, nfds, timeout) };
    };
    loop {
        let waited = set.wait(deadline);
        // SAFETY: the caller's arguments.
        let ready = unsafe { real_poll(fds, nfds, 0) };
        match waited {
            _ if ready != 0 => return ready,
            Ok(()) => continue,
            Err(WaitError::TimedOut) => return 0,
            Err(WaitError::Errno(e)) => {
                set_errno(e);
                return -1;
            }
        }
    }
}

/// A private epoll fd watching the fds of one `poll` call (level-triggered), registered with
/// the fiber's reactor: it becomes readable when any of them is ready.
#[derive(Debug)]
struct EpollSet {
    fd: c_int,
    reg: Registration,
}

impl EpollSet {
    fn new(list: &[pollfd]) -> Option<EpollSet> {
        let fd = sys::epoll_create().ok()?;
        let set = EpollSet {
            fd,
            reg: Registration::new(),
        };
        for p in list.iter().filter(|p| p.fd >= 0) {
            let mut events = 0;
            if p.events & libc::POLLIN != 0 {
                events |= libc::EPOLLIN;
            }
            if p.events & libc::POLLOUT != 0 {
                events |= libc::EPOLLOUT;
            }
            if p.events & libc::POLLPRI != 0 {
                events |= libc::EPOLLPRI;
            }
            if p.events & libc::POLLRDHUP != 0 {
                events |= libc::EPOLLRDHUP;
            }
            // EEXIST: the same fd twice in the list, already watched. Any other failure (an
            // fd epoll refuses, such as a regular file, is always ready and so cannot get
            // here) means the set would miss an event: give up on it.
            match sys::epoll_add(fd, p.fd, events as u32) {
                Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return None,
                _ => {}
            }
        }
        Some(set)
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        crate::wait::wait_fd(&self.reg, self.fd, Interest::READABLE, deadline)
    }
}

impl Drop for EpollSet {
    fn drop(&mut self) {
        // SAFETY: `self.fd` is the epoll fd this set owns, still open.
        self.reg
            .deregister(unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) });
        if let Some(close) = real::CLOSE.get() {
            // SAFETY: closes the fd this set owns, once.
            unsafe { close(self.fd) };
        }
    }
}
