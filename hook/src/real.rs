//! The real libc functions behind the interposed ones, found with `dlsym(RTLD_NEXT, name)`.
//!
//! Inside this crate, a call to `libc::read` would land on the hook's own `read` (the
//! executable's definition wins), so every call to a hooked function goes through a [`Real`]
//! from this module instead. Each pointer is looked up once: all of them by a constructor
//! when the program starts (single-threaded, before `main`), and lazily for calls that come
//! even earlier. While a lookup runs, `dlsym` may itself call into libc; the I/O calls that
//! could come back here then use the raw syscall (see [`Real::get`] returning `None`).

use std::ffi::{CStr, c_int, c_long, c_ulong, c_void};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use libc::{
    addrinfo, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr, socklen_t, ssize_t, timespec,
};

/// One libc function, resolved on first use. `F` is its C prototype as a fn pointer type.
pub(crate) struct Real<F> {
    name: &'static CStr,
    /// The address from `dlsym`, or 0 while unresolved.
    addr: AtomicUsize,
    _prototype: PhantomData<F>,
}

/// Set while some thread is inside `dlsym`: calls meanwhile take the syscall fallback.
static RESOLVING: AtomicBool = AtomicBool::new(false);

impl<F: Copy> Real<F> {
    const fn new(name: &'static CStr) -> Real<F> {
        assert!(size_of::<F>() == size_of::<usize>());
        Real {
            name,
            addr: AtomicUsize::new(0),
            _prototype: PhantomData,
        }
    }

    /// The real function, or `None` if libc has no such symbol or a lookup is under way.
    #[inline]
    pub(crate) fn get(&self) -> Option<F> {
        let addr = match self.addr.load(Ordering::Relaxed) {
            0 => self.resolve()?,
            addr => addr,
        };
        // SAFETY: `addr` is what `dlsym` returned for `self.name`, a libc function whose C
        // prototype is `F` (each static below names its prototype), and `F` is a fn pointer
        // type of the same size as `usize` (asserted in `new`).
        Some(unsafe { std::mem::transmute_copy::<usize, F>(&addr) })
    }

    #[cold]
    fn resolve(&self) -> Option<usize> {
        if RESOLVING.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: `name` is a NUL-terminated C string; RTLD_NEXT asks for the next definition
        // after this executable's, which is libc's.
        let addr = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        RESOLVING.store(false, Ordering::Release);
        if addr == 0 {
            return None;
        }
        self.addr.store(addr, Ordering::Relaxed);
        Some(addr)
    }
}

macro_rules! real_fns {
    ($($static:ident = $name:literal: $ty:ty;)*) => {
        $(
            #[doc = concat!("libc's `", $name, "`.")]
            pub(crate) static $static: Real<$ty> = Real::new(
                match CStr::from_bytes_with_nul(concat!($name, "\0").as_bytes()) {
                    Ok(name) => name,
                    Err(_) => panic!("symbol names have no NUL"),
                },
            );
        )*

        /// Looks every function up, so later calls (also in a child after `fork`) never
        /// enter `dlsym`.
        /// Also installs the fork handler of the fd table.
        extern "C" fn resolve_all() {
            $( let _ = $static.get(); )*
            // SAFETY: registers a plain `extern "C" fn()` that only stores to an atomic, which
            // is async-signal-safe as a child handler must be. A failure (ENOMEM) only means
            // a forked child may remove a registration from its parent's epoll set on close.
            unsafe {
                libc::pthread_atfork(None, None, Some(crate::table::after_fork_in_child));
            }
        }
    };
}

real_fns! {
    READ = "read": unsafe extern "C" fn(c_int, *mut c_void, size_t) -> ssize_t;
    WRITE = "write": unsafe extern "C" fn(c_int, *const c_void, size_t) -> ssize_t;
    READV = "readv": unsafe extern "C" fn(c_int, *const iovec, c_int) -> ssize_t;
    WRITEV = "writev": unsafe extern "C" fn(c_int, *const iovec, c_int) -> ssize_t;
    RECV = "recv": unsafe extern "C" fn(c_int, *mut c_void, size_t, c_int) -> ssize_t;
    SEND = "send": unsafe extern "C" fn(c_int, *const c_void, size_t, c_int) -> ssize_t;
    RECVFROM = "recvfrom": unsafe extern "C" fn(
        c_int, *mut c_void, size_t, c_int, *mut sockaddr, *mut socklen_t) -> ssize_t;
    SENDTO = "sendto": unsafe extern "C" fn(
        c_int, *const c_void, size_t, c_int, *const sockaddr, socklen_t) -> ssize_t;
    RECVMSG = "recvmsg": unsafe extern "C" fn(c_int, *mut msghdr, c_int) -> ssize_t;
    SENDMSG = "sendmsg": unsafe extern "C" fn(c_int, *const msghdr, c_int) -> ssize_t;
    CONNECT = "connect": unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int;
    ACCEPT = "accept": unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    ACCEPT4 = "accept4": unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int;
    SETSOCKOPT = "setsockopt": unsafe extern "C" fn(
        c_int, c_int, c_int, *const c_void, socklen_t) -> c_int;
    SOCKET = "socket": unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
    SOCKETPAIR = "socketpair": unsafe extern "C" fn(c_int, c_int, c_int, *mut c_int) -> c_int;
    POLL = "poll": unsafe extern "C" fn(*mut pollfd, nfds_t, c_int) -> c_int;
    NANOSLEEP = "nanosleep": unsafe extern "C" fn(*const timespec, *mut timespec) -> c_int;
    CLOCK_NANOSLEEP = "clock_nanosleep": unsafe extern "C" fn(
        libc::clockid_t, c_int, *const timespec, *mut timespec) -> c_int;
    GETADDRINFO = "getaddrinfo": unsafe extern "C" fn(
        *const libc::c_char, *const libc::c_char, *const addrinfo, *mut *mut addrinfo) -> c_int;
    CLOSE = "close": unsafe extern "C" fn(c_int) -> c_int;
    DUP = "dup": unsafe extern "C" fn(c_int) -> c_int;
    DUP2 = "dup2": unsafe extern "C" fn(c_int, c_int) -> c_int;
    DUP3 = "dup3": unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
    FCNTL = "fcntl": unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
    IOCTL = "ioctl": unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int;
}

/// Runs [`resolve_all`] from the ELF `.init_array`, before `main` and before any thread.
#[used]
#[unsafe(link_section = ".init_array")]
static RESOLVE_AT_START: extern "C" fn() = resolve_all;

/// Whether `read` was found in libc (by the constructor, or now).
pub(crate) fn resolved() -> bool {
    READ.get().is_some()
}

/// The raw syscall, for the few calls that must work while `dlsym` runs or when libc lacks the
/// symbol. Returns like libc's wrappers: `-1` with `errno` set on failure.
#[inline]
pub(crate) fn syscall3(nr: c_long, a: usize, b: usize, c: usize) -> c_long {
    // SAFETY: the callers pass a syscall number and the arguments of that syscall exactly as
    // they received them from their own caller, who answers for the pointers' validity; the
    // kernel checks the rest.
    unsafe { libc::syscall(nr, a, b, c) }
}
