//! The `polling` backend (cargo feature `polling`): epoll through `polling::Poller`, whose
//! `notify` (an eventfd) is the notifier; the poller is shared with the notifier in an `Arc`,
//! as `polling::Poller` may be used from any thread.
//!
//! `polling` hides its notification from the events it reports, so this backend keeps its
//! own flag of notifications sent and counts one event for it, as the mio backend does.

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use polling::{Event, Events, PollMode};

use super::Readiness;

/// Events taken from the kernel per wait.
const EVENTS: NonZeroUsize = NonZeroUsize::new(1024).expect("non-zero");

/// What the poller and its notifier share.
#[derive(Debug)]
struct Shared {
    poller: polling::Poller,
    /// Set by [`Notifier::notify`], cleared by the next [`Poller::poll`] that returns.
    notified: AtomicBool,
}

/// Waits for readiness of registered fds.
pub(crate) struct Poller {
    shared: Arc<Shared>,
    events: Events,
}

/// The part of a [`Poller`] that any thread may use: interrupts its `poll` and removes fds
/// from its interest list. It keeps the poller's epoll instance open while it lives.
#[derive(Debug)]
pub(crate) struct Notifier {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("poller", &self.shared.poller)
            .finish_non_exhaustive()
    }
}

/// Borrows `fd` for one call into `polling`.
///
/// # Safety
///
/// `fd` must stay open until the borrow ends (the interface's rule: callers keep the fd open
/// across `deregister`).
unsafe fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: the caller keeps `fd` open for as long as the borrow is used, which is one call.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl Poller {
    /// A poller and the notifier that interrupts it.
    pub(crate) fn new() -> io::Result<(Poller, Notifier)> {
        let shared = Arc::new(Shared {
            poller: polling::Poller::new()?,
            notified: AtomicBool::new(false),
        });
        Ok((
            Poller {
                shared: Arc::clone(&shared),
                events: Events::with_capacity(EVENTS),
            },
            Notifier { shared },
        ))
    }

    /// `polling` cannot ask for `EPOLLRDHUP`: a peer's half-close is plain readability here.
    pub(crate) const SEES_READ_CLOSED: bool = false;

    /// Registers `fd` for both directions and urgent data (`polling` asks for `EPOLLPRI` with
    /// readability), edge-triggered, under `token`.
    pub(crate) fn register(&self, fd: RawFd, token: usize) -> io::Result<()> {
        // SAFETY: `add_with_mode` needs `fd` to be deleted from the poller before it is
        // closed: every registration is deregistered before its fd closes (the contract of
        // `Registration::deregister`), and an fd closed first merely leaves epoll's set.
        unsafe {
            self.shared
                .poller
                .add_with_mode(fd, Event::all(token), PollMode::Edge)
        }
    }

    /// Removes `fd` from the interest list.
    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: the caller keeps `fd` open across this call (see the module's interface).
        self.shared.poller.delete(unsafe { borrow(fd) })
    }

    /// Waits up to `timeout` (forever with `None`) and reports each ready fd to `on_ready`.
    /// Returns the number of events, notifier included.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        mut on_ready: impl FnMut(Readiness),
    ) -> io::Result<usize> {
        self.events.clear();
        match self.shared.poller.wait(&mut self.events, timeout) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut count = usize::from(self.shared.notified.swap(false, Ordering::AcqRel));
        for event in self.events.iter() {
            count += 1;
            let closed = event.is_err().unwrap_or(false) || event.is_interrupt();
            on_ready(Readiness {
                token: event.key,
                read: event.readable || closed,
                write: event.writable || closed,
                read_closed: closed,
                write_closed: closed,
                urgent: event.is_priority(),
            });
        }
        Ok(count)
    }
}

impl Notifier {
    /// Makes the current or next [`Poller::poll`] return.
    pub(crate) fn notify(&self) {
        self.shared.notified.store(true, Ordering::Release);
        // A failed notify can only mean the eventfd counter is saturated, i.e. a wake is
        // already pending.
        let _ = self.shared.poller.notify();
    }

    /// Removes `fd` from the poller's interest list, from any thread (`epoll_ctl` is
    /// thread-safe). The caller keeps `fd` open across the call, so that the number cannot
    /// name another file meanwhile.
    pub(crate) fn deregister(&self, fd: RawFd) {
        // Fails only if `fd` was not in the set, which is the state wanted.
        // SAFETY: the caller keeps `fd` open across this call.
        let _ = self.shared.poller.delete(unsafe { borrow(fd) });
    }
}
