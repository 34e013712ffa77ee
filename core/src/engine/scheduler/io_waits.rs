//! A fiber's waits on file descriptors, through this scheduler's reactor.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

use super::Scheduler;
use crate::engine::fiber::{FiberBlock, Wait};
use crate::engine::reactor::{self, Interest};

impl Scheduler {
    /// Registers `fd` with this scheduler's reactor, its events counted in `state`.
    pub(crate) fn register_io(&self, fd: RawFd, state: Arc<reactor::IoState>) -> io::Result<usize> {
        self.reactor.borrow_mut().register(fd, state)
    }

    /// Removes a registration of this scheduler's reactor.
    pub(crate) fn deregister_io(&self, token: usize, fd: RawFd) {
        self.reactor.borrow_mut().deregister(token, fd)
    }

    /// Parks the running fiber until `token`'s fd reports `interest`, or `deadline`.
    pub(crate) fn wait_io(
        &self,
        token: usize,
        fd: RawFd,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let me: *const FiberBlock = self.current_fiber();
        self.note_wait(Wait::Io(fd, interest));
        self.reactor.borrow_mut().add_waiter(token, interest, me);
        let timed_out = self.park(deadline);
        self.reactor.borrow_mut().remove_waiter(token, me);
        self.check_cancelled();
        if timed_out {
            Err(reactor::timed_out())
        } else {
            Ok(())
        }
    }

    /// Number of fds registered with this scheduler's reactor.
    pub(crate) fn io_registered(&self) -> usize {
        self.reactor.borrow().registered()
    }
}
