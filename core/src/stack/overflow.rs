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
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Once, OnceLock};

use crate::sys::{self, page_size};

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
            action.sa_mask = sys::empty_sigset();
            let previous = Box::into_raw(Box::new(MaybeUninit::<libc::sigaction>::zeroed()));
            // SAFETY: `handle_fault` is an SA_SIGINFO handler that is safe to run on any fault;
            // `previous` is valid for a write of the old action.
            let ret = unsafe { sys::sigaction(sig, &action, previous.cast()) };
            if ret.is_ok() {
                PREVIOUS[i].store(previous.cast(), Ordering::Release);
            }
        }
    });
}

extern "C" fn handle_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let siginfo = unsafe { &*info };
    // SAFETY: si_addr is defined for SIGSEGV and SIGBUS, the signals this handler is for.
    let addr = unsafe { siginfo.si_addr() } as usize;
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
        sys::write_stderr(buf.as_bytes());
        sys::abort();
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
    // SAFETY: the default action has no handler function; sigaction is async-signal-safe.
    let _ = unsafe { sys::sigaction(sig, &dfl, ptr::null_mut()) };
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

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// An alternate signal stack for the current thread, installed if the thread had none, and
/// removed when dropped.
#[derive(Debug)]
pub(crate) struct AltStack {
    mapping: Option<(NonNull<u8>, usize)>,
}

impl AltStack {
    const SIZE: usize = 64 * 1024;

    /// Makes sure the current thread has an alternate signal stack.
    pub(crate) fn ensure() -> io::Result<AltStack> {
        let old = sys::altstack()?;
        if old.ss_flags & libc::SS_DISABLE == 0 {
            return Ok(AltStack { mapping: None });
        }
        let len = Self::SIZE + page_size();
        let ptr = sys::mmap_anonymous(len, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        // The lowest page guards the signal stack itself; without it the stack still works.
        // SAFETY: the first page of the mapping we just made, which nothing references.
        let _ = unsafe { sys::mprotect(ptr.as_ptr(), page_size(), libc::PROT_NONE) };
        let new = libc::stack_t {
            // SAFETY: the page after the guard is inside the mapping.
            ss_sp: unsafe { ptr.as_ptr().add(page_size()) }.cast(),
            ss_flags: 0,
            ss_size: Self::SIZE,
        };
        // SAFETY: `new` describes memory that stays mapped until this AltStack drops, after it
        // has been uninstalled; the thread had no alternate stack to be running on.
        if let Err(e) = unsafe { sys::set_altstack(&new) } {
            // SAFETY: our own mapping, not installed anywhere.
            let _ = unsafe { sys::munmap(ptr, len) };
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
            let _ = unsafe { sys::set_altstack(&disable) };
            // SAFETY: the mapping is ours and no longer installed.
            let _ = unsafe { sys::munmap(ptr, len) };
        }
    }
}
