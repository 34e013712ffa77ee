//! Standard input, output and error that park the fiber: [`stdin`], [`stdout`], [`stderr`].
//!
//! fds 0, 1 and 2 usually share their open file description with the shell and the other
//! processes of a pipeline or terminal, so `O_NONBLOCK` — a property of that description —
//! must not be switched on behind their backs. Instead each stream is classified once with
//! `fstat`:
//!
//! | kind                                 | read (fd 0)                          | write (fd 1, 2)                      |
//! |--------------------------------------|--------------------------------------|--------------------------------------|
//! | pipe, socket, tty, other char device | `poll` now; if not ready, park on the reactor until it is; then `read` | `poll` now; if not ready, park until writable; then `write` at most `PIPE_BUF` bytes |
//! | regular file, block device, or epoll refuses the fd (`EPERM`) | `read` on the blocking pool ([`unblock`]) | `write` directly (page cache) |
//!
//! The pollable rows go through the crate's one wait loop, `Source::do_io`: the operation it
//! retries is "`poll` now; if ready, `read`/`write`, else report `WouldBlock`", so the
//! descriptor's mode is never needed.
//!
//! On a plain thread (no runtime) every call is the plain blocking system call, as in `std`.

use std::fmt;
use std::io::{self, BufRead, BufReader, LineWriter, Lines, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use spindle_core::fiber;
use spindle_core::unblock;

use super::lock::{FiberLock, Held};
use crate::source::{Direction, Source};
use crate::sys;

/// The buffer size of `std`'s stdin and stdout.
const BUF_SIZE: usize = 8 * 1024;
/// The most one pooled read of stdin asks for.
const POOLED_READ: usize = 64 * 1024;

/// How a standard stream's descriptor can be waited for; see the module docs.
const UNKNOWN: u8 = 0;
const POLLABLE: u8 = 1;
const NOT_POLLABLE: u8 = 2;

/// One of fds 0, 1, 2, read or written without touching `O_NONBLOCK`.
#[derive(Debug)]
struct Raw {
    fd: RawFd,
    kind: AtomicU8,
}

thread_local! {
    /// Each thread's wait loop and reactor registration of fds 0, 1, 2 (a registration
    /// belongs to one scheduler, and the standard streams are shared by all threads). The
    /// descriptors stay in the mode they have: the operations passed to `do_io` `poll` before
    /// they read or write, so they do not block on a blocking descriptor.
    static SOURCES: [Source<BorrowedFd<'static>>; 3] =
        [Source::new(STDIN_RAW.fd()), Source::new(STDOUT_RAW.fd()), Source::new(STDERR_RAW.fd())];
}

impl Raw {
    const fn new(fd: RawFd) -> Raw {
        Raw {
            fd,
            kind: AtomicU8::new(UNKNOWN),
        }
    }

    fn fd(&self) -> BorrowedFd<'static> {
        // SAFETY: fds 0, 1 and 2 are open for the life of the process by convention (`std`
        // relies on the same); if one was closed, calls on it fail with EBADF, which is
        // handled like `std` does, and no memory safety depends on it.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }

    fn kind(&self) -> u8 {
        match self.kind.load(Ordering::Relaxed) {
            UNKNOWN => {
                let kind = match sys::file_type(self.fd()) {
                    Ok(libc::S_IFREG | libc::S_IFBLK | libc::S_IFDIR) => NOT_POLLABLE,
                    Ok(_) => POLLABLE,
                    // EBADF: let the read or write report it.
                    Err(_) => NOT_POLLABLE,
                };
                self.kind.store(kind, Ordering::Relaxed);
                kind
            }
            kind => kind,
        }
    }

    /// Runs `op` on the fd through `Source::do_io` once `poll` reports it ready for `events`,
    /// parking the fiber on the reactor while it is not. `Ok(None)` means epoll refused the fd
    /// (`EPERM`): it has been reclassified as not pollable and `op` has not run.
    fn do_io_when_ready(
        &self,
        dir: Direction,
        events: libc::c_short,
        mut op: impl FnMut(BorrowedFd<'static>) -> io::Result<usize>,
    ) -> io::Result<Option<usize>> {
        let fd = self.fd();
        // Whether the last `op` answered `WouldBlock`, so that an error now comes from the
        // wait on the reactor, not from `poll`, `read` or `write`.
        let mut waiting = false;
        // Edge-triggered: any change after the `poll` wakes the wait, since no other fiber of
        // this thread runs in between. A `read`/`write` that says `WouldBlock` (someone else
        // set O_NONBLOCK and another reader or writer got there first) waits the same way.
        let result = SOURCES.try_with(|sources| {
            sources[self.fd as usize].do_io(dir, |_| {
                let result = if sys::ready_now(fd, events)? {
                    op(fd)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
                waiting = matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock);
                result
            })
        });
        // A fiber running while this thread's locals are torn down has no source left: block
        // the thread in the plain call, as on a thread without a runtime.
        let result = result.unwrap_or_else(|_| op(fd));
        match result {
            Err(e) if waiting && e.raw_os_error() == Some(libc::EPERM) => {
                self.kind.store(NOT_POLLABLE, Ordering::Relaxed);
                Ok(None)
            }
            result => result.map(Some),
        }
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let result = if !fiber::is_fiber() {
            sys::read(self.fd(), buf)
        } else {
            self.read_on_fiber(buf)
        };
        handle_ebadf(result, 0)
    }

    fn read_on_fiber(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.kind() == POLLABLE
            && let Some(n) =
                self.do_io_when_ready(Direction::Read, libc::POLLIN, |fd| sys::read(fd, buf))?
        {
            return Ok(n);
        }
        self.read_pooled(buf)
    }

    fn read_pooled(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(POOLED_READ);
        let fd = self.fd;
        let (result, data) = unblock(move || {
            let mut data = vec![0; len];
            // SAFETY: as in `Raw::fd`: fds 0-2 are process-wide and outlive this call.
            let result = sys::read(unsafe { BorrowedFd::borrow_raw(fd) }, &mut data);
            (result, data)
        });
        let n = result?;
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let result = if fiber::is_fiber() && self.kind() == POLLABLE {
            self.write_on_fiber(buf)
        } else {
            sys::write(self.fd(), buf)
        };
        handle_ebadf(result, buf.len())
    }

    fn write_on_fiber(&self, buf: &[u8]) -> io::Result<usize> {
        // Writable means at least PIPE_BUF bytes of room in a pipe: this much cannot block.
        let len = buf.len().min(sys::PIPE_BUF);
        let written = self.do_io_when_ready(Direction::Write, libc::POLLOUT, |fd| {
            sys::write(fd, &buf[..len])
        })?;
        match written {
            Some(n) => Ok(n),
            None => sys::write(self.fd(), buf),
        }
    }
}

/// `std` treats a closed standard stream as empty input and as a sink.
fn handle_ebadf(result: io::Result<usize>, default: usize) -> io::Result<usize> {
    match result {
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(default),
        result => result,
    }
}

/// Reader of fd 0 (implements `Read` by shared reference to the process-wide `Raw`).
#[derive(Debug)]
struct StdinRaw(&'static Raw);

impl Read for StdinRaw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// Writer of fd 1 or 2.
#[derive(Debug)]
struct WriterRaw(&'static Raw);

impl Write for WriterRaw {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

static STDIN_RAW: Raw = Raw::new(0);
static STDOUT_RAW: Raw = Raw::new(1);
static STDERR_RAW: Raw = Raw::new(2);

/// A process-wide stream: who owns it, and its state (locked only by the owner).
#[derive(Debug)]
struct Shared<T> {
    owner: FiberLock,
    stream: Mutex<T>,
}

impl<T> Shared<T> {
    fn stream(&self) -> MutexGuard<'_, T> {
        self.stream
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

fn stdin_shared() -> &'static Shared<BufReader<StdinRaw>> {
    static STDIN: OnceLock<Shared<BufReader<StdinRaw>>> = OnceLock::new();
    STDIN.get_or_init(|| Shared {
        owner: FiberLock::new(false),
        stream: Mutex::new(BufReader::with_capacity(BUF_SIZE, StdinRaw(&STDIN_RAW))),
    })
}

fn stdout_shared() -> &'static Shared<LineWriter<WriterRaw>> {
    static STDOUT: OnceLock<Shared<LineWriter<WriterRaw>>> = OnceLock::new();
    STDOUT.get_or_init(|| {
        register_exit_flush();
        Shared {
            owner: FiberLock::new(true),
            stream: Mutex::new(LineWriter::new(WriterRaw(&STDOUT_RAW))),
        }
    })
}

fn stderr_shared() -> &'static Shared<WriterRaw> {
    static STDERR: Shared<WriterRaw> = Shared {
        owner: FiberLock::new(true),
        stream: Mutex::new(WriterRaw(&STDERR_RAW)),
    };
    &STDERR
}

/// Flushes spindle's stdout buffer when the process exits normally, as `std` does for its own.
fn register_exit_flush() {
    extern "C" fn flush_at_exit() {
        // The hook is registered from inside `stdout_shared`'s initialiser, so this finds
        // the value already there.
        let shared = stdout_shared();
        // Skip if some fiber or thread holds it: it may be mid-write, and exit must not hang.
        if let Ok(mut stream) = shared.stream.try_lock() {
            let _ = stream.flush();
        }
    }
    // Without room for the handler (ENOMEM), output left in the buffer at exit is lost, as it
    // would be on `_exit`; there is nobody to report it to.
    let _ = sys::atexit(flush_at_exit);
}

/// A handle to the standard input of the process, mirroring [`std::io::Stdin`].
///
/// All handles share one buffer, so lines are never lost between calls. Reading parks the
/// calling fiber until input arrives; the other fibers of the thread keep running.
///
/// # Notes
///
/// The descriptor is never switched to `O_NONBLOCK`: on a pipe, socket or terminal, spindle
/// waits for readability on the reactor and then does an ordinary `read`. If another process
/// reading the same terminal or pipe takes the input between the two, that `read` blocks the
/// thread until more arrives. A regular file (`< file`) is read on the blocking pool.
///
/// Unlike `std`, locking stdin twice from one fiber panics instead of deadlocking.
/// spindle's buffer is separate from `std`'s: mixing `std::io::stdin()` and this handle in
/// one program may lose or reorder input.
pub struct Stdin {
    shared: &'static Shared<BufReader<StdinRaw>>,
}

/// A locked reference to [`Stdin`], mirroring [`std::io::StdinLock`]: `Read` and `BufRead`.
#[must_use = "if unused the lock is released at once"]
pub struct StdinLock<'a> {
    // Declared first: the stream guard is released before the ownership.
    stream: MutexGuard<'a, BufReader<StdinRaw>>,
    _owner: Held<'a>,
}

/// Constructs a handle to the standard input of the process, mirroring [`std::io::stdin`].
///
/// # Examples
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// spindle_core::run(|| -> std::io::Result<()> {
///     let mut line = String::new();
///     spindle_io::io::stdin().read_line(&mut line)?; // parks this fiber only
///     println!("you said {}", line.trim_end());
///     Ok(())
/// })
/// # }
/// ```
pub fn stdin() -> Stdin {
    Stdin {
        shared: stdin_shared(),
    }
}

impl Stdin {
    /// Locks this handle for exclusive use, returning a `BufRead` guard.
    pub fn lock(&self) -> StdinLock<'static> {
        let shared: &'static Shared<_> = self.shared;
        let owner = shared.owner.acquire();
        StdinLock {
            stream: shared.stream(),
            _owner: owner,
        }
    }

    /// Locks the handle and reads a line into `buf`, as [`BufRead::read_line`].
    ///
    /// # Errors
    ///
    /// As [`BufRead::read_line`]; `InvalidData` if the line is not UTF-8.
    pub fn read_line(&self, buf: &mut String) -> io::Result<usize> {
        self.lock().read_line(buf)
    }

    /// Consumes the handle and returns an iterator over its lines.
    pub fn lines(self) -> Lines<StdinLock<'static>> {
        self.lock().lines()
    }
}

impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lock().read(buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.lock().read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.lock().read_to_string(buf)
    }
}

