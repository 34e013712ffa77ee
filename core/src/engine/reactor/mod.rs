//! Readiness of file descriptors, turned into fiber wake-ups.
//!
//! A file descriptor is registered with its scheduler's poller once, edge-triggered, for both
//! directions, the first time a fiber waits on it (and again when a fiber of another runtime
//! takes it over: a registration has one owner at a time, see [`Registration`]). A registration records the fibers waiting
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
//!
//! A registration also counts, per direction, the events the reactor took for it, and where
//! the last short stream read or write left that count ([`Registration::ready_tick`],
//! [`Registration::clear_ready`]): the shim then waits first instead of making a system call
//! that can only say `EAGAIN`. The `readiness` module says why that is sound and where.

mod poller;
mod readiness;

pub(crate) use poller::{Notifier, Poller, Readiness};
pub(crate) use readiness::IoState;
pub use readiness::ReadyTick;

use std::fmt;
use std::io;
use std::ops::BitOr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::fiber::FiberBlock;
use super::scheduler::{SchedShared, Scheduler};
use crate::slab::Slab;
use crate::sys;

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
/// # One owner at a time
///
/// A registration belongs to one scheduler's reactor at a time, its *owner*: the fd is in that
/// reactor's epoll set and nowhere else (through this registration), under one token.
/// An fd may be shared between threads (`Arc<UdpSocket>`) or moved to another one, so fibers
/// of several runtimes can wait on the same registration. The rule:
///
/// | a fiber of scheduler S waits, and the owner is… | then                                                |
/// |--------------------------------------------------|-----------------------------------------------------|
/// | nobody, or a runtime that has ended              | S registers the fd and becomes the owner            |
/// | S                                                | it waits in S's reactor (the fast path: one load)   |
/// | another scheduler O, with no fiber waiting in it | *hand-over*: S takes the fd out of O's epoll set (`epoll_ctl` works from any thread), tells O to forget the token, registers the fd with its own reactor and becomes the owner |
/// | another scheduler O, with fibers waiting in it   | S leaves the registration with O and its fiber *polls*: it sleeps [`GUEST_POLL`] (or until its deadline) and retries its operation |
///
/// A hand-over happens under a lock in the registration, so two schedulers never own it at
/// once and the fd is never added to an epoll set it is still in. O forgets the token the next
/// time it looks at its remote wake-ups, and wakes the fibers that started to wait there in the
/// meantime: they retry, and wait again under this same rule, so no wake-up is lost. A fiber
/// that polls as a guest is woken late by up to [`GUEST_POLL`], never lost either; that is the
/// price of using one socket from two runtimes *at the same time*, which is rare. Sequential
/// use (a socket moved to another thread, or used by one runtime after another) costs one
/// hand-over per move.
///
/// [`deregister`](Registration::deregister) works from any thread for the same reason.
#[derive(Default)]
pub struct Registration {
    /// `0` when unregistered, else `owner id << 32 | (token + 1)`. Changes only under `owner`'s
    /// lock; read without it on the fast path.
    key: AtomicU64,
    /// Fibers of the owner waiting on this registration now.
    waiters: AtomicU32,
    /// The owner's shared half, through which another thread takes the fd out of its reactor.
    /// An `Option` rather than `Weak::new()` so that a new `Registration` is all zero bytes: the
    /// hook's table of a million of them then lives in `.bss`, not as 56 MB of every binary.
    owner: Mutex<Option<Weak<SchedShared>>>,
    /// The events counted for it, shared with the reactor; made on first registration and
    /// kept across hand-overs.
    state: LazyState,
}

/// An `Arc<IoState>` made on first use, like a `OnceLock<Arc<IoState>>` but all zero bytes
/// while empty (an empty `OnceLock` is not: std's `Once` starts at a non-zero state on Linux).
/// With it, and `owner`'s `Option`, a new [`Registration`] is all zeros, so the hook's static
/// table of a million of them lives in `.bss` (untouched pages cost nothing) instead of adding
/// 56 MB of `.data` to every binary that links the hook.
struct LazyState(AtomicPtr<IoState>);

// `AtomicPtr` is `Send + Sync` whatever it points to; the `Arc<IoState>` it stands for is
// shared between threads, which needs `IoState: Send + Sync`.
const _: () = {
    const fn shared_between_threads<T: Send + Sync>() {}
    shared_between_threads::<IoState>();
};

impl LazyState {
    const fn new() -> LazyState {
        LazyState(AtomicPtr::new(std::ptr::null_mut()))
    }

    #[inline]
    fn get(&self) -> Option<&IoState> {
        let state = self.0.load(Ordering::Acquire);
        // SAFETY: a non-null pointer was published by `get_or_init` from `Arc::into_raw`, with
        // a strong count that only `drop` (which has `&mut self`) gives back, so the `IoState`
        // lives at least as long as `&self`; Acquire pairs with the publishing Release.
        unsafe { state.as_ref() }
    }

