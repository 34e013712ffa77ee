//! Fiber stacks: carved from large `mmap(MAP_NORESERVE)` slabs, one guard page each.
//!
//! ```text
//!   slab (one mapping, one VMA)
//!   +-------+-----------------+-------+-----------------+-------+-- ...
//!   | guard | stack 0 (usable)| guard | stack 1 (usable)| guard |
//!   +-------+-----------------+-------+-----------------+-------+-- ...
//!   low                     top0                      top1
//! ```
//!
//! Stacks grow down, so each guard page sits below its stack. Only touched pages cost memory:
//! an idle fiber whose frames fit in one page costs one page of RSS.
//!
//! Guards are installed with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13 and later), which marks
//! page-table entries and leaves the slab one mapping, so a million guarded stacks fit in the
//! default `vm.max_map_count` of 65530. On older kernels the guard is an `mprotect(PROT_NONE)`,
//! which splits the mapping in two per stack; when the kernel runs out of mappings the error
//! names `vm.max_map_count`.
//!
//! Under valgrind, stacks are registered with it while a fiber owns them and guards are
//! `mprotect`ed (`valgrind`); under AddressSanitizer builds, switches are announced to it
//! (`sanitizer`).

mod overflow;
mod pool;
mod sanitizer;
mod valgrind;

pub(crate) use overflow::{AltStack, install_overflow_handler};
pub(crate) use pool::StackPool;
pub(crate) use sanitizer::{SwitchTo, fiber_started, switch};
pub(crate) use valgrind::{ThreadStackRegistration, register_thread_stack, running_on_valgrind};

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::sys::{self, page_size};

/// `madvise` advice that installs guard markers on a range (Linux 6.13). Not yet in libc.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Set once the kernel has refused `MADV_GUARD_INSTALL`, so we stop asking.
static GUARD_BY_MPROTECT: AtomicBool = AtomicBool::new(false);

/// How many guard pages are `mprotect`ed when running under valgrind (see [`install_guards`]),
/// out of the 15,000 that valgrind's table of 30,000 mappings would hold.
const VALGRIND_MPROTECT_GUARDS: usize = 8192;
/// Guard pages installed so far under valgrind.
static VALGRIND_GUARDS: AtomicUsize = AtomicUsize::new(0);

/// Smallest usable stack we hand out: room for the entry frames, panic catching and a little
/// user code.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;

/// One fiber stack: a guard page followed by `usable` bytes, inside a slab owned by a
/// [`StackPool`].
#[derive(Debug)]
pub(crate) struct Stack {
    /// Lowest address: the start of the guard page.
    base: NonNull<u8>,
    /// Usable bytes above the guard page.
    usable: usize,
    /// Valgrind's record of this stack while a fiber owns it (`None` when not under valgrind).
    registration: Option<valgrind::StackId>,
}

impl Stack {
    /// The highest address of the stack (exclusive): where the first frame goes.
    pub(crate) fn top(&self) -> *mut u8 {
        // SAFETY: `base + guard + usable` is the end of this stack's part of its slab, so the
        // offset stays within (one past) one allocation.
        unsafe { self.base.as_ptr().add(page_size() + self.usable) }
    }

    /// The lowest usable address.
    pub(crate) fn bottom(&self) -> *mut u8 {
        // SAFETY: the guard page is part of the same slab allocation.
        unsafe { self.base.as_ptr().add(page_size()) }
    }

    /// The address range of the guard page.
    pub(crate) fn guard(&self) -> std::ops::Range<usize> {
        let start = self.base.as_ptr() as usize;
        start..start + page_size()
    }

    /// Usable size in bytes.
    pub(crate) fn usable(&self) -> usize {
        self.usable
    }

    /// A free stack of the pool, not yet known to valgrind.
    fn free(base: NonNull<u8>, usable: usize) -> Stack {
        Stack {
            base,
            usable,
            registration: None,
        }
    }

    /// Tells valgrind and AddressSanitizer (if they are watching) that a fiber is about to
    /// start on this stack.
    fn hand_out(&mut self) {
        sanitizer::forget_old_frames(self.bottom(), self.usable);
        debug_assert!(self.registration.is_none());
        self.registration = valgrind::register_stack(self.bottom(), self.top(), true);
    }

    /// Tells valgrind (if it is watching) that no fiber runs on this stack any more.
    fn take_back(&mut self) {
        if let Some(id) = self.registration.take() {
            valgrind::deregister_stack(id);
            valgrind::mark_no_access(self.bottom(), self.usable);
        }
    }
}

/// Rounds a requested stack size up to whole pages, with the minimum applied.
pub(crate) fn round_stack_size(requested: usize) -> usize {
    let page = page_size();
    let size = requested.max(MIN_STACK_SIZE);
    // Saturate: an absurd request then fails cleanly when it is mapped.
    size.checked_next_multiple_of(page)
        .unwrap_or(usize::MAX - (page - 1) - page)
}

/// Maps `len` bytes of address space for stacks, reserving no swap and using no memory until
/// touched.
fn map_slab(len: usize) -> io::Result<NonNull<u8>> {
    let ptr = sys::mmap_anonymous(
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_NORESERVE | libc::MAP_STACK,
    )
    .map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "cannot map {} KiB of address space for fiber stacks ({err}); the process is \
                 out of address space or of mappings (see `vm.max_map_count`, \
                 `ulimit -v`), or use smaller stacks with fiber::Builder::stack_size",
                len / 1024
            ),
        )
    })?;
    // Huge pages would turn each touched stack page into 2 MiB of RSS. A failure only costs
    // memory.
    // SAFETY: the range is the mapping just created; the advice changes no contents.
    let _ = unsafe { sys::madvise(ptr.as_ptr(), len, libc::MADV_NOHUGEPAGE) };
    Ok(ptr)
}