impl Read for &Stdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lock().read(buf)
    }
}

impl Read for StdinLock<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.stream.read_to_end(buf)
    }
}

impl BufRead for StdinLock<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.stream.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.stream.consume(amt)
    }
}

/// A handle to the standard output of the process, mirroring [`std::io::Stdout`]:
/// line-buffered, shared by the whole process, flushed at normal exit.
///
/// # Notes
///
/// To a pipe, socket or terminal, a write waits on the reactor until the fd is writable and
/// then writes at most `PIPE_BUF` (4096) bytes, which a pipe with room cannot block on; the
/// mode of the shared descriptor is left alone. To a regular file the write goes straight to
/// the page cache on the caller's thread, as `std`'s does (a fast call, though on a slow or
/// network filesystem it can stall the thread).
///
/// spindle's buffer is separate from `std`'s (std's `println!` writes through `std`'s, while
/// `spindle::println!` writes through this one): output of the two is ordered only at flushes.
///
/// Fibers waiting for the lock (every write takes it) get it in the order they asked: a fiber
/// that prints in a loop queues behind them instead of taking it straight back.
pub struct Stdout {
    shared: &'static Shared<LineWriter<WriterRaw>>,
}

/// A locked reference to [`Stdout`], mirroring [`std::io::StdoutLock`]. The lock is
/// reentrant: the fiber holding it may call [`stdout`] again.
#[must_use = "if unused the lock is released at once"]
pub struct StdoutLock<'a> {
    shared: &'a Shared<LineWriter<WriterRaw>>,
    _owner: Held<'a>,
}

