//! The mio backend (the default): epoll through `mio::Poll`, a `mio::Waker` (an eventfd) as
//! the notifier, and a clone of the `mio::Registry` to deregister from other threads.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::Readiness;

/// Token reserved for the notifier.
const NOTIFY_TOKEN: Token = Token(usize::MAX);

/// Waits for readiness of registered fds.
#[derive(Debug)]
pub(crate) struct Poller {
    poll: Poll,
    events: Events,
}

/// The part of a [`Poller`] that any thread may use: interrupts its `poll` and removes fds
/// from its interest list. It keeps the poller's epoll instance open while it lives.
#[derive(Debug)]
pub(crate) struct Notifier {
    waker: Waker,
    registry: Registry,
}

impl Poller {
    /// A poller and the notifier that interrupts it.
    pub(crate) fn new() -> io::Result<(Poller, Notifier)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), NOTIFY_TOKEN)?;
        let registry = poll.registry().try_clone()?;
        Ok((
            Poller {
                poll,
                events: Events::with_capacity(1024),
            },
            Notifier { waker, registry },
        ))
    }

    /// mio asks for `EPOLLRDHUP` with every readable registration.
    pub(crate) const SEES_READ_CLOSED: bool = true;

    /// Registers `fd` for both directions and urgent data, edge-triggered, under `token`.
    pub(crate) fn register(&self, fd: RawFd, token: usize) -> io::Result<()> {
        self.poll.registry().register(
            &mut SourceFd(&fd),
            Token(token),
            Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
        )
    }

    /// Removes `fd` from the interest list.
    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        self.poll.registry().deregister(&mut SourceFd(&fd))
    }

    /// Waits up to `timeout` (forever with `None`) and reports each ready fd to `on_ready`.
    /// Returns the number of events, notifier included.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        mut on_ready: impl FnMut(Readiness),
    ) -> io::Result<usize> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut count = 0;
        for event in &self.events {
            count += 1;
            if event.token() == NOTIFY_TOKEN {
                continue;
            }
            let read_closed = event.is_read_closed() || event.is_error();
            let write_closed = event.is_write_closed() || event.is_error();
            on_ready(Readiness {
                token: event.token().0,
                read: event.is_readable() || read_closed,
                write: event.is_writable() || write_closed,
                read_closed,
                write_closed,
                urgent: event.is_priority(),
            });
        }
        Ok(count)
    }
}

impl Notifier {
    /// Makes the current or next [`Poller::poll`] return.
    pub(crate) fn notify(&self) {
        // A failed wake can only mean the eventfd counter is saturated, i.e. a wake is
        // already pending.
        let _ = self.waker.wake();
    }

    /// Removes `fd` from the poller's interest list, from any thread (`epoll_ctl` is
    /// thread-safe). The caller keeps `fd` open across the call, so that the number cannot
    /// name another file meanwhile.
    pub(crate) fn deregister(&self, fd: RawFd) {
        // Fails only if `fd` was not in the set (or is closed), which is the state wanted.
        let _ = self.registry.deregister(&mut SourceFd(&fd));
    }
}
