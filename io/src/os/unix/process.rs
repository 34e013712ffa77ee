//! Unix-specific process extensions, mirroring [`std::os::unix::process`].
//!
//! std's `CommandExt` is sealed (only std's `Command` may implement it), so spindle has its
//! own [`CommandExt`] for [`spindle::process::Command`](crate::process::Command), with the same
//! methods. [`ExitStatusExt`] is std's: spindle's `ExitStatus` is std's type.

pub use std::os::unix::process::{ExitStatusExt, parent_id};

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt as _;

use crate::process::Command;

/// Unix-specific extensions to spindle's [`Command`], mirroring
/// [`std::os::unix::process::CommandExt`].
pub trait CommandExt {
    /// Sets the child's user id (`setuid` in the child), as std's `CommandExt::uid`.
    fn uid(&mut self, id: u32) -> &mut Command;

    /// Sets the child's group id (`setgid` in the child), as std's `CommandExt::gid`.
    fn gid(&mut self, id: u32) -> &mut Command;

    /// Runs `f` in the child after `fork` and before `exec`, as std's `CommandExt::pre_exec`.
    ///
    /// # Safety
    ///
    /// As std's: `f` runs in a forked copy of a possibly multi-threaded process, so it may only
    /// call async-signal-safe functions (no allocation, no locks another thread could hold).
    unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static;

    /// Replaces this process with the command (`execvp`), as std's `CommandExt::exec`; returns
    /// only on failure.
    fn exec(&mut self) -> io::Error;

    /// Sets the child's `argv[0]`, as std's `CommandExt::arg0`.
    fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command;

    /// Puts the child in process group `pgroup` (0: a new group led by the child), as std's
    /// `CommandExt::process_group`.
    fn process_group(&mut self, pgroup: i32) -> &mut Command;
}

impl CommandExt for Command {
    fn uid(&mut self, id: u32) -> &mut Command {
        self.as_std_mut().uid(id);
        self
    }

    fn gid(&mut self, id: u32) -> &mut Command {
        self.as_std_mut().gid(id);
        self
    }

    unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller upholds std's `pre_exec` contract for `f` (this method's
        // `# Safety` is the same), and we pass `f` on unchanged.
        unsafe { self.as_std_mut().pre_exec(f) };
        self
    }

    fn exec(&mut self) -> io::Error {
        self.as_std_mut().exec()
    }

    fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.as_std_mut().arg0(arg);
        self
    }

    fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.as_std_mut().process_group(pgroup);
        self
    }
}
