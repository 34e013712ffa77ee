//! Anonymous pipes whose ends park fibers: [`pipe`], [`PipeReader`], [`PipeWriter`].

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use super::Fd;

/// Creates an anonymous pipe, mirroring [`std::io::pipe`].
///
/// Bytes written to the [`PipeWriter`] come out of the [`PipeReader`]. A read parks the fiber
/// while the pipe is empty; a write parks it while the pipe is full. The reader sees end of
/// file once every writer (including clones and copies handed to child processes) is closed.
///
/// # Errors
///
/// The error of `pipe2(2)`, e.g. when the process is out of file descriptors.
///
/// # Examples
///
/// ```
/// use spindle_io::io::pipe;
/// use std::io::{Read, Write};
///
/// # fn main() -> std::io::Result<()> {
/// spindle_core::run(|| -> std::io::Result<()> {
///     let (mut reader, mut writer) = pipe()?;
///     let producer = spindle_core::fiber::spawn(move || writer.write_all(b"through the pipe"));
///     let mut text = String::new();
///     reader.read_to_string(&mut text)?; // parks until the writer is dropped
///     producer.join().unwrap()?;
///     assert_eq!(text, "through the pipe");
///     Ok(())
/// })
/// # }
/// ```
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    let (reader, writer) = std::io::pipe()?;
    Ok((
        PipeReader {
            fd: Fd::new(OwnedFd::from(reader))?,
        },
        PipeWriter {
            fd: Fd::new(OwnedFd::from(writer))?,
        },
    ))
}

/// The read end of a [`pipe`], mirroring [`std::io::PipeReader`].
///
/// # Notes
///
/// The descriptor is in `O_NONBLOCK` mode while it is a `PipeReader`. Converting it into an
/// [`OwnedFd`] or a [`Stdio`](std::process::Stdio) (to hand it to a child process) switches it back to blocking
/// mode; clones made with [`try_clone`](PipeReader::try_clone) share that mode, so drop them
/// first or they would block their thread.
pub struct PipeReader {
    fd: Fd<OwnedFd>,
}

/// The write end of a [`pipe`], mirroring [`std::io::PipeWriter`].
///
/// # Notes
///
/// As for [`PipeReader`]: converting it into an [`OwnedFd`] or a [`Stdio`](std::process::Stdio) restores blocking
/// mode, which its clones share.
pub struct PipeWriter {
    fd: Fd<OwnedFd>,
}

macro_rules! pipe_end_common {
    ($ty:ident) => {
        impl $ty {
            /// Creates a new handle to the same pipe end (`dup` with close-on-exec).
            ///
            /// # Errors
            ///
            /// The error of `fcntl(F_DUPFD_CLOEXEC)`.
            pub fn try_clone(&self) -> io::Result<$ty> {
                let dup = self.fd.get_ref().try_clone()?;
                Ok($ty { fd: Fd::new(dup)? })
            }
        }

        $crate::io::pipe_fd_traits!($ty);
    };
}

pipe_end_common!(PipeReader);
pipe_end_common!(PipeWriter);

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Read for &PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.read_with(|fd| crate::sys::read(fd.as_fd(), buf))
    }
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fd.write_with(|fd| crate::sys::write(fd.as_fd(), buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
