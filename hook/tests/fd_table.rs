//! The fd table's rules: fds closed and reused, duplicates, fds shared with plain threads, and
//! plain threads unchanged.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use spindle_core::fiber;
// Links the hook into this test (a crate nothing names is not linked).
use spindle_hook as _;

fn kernel_flags(fd: i32) -> libc::c_long {
    // SAFETY: F_GETFL takes no argument; a bad fd is an error return.
    unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) }
}

fn libc_flags(fd: i32) -> i32 {
    // SAFETY: F_GETFL takes no argument.
    unsafe { libc::fcntl(fd, libc::F_GETFL) }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is valid for two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe returned a fresh read end that nothing else owns.
    let reader = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: and a fresh write end that nothing else owns.
    let writer = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    (reader, writer)
}

fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    (a, b)
}

#[test]
fn a_closed_managed_fd_number_reused_by_a_pipe_is_not_managed() {
    spindle_core::run(|| {
        let (a, _b) = connected_pair();
        let n = a.as_raw_fd();
        assert_ne!(
            kernel_flags(n) & libc::O_NONBLOCK as libc::c_long,
            0,
            "managed"
        );
        drop(a);
        // The lowest free fd number is `n` again (this test's thread is the only one here
        // opening fds in between, unless the harness does: then the check is skipped).
        let (r, w) = pipe();
        if r.as_raw_fd() == n {
            assert_eq!(kernel_flags(n) & libc::O_NONBLOCK as libc::c_long, 0);
            assert_eq!(libc_flags(n) & libc::O_NONBLOCK, 0);
        }
        let mut w = std::fs::File::from(w);
        let mut r = std::fs::File::from(r);
        w.write_all(b"abc").unwrap();
        let mut buf = [0u8; 3];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"abc");
    });
}

#[test]
fn a_socket_created_on_a_plain_thread_is_left_blocking_until_a_fiber_uses_it() {
    let (a, b) = connected_pair();
    assert_eq!(
        kernel_flags(a.as_raw_fd()) & libc::O_NONBLOCK as libc::c_long,
        0
    );
    assert_eq!(
        kernel_flags(b.as_raw_fd()) & libc::O_NONBLOCK as libc::c_long,
        0
    );
    spindle_core::run(move || {
        let mut a = a;
        let mut b = b;
        let reader = fiber::spawn(move || {
            let mut buf = [0u8; 2];
            // First use on a fiber: adopted, then parked until data comes.
            a.read_exact(&mut buf).unwrap();
            buf
        });
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"hi").unwrap();
        assert_eq!(&reader.join().unwrap(), b"hi");
    });
}

#[test]
fn a_duplicate_of_a_managed_fd_is_managed_too() {
    spindle_core::run(|| {
        let (a, mut b) = connected_pair();
        let dup = a.try_clone().unwrap(); // fcntl(F_DUPFD_CLOEXEC)
        assert_eq!(libc_flags(dup.as_raw_fd()) & libc::O_NONBLOCK, 0);
        // SAFETY: dup takes no pointers.
        let raw = unsafe { libc::dup(a.as_raw_fd()) };
        assert!(raw >= 0);
        // SAFETY: dup returned a fresh fd that nothing else owns.
        let mut dup2 = unsafe { TcpStream::from_raw_fd(raw) };
        assert_eq!(libc_flags(raw) & libc::O_NONBLOCK, 0);
        let writer = fiber::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"xy").unwrap();
            b
        });
        let mut buf = [0u8; 2];
        // Blocks (parks) although the file is non-blocking in the kernel.
        dup2.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"xy");
        drop(writer.join().unwrap());
        drop(dup);
    });
}

#[test]
fn dup2_over_a_managed_fd_replaces_its_entry() {
    spindle_core::run(|| {
        let (a, _b) = connected_pair();
        let (r, _w) = pipe();
        // SAFETY: dup2 takes no pointers; `a`'s fd is replaced by the pipe, and `a` then owns
        // the pipe's duplicate (closed once, by `a`).
        let r = unsafe { libc::dup2(r.as_raw_fd(), a.as_raw_fd()) };
        assert_eq!(r, a.as_raw_fd());
        assert_eq!(libc_flags(a.as_raw_fd()) & libc::O_NONBLOCK, 0);
        assert_eq!(
            kernel_flags(a.as_raw_fd()) & libc::O_NONBLOCK as libc::c_long,
            0
        );
    });
}

#[test]
fn a_managed_socket_shared_with_a_plain_thread_still_blocks_there() {
    let (a, mut b) = spindle_core::run(|| {
        let (a, b) = connected_pair();
        assert_ne!(
            kernel_flags(a.as_raw_fd()) & libc::O_NONBLOCK as libc::c_long,
            0
        );
        (a, b)
    });
    // `a` is internally non-blocking; a plain thread reading it must still wait for data.
    let reader = std::thread::spawn(move || {
        let mut a = a;
        let t = Instant::now();
        let mut buf = [0u8; 3];
        a.read_exact(&mut buf).unwrap();
        (buf, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(50));
    b.write_all(b"abc").unwrap();
    let (buf, waited) = reader.join().unwrap();
    assert_eq!(&buf, b"abc");
    assert!(
        waited >= Duration::from_millis(40),
        "did not block: {waited:?}"
    );
}

#[test]
fn a_plain_thread_shared_socket_honours_its_read_timeout() {
    let (a, _b) = spindle_core::run(connected_pair);
    a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let t = Instant::now();
    let err = (&a).read(&mut [0u8; 1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert!(t.elapsed() >= Duration::from_millis(45));
}

#[test]
fn plain_threads_see_libc_unchanged() {
    // errno of a bad fd, for the hooked calls.
    let mut buf = [0u8; 4];
    // SAFETY: `buf` is valid for 4 bytes; -1 is a bad fd and makes read fail.
    assert_eq!(unsafe { libc::read(-1, buf.as_mut_ptr().cast(), 4) }, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EBADF)
    );
    // SAFETY: as above.
    let r = unsafe { libc::write(1_000_000, buf.as_ptr().cast(), 4) };
    assert_eq!(r, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EBADF)
    );
    // SAFETY: close of a bad fd fails with EBADF.
    assert_eq!(unsafe { libc::close(-5) }, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EBADF)
    );
    let bad = libc::timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000_000,
    };
    // SAFETY: `bad` is readable; the invalid nanoseconds make nanosleep fail with EINVAL.
    assert_eq!(unsafe { libc::nanosleep(&bad, std::ptr::null_mut()) }, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EINVAL)
    );

    // Sockets made here are not touched, and block as usual.
    let (a, mut b) = connected_pair();
    assert_eq!(
        kernel_flags(a.as_raw_fd()) & libc::O_NONBLOCK as libc::c_long,
        0
    );
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        b.write_all(b"z").unwrap();
    });
    let mut one = [0u8; 1];
    (&a).read_exact(&mut one).unwrap();
    assert_eq!(&one, b"z");
    t.join().unwrap();
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    assert!(t.elapsed() >= Duration::from_millis(20));
}

#[test]
fn a_read_timeout_set_on_a_plain_thread_is_honoured_on_a_fiber() {
    let (a, _b) = connected_pair();
    a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let (err, waited) = spindle_core::run(move || {
        let t = Instant::now();
        // First use on a fiber: adopted, parked, and bounded by the timeout set earlier.
        let err = (&a).read(&mut [0u8; 1]).unwrap_err();
        (err, t.elapsed())
    });
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert!(waited >= Duration::from_millis(45), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}
