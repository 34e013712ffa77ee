//! Advisory whole-file locks (`flock(2)`) on [`File`], mirroring `std::fs::File::lock` and its
//! family (std 1.89).
//!
//! `flock` has no readiness notification, so a contended lock cannot be waited for on the
//! reactor. On a fiber, spindle tries `LOCK_NB` and, while another holder has the lock,
//! sleeps the fiber and tries again, with the sleep doubling from 1 ms up to 50 ms. The other
//! fibers of the thread run meanwhile, and no thread is held: a lock kept by another process for
//! an hour costs one timer, not a pool thread (which is why the blocking pool is not used).
//! The price is latency: the lock is taken up to 50 ms after it is released, and waiters are
//! not served in order. On a plain thread (no runtime) the call is the blocking `flock`, as in
//! `std`.

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use spindle_core::fiber;

use super::File;
use crate::sys;

/// The first pause between two tries of a contended lock.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// The error of [`File::try_lock`] and [`File::try_lock_shared`], mirroring
/// `std::fs::TryLockError`.
#[derive(Debug)]
pub enum TryLockError {
    /// The lock could not be taken for a reason other than contention.
    Error(io::Error),
    /// Another handle holds a lock that conflicts with the one asked for.
    WouldBlock,
}

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::Error(e) => write!(f, "{e}"),
            TryLockError::WouldBlock => {
                f.write_str("lock acquisition failed because the operation would block")
            }
        }
    }
}

impl std::error::Error for TryLockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryLockError::Error(e) => Some(e),
            TryLockError::WouldBlock => None,
        }
    }
}

impl From<TryLockError> for io::Error {
    fn from(err: TryLockError) -> io::Error {
        match err {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => io::ErrorKind::WouldBlock.into(),
        }
    }
}

impl File {
    /// Takes an exclusive advisory lock on the file, waiting while another handle holds any
    /// lock on it; mirrors `std::fs::File::lock`.
    ///
    /// # Errors
    ///
    /// As `std::fs::File::lock`: the descriptor does not support locks, out of kernel memory, …
    ///
    /// # Notes
    ///
    /// `flock` has no readiness notification, so on a fiber a contended lock is retried with
    /// `LOCK_NB` after sleeps that double from 1 ms to 50 ms: the fiber parks, its thread does
    /// not, and no pool thread is held however long the other holder keeps it. The lock is
    /// taken up to 50 ms after it is released, and waiters are not served in order. On a plain
    /// thread this is the blocking `flock`, as in std.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("lockfile");
    /// spindle_core::run(move || -> std::io::Result<()> {
    ///     let file = spindle_io::fs::File::create(&path)?;
    ///     file.lock()?;
    ///     // ... only one process at a time gets here ...
    ///     file.unlock()
    /// })
    /// # }
    /// ```
    pub fn lock(&self) -> io::Result<()> {
        self.lock_waiting(libc::LOCK_EX)
    }

    /// Takes a shared advisory lock on the file, waiting while another handle holds an
    /// exclusive one; mirrors `std::fs::File::lock_shared`.
    ///
    /// # Errors
    ///
    /// As [`File::lock`].
    pub fn lock_shared(&self) -> io::Result<()> {
        self.lock_waiting(libc::LOCK_SH)
    }

    /// Takes an exclusive advisory lock if no other handle holds any; mirrors
    /// `std::fs::File::try_lock`. Never waits.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if another handle holds a lock on the file;
    /// [`TryLockError::Error`] for other failures.
    pub fn try_lock(&self) -> Result<(), TryLockError> {
        self.try_lock_op(libc::LOCK_EX)
    }

    /// Takes a shared advisory lock if no other handle holds an exclusive one; mirrors
    /// `std::fs::File::try_lock_shared`. Never waits.
    ///
    /// # Errors
    ///
    /// As [`File::try_lock`].
    pub fn try_lock_shared(&self) -> Result<(), TryLockError> {
        self.try_lock_op(libc::LOCK_SH)
    }

    /// Releases the lock this handle holds, if any; mirrors `std::fs::File::unlock`.
    ///
    /// # Errors
    ///
    /// As `std::fs::File::unlock`.
    pub fn unlock(&self) -> io::Result<()> {
        sys::flock(self.as_fd(), libc::LOCK_UN)
    }

    fn try_lock_op(&self, op: libc::c_int) -> Result<(), TryLockError> {
        match sys::flock(self.as_fd(), op | libc::LOCK_NB) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(TryLockError::WouldBlock),
            Err(e) => Err(TryLockError::Error(e)),
        }
    }

    fn lock_waiting(&self, op: libc::c_int) -> io::Result<()> {
        if !fiber::is_fiber() {
            return sys::flock(self.as_fd(), op);
        }
        let mut pause = FIRST_PAUSE;
        loop {
            match self.try_lock_op(op) {
                Ok(()) => return Ok(()),
                Err(TryLockError::Error(e)) => return Err(e),
                Err(TryLockError::WouldBlock) => {
                    fiber::sleep(pause);
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }
}
