//! [`Command`]: `std`'s process builder, spawning fiber-aware children.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;
use std::process::Stdio;

use super::{Child, CommandArgs, CommandEnvs, ExitStatus, Output};

/// A process builder, mirroring [`std::process::Command`]; the [`Child`] it spawns has
/// fiber-aware pipes and a pidfd-based [`wait`](Child::wait).
///
/// # Notes
///
/// `std::os::unix::process::CommandExt` is sealed; reach its methods (`uid`, `gid`,
/// `process_group`, `pre_exec`, `arg0`, …) through [`as_std_mut`](Command::as_std_mut).
/// [`output`](Command::output) captures stdout and stderr unless they were set with
/// [`stdout`](Command::stdout)/[`stderr`](Command::stderr) on this wrapper (a setting made
/// through `as_std_mut` or before `From<std::process::Command>` is not seen there).
///
/// # Examples
///
/// ```
/// use spindle_io::process::Command;
///
/// # fn main() -> std::io::Result<()> {
/// spindle_core::run(|| -> std::io::Result<()> {
///     let output = Command::new("echo").arg("hello").output()?; // parks this fiber only
///     assert!(output.status.success());
///     assert_eq!(output.stdout, b"hello\n");
///     Ok(())
/// })
/// # }
/// ```
pub struct Command {
    inner: std::process::Command,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl Command {
    /// A builder for running `program`, mirroring [`std::process::Command::new`].
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.inner.env(key, val);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Clears the child's environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Configures the child's standard input (`Stdio::piped()` gives a [`ChildStdin`](super::ChildStdin)).
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Configures the child's standard output.
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Configures the child's standard error.
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Spawns the child, mirroring [`std::process::Command::spawn`]. Standard streams not
    /// configured are inherited.
    ///
    /// # Errors
    ///
    /// As [`std::process::Command::spawn`]: `NotFound` for a program that does not exist,
    /// `PermissionDenied` for one that is not executable, …
    pub fn spawn(&mut self) -> io::Result<Child> {
        Child::from_std(self.inner.spawn()?)
    }

    /// Runs the child to completion, collecting its stdout and stderr, mirroring
    /// [`std::process::Command::output`]. Unless configured, stdin is null and stdout and
    /// stderr are captured. The fiber parks while the child runs.
    ///
    /// # Errors
    ///
    /// As [`std::process::Command::output`].
    pub fn output(&mut self) -> io::Result<Output> {
        let (stdin, stdout, stderr) = (!self.stdin_set, !self.stdout_set, !self.stderr_set);
        if stdin {
            self.inner.stdin(Stdio::null());
        }
        if stdout {
            self.inner.stdout(Stdio::piped());
        }
        if stderr {
            self.inner.stderr(Stdio::piped());
        }
        let spawned = self.inner.spawn();
        // Back to the defaults of `spawn`, which the flags still say are in force.
        if stdin {
            self.inner.stdin(Stdio::inherit());
        }
        if stdout {
            self.inner.stdout(Stdio::inherit());
        }
        if stderr {
            self.inner.stderr(Stdio::inherit());
        }
        Child::from_std(spawned?)?.wait_with_output()
    }

    /// Runs the child to completion and returns its exit status, mirroring
    /// [`std::process::Command::status`]. Standard streams not configured are inherited. The
    /// fiber parks while the child runs.
    ///
    /// # Errors
    ///
    /// As [`std::process::Command::status`].
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }

    /// The program, as given to [`new`](Command::new).
    #[must_use]
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// The arguments (without the program).
    pub fn get_args(&self) -> CommandArgs<'_> {
        self.inner.get_args()
    }

    /// The environment changes made with `env`, `envs` and `env_remove`.
    pub fn get_envs(&self) -> CommandEnvs<'_> {
        self.inner.get_envs()
    }

    /// The working directory set with [`current_dir`](Command::current_dir).
    #[must_use]
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.inner.get_current_dir()
    }

    /// The wrapped `std` builder.
    #[must_use]
    pub fn as_std(&self) -> &std::process::Command {
        &self.inner
    }

    /// The wrapped `std` builder, for `std::os::unix::process::CommandExt` and anything else
    /// only `std`'s type has.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a `std` builder; its stdio settings count as not made (see the type's notes).
    fn from(inner: std::process::Command) -> Command {
        Command {
            inner,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
