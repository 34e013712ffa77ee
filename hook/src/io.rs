//! The data calls: `read`, `write`, `readv`, `writev`, `recv`, `send`, `recvfrom`, `sendto`,
//! `recvmsg`, `sendmsg`. Each is one real call inside [`blocking`]; a call that falls back to
//! the raw syscall does so only while `dlsym` runs (see [`real`]).

use std::ffi::{c_int, c_void};

use libc::{iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use spindle_core::__private::reactor::Interest;

use crate::real::{self, syscall3};
use crate::wait::{Timeout, blocking};

const R: Interest = Interest::READABLE;
const W: Interest = Interest::WRITABLE;

fn dontwait(flags: c_int) -> bool {
    flags & libc::MSG_DONTWAIT != 0
}

/// `read(2)`, parking the fiber while a managed socket has no data.
///
/// # Safety
///
/// As for libc's `read`: `buf` is valid for `count` bytes of writes.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    blocking(fd, R, Timeout::Recv, false, || match real::READ.get() {
        // SAFETY: the caller's arguments, passed on unchanged to the real `read`.
        Some(read) => unsafe { read(fd, buf, count) },
        None => syscall3(libc::SYS_read, fd as usize, buf as usize, count) as ssize_t,
    })
}

/// `write(2)`, parking the fiber while a managed socket's send buffer is full. A blocking
/// write on a fiber may return a short count (POSIX allows it; std's `write_all` loops).
///
/// # Safety
///
/// As for libc's `write`: `buf` is valid for `count` bytes of reads.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    blocking(fd, W, Timeout::Send, false, || match real::WRITE.get() {
        // SAFETY: the caller's arguments, passed on unchanged to the real `write`.
        Some(write) => unsafe { write(fd, buf, count) },
        None => syscall3(libc::SYS_write, fd as usize, buf as usize, count) as ssize_t,
    })
}

/// `readv(2)`.
///
/// # Safety
///
/// As for libc's `readv`: `iov` points at `iovcnt` valid `iovec`s, each writable.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    blocking(fd, R, Timeout::Recv, false, || match real::READV.get() {
        // SAFETY: the caller's arguments, passed on unchanged to the real `readv`.
        Some(readv) => unsafe { readv(fd, iov, iovcnt) },
        None => syscall3(libc::SYS_readv, fd as usize, iov as usize, iovcnt as usize) as ssize_t,
    })
}

/// `writev(2)`.
///
/// # Safety
///
/// As for libc's `writev`: `iov` points at `iovcnt` valid `iovec`s, each readable.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    blocking(fd, W, Timeout::Send, false, || match real::WRITEV.get() {
        // SAFETY: the caller's arguments, passed on unchanged to the real `writev`.
        Some(writev) => unsafe { writev(fd, iov, iovcnt) },
        None => syscall3(libc::SYS_writev, fd as usize, iov as usize, iovcnt as usize) as ssize_t,
    })
}

/// The result of a call whose libc symbol could not be found (never on glibc).
fn missing() -> ssize_t {
    crate::wait::set_errno(libc::ENOSYS);
    -1
}

/// `recv(2)`; `MSG_DONTWAIT` is honoured (never waits).
///
/// # Safety
///
/// As for libc's `recv`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn recv(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    blocking(fd, R, Timeout::Recv, dontwait(flags), || {
        match real::RECV.get() {
            // SAFETY: the caller's arguments, passed on unchanged to the real `recv`.
            Some(recv) => unsafe { recv(fd, buf, len, flags) },
            None => missing(),
        }
    })
}

/// `send(2)`; `MSG_DONTWAIT` is honoured.
///
/// # Safety
///
/// As for libc's `send`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn send(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    blocking(fd, W, Timeout::Send, dontwait(flags), || {
        match real::SEND.get() {
            // SAFETY: the caller's arguments, passed on unchanged to the real `send`.
            Some(send) => unsafe { send(fd, buf, len, flags) },
            None => missing(),
        }
    })
}

/// `recvfrom(2)`.
///
/// # Safety
///
/// As for libc's `recvfrom`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    blocking(
        fd,
        R,
        Timeout::Recv,
        dontwait(flags),
        || match real::RECVFROM.get() {
            // SAFETY: the caller's arguments, passed on unchanged to the real `recvfrom`.
            Some(recvfrom) => unsafe { recvfrom(fd, buf, len, flags, addr, addrlen) },
            None => missing(),
        },
    )
}

/// `sendto(2)`.
///
/// # Safety
///
/// As for libc's `sendto`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    blocking(
        fd,
        W,
        Timeout::Send,
        dontwait(flags),
        || match real::SENDTO.get() {
            // SAFETY: the caller's arguments, passed on unchanged to the real `sendto`.
            Some(sendto) => unsafe { sendto(fd, buf, len, flags, addr, addrlen) },
            None => missing(),
        },
    )
}

/// `recvmsg(2)`.
///
/// # Safety
///
/// As for libc's `recvmsg`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    blocking(
        fd,
        R,
        Timeout::Recv,
        dontwait(flags),
        || match real::RECVMSG.get() {
            // SAFETY: the caller's arguments, passed on unchanged to the real `recvmsg`.
            Some(recvmsg) => unsafe { recvmsg(fd, msg, flags) },
            None => missing(),
        },
    )
}

/// `sendmsg(2)`.
///
/// # Safety
///
/// As for libc's `sendmsg`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    blocking(
        fd,
        W,
        Timeout::Send,
        dontwait(flags),
        || match real::SENDMSG.get() {
            // SAFETY: the caller's arguments, passed on unchanged to the real `sendmsg`.
            Some(sendmsg) => unsafe { sendmsg(fd, msg, flags) },
            None => missing(),
        },
    )
}