/// Constructs a handle to the standard output of the process, mirroring [`std::io::stdout`].
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// # fn main() -> std::io::Result<()> {
/// spindle_core::run(|| -> std::io::Result<()> {
///     let mut out = spindle_io::io::stdout();
///     writeln!(out, "hello from a fiber")?;
///     out.flush()
/// })
/// # }
/// ```
pub fn stdout() -> Stdout {
    Stdout {
        shared: stdout_shared(),
    }
}

impl Stdout {
    /// Locks this handle for exclusive use by the calling fiber.
    pub fn lock(&self) -> StdoutLock<'static> {
        let shared: &'static Shared<_> = self.shared;
        StdoutLock {
            shared,
            _owner: shared.owner.acquire(),
        }
    }
}

/// A handle to the standard error of the process, mirroring [`std::io::Stderr`]: unbuffered.
///
/// # Notes
///
/// Written like [`Stdout`] (see its notes), without a buffer.
pub struct Stderr {
    shared: &'static Shared<WriterRaw>,
}

/// A locked reference to [`Stderr`], mirroring [`std::io::StderrLock`]; reentrant.
#[must_use = "if unused the lock is released at once"]
pub struct StderrLock<'a> {
    shared: &'a Shared<WriterRaw>,
    _owner: Held<'a>,
}