/// Gives the touched pages of free stacks back to the kernel; their ranges stay reserved and
/// guarded (guard markers survive `MADV_DONTNEED`).
fn discard_pages(stacks: &[Stack]) {
    // Failure only means the memory stays resident; nothing to recover.
    let _ = advise_pages(
        stacks.iter().map(|s| (s.bottom(), s.usable)),
        libc::MADV_DONTNEED,
    );
}

/// Unmaps a slab made by [`map_slab`].
///
/// # Safety
///
/// `ptr..ptr+len` must be a slab from [`map_slab`] on which no fiber still runs or is suspended.
unsafe fn unmap_slab(ptr: NonNull<u8>, len: usize) {
    // SAFETY: per the contract, the range is one whole mapping we own and nothing uses it.
    let ret = unsafe { sys::munmap(ptr, len) };
    debug_assert!(ret.is_ok(), "munmap of a stack slab failed: {ret:?}");
}

/// Makes the first page of each stack in `bases` a guard page.
///
/// Under valgrind, the first [`VALGRIND_MPROTECT_GUARDS`] guards are `mprotect`ed: valgrind
/// does not know guard markers and takes such a page for readable memory, which its stack
/// walker could step into (valgrind then crashes). Each `mprotect`ed guard costs valgrind two
/// of the 30,000 mappings it can track, so past that budget guards are markers again, marked
/// inaccessible for memcheck; the stack registrations keep the walker inside each stack.
fn install_guards(bases: &[NonNull<u8>]) -> io::Result<()> {
    let page = page_size();
    let under_valgrind = valgrind::running_on_valgrind();
    let valgrind_mprotect = under_valgrind
        && VALGRIND_GUARDS.fetch_add(bases.len(), Ordering::Relaxed) < VALGRIND_MPROTECT_GUARDS;
    if !GUARD_BY_MPROTECT.load(Ordering::Relaxed) && !valgrind_mprotect {
        match advise_pages(bases.iter().map(|b| (b.as_ptr(), page)), MADV_GUARD_INSTALL) {
            Ok(()) => {
                if under_valgrind {
                    for base in bases {
                        valgrind::mark_no_access(base.as_ptr(), page);
                    }
                }
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // Kernel older than 6.13: fall back to mprotect for good.
                GUARD_BY_MPROTECT.store(true, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    for base in bases {
        // SAFETY: `base` is the page-aligned first page of a stack inside a private anonymous
        // slab we own, not yet used by any fiber; PROT_NONE only makes accesses fault.
        let ret = unsafe { sys::mprotect(base.as_ptr(), page, libc::PROT_NONE) };
        ret.map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOMEM) {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    "cannot install a fiber stack guard page: the process reached \
                     `vm.max_map_count` (this kernel lacks MADV_GUARD_INSTALL, so every guard \
                     page splits a mapping); raise it with `sysctl vm.max_map_count=<n>` or run \
                     fewer fibers",
                )
            } else {
                e
            }
        })?;
    }
    Ok(())
}

/// Applies `advice` to each `(address, length)` range of our own stack slabs.
///
/// Batches the ranges into one `process_madvise(2)` call on this process's pidfd when the
/// kernel allows it (Linux 6.13 accepts any advice for the calling process), which costs one
/// syscall instead of one per stack; falls back to one `madvise(2)` per range.
fn advise_pages(
    ranges: impl ExactSizeIterator<Item = (*mut u8, usize)> + Clone,
    advice: libc::c_int,
) -> io::Result<()> {
    static BATCHING: AtomicBool = AtomicBool::new(true);
    static SELF_PIDFD: OnceLock<Option<OwnedFd>> = OnceLock::new();
    // Valgrind (3.19) knows neither pidfd_open nor process_madvise and warns about each.
    if ranges.len() > 1 && BATCHING.load(Ordering::Relaxed) && !valgrind::running_on_valgrind() {
        let pidfd = SELF_PIDFD.get_or_init(|| sys::pidfd_open_self().ok());
        if let Some(pidfd) = pidfd {
            let iov: Vec<libc::iovec> = ranges
                .clone()
                .map(|(ptr, len)| libc::iovec {
                    iov_base: ptr.cast(),
                    iov_len: len,
                })
                .collect();
            let total: usize = iov.iter().map(|v| v.iov_len).sum();
            // SAFETY: `iov` holds (at most IOV_MAX) ranges inside mappings this process owns;
            // the caller accepts `advice`'s effect on those pages; `pidfd` is ours.
            let done = unsafe { sys::process_madvise(pidfd.as_fd(), &iov, advice) };
            if done.is_ok_and(|done| done == total) {
                return Ok(());
            }
            // Unsupported here (or partial): advise range by range from now on. Advising a
            // range twice is harmless for every advice we use.
            BATCHING.store(false, Ordering::Relaxed);
        }
    }
    for (ptr, len) in ranges {
        // SAFETY: as above, for one range.
        unsafe { sys::madvise(ptr, len, advice) }?;
    }
    Ok(())
}
