//! `spindle::io::Fd<T>`: any pollable descriptor made fiber-aware (eventfd, sockets, a regular
//! file), its readiness waits and deadlines, the blocking mode it gives back, and the wait loop
//! behind `Read`/`Write` by value and by reference.

use spindle::fiber;
use spindle::io::Fd;
use std::cell::Cell;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn is_nonblocking(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFL on a live descriptor takes no further argument.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes an initial value and flags, returning a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[test]
fn fd_makes_an_eventfd_fiber_aware() -> io::Result<()> {
    let (value, ticks) = spindle::run(|| -> io::Result<_> {
        let efd = Rc::new(Fd::new(std::fs::File::from(eventfd()?))?);
        let ticks = Rc::new(Cell::new(0));
        let (e, t) = (efd.clone(), ticks.clone());
        let signaller = fiber::spawn(move || -> io::Result<()> {
            for _ in 0..10 {
                fiber::sleep(Duration::from_millis(10));
                t.set(t.get() + 1);
            }
            (&*e).write_all(&5u64.to_ne_bytes())
        });
        // An eventfd read blocks until the counter is non-zero: here it parks the fiber.
        let mut buf = [0; 8];
        (&*efd).read_exact(&mut buf)?;
        signaller.join().unwrap()?;
        Ok((u64::from_ne_bytes(buf), ticks.get()))
    })?;
    assert_eq!(value, 5);
    assert_eq!(ticks, 10);
    Ok(())
}

#[test]
fn fd_readiness_waits_and_deadlines() -> io::Result<()> {
    spindle::run(|| -> io::Result<()> {
        let (a, b) = UnixStream::pair()?;
        let b = Fd::new(b)?;
        // Writable right away (the socket buffer is empty).
        b.writable()?;
        // Not readable: the deadline passes with TimedOut.
        let start = Instant::now();
        let err = b
            .readable_until(start + Duration::from_millis(50))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50));
        (&a).write_all(b"x")?;
        b.readable()?;
        // Readable and staying so: a second wait returns at once too (no lost edge).
        b.readable_until(Instant::now() + Duration::from_secs(5))?;
        let mut buf = [0; 1];
        let n = b.read_with(|s| (&*s).read(&mut buf))?;
        assert_eq!((n, buf[0]), (1, b'x'));
        Ok(())
    })
}

#[test]
fn fd_into_inner_restores_the_blocking_mode() -> io::Result<()> {
    let (a, _b) = UnixStream::pair()?;
    assert!(!is_nonblocking(&a));
    let fd = Fd::new(a)?;
    assert!(is_nonblocking(&fd.as_fd()));
    let a = fd.into_inner()?;
    assert!(!is_nonblocking(&a));

    let (c, _d) = UnixStream::pair()?;
    c.set_nonblocking(true)?;
    let c = Fd::new(c)?.into_inner()?;
    assert!(
        is_nonblocking(&c),
        "a descriptor that was non-blocking stays so"
    );
    Ok(())
}

#[test]
fn fd_of_a_regular_file_reads_and_is_always_ready() -> io::Result<()> {
    let file = tempfile::tempfile()?;
    (&file).write_all(b"plain file")?;
    let fd = Fd::new(file)?;
    spindle::run(move || -> io::Result<()> {
        let mut s = String::new();
        use std::io::Seek;
        fd.read_with(|f| (&*f).seek(io::SeekFrom::Start(0)))?;
        (&fd).read_to_string(&mut s)?;
        assert_eq!(s, "plain file");
        // epoll refuses regular files; poll says "ready", so the wait returns at once.
        fd.readable()?;
        Ok(())
    })
}

#[test]
fn fd_by_value_reads_and_writes_park_only_the_caller() -> io::Result<()> {
    const LEN: usize = 1 << 20;
    spindle::run(|| -> io::Result<()> {
        let (a, b) = UnixStream::pair()?;
        let (mut a, mut b) = (Fd::new(a)?, Fd::new(b)?);
        // `Read`/`Write` for `Fd<T>` (by value) go through `read_with_mut`/`write_with_mut`.
        let reader = fiber::spawn(move || -> io::Result<Vec<u8>> {
            let mut data = Vec::new();
            let mut buf = [0; 4096];
            loop {
                let n = b.read(&mut buf)?;
                if n == 0 {
                    return Ok(data);
                }
                data.extend_from_slice(&buf[..n]);
                fiber::yield_now();
            }
        });
        // A megabyte does not fit in the socket buffer: the writer parks while the reader,
        // on the same thread, drains it.
        a.write_all(&pattern(LEN))?;
        a.flush()?;
        drop(a);
        assert!(reader.join().unwrap()? == pattern(LEN));
        Ok(())
    })
}

#[test]
fn fd_op_that_replaces_the_descriptor_panics() -> io::Result<()> {
    let (a, _b) = UnixStream::pair()?;
    let mut fd = Fd::new(a)?;
    let (c, _d) = UnixStream::pair()?;
    let mut replacement = Some(c);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fd.read_with_mut(|s| {
            *s = replacement.take().unwrap();
            Ok(())
        })
    }));
    let payload = result.unwrap_err();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default();
    assert!(
        message.contains("replaced the wrapped descriptor"),
        "{message:?}"
    );
    Ok(())
}