    /// The state, made with `make` if there is none yet; a new strong reference.
    fn get_or_init(&self, make: impl FnOnce() -> Arc<IoState>) -> Arc<IoState> {
        let mut state = self.0.load(Ordering::Acquire);
        if state.is_null() {
            let made = Arc::into_raw(make()).cast_mut();
            match self.0.compare_exchange(
                std::ptr::null_mut(),
                made,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => state = made,
                Err(published) => {
                    // SAFETY: `made` came from `Arc::into_raw` just above and was not
                    // published, so this gives back the only reference to it.
                    drop(unsafe { Arc::from_raw(made) });
                    state = published;
                }
            }
        }
        // SAFETY: `state` is non-null and came from `Arc::into_raw` (see `get`); the published
        // strong count keeps it alive while this adds one for the `Arc` made below.
        unsafe { Arc::increment_strong_count(state) };
        // SAFETY: as above; this takes over the count just added.
        unsafe { Arc::from_raw(state) }
    }
}

impl Default for LazyState {
    fn default() -> LazyState {
        LazyState::new()
    }
}

impl Drop for LazyState {
    fn drop(&mut self) {
        let state = *self.0.get_mut();
        if !state.is_null() {
            // SAFETY: the published pointer came from `Arc::into_raw` and holds one strong
            // count, given back exactly once, here.
            drop(unsafe { Arc::from_raw(state) });
        }
    }
}

/// How long a fiber waits before it retries when another runtime's fibers are waiting on the
/// same registration (see [`Registration`]).
pub const GUEST_POLL: Duration = Duration::from_millis(1);

fn owner_id(key: u64) -> u32 {
    (key >> 32) as u32
}

fn token_of(key: u64) -> usize {
    (key as u32 - 1) as usize
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key.load(Ordering::Relaxed);
        let mut d = f.debug_struct("Registration");
        if key == 0 {
            d.field("registered", &false);
        } else {
            d.field("scheduler", &owner_id(key))
                .field("token", &token_of(key))
                .field("waiters", &self.waiters.load(Ordering::Relaxed));
        }
        d.finish()
    }
}

/// Where a fiber waits: in its own scheduler's reactor, or by polling (see [`Registration`]).
enum Claim {
    Owned(usize),
    Guest,
}

impl Registration {
    /// A registration not yet known to any reactor.
    pub const fn new() -> Registration {
        Registration {
            key: AtomicU64::new(0),
            waiters: AtomicU32::new(0),
            owner: Mutex::new(None),
            state: LazyState::new(),
        }
    }

    /// Waits until `fd` may be ready for `interest`, or `deadline` passes.
    ///
    /// Inside a runtime, registers `fd` with this thread's reactor on first use (or takes it
    /// over from another runtime's, see [`Registration`]) and parks the calling fiber; other
    /// fibers keep running. On a plain thread, blocks in `poll(2)`.
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
        Scheduler::with_on_fiber(|current| {
            let Some(sched) = current else {
                return poll_fd(fd.as_raw_fd(), interest, deadline);
            };
            match self.claim(sched, fd)? {
                Claim::Owned(token) => {
                    self.waiters.fetch_add(1, Ordering::Relaxed);
                    let _waiting = WaiterGuard(&self.waiters);
                    sched.wait_io(token, fd.as_raw_fd(), interest, deadline)
                }
                Claim::Guest => guest_wait(sched, fd.as_raw_fd(), interest, deadline),
            }
        })
    }

    /// The count of readiness events for `interest`'s direction (reads when it has both),
    /// taken before an operation: [`ReadyTick::may_be_ready`] is `false` when a short
    /// operation was already tried at this count, so the next one waits for an event first.
    /// A registration never waited on has no count: its ticks are always ready.
    #[inline]
    pub fn ready_tick(&self, interest: Interest) -> ReadyTick {
        match self.state.get() {
            Some(state) => state.tick(interest),
            None => ReadyTick::UNKNOWN,
        }
    }

    /// Records that an operation tried at `tick` found the fd not ready for `interest`, so
    /// that the next one waits for a readiness event before it tries (see
    /// [`ready_tick`](Self::ready_tick)). No-op once the reactor has seen end of stream, a
    /// hang-up, an error or (for reads) urgent data in that direction, and for reads when the
    /// poller cannot tell a peer's half-close from data (the `polling` backend).
    ///
    /// Sound only where the operation's result proves both that the fd was empty (full) when
    /// it ran and that any change since raises a new edge-triggered event: a TCP socket's
    /// read or write that moved fewer bytes than asked, more than zero, or a Unix stream's
    /// write. A datagram socket's short receive proves nothing (one datagram per call), nor
    /// does a Unix stream's (a read stops at a message that carries file descriptors or other
    /// credentials).
    #[inline]
    pub fn clear_ready(&self, interest: Interest, tick: ReadyTick) {
        if let Some(state) = self.state.get() {
            state.clear(interest, tick);
        }
    }

    /// Removes `fd` from the reactor it is registered with, from any thread. Call it before
    /// closing the fd.
    pub fn deregister(&self, fd: BorrowedFd<'_>) {
        if self.key.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut owner = self.owner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = self.key.swap(0, Ordering::Relaxed);
        let owner = owner.take();
        if key == 0 {
            return;
        }
        Scheduler::with_current(|current| match current {
            Some(sched) if sched.id() == owner_id(key) => {
                sched.deregister_io(token_of(key), fd.as_raw_fd());
            }
            _ => {
                if let Some(owner) = owner.as_ref().and_then(Weak::upgrade) {
                    owner.release_io(token_of(key), fd.as_raw_fd());
                }
            }
        })
    }

    /// Where a fiber of `sched` waits on `fd`: the token in `sched`'s reactor, registering or
    /// taking the fd over first if needed, or as a guest (see [`Registration`]).
    fn claim(&self, sched: &Scheduler, fd: BorrowedFd<'_>) -> io::Result<Claim> {
        let key = self.key.load(Ordering::Relaxed);
        if key != 0 && owner_id(key) == sched.id() {
            return Ok(Claim::Owned(token_of(key)));
        }
        let mut owner = self.owner.lock().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have changed the owner since the load above.
        let key = self.key.load(Ordering::Relaxed);
        let previous = if key == 0 {
            None
        } else {
            owner.as_ref().and_then(Weak::upgrade)
        };
        if previous.is_some() && self.waiters.load(Ordering::Relaxed) > 0 {
            return Ok(Claim::Guest);
        }
        let state = self
            .state
            .get_or_init(|| Arc::new(IoState::new(Poller::SEES_READ_CLOSED)));
        let token = sched.register_io(fd.as_raw_fd(), state)?;
        if let Some(previous) = previous {
            previous.release_io(token_of(key), fd.as_raw_fd());
        }
        self.key.store(
            (u64::from(sched.id()) << 32) | (token as u64 + 1),
            Ordering::Relaxed,
        );
        *owner = Some(Arc::downgrade(sched.shared()));
        Ok(Claim::Owned(token))
    }
}

