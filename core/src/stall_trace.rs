//! The stalled fiber's backtrace, taken by a signal to its thread.
//!
//! When the watchdog first reports a stall, it sends [`signal()`] to the scheduler's thread
//! with `pthread_kill` and waits (at most [`WAIT`]) for the handler, which runs on that
//! thread, on top of whatever call is blocking it:
//!
//! ```text
//!   watchdog thread                          stalled scheduler thread
//!   ───────────────                          ────────────────────────
//!   snapshot code ranges (dl_iterate_phdr)
//!   SLOT.state = REQUESTED
//!   pthread_kill(thread, signal) ──────────▶ handler: if state == REQUESTED:
//!                                              walk the running fiber's stack into
//!                                              SLOT.ips (arch::walk_interrupted)
//!   sees DONE, copies the addresses ◀──────── SLOT.state = DONE
//!   symbolises them (later, no lock held)
//! ```
//!
//! The handler is async-signal-safe: it allocates nothing, takes no lock, and reads memory
//! only inside the running fiber's stack and the code ranges snapshotted beforehand. It
//! records the scheduler's switch count; a trace taken after the fiber switched away is
//! thrown away.
//!
//! # Cost
//!
//! Nothing until a stall is reported; then one signal to the stalled thread, which spends a
//! few microseconds in the handler (at most [`MAX_FRAMES`] frames of a frame-pointer chain
//! and a scan of the stack below its first frame): 1–2 µs in a release build and about
//! 11 µs in a debug build for a fiber in `std::thread::sleep`, measured on a loaded 2-core VM
//! with a clock read at the handler's start and end (`examples/stall_where.rs`). The handler is installed with `SA_RESTART`, so most
//! interrupted system calls resume by themselves; those the kernel never restarts (`poll`,
//! `epoll_wait`, `nanosleep`, socket calls with a timeout set, see `signal(7)`) return
//! `EINTR`, which std retries for `sleep` and `read_exact`/`write_all` but hands to callers
//! of a plain `read` or `write`. Turn it off with `Builder::stall_backtraces(false)`.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::arch;
use crate::engine::scheduler::Scheduler;
use crate::sys;
use crate::trace::{MAX_FRAMES, RawTrace};

/// How long the watchdog waits for the handler.
const WAIT: Duration = Duration::from_millis(20);

/// At most this many code ranges (executable segments of loaded objects) are known.
const MAX_RANGES: usize = 128;

const IDLE: u8 = 0;
const REQUESTED: u8 = 1;
const DONE: u8 = 2;

/// What the handler fills; only one capture runs at a time (see [`CAPTURE`]).
struct Slot {
    state: AtomicU8,
    ips: [AtomicUsize; MAX_FRAMES],
    len: AtomicUsize,
    /// The scheduler's switch count when the handler ran.
    epoch: AtomicU64,
    ranges: [(AtomicUsize, AtomicUsize); MAX_RANGES],
    ranges_len: AtomicUsize,
}

static SLOT: Slot = Slot {
    state: AtomicU8::new(IDLE),
    ips: [const { AtomicUsize::new(0) }; MAX_FRAMES],
    len: AtomicUsize::new(0),
    epoch: AtomicU64::new(0),
    ranges: [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; MAX_RANGES],
    ranges_len: AtomicUsize::new(0),
};

/// Serialises captures (there is one watchdog, but stay correct if that changes).
static CAPTURE: Mutex<()> = Mutex::new(());

/// The signal used: a real-time signal well above those glibc reserves.
pub(crate) fn signal() -> libc::c_int {
    libc::SIGRTMIN() + 7
}

/// Installs the handler, once per process. Returns false if it could not be, or if the
/// signal already had a handler that is not ours (then stall backtraces are off). Also off
/// under valgrind: the scan for return addresses reads stack slots nobody wrote, which
/// memcheck rightly reports, and everything there is slow enough to look like a stall.
pub(crate) fn install() -> bool {
    static RESULT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *RESULT.get_or_init(|| {
        if crate::stack::running_on_valgrind() {
            return false;
        }
        let sig = signal();
        if sys::current_sigaction(sig).map_or(true, |old| old.sa_sigaction != libc::SIG_DFL) {
            return false;
        }
        // SAFETY: as above.
        let mut action: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
        action.sa_sigaction = on_signal as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
        action.sa_mask = sys::empty_sigset();
        // SAFETY: `on_signal` is an SA_SIGINFO handler that is async-signal-safe and does
        // nothing unless a capture was requested; a null old-action pointer is allowed.
        unsafe { sys::sigaction(sig, &action, std::ptr::null_mut()) }.is_ok()
    })
}

