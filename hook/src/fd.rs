//! The calls that create, duplicate, configure and close fds, hooked to keep the fd table true:
//! `socket`, `socketpair`, `accept`, `accept4`, `connect`, `close`, `dup`, `dup2`, `dup3`,
//! `fcntl` and `ioctl(FIONBIO)`.
//!
//! `fcntl` and `ioctl` are C-variadic. On x86_64 (System V) a variadic caller passes the
//! optional argument in the same register as a fixed third argument, so they are defined here
//! with a fixed pointer-sized third argument, which is passed on to the real (variadic) function.

use std::ffi::{c_int, c_ulong, c_void};

use libc::{sockaddr, socklen_t};
use spindle_core::__private::reactor::Interest;

use crate::real::{self, syscall3};
use crate::sys;
use crate::table::{self, MANAGED, RCVTIMEO, SEEN, SNDTIMEO, USER_NB};
use crate::wait::{self, Timeout, WaitError, blocking, errno, on_fiber, set_errno};

/// Records a socket created (or accepted) by the caller. On a fiber it was created
/// non-blocking, and `user_nb` says whether its user asked for that; off a fiber the hook
/// forgets whatever it knew about the fd number and adopts the socket on first use by a fiber.
fn created(fd: c_int, fiber: bool, user_nb: bool) {
    if fiber {
        // A scheduler thread must not wait for the kernel to enlarge the descriptor table.
        spindle_core::__private::note_descriptor(fd);
    }
    match table::entry(fd) {
        Some(entry) => {
            entry.reset(fd);
            if fiber {
                entry.set(SEEN | MANAGED | if user_nb { USER_NB } else { 0 });
            }
        }
        None if fiber && !user_nb => {
            // Beyond the table: the hook cannot manage it, so give back the blocking mode.
            if let Some(fl) = wait::get_fl(fd) {
                wait::set_fl(fd, fl & !libc::O_NONBLOCK);
            }
        }
        None => {}
    }
}

/// `socket(2)`. On a fiber the socket is created non-blocking and managed.
///
/// # Safety
///
/// None beyond libc's `socket` (it takes no pointers).
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let Some(real) = real::SOCKET.get() else {
        return syscall3(
            libc::SYS_socket,
            domain as usize,
            ty as usize,
            protocol as usize,
        ) as c_int;
    };
    let fiber = on_fiber();
    let ty_now = if fiber { ty | libc::SOCK_NONBLOCK } else { ty };
    // SAFETY: socket takes no pointers.
    let fd = unsafe { real(domain, ty_now, protocol) };
    if fd >= 0 {
        created(fd, fiber, ty & libc::SOCK_NONBLOCK != 0);
    }
    fd
}

/// `socketpair(2)`.
///
/// # Safety
///
/// As for libc's `socketpair`: `sv` is valid for writing two ints.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    sv: *mut c_int,
) -> c_int {
    let Some(real) = real::SOCKETPAIR.get() else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    let fiber = on_fiber();
    let ty_now = if fiber { ty | libc::SOCK_NONBLOCK } else { ty };
    // SAFETY: the caller's arguments; `sv` is valid for two ints by the caller's contract.
    let r = unsafe { real(domain, ty_now, protocol, sv) };
    if r == 0 {
        for i in 0..2 {
            // SAFETY: `sv` points at two ints (the caller's contract), so `sv + i` for i < 2
            // stays inside that array.
            let slot = unsafe { sv.add(i) };
            // SAFETY: socketpair succeeded, so it wrote both ints of `sv`; `slot` is one.
            let fd = unsafe { *slot };
            created(fd, fiber, ty & libc::SOCK_NONBLOCK != 0);
        }
    }
    r
}

/// `accept4(2)`, parking the fiber until a connection arrives on a managed listener.
///
/// # Safety
///
/// As for libc's `accept4`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let Some(real) = real::ACCEPT4.get() else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    let fiber = on_fiber();
    let flags_now = if fiber {
        flags | libc::SOCK_NONBLOCK
    } else {
        flags
    };
    let new = blocking(fd, Interest::READABLE, Timeout::Recv, false, || {
        // SAFETY: the caller's arguments, passed on to the real `accept4`.
        unsafe { real(fd, addr, len, flags_now) }
    });
    if new >= 0 {
        created(new, fiber, flags & libc::SOCK_NONBLOCK != 0);
        inherit_timeouts(fd, new);
    }
    new
}

