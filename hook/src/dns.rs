//! `getaddrinfo`, which waits for the network: on a fiber it goes to spindle's blocking pool.

use std::ffi::{CStr, CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use libc::addrinfo;

use crate::real;
use crate::wait::{on_fiber, set_errno};

/// Owned copies of `getaddrinfo`'s inputs, so a job on the blocking pool never points into
/// the fiber's stack (which may be unwound if the runtime shuts down meanwhile).
struct Query {
    node: Option<CString>,
    service: Option<CString>,
    hints: Option<addrinfo>,
}

// SAFETY: `hints` is a plain copy whose pointer fields the query sets to null before sending.
unsafe impl Send for Query {}

/// What the pool sends back: the return code, the errno, and the list (as an address).
type Answer = (c_int, c_int, usize);

/// `getaddrinfo(3)`: on a fiber, runs libc's on spindle's blocking pool and parks the fiber.
///
/// # Safety
///
/// As for libc's `getaddrinfo`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let Some(real) = real::GETADDRINFO.get() else {
        return libc::EAI_SYSTEM;
    };
    if !on_fiber() || res.is_null() {
        // SAFETY: the caller's arguments, passed on to the real `getaddrinfo`.
        return unsafe { real(node, service, hints, res) };
    }
    let to_owned = |s: *const c_char| {
        // SAFETY: `node` and `service` are null (checked) or NUL-terminated strings by the
        // caller's contract.
        (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.into())
    };
    let query = Query {
        node: to_owned(node),
        service: to_owned(service),
        // SAFETY: `hints` is null or a readable addrinfo by the caller's contract. Only the
        // flags/family/socktype/protocol fields are inputs; the pointer fields must be null.
        hints: unsafe { hints.as_ref() }.map(|h| addrinfo {
            ai_addr: std::ptr::null_mut(),
            ai_canonname: std::ptr::null_mut(),
            ai_next: std::ptr::null_mut(),
            ..*h
        }),
    };
    let job = move || -> Answer {
        let query = query;
        let mut list: *mut addrinfo = std::ptr::null_mut();
        let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        let hints = query
            .hints
            .as_ref()
            .map_or(std::ptr::null(), |h| h as *const addrinfo);
        // SAFETY: the strings and hints are owned by `query`, alive for the call; `list` is
        // writable.
        let r = unsafe { real(ptr(&query.node), ptr(&query.service), hints, &mut list) };
        (r, crate::wait::errno(), list as usize)
    };
    match catch_unwind(AssertUnwindSafe(|| spindle_core::unblock(job))) {
        Ok((r, errno, list)) => {
            // SAFETY: `res` is non-null and writable by the caller's contract.
            unsafe { res.write(list as *mut addrinfo) };
            if r == libc::EAI_SYSTEM {
                set_errno(errno);
            }
            r
        }
        Err(_) => {
            set_errno(libc::ECANCELED);
            libc::EAI_SYSTEM
        }
    }
}
