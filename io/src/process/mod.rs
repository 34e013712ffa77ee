//! Child processes whose pipes and exit park the fiber, mirroring `std::process`.
//!
//! [`Command`] wraps `std`'s builder (every `std` method is there) and spawns with it; the
//! [`Child`] it returns differs from `std`'s in what blocks:
//!
//! - its piped stdin/stdout/stderr ([`ChildStdin`], [`ChildStdout`], [`ChildStderr`]) are
//!   non-blocking pipe ends read and written through the reactor, so a fiber streaming a
//!   child's output parks while the pipe is empty;
//! - [`Child::wait`] waits on a pidfd (`pidfd_open(2)`, Linux ≥ 5.3) registered in the
//!   reactor, then reaps with `waitpid(WNOHANG)`: no thread per child and no `SIGCHLD`
//!   handler. On a kernel without pidfds the blocking `waitpid` runs on the blocking pool.
//!
//! `spawn` itself (`fork`/`exec` and the wait for `exec` to succeed) runs inline, as in `std`:
//! it is short and cannot be parked.
//!
//! The plain data types ([`Stdio`], [`ExitStatus`], [`Output`], [`ExitCode`]) and the free
//! functions ([`exit`], [`abort`], [`id`]) are `std`'s, re-exported.

mod child;
mod command;

pub use child::{Child, ChildStderr, ChildStdin, ChildStdout};
pub use command::Command;
pub use std::process::{
    CommandArgs, CommandEnvs, ExitCode, ExitStatus, Output, Stdio, Termination, abort, exit, id,
};