/// Constructs a handle to the standard error of the process, mirroring [`std::io::stderr`].
pub fn stderr() -> Stderr {
    Stderr {
        shared: stderr_shared(),
    }
}

impl Stderr {
    /// Locks this handle for exclusive use by the calling fiber.
    pub fn lock(&self) -> StderrLock<'static> {
        let shared: &'static Shared<_> = self.shared;
        StderrLock {
            shared,
            _owner: shared.owner.acquire(),
        }
    }
}

/// `Write` for the handles and their locks: the handle takes the lock for each call.
macro_rules! write_impls {
    ($handle:ident, $lock:ident) => {
        impl Write for $lock<'_> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.shared.stream().write(buf)
            }
            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                self.shared.stream().write_all(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                self.shared.stream().flush()
            }
        }

        impl Write for $handle {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                (&*self).write(buf)
            }
            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                (&*self).write_all(buf)
            }
            fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
                (&*self).write_fmt(args)
            }
            fn flush(&mut self) -> io::Result<()> {
                (&*self).flush()
            }
        }

        impl Write for &$handle {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.lock().write(buf)
            }
            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                self.lock().write_all(buf)
            }
            fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
                // One lock for the whole formatted message, so it is not interleaved.
                self.lock().write_fmt(args)
            }
            fn flush(&mut self) -> io::Result<()> {
                self.lock().flush()
            }
        }
    };
}

write_impls!(Stdout, StdoutLock);
write_impls!(Stderr, StderrLock);

macro_rules! fd_and_debug {
    ($($ty:ident $(<$lt:lifetime>)? => $raw:ident),*) => {$(
        impl AsFd for $ty $(<$lt>)? {
            fn as_fd(&self) -> BorrowedFd<'_> {
                $raw.fd()
            }
        }

        impl AsRawFd for $ty $(<$lt>)? {
            fn as_raw_fd(&self) -> RawFd {
                $raw.fd
            }
        }

        impl fmt::Debug for $ty $(<$lt>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty)).finish_non_exhaustive()
            }
        }
    )*};
}

fd_and_debug!(
    Stdin => STDIN_RAW,
    StdinLock<'_> => STDIN_RAW,
    Stdout => STDOUT_RAW,
    StdoutLock<'_> => STDOUT_RAW,
    Stderr => STDERR_RAW,
    StderrLock<'_> => STDERR_RAW
);

/// Writes `args` to spindle's [`stdout`]; what `spindle::print!` and `spindle::println!` expand
/// to.
///
/// # Panics
///
/// If the write fails, as `std::print!` does (a closed stdout, EBADF, is a sink and no error).
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    if let Err(e) = stdout().write_fmt(args) {
        panic!("failed printing to stdout: {e}");
    }
}

/// Writes `args` to spindle's [`stderr`]; what `spindle::eprint!`, `spindle::eprintln!` and
/// `spindle::dbg!` expand to.
///
/// # Panics
///
/// If the write fails, as `std::eprint!` does.
#[doc(hidden)]
pub fn _eprint(args: fmt::Arguments<'_>) {
    if let Err(e) = stderr().write_fmt(args) {
        panic!("failed printing to stderr: {e}");
    }
}
