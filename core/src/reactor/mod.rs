//! Readiness of file descriptors, turned into fiber wake-ups.
//!
//! A file descriptor is registered with its scheduler's poller once, edge-triggered, for both
//! directions, the first time a fiber waits on it. A registration records the fibers waiting
//! to read and those waiting to write; an event wakes them all and each retries its syscall.
//! Because the scheduler only polls between fibers, there is no window in which an edge can be
//! lost: a fiber that saw `EAGAIN` is on the waiter list before the poller runs again.
//!
//! [`Registration::wait`] is the one I/O primitive every shim builds on:
//!
//! ```text
//! loop { match syscall() { Err(WouldBlock) => registration.wait(fd, interest, deadline)?, r => return r } }
//! ```
//!
//! On a thread with no runtime, `wait` is a `poll(2)` on the fd, so the same shim blocks the
//! thread exactly like std.

mod poller;

pub(crate) use poller::{Notifier, Poller, Readiness};

use std::fmt;
use std::io;
use std::ops::BitOr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::fiber::FiberShared;
use crate::scheduler::Scheduler;
use crate::slab::Slab;
use crate::sys::cvt;

/// Which readiness a fiber waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    /// Wait until the fd may be read (or accepted from), or reports end of stream or an error.
    pub const READABLE: Interest = Interest(1);
    /// Wait until the fd may be written (or a connect finished), or the peer is gone.
    pub const WRITABLE: Interest = Interest(2);

    /// Whether this includes [`Interest::READABLE`].
    pub const fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether this includes [`Interest::WRITABLE`].
    pub const fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (false, false) => f.write_str("(none)"),
        }
    }
}

/// The link between one file descriptor and the reactor of the scheduler that waits on it.
///
/// Keep one next to each fd (a socket type holds its `Registration`) and call
/// [`deregister`](Registration::deregister) before closing the fd.
///
/// A registration belongs to the scheduler that first waited on it. If the fd moves to another
/// thread or runtime and waits there, it registers with that scheduler instead; the old
/// scheduler's entry stays until that scheduler ends (it never wakes anybody).
#[derive(Default)]
pub struct Registration {
    /// `0` when unregistered, else `scheduler id << 32 | (token + 1)`.
    key: AtomicU64,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key.load(Ordering::Relaxed);
        let mut d = f.debug_struct("Registration");
        if key == 0 {
            d.field("registered", &false);
        } else {
            d.field("scheduler", &(key >> 32))
                .field("token", &((key as u32) - 1));
        }
        d.finish()
    }
}

impl Registration {
    /// A registration not yet known to any reactor.
    pub const fn new() -> Registration {
        Registration {
            key: AtomicU64::new(0),
        }
    }

    /// Waits until `fd` may be ready for `interest`, or `deadline` passes.
    ///
    /// Inside a runtime, registers `fd` with this thread's reactor on first use and parks the
    /// calling fiber; other fibers keep running. On a plain thread, blocks in `poll(2)`.
    ///
    /// `Ok(())` means "try the operation again": readiness may be spurious, and with
    /// edge-triggered events only a new `EAGAIN` proves the fd is not ready.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::TimedOut`] when `deadline` passes first; the error of `epoll_ctl` or
    /// `poll(2)` if the fd cannot be watched (for example a regular file, which epoll refuses
    /// with `EPERM`).
    pub fn wait(
        &self,
        fd: BorrowedFd<'_>,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        match Scheduler::on_fiber() {
            Some(sched) => {
                let token = self.token_in(sched, fd)?;
                sched.wait_io(token, interest, deadline)
            }
            _ => poll_fd(fd.as_raw_fd(), interest, deadline),
        }
    }

    /// Removes `fd` from the reactor it is registered with. Call it before closing the fd.
    ///
    /// A registration made on another thread cannot be touched from here; closing the fd
    /// removes it from that thread's epoll set unless the fd was duplicated.
    pub fn deregister(&self, fd: BorrowedFd<'_>) {
        let key = self.key.swap(0, Ordering::Relaxed);
        if key == 0 {
            return;
        }
        if let Some(sched) = Scheduler::current()
            && sched.id() == (key >> 32) as u32
        {
            sched.deregister_io((key as u32 - 1) as usize, fd.as_raw_fd());
        }
    }

    /// The token of `fd` in `sched`'s reactor, registering it there first if needed.
    fn token_in(&self, sched: &Scheduler, fd: BorrowedFd<'_>) -> io::Result<usize> {
        let key = self.key.load(Ordering::Relaxed);
        if key != 0 && (key >> 32) as u32 == sched.id() {
            return Ok((key as u32 - 1) as usize);
        }
        let token = sched.register_io(fd.as_raw_fd())?;
        let key = (u64::from(sched.id()) << 32) | (token as u64 + 1);
        self.key.store(key, Ordering::Relaxed);
        Ok(token)
    }
}

