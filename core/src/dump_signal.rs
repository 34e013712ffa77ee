//! `Builder::dump_on_signal`: a signal makes every runtime that asked for it print its
//! [`Dump`](crate::Dump) to stderr, Go-style.
//!
//! ```text
//!   signal ──▶ handler: write(pipe, signo)          (async-signal-safe, never blocks)
//!   "spindle-dump" thread: read(pipe) ──▶ for each runtime watching that signal:
//!                                        SchedShared::request_dump (remote queue wake-up)
//!   scheduler, between fibers (drain_remote) ──▶ eprintln!("{}", self.dump())
//! ```
//!
//! The dump itself is always taken on the scheduler's own thread, in its main context, where
//! no fiber runs. A runtime whose thread is stalled prints when the stall ends.
//!
//! The handler replaces the signal's previous disposition for the whole process, for good
//! (like any handler std or a library installs); a handler is installed once per signal.

use std::io;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError, Weak};

use crate::engine::scheduler::SchedShared;
use crate::sys;
use std::os::fd::{AsFd, IntoRawFd, OwnedFd};

/// The runtimes that asked for a dump, by signal.
static WATCHERS: Mutex<Vec<(libc::c_int, Weak<SchedShared>)>> = Mutex::new(Vec::new());

/// The write end of the pipe the handler writes to; -1 until it exists.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// Signals that cannot be caught, or that spindle and std need for faults.
const REFUSED: &[libc::c_int] = &[
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
];

/// Checks that `signal` can carry dump requests.
pub(crate) fn check(signal: libc::c_int) -> Result<(), String> {
    if signal <= 0 || signal > libc::SIGRTMAX() || REFUSED.contains(&signal) {
        return Err(format!(
            "spindle::runtime::Builder::dump_on_signal: signal {signal} cannot carry dump \
             requests; use one such as SIGQUIT, SIGUSR1 or SIGUSR2"
        ));
    }
    Ok(())
}

/// Makes `signal` request a dump from `sched` until the returned guard drops.
pub(crate) fn watch(signal: libc::c_int, sched: &Arc<SchedShared>) -> io::Result<Watch> {
    start_listener()?;
    install_handler(signal)?;
    let mut watchers = WATCHERS.lock().unwrap_or_else(PoisonError::into_inner);
    watchers.retain(|(_, w)| w.strong_count() > 0);
    watchers.push((signal, Arc::downgrade(sched)));
    Ok(Watch {
        sched: Arc::downgrade(sched),
    })
}

/// Stops dump requests to one runtime when dropped.
#[derive(Debug)]
pub(crate) struct Watch {
    sched: Weak<SchedShared>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        WATCHERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(_, w)| !w.ptr_eq(&self.sched) && w.strong_count() > 0);
    }
}

/// Creates the pipe and the thread that reads it, once per process.
fn start_listener() -> io::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| result = spawn_listener());
    if result.is_ok() && PIPE_WRITE.load(Ordering::Acquire) < 0 {
        return Err(io::Error::other(
            "spindle: dump_on_signal: the signal listener could not be started earlier",
        ));
    }
    result
}

fn spawn_listener() -> io::Result<()> {
    let (read_end, write_end) = sys::pipe()?;
    // The handler must never block on a full pipe: a dropped byte only merges two requests.
    sys::set_nonblocking(write_end.as_fd())?;
    std::thread::Builder::new()
        .name("spindle-dump".into())
        .spawn(move || listen(read_end))?;
    // The write end stays open for the life of the process: the handler may write any time.
    PIPE_WRITE.store(write_end.into_raw_fd(), Ordering::Release);
    Ok(())
}

/// The listener thread: each byte read is a signal number; wake the runtimes watching it.
fn listen(read_end: OwnedFd) {
    let mut buf = [0u8; 64];
    loop {
        let n = match sys::read(read_end.as_fd(), &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let watchers = WATCHERS.lock().unwrap_or_else(PoisonError::into_inner);
        for &sig in &buf[..n as usize] {
            for (_, sched) in watchers
                .iter()
                .filter(|(s, _)| *s == libc::c_int::from(sig))
            {
                if let Some(sched) = sched.upgrade() {
                    sched.request_dump();
                }
            }
        }
    }
}

/// Installs the handler for `signal`, once per signal.
fn install_handler(signal: libc::c_int) -> io::Result<()> {
    static INSTALLED: Mutex<Vec<libc::c_int>> = Mutex::new(Vec::new());
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if installed.contains(&signal) {
        return Ok(());
    }
    // SAFETY: sigaction is plain data; all-zero is a valid empty value.
    let mut action: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    action.sa_sigaction = on_signal as *const () as usize;
    // Restart interrupted system calls, so the signal changes nothing for the program.
    action.sa_flags = libc::SA_RESTART;
    action.sa_mask = sys::empty_sigset();
    // SAFETY: `on_signal` is a one-argument handler that only writes to a pipe (async-signal-
    // safe) and restores errno; a null old-action pointer is allowed.
    unsafe { sys::sigaction(signal, &action, std::ptr::null_mut()) }?;
    installed.push(signal);
    Ok(())
}

/// The handler: only `write(2)` (async-signal-safe), and errno is preserved.
extern "C" fn on_signal(signal: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // Signal numbers fit a byte on Linux (at most 64).
    let byte = signal as u8;
    let errno = sys::errno();
    // SAFETY: `fd` is the pipe's write end, open for the life of the process and ours.
    let _ = unsafe { sys::write_fd(fd, &[byte]) };
    sys::set_errno(errno);
}
