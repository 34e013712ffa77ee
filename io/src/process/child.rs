//! [`Child`] and its fiber-aware pipes.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::thread;

use spindle_core::{fiber, unblock};

use super::{ExitStatus, Output};
use crate::io::Fd;
use crate::sys;

/// A running or exited child process, mirroring [`std::process::Child`].
///
/// Dropping a `Child` neither kills nor reaps it, as in `std`.
///
/// # Notes
///
/// [`wait`](Child::wait) parks the fiber on a pidfd in the reactor; see the
/// [module docs](super).
pub struct Child {
    /// The child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    pid: u32,
    /// Readable once the child has exited; `None` if `pidfd_open` failed.
    pidfd: Option<Fd<OwnedFd>>,
    /// Set once the child is reaped; after that `pid` may belong to another process.
    status: Option<ExitStatus>,
}

impl Child {
    /// Takes over a child just spawned by `std`: its pipes become non-blocking, and a pidfd
    /// is opened for [`wait`](Child::wait).
    pub(crate) fn from_std(mut child: std::process::Child) -> io::Result<Child> {
        let pid = child.id();
        // Without a pidfd (a kernel before 5.3, or out of descriptors) `wait` falls back to a
        // blocking `waitpid` on the pool; failing here would leak a running child.
        let pidfd = sys::pidfd_open(pid).and_then(Fd::new).ok();
        Ok(Child {
            stdin: child.stdin.take().map(ChildStdin::new).transpose()?,
            stdout: child.stdout.take().map(ChildStdout::new).transpose()?,
            stderr: child.stderr.take().map(ChildStderr::new).transpose()?,
            pid,
            pidfd,
            status: None,
        })
    }

    /// The OS process id.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Sends `SIGKILL` to the child, mirroring [`std::process::Child::kill`]. Does nothing if
    /// the child has already been reaped.
    ///
    /// # Errors
    ///
    /// The error of `kill(2)`.
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // Not reaped yet, so `pid` is still this child (a zombie at worst).
        sys::kill(self.pid)
    }

    /// Waits for the child to exit and reaps it, mirroring [`std::process::Child::wait`].
    /// Closes the child's stdin first, so a child reading it sees end of file. Parks the
    /// calling fiber; other fibers keep running.
    ///
    /// # Errors
    ///
    /// The error of `waitpid(2)` (e.g. `ECHILD` if someone else reaped the child).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            match &self.pidfd {
                Some(pidfd) => pidfd.readable()?,
                None => {
                    let pid = self.pid;
                    let raw = unblock(move || sys::waitpid(pid, true))?;
                    if let Some(raw) = raw {
                        return Ok(*self.status.insert(ExitStatus::from_raw(raw)));
                    }
                }
            }
        }
    }

    /// Reaps the child if it has exited, mirroring [`std::process::Child::try_wait`]: never
    /// waits.
    ///
    /// # Errors
    ///
    /// The error of `waitpid(2)`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = sys::waitpid(self.pid, false)?.map(ExitStatus::from_raw);
        self.status = status;
        Ok(status)
    }

    /// Waits for the child to exit, collecting all of its stdout and stderr, mirroring
    /// [`std::process::Child::wait_with_output`]. Both pipes are drained at once, so a child
    /// filling one while the other is read cannot deadlock.
    ///
    /// # Errors
    ///
    /// A read error on either pipe, or the error of [`wait`](Child::wait).
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = match (self.stdout.take(), self.stderr.take()) {
            (None, None) => (Vec::new(), Vec::new()),
            (Some(out), None) => (read_all(out)?, Vec::new()),
            (None, Some(err)) => (Vec::new(), read_all(err)?),
            (Some(out), Some(err)) => read_both(out, err)?,
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

fn read_all(mut pipe: impl Read) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    pipe.read_to_end(&mut data)?;
    Ok(data)
}

/// Drains both pipes concurrently: stderr on a second fiber (or, on a plain thread, a second
/// thread), stdout here.
fn read_both(out: ChildStdout, err: ChildStderr) -> io::Result<(Vec<u8>, Vec<u8>)> {
    if fiber::is_fiber() {
        let err = fiber::spawn(move || read_all(err));
        let out = read_all(out);
        let err = err
            .join()
            .unwrap_or_else(|payload| std::panic::resume_unwind(payload));
        Ok((out?, err?))
    } else {
        thread::scope(|scope| {
            let err = scope.spawn(move || read_all(err));
            let out = read_all(out);
            let err = err
                .join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload));
            Ok((out?, err?))
        })
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

macro_rules! child_pipe {
    ($(#[$doc:meta])* $ty:ident, $std:ty) => {
        $(#[$doc])*
        ///
        /// # Notes
        ///
        /// The pipe end is non-blocking while wrapped. Converting it into a [`Stdio`](std::process::Stdio) (to
        /// connect it to another child) or an [`OwnedFd`] switches it back to blocking mode.
        pub struct $ty {
            fd: Fd<OwnedFd>,
        }

        impl $ty {
            fn new(pipe: $std) -> io::Result<$ty> {
                Ok($ty {
                    fd: Fd::new(OwnedFd::from(pipe))?,
                })
            }
        }

        $crate::io::pipe_fd_traits!($ty);
    };
}

child_pipe!(
    /// The parent's end of a child's stdin pipe, mirroring [`std::process::ChildStdin`]:
    /// writes park the fiber while the pipe is full.
    ChildStdin,
    std::process::ChildStdin
);
child_pipe!(
    /// The parent's end of a child's stdout pipe, mirroring [`std::process::ChildStdout`]:
    /// reads park the fiber while the pipe is empty.
    ChildStdout,
    std::process::ChildStdout
);
child_pipe!(
    /// The parent's end of a child's stderr pipe, mirroring [`std::process::ChildStderr`]:
    /// reads park the fiber while the pipe is empty.
    ChildStderr,
    std::process::ChildStderr
);

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fd.write_with(|fd| sys::write(fd.as_fd(), buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

macro_rules! child_read {
    ($ty:ident) => {
        impl Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.fd.read_with(|fd| sys::read(fd.as_fd(), buf))
            }
        }
    };
}

child_read!(ChildStdout);
child_read!(ChildStderr);