/// The waiters of one registered fd.
#[derive(Debug, Default)]
struct IoEntry {
    readers: Vec<*const FiberShared>,
    writers: Vec<*const FiberShared>,
}

/// The per-scheduler reactor: the poller plus who waits on what.
#[derive(Debug)]
pub(crate) struct Reactor {
    poller: Poller,
    entries: Slab<IoEntry>,
    /// Fibers currently on some waiter list.
    waiting: usize,
}

impl Reactor {
    pub(crate) fn new(poller: Poller) -> Reactor {
        Reactor {
            poller,
            entries: Slab::default(),
            waiting: 0,
        }
    }

    /// Registers `fd`, returning its token.
    pub(crate) fn register(&mut self, fd: RawFd) -> io::Result<usize> {
        let token = self.entries.insert(IoEntry::default());
        if let Err(e) = self.poller.register(fd, token) {
            self.entries.remove(token);
            return Err(e);
        }
        Ok(token)
    }

    /// Forgets `token` and removes `fd` from the poller.
    pub(crate) fn deregister(&mut self, token: usize, fd: RawFd) {
        if let Some(entry) = self.entries.remove(token) {
            debug_assert!(entry.readers.is_empty() && entry.writers.is_empty());
            // Fails only if the fd is already closed, which removed it anyway.
            let _ = self.poller.deregister(fd);
        }
    }

    pub(crate) fn add_waiter(&mut self, token: usize, interest: Interest, f: *const FiberShared) {
        let entry = self
            .entries
            .get_mut(token)
            .expect("waiting on an unknown registration");
        if interest.is_readable() {
            entry.readers.push(f);
            self.waiting += 1;
        }
        if interest.is_writable() {
            entry.writers.push(f);
            self.waiting += 1;
        }
    }

    pub(crate) fn remove_waiter(&mut self, token: usize, f: *const FiberShared) {
        if let Some(entry) = self.entries.get_mut(token) {
            for list in [&mut entry.readers, &mut entry.writers] {
                if let Some(pos) = list.iter().position(|&w| w == f) {
                    list.swap_remove(pos);
                    self.waiting -= 1;
                }
            }
        }
    }

    /// Number of fibers waiting on fds.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Number of registered fds.
    pub(crate) fn registered(&self) -> usize {
        self.entries.len()
    }

    /// Polls with `timeout` and hands every woken fiber to `wake`. Returns the number of events.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<std::time::Duration>,
        mut wake: impl FnMut(*const FiberShared),
    ) -> io::Result<usize> {
        let Reactor {
            poller,
            entries,
            waiting,
        } = self;
        poller.poll(timeout, |ready: Readiness| {
            let Some(entry) = entries.get_mut(ready.token) else {
                return;
            };
            if ready.read {
                *waiting -= entry.readers.len();
                entry.readers.drain(..).for_each(&mut wake);
            }
            if ready.write {
                *waiting -= entry.writers.len();
                entry.writers.drain(..).for_each(&mut wake);
            }
        })
    }
}

/// The plain-thread twin of [`Registration::wait`]: `poll(2)` on one fd.
fn poll_fd(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    let mut events = 0;
    if interest.is_readable() {
        events |= libc::POLLIN;
    }
    if interest.is_writable() {
        events |= libc::POLLOUT;
    }
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(timed_out());
                }
                let left = deadline - now;
                // Round up so we never wake just before the deadline and spin.
                let ms =
                    left.as_millis() + u128::from(!left.subsec_nanos().is_multiple_of(1_000_000));
                ms.min(i32::MAX as u128) as i32
            }
        };
        // SAFETY: `pfd` is a valid pollfd array of length 1 for the duration of the call.
        match cvt(unsafe { libc::poll(&mut pfd, 1, timeout_ms) }) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the deadline passed before the fd was ready",
    )
}