/// An accepted socket starts with its listener's `SO_RCVTIMEO`/`SO_SNDTIMEO` (Linux copies
/// them), so it inherits the listener's timeout bits.
fn inherit_timeouts(listener: c_int, new: c_int) {
    let bits = table::entry(listener).map_or(0, |e| e.state() & (RCVTIMEO | SNDTIMEO));
    if let Some(entry) = table::entry(new)
        && bits != 0
    {
        entry.add(bits);
    }
}

/// `setsockopt(2)`: notes on the fd that `SO_RCVTIMEO`/`SO_SNDTIMEO` was set, so that waits
/// read it back (and waits on fds without one make no extra syscall).
///
/// # Safety
///
/// As for libc's `setsockopt`: `value` is valid for `len` bytes of reads.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    let Some(real) = real::SETSOCKOPT.get() else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    // SAFETY: the caller's arguments, passed on to the real `setsockopt`.
    let r = unsafe { real(fd, level, name, value, len) };
    if r == 0 && level == libc::SOL_SOCKET {
        // The option numbers of x86_64 Linux, old (`struct timeval`) and `_NEW` (64-bit).
        let bit = match name {
            libc::SO_RCVTIMEO | 66 => RCVTIMEO,
            libc::SO_SNDTIMEO | 67 => SNDTIMEO,
            _ => 0,
        };
        if let Some(entry) = table::entry(fd)
            && bit != 0
        {
            entry.add(bit);
        }
    }
    r
}

/// `accept(2)`: off a fiber the real `accept`, on one [`accept4`] with no flags.
///
/// # Safety
///
/// As for libc's `accept`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn accept(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    if on_fiber() {
        // SAFETY: the caller's arguments, which accept4 takes with the same contract.
        return unsafe { accept4(fd, addr, len, 0) };
    }
    let Some(real) = real::ACCEPT.get() else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    let new = blocking(fd, Interest::READABLE, Timeout::Recv, false, || {
        // SAFETY: the caller's arguments, passed on to the real `accept`.
        unsafe { real(fd, addr, len) }
    });
    if new >= 0 {
        created(new, false, false);
        inherit_timeouts(fd, new);
    }
    new
}

/// `connect(2)`: on a managed blocking socket, waits for the handshake (bounded by
/// `SO_SNDTIMEO`, after which it fails with `EINPROGRESS` as Linux does) and reports its
/// outcome (`SO_ERROR`).
///
/// # Safety
///
/// As for libc's `connect`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let Some(real) = real::CONNECT.get() else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    if on_fiber() {
        wait::adopt(fd);
    }
    let mut deadline = None;
    let mut first = true;
    loop {
        // SAFETY: the caller's arguments, passed on to the real `connect`.
        let r = unsafe { real(fd, addr, len) };
        let e = errno();
        if r == 0 || (e != libc::EINPROGRESS && e != libc::EAGAIN) {
            return r;
        }
        let Some(entry) = table::entry(fd).filter(|e| e.waits()) else {
            return r;
        };
        if first {
            deadline = wait::socket_deadline(fd, Timeout::Send);
            first = false;
        }
        match wait::wait_fd(&entry.reg, fd, Interest::WRITABLE, deadline) {
            Ok(()) => {}
            Err(WaitError::TimedOut) => {
                set_errno(e);
                return -1;
            }
            Err(WaitError::Errno(err)) => {
                set_errno(err);
                return -1;
            }
        }
        if e == libc::EAGAIN {
            // A Unix socket's full backlog: try the connect again.
            continue;
        }
        // A failed `getsockopt` left its own errno: report it as the connect's.
        let err = match sys::socket_error(fd) {
            Ok(err) => err,
            Err(_) => return -1,
        };
        if err == 0 {
            return 0;
        }
        set_errno(err);
        return -1;
    }
}

/// `close(2)`: forgets the fd (and its reactor registration) first.
///
/// # Safety
///
/// None beyond libc's `close`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn close(fd: c_int) -> c_int {
    if let Some(entry) = table::entry(fd) {
        entry.reset(fd);
    }
    match real::CLOSE.get() {
        // SAFETY: close takes no pointers.
        Some(close) => unsafe { close(fd) },
        None => syscall3(libc::SYS_close, fd as usize, 0, 0) as c_int,
    }
}

