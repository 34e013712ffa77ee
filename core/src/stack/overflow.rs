//! Reporting stack overflows: a SIGSEGV/SIGBUS handler that recognises a hit on the running
//! fiber's guard page.
//!
//! The handler runs on an alternate signal stack (the faulting stack is exhausted). When the
//! faulting address lies in the guard page of the fiber running on this thread, it writes
//!
//! ```text
//! fiber '<name>' (<id>) has overflowed its stack of <N> KiB; raise it with fiber::Builder::stack_size
//! ```
//!
//! to stderr with `write(2)` and aborts. Any other fault goes to the handler that was installed
//! before ours (std's, which reports main-thread overflows, or the default action).

use std::io;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Once, OnceLock};

use crate::sys::{cvt, page_size};

/// The actions that were installed for SIGSEGV and SIGBUS before ours.
static PREVIOUS: [AtomicPtr<libc::sigaction>; 2] = [
    AtomicPtr::new(ptr::null_mut()),
    AtomicPtr::new(ptr::null_mut()),
];

const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// Asks the engine whether a faulting address is in the guard page of a fiber of the calling
/// thread; if so, calls the reporter with (fiber name, fiber id, stack KiB) and returns true.
/// Must be async-signal-safe and never panic.
pub(crate) type DescribeGuardHit = fn(usize, &mut dyn FnMut(&str, u64, usize)) -> bool;

/// Set once, by the first [`install_overflow_handler`]: the stack layer knows no fibers, so
/// the scheduler hands it this function (an atomic load in the handler, which is safe there).
static DESCRIBE: OnceLock<DescribeGuardHit> = OnceLock::new();

/// Installs the overflow handler for the process (once); `describe` names the fiber whose
/// guard page a fault hit.
pub(crate) fn install_overflow_handler(describe: DescribeGuardHit) {
    static ONCE: Once = Once::new();
    let _ = DESCRIBE.set(describe);
    ONCE.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: sigaction is plain data; all-zero is a valid empty value.
            let mut action: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
            action.sa_sigaction = handle_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: sa_mask is a valid sigset_t owned by `action`.
            unsafe { libc::sigemptyset(&mut action.sa_mask) };
            let previous = Box::into_raw(Box::new(MaybeUninit::<libc::sigaction>::zeroed()));
            // SAFETY: both pointers are valid for the call; `previous` receives the old action.
            let ret = unsafe { libc::sigaction(sig, &action, previous.cast()) };
            if ret == 0 {
                PREVIOUS[i].store(previous.cast(), Ordering::Release);
            }
        }
    });
}

extern "C" fn handle_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers; si_addr is defined for
    // SIGSEGV and SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    let mut buf = Message::new();
    let describe = DESCRIBE.get().copied().unwrap_or(|_, _| false);
    if describe(addr, &mut |name, id, kib| {
        buf.push(b"fiber '");
        buf.push(name.as_bytes());
        buf.push(b"' (");
        buf.push_u64(id);
        buf.push(b") has overflowed its stack of ");
        buf.push_u64(kib as u64);
        buf.push(b" KiB; raise it with fiber::Builder::stack_size\n");
    }) {
        buf.write_stderr();
        // SAFETY: abort is async-signal-safe and has no preconditions.
        unsafe { libc::abort() };
    }
    chain(sig, info, ctx);
}

/// Hands a fault that is not ours to the previous handler, or restores the default action and
/// returns so that the faulting instruction runs again and gets it.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let idx = if sig == libc::SIGSEGV { 0 } else { 1 };
    let previous = PREVIOUS[idx].load(Ordering::Acquire);
    if !previous.is_null() {
        // SAFETY: `previous` was filled by sigaction and is never freed.
        let previous = unsafe { &*previous };
        let handler = previous.sa_sigaction;
        if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
            if previous.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed as an SA_SIGINFO handler, so it
                // has this signature and expects exactly these arguments.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(handler) };
                f(sig, info, ctx);
            } else {
                // SAFETY: a non-SA_SIGINFO handler has the one-argument signature.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
                f(sig);
            }
            return;
        }
    }
    // SAFETY: sigaction is plain data; zeroed with SIG_DFL (0) is the default action.
    let mut dfl: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    dfl.sa_sigaction = libc::SIG_DFL;
    // SAFETY: valid pointer to a fully initialised action; sigaction is async-signal-safe.
    unsafe { libc::sigaction(sig, &dfl, ptr::null_mut()) };
}

/// A fixed buffer to format the report without allocating (we are in a signal handler).
struct Message {
    buf: [u8; 512],
    len: usize,
}

impl Message {
    fn new() -> Message {
        Message {
            buf: [0; 512],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn push_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn write_stderr(&self) {
        // SAFETY: the buffer is valid for `len` bytes; write is async-signal-safe.
        unsafe { libc::write(libc::STDERR_FILENO, self.buf.as_ptr().cast(), self.len) };
    }
}

/// An alternate signal stack for the current thread, installed if the thread had none, and
/// removed when dropped.
#[derive(Debug)]
pub(crate) struct AltStack {
    mapping: Option<(*mut libc::c_void, usize)>,
}

impl AltStack {
    const SIZE: usize = 64 * 1024;

    /// Makes sure the current thread has an alternate signal stack.
    pub(crate) fn ensure() -> io::Result<AltStack> {
        // SAFETY: stack_t is plain data.
        let mut old: libc::stack_t = unsafe { MaybeUninit::zeroed().assume_init() };
        // SAFETY: a null new stack only queries the current one into `old`.
        cvt(unsafe { libc::sigaltstack(ptr::null(), &mut old) })?;
        if old.ss_flags & libc::SS_DISABLE == 0 {
            return Ok(AltStack { mapping: None });
        }
        let len = Self::SIZE + page_size();
        // SAFETY: anonymous private mapping, result checked below.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // The lowest page guards the signal stack itself.
        // SAFETY: the first page of the mapping we just made.
        unsafe { libc::mprotect(ptr, page_size(), libc::PROT_NONE) };
        let new = libc::stack_t {
            // SAFETY: the page after the guard is inside the mapping.
            ss_sp: unsafe { ptr.cast::<u8>().add(page_size()) }.cast(),
            ss_flags: 0,
            ss_size: Self::SIZE,
        };
        // SAFETY: `new` describes memory that stays mapped until this AltStack drops, after it
        // has been uninstalled.
        if let Err(e) = cvt(unsafe { libc::sigaltstack(&new, ptr::null_mut()) }) {
            // SAFETY: our own mapping, not installed anywhere.
            unsafe { libc::munmap(ptr, len) };
            return Err(e);
        }
        Ok(AltStack {
            mapping: Some((ptr, len)),
        })
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Some((ptr, len)) = self.mapping {
            let disable = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disabling the alternate stack has no memory preconditions; we are not on
            // it (we are not in a signal handler).
            unsafe { libc::sigaltstack(&disable, ptr::null_mut()) };
            // SAFETY: the mapping is ours and no longer installed.
            unsafe { libc::munmap(ptr, len) };
        }
    }
}