/// Counts a fiber in `Registration::waiters` until dropped (also when the wait unwinds).
struct WaiterGuard<'a>(&'a AtomicU32);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A guest's wait (see [`Registration`]): sleeps [`GUEST_POLL`], or until `deadline`.
fn guest_wait(
    sched: &Scheduler,
    fd: RawFd,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let tick = Instant::now() + GUEST_POLL;
    sched.note_wait(super::fiber::Wait::Io(fd, interest));
    sched.park(Some(deadline.map_or(tick, |d| d.min(tick))));
    sched.check_cancelled();
    match deadline {
        Some(d) if Instant::now() >= d => Err(timed_out()),
        _ => Ok(()),
    }
}

/// The waiters of one registered fd, and its registration's event counts.
#[derive(Debug)]
struct IoEntry {
    readers: Vec<*const FiberBlock>,
    writers: Vec<*const FiberBlock>,
    state: Arc<IoState>,
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

    /// Registers `fd`, whose events are counted in `state`, returning its token.
    pub(crate) fn register(&mut self, fd: RawFd, state: Arc<IoState>) -> io::Result<usize> {
        let token = self.entries.insert(IoEntry {
            readers: Vec::new(),
            writers: Vec::new(),
            state,
        });
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

    /// Forgets `token`, whose fd another thread has already removed from the poller (a
    /// registration handed over), and hands the fibers that waited on it to `wake`: they retry
    /// their operation and wait again through the new owner.
    pub(crate) fn forget(&mut self, token: usize, mut wake: impl FnMut(*const FiberBlock)) {
        if let Some(entry) = self.entries.remove(token) {
            self.waiting -= entry.readers.len() + entry.writers.len();
            entry
                .readers
                .into_iter()
                .chain(entry.writers)
                .for_each(&mut wake);
        }
    }

    pub(crate) fn add_waiter(&mut self, token: usize, interest: Interest, f: *const FiberBlock) {
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

    pub(crate) fn remove_waiter(&mut self, token: usize, f: *const FiberBlock) {
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
        mut wake: impl FnMut(*const FiberBlock),
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
            entry.state.record(&ready);
            if ready.read && !entry.readers.is_empty() {
                *waiting -= entry.readers.len();
                entry.readers.iter().for_each(|&f| wake(f));
                entry.readers.clear();
            }
            if ready.write && !entry.writers.is_empty() {
                *waiting -= entry.writers.len();
                entry.writers.iter().for_each(|&f| wake(f));
                entry.writers.clear();
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
        match sys::poll_one(fd, events, timeout_ms) {
            Ok(false) => continue,
            Ok(true) => return Ok(()),
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