/// `dup(2)`: the new fd shares the file (and its `O_NONBLOCK`), so it inherits the entry.
///
/// # Safety
///
/// None beyond libc's `dup`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn dup(fd: c_int) -> c_int {
    let new = match real::DUP.get() {
        // SAFETY: dup takes no pointers.
        Some(dup) => unsafe { dup(fd) },
        None => syscall3(libc::SYS_dup, fd as usize, 0, 0) as c_int,
    };
    if new >= 0 {
        table::copy(fd, new);
    }
    new
}

/// `dup2(2)`: `new` (closed first if open) inherits the entry of `old`.
///
/// # Safety
///
/// None beyond libc's `dup2`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    let r = match real::DUP2.get() {
        // SAFETY: dup2 takes no pointers.
        Some(dup2) => unsafe { dup2(old, new) },
        None => syscall3(libc::SYS_dup2, old as usize, new as usize, 0) as c_int,
    };
    if r >= 0 && old != new {
        table::copy(old, new);
    }
    r
}

/// `dup3(2)`: as [`dup2`].
///
/// # Safety
///
/// None beyond libc's `dup3`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    let r = match real::DUP3.get() {
        // SAFETY: dup3 takes no pointers.
        Some(dup3) => unsafe { dup3(old, new, flags) },
        None => syscall3(libc::SYS_dup3, old as usize, new as usize, flags as usize) as c_int,
    };
    if r >= 0 {
        table::copy(old, new);
    }
    r
}

/// `fcntl(2)`: `F_GETFL` and `F_SETFL` show and set the blocking mode the *user* chose on a
/// managed fd (the kernel's stays `O_NONBLOCK`); `F_DUPFD*` are tracked as `dup`.
///
/// # Safety
///
/// As for libc's `fcntl`: `arg` is what `cmd` expects (possibly absent, when `cmd` takes none).
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    let call = |arg: usize| match real::FCNTL.get() {
        // SAFETY: the caller's command and argument (a register's worth, as the variadic
        // caller passed it), handed on to the real variadic `fcntl`.
        Some(fcntl) => unsafe { fcntl(fd, cmd, arg) },
        None => syscall3(libc::SYS_fcntl, fd as usize, cmd as usize, arg) as c_int,
    };
    let entry = table::entry(fd);
    match cmd {
        libc::F_GETFL => {
            let fl = call(arg);
            match entry {
                Some(entry) if fl >= 0 && entry.waits() => fl & !libc::O_NONBLOCK,
                _ => fl,
            }
        }
        libc::F_SETFL => match entry.filter(|e| e.state() & MANAGED != 0) {
            Some(entry) => {
                let user_nb = arg as c_int & libc::O_NONBLOCK != 0;
                let r = call(arg | libc::O_NONBLOCK as usize);
                if r == 0 {
                    user_mode(entry, fd, user_nb);
                }
                r
            }
            None => call(arg),
        },
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let new = call(arg);
            if new >= 0 {
                table::copy(fd, new);
            }
            new
        }
        _ => call(arg),
    }
}

/// Records the blocking mode the user set on a managed fd. An fd its user made non-blocking
/// leaves the reactor: the user (or a library such as spindle-io) will register it itself.
fn user_mode(entry: &table::Entry, fd: c_int, nonblocking: bool) {
    entry.set_user_nonblocking(nonblocking);
    if nonblocking {
        // SAFETY: `fd` is open: the fcntl/ioctl on it just succeeded.
        entry
            .reg
            .deregister(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) });
    }
}

/// `ioctl(2)`: `FIONBIO` on a managed fd records the user's blocking mode (the kernel's stays
/// non-blocking); every other request is passed on.
///
/// # Safety
///
/// As for libc's `ioctl`: `arg` is what `request` expects.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    let call = |arg: *mut c_void| match real::IOCTL.get() {
        // SAFETY: the caller's request and argument, handed on to the real variadic `ioctl`.
        Some(ioctl) => unsafe { ioctl(fd, request, arg) },
        None => syscall3(libc::SYS_ioctl, fd as usize, request as usize, arg as usize) as c_int,
    };
    let managed = table::entry(fd).filter(|e| e.state() & MANAGED != 0);
    match managed {
        Some(entry) if request == libc::FIONBIO && !arg.is_null() => {
            // SAFETY: FIONBIO's argument points at an int, by the caller's contract (checked
            // non-null above).
            let nonblocking = unsafe { *arg.cast::<c_int>() } != 0;
            let mut one: c_int = 1;
            let r = call((&raw mut one).cast());
            if r == 0 {
                user_mode(entry, fd, nonblocking);
            }
            r
        }
        _ => call(arg),
    }
}
