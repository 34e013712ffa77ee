//! `spindle::io::pipe`: data through pipes between fibers, parking on a full or empty pipe,
//! and handing pipe ends to children.

use spindle::fiber;
use spindle::io::pipe;
use spindle::process::{Command, Stdio};
use std::cell::Cell;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::thread;
use std::time::Duration;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn is_nonblocking(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFL on a live descriptor takes no further argument.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn megabytes_through_a_pipe_between_two_fibers() -> io::Result<()> {
    let data = pattern(4 << 20);
    let expected = data.clone();
    let received = spindle::run(move || -> io::Result<Vec<u8>> {
        let (mut reader, mut writer) = pipe()?;
        // The writer parks whenever the 64 KiB pipe is full; the reader when it is empty.
        let producer = fiber::spawn(move || writer.write_all(&data));
        let mut received = Vec::new();
        reader.read_to_end(&mut received)?;
        producer.join().unwrap()?;
        Ok(received)
    })?;
    assert!(received == expected, "bytes differ after the pipe");
    Ok(())
}

#[test]
fn an_empty_pipe_parks_only_the_reader() -> io::Result<()> {
    let (n, ticks) = spindle::run(|| -> io::Result<_> {
        let (reader, writer) = pipe()?;
        let ticks = Rc::new(Cell::new(0));
        let t = ticks.clone();
        let writer_fiber = fiber::spawn(move || -> io::Result<()> {
            for _ in 0..10 {
                fiber::sleep(Duration::from_millis(10));
                t.set(t.get() + 1);
            }
            (&writer).write_all(b"late")
        });
        let mut buf = [0; 16];
        let n = (&reader).read(&mut buf)?;
        writer_fiber.join().unwrap()?;
        Ok((n, ticks.get()))
    })?;
    assert_eq!(n, 4);
    assert_eq!(
        ticks, 10,
        "the writer fiber ran all its ticks before the read returned"
    );
    Ok(())
}

#[test]
fn pipes_work_on_plain_threads() -> io::Result<()> {
    let (mut reader, mut writer) = pipe()?;
    let t = thread::spawn(move || writer.write_all(&pattern(1 << 20)));
    let mut got = Vec::new();
    reader.read_to_end(&mut got)?;
    t.join().unwrap()?;
    assert!(got == pattern(1 << 20));
    Ok(())
}

#[test]
fn a_pipe_end_handed_to_a_child_is_blocking_again() -> io::Result<()> {
    spindle::run(|| -> io::Result<()> {
        let (reader, mut writer) = pipe()?;
        assert!(is_nonblocking(&reader));
        let mut child = Command::new("sh")
            .arg("-c")
            // `cat` would fail with EAGAIN on a non-blocking stdin that is still empty.
            .arg("cat")
            .stdin(reader)
            .stdout(Stdio::piped())
            .spawn()?;
        let mut out = child.stdout.take().unwrap();
        let feeder = fiber::spawn(move || -> io::Result<()> {
            writer.write_all(b"to the child\n")?;
            drop(writer);
            Ok(())
        });
        let mut text = String::new();
        out.read_to_string(&mut text)?;
        feeder.join().unwrap()?;
        assert_eq!(text, "to the child\n");
        assert!(child.wait()?.success());
        Ok(())
    })?;
    // And the conversion itself clears O_NONBLOCK.
    let (reader, _writer) = pipe()?;
    let fd = OwnedFd::from(reader);
    assert!(!is_nonblocking(&fd));
    Ok(())
}

#[test]
fn try_clone_shares_the_pipe() -> io::Result<()> {
    spindle::run(|| -> io::Result<()> {
        let (mut reader, writer) = pipe()?;
        let second = writer.try_clone()?;
        (&writer).write_all(b"a")?;
        (&second).write_all(b"b")?;
        drop(writer);
        drop(second);
        let mut s = String::new();
        reader.read_to_string(&mut s)?;
        assert_eq!(s, "ab");
        Ok(())
    })
}
