//! The OS readiness backend, behind a narrow interface.
//!
//! Everything the reactor needs from the OS is here: register an fd once for both directions
//! (edge-triggered), deregister it, wait for events with a timeout, and a cross-thread
//! notifier that interrupts that wait and removes fds from another thread (when a
//! registration is handed over).
//!
//! Two backends provide the same items; the cargo feature `polling` picks the second:
//!
//! | backend | crate | notifier | extra system calls per wait |
//! |---------|-------|----------|-----------------------------|
//! | `with_mio` (default) | `mio` | `mio::Waker` (eventfd) | none |
//! | `with_polling` | `polling` | `polling::Poller::notify` (eventfd) | re-arming its one-shot eventfd and timerfd: up to 4 |
//!
//! Each backend provides:
//!
//! | item | what it does |
//! |------|--------------|
//! | `Poller::new() -> io::Result<(Poller, Notifier)>` | a poller and the notifier that interrupts it |
//! | `Poller::register(&self, fd, token) -> io::Result<()>` | adds `fd` for both directions and urgent data (`EPOLLPRI`), edge-triggered, under `token` (never `usize::MAX`) |
//! | `Poller::SEES_READ_CLOSED: bool` | whether [`Readiness::read_closed`] reports a peer's half-close (`EPOLLRDHUP`), not only `EPOLLHUP` and errors |
//! | `Poller::deregister(&self, fd) -> io::Result<()>` | removes `fd`; the caller keeps it open across the call |
//! | `Poller::poll(&mut self, timeout, on_ready) -> io::Result<usize>` | waits up to `timeout` (forever with `None`), calls `on_ready` with a [`Readiness`] per ready fd, returns the number of events, a notification included; `EINTR` is `Ok(0)` |
//! | `Notifier::notify(&self)` | makes the current or next `poll` return |
//! | `Notifier::deregister(&self, fd)` | removes `fd` from the poller's interest list, from any thread; the caller keeps it open |
//!
//! `Notifier` is `Send + Sync` and keeps the poller's epoll instance open while it lives.

#[cfg(not(feature = "polling"))]
mod with_mio;
#[cfg(not(feature = "polling"))]
pub(crate) use with_mio::{Notifier, Poller};

#[cfg(feature = "polling")]
mod with_polling;
#[cfg(feature = "polling")]
pub(crate) use with_polling::{Notifier, Poller};

/// Readiness reported for one registered fd.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readiness {
    /// The fd's token, as given to [`Poller::register`].
    pub(crate) token: usize,
    /// A reader may make progress (data, end of stream, or an error to report).
    pub(crate) read: bool,
    /// A writer may make progress (buffer space, peer gone, or an error to report).
    pub(crate) write: bool,
    /// Reads will not block again: end of stream (a half-close, where the backend reports it),
    /// a hang-up or an error.
    pub(crate) read_closed: bool,
    /// Writes will not block again: the peer is gone, or an error.
    pub(crate) write_closed: bool,
    /// Urgent (out-of-band) data is pending (`EPOLLPRI`): a stream read stops short at its mark.
    pub(crate) urgent: bool,
}