/// The calling thread, as `capture` needs it.
pub(crate) fn this_thread() -> libc::pthread_t {
    sys::this_thread()
}

/// Takes the backtrace of the fiber running on `thread`, if that thread still runs the
/// scheduler switch `epoch` began. `thread` must stay alive during the call (the watchdog
/// holds its lock, which the scheduler needs to stop being watched, before it can exit).
pub(crate) fn capture(thread: libc::pthread_t, epoch: u64) -> Option<RawTrace> {
    let _one = CAPTURE.lock().unwrap_or_else(PoisonError::into_inner);
    snapshot_code_ranges();
    SLOT.len.store(0, Ordering::Relaxed);
    SLOT.state.store(REQUESTED, Ordering::SeqCst);
    // SAFETY: `thread` is alive (see above); the signal has our handler installed.
    if unsafe { sys::signal_thread(thread, signal()) }.is_err() {
        SLOT.state.store(IDLE, Ordering::SeqCst);
        return None;
    }
    let deadline = Instant::now() + WAIT;
    while SLOT.state.load(Ordering::Acquire) != DONE {
        if Instant::now() >= deadline {
            // Too late: a handler that runs now finds IDLE and does nothing.
            if SLOT
                .state
                .compare_exchange(REQUESTED, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return None;
            }
            // It is running right now: wait for it to finish.
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    let len = SLOT.len.load(Ordering::Relaxed);
    let ips = SLOT.ips[..len]
        .iter()
        .map(|ip| ip.load(Ordering::Relaxed))
        .collect();
    let same_stall = SLOT.epoch.load(Ordering::Relaxed) == epoch;
    SLOT.state.store(IDLE, Ordering::Release);
    (same_stall && len > 0).then_some(RawTrace {
        ips,
        exact_first: true,
    })
}

/// Records the executable segments of every loaded object, for the handler's scan.
fn snapshot_code_ranges() {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        count: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid info for the duration of the callback.
        let info = unsafe { &*info };
        // SAFETY: `count` is the `&mut usize` given to dl_iterate_phdr below, unaliased while
        // the callback runs.
        let count = unsafe { &mut *count.cast::<usize>() };
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: dlpi_phdr points at dlpi_phnum program headers, so `+ i` stays in them.
            let ph = unsafe { info.dlpi_phdr.add(i) };
            // SAFETY: `ph` points at one of those headers, valid during the callback.
            let ph = unsafe { &*ph };
            if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_X == 0 {
                continue;
            }
            if *count == MAX_RANGES {
                return 1;
            }
            let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
            SLOT.ranges[*count].0.store(start, Ordering::Relaxed);
            SLOT.ranges[*count]
                .1
                .store(start + ph.p_memsz as usize, Ordering::Relaxed);
            *count += 1;
        }
        0
    }
    let mut count = 0usize;
    // SAFETY: `each` only reads what it is given; `count` outlives the call and is what
    // `each` expects as its data.
    unsafe { sys::for_each_loaded_object(each, (&raw mut count).cast()) };
    // Release: the handler reads the ranges after it sees REQUESTED, stored after this.
    SLOT.ranges_len.store(count, Ordering::Release);
}

/// Whether `[start, end)` lies in one snapshotted code range. Async-signal-safe.
fn is_code(start: usize, end: usize) -> bool {
    let len = SLOT.ranges_len.load(Ordering::Acquire);
    SLOT.ranges[..len]
        .iter()
        .any(|(lo, hi)| lo.load(Ordering::Relaxed) <= start && end <= hi.load(Ordering::Relaxed))
}

/// The handler. Async-signal-safe (see the module docs); errno is preserved.
extern "C" fn on_signal(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if SLOT.state.load(Ordering::Acquire) != REQUESTED {
        return;
    }
    let errno = sys::errno();
    let mut buf = [0usize; MAX_FRAMES];
    let mut len = 0;
    let mut epoch = 0;
    if let Some((stack, switches)) = Scheduler::running_stack() {
        // SAFETY: `ctx` is the ucontext the kernel passed to this SA_SIGINFO handler.
        let regs = unsafe { arch::interrupted(ctx) };
        len = arch::walk_interrupted(regs, stack, &is_code, &mut buf);
        epoch = switches;
    }
    for (slot, &ip) in SLOT.ips.iter().zip(&buf[..len]) {
        slot.store(ip, Ordering::Relaxed);
    }
    SLOT.len.store(len, Ordering::Relaxed);
    SLOT.epoch.store(epoch, Ordering::Relaxed);
    // Only if the watchdog still waits; otherwise it has given up and reset the slot.
    let _ = SLOT
        .state
        .compare_exchange(REQUESTED, DONE, Ordering::AcqRel, Ordering::Relaxed);
    sys::set_errno(errno);
}
