//! `spindle::os::unix::net::UnixStream`: many fibers over real Unix sockets, std interop,
//! timeouts, connect errors, half-close, large writes and plain threads.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::os::unix::net::{UnixListener, UnixStream};
use util::{Ticker, pattern, run};

#[test]
fn hundreds_of_fiber_clients_over_a_unix_listener() {
    const CLIENTS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    run(move || {
        let listener = UnixListener::bind(&path).unwrap();
        let server = fiber::spawn(move || {
            let workers: Vec<_> = listener
                .incoming()
                .take(CLIENTS)
                .map(|s| {
                    let s = s.unwrap();
                    fiber::spawn(move || util::echo(s).unwrap())
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum::<u64>()
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let path = path.clone();
                fiber::spawn(move || {
                    let mut s = UnixStream::connect(&path).unwrap();
                    let msg = pattern(500 + i, i as u32);
                    s.write_all(&msg).unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut back = Vec::new();
                    s.read_to_end(&mut back).unwrap();
                    assert_eq!(back, msg);
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        let expected: usize = (0..CLIENTS).map(|i| 500 + i).sum();
        assert_eq!(server.join().unwrap(), expected as u64);
    });
}

#[test]
fn pair_large_write_across_many_wakeups() {
    const LEN: usize = 16 << 20;
    run(|| {
        let (a, mut b) = UnixStream::pair().unwrap();
        let writer = fiber::spawn(move || {
            let mut a = a;
            a.write_all(&pattern(LEN, 3)).unwrap();
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert!(got == pattern(LEN, 3));
    });
}

#[test]
fn read_timeout_is_would_block_and_the_ticker_keeps_ticking() {
    run(|| {
        let (mut a, _b) = UnixStream::pair().unwrap();
        let ticker = Ticker::start(Duration::from_millis(2));
        let timeout = Duration::from_millis(150);
        a.set_read_timeout(Some(timeout)).unwrap();
        let start = Instant::now();
        let e = a.read(&mut [0; 4]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(start.elapsed() >= timeout);
        assert!(ticker.stop() >= 5);
    });
}

#[test]
fn write_timeout_when_the_peer_does_not_read() {
    run(|| {
        let (mut a, _b) = UnixStream::pair().unwrap();
        a.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let chunk = [1u8; 8192];
        let e = loop {
            if let Err(e) = a.write(&chunk) {
                break e;
            }
        };
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
    });
}

#[test]
fn connect_errors_match_std() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    assert_eq!(
        UnixStream::connect(&missing).unwrap_err().kind(),
        std::os::unix::net::UnixStream::connect(&missing)
            .unwrap_err()
            .kind()
    );
    // A datagram socket bound at the path: a stream connect is refused.
    let bound = dir.path().join("dgram");
    let _d = std::os::unix::net::UnixDatagram::bind(&bound).unwrap();
    let e = run(move || UnixStream::connect(&bound).unwrap_err());
    assert!(
        matches!(
            e.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::InvalidInput
        ) || e.raw_os_error() == Some(libc::EPROTOTYPE),
        "{e:?}"
    );
    let long = dir.path().join("x".repeat(200));
    assert_eq!(
        UnixStream::connect(long).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn half_close_and_peer_close() {
    run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let a = Rc::new(a);
        let a2 = a.clone();
        let reader = fiber::spawn(move || {
            let mut s = String::new();
            (&*a2).read_to_string(&mut s).unwrap();
            s
        });
        (&b).write_all(b"request").unwrap();
        b.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), "request");
        (&*a).write_all(b"reply").unwrap();
        drop(a);
        let mut s = String::new();
        (&b).read_to_string(&mut s).unwrap();
        assert_eq!(s, "reply");
    });
}

#[test]
fn std_client_and_spindle_server_and_the_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let p = path.clone();
    let std_client = thread::spawn(move || {
        let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
        s.write_all(b"std->spindle").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        s.read_to_string(&mut back).unwrap();
        back
    });
    run(move || {
        let (s, _) = listener.accept().unwrap();
        util::echo(s).unwrap();
    });
    assert_eq!(std_client.join().unwrap(), "std->spindle");

    let std_path = dir.path().join("std");
    let std_listener = std::os::unix::net::UnixListener::bind(&std_path).unwrap();
    let std_server = thread::spawn(move || {
        let (s, _) = std_listener.accept().unwrap();
        util::echo(s).unwrap()
    });
    let back = run(move || {
        let mut s = UnixStream::connect(&std_path).unwrap();
        s.write_all(b"spindle->std").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        s.read_to_string(&mut back).unwrap();
        back
    });
    assert_eq!(back, "spindle->std");
    assert_eq!(std_server.join().unwrap(), 12);
}

#[test]
fn plain_thread_use_and_conversions() {
    let (a, b) = UnixStream::pair().unwrap();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        (&b).write_all(b"ping").unwrap();
        b
    });
    let mut buf = [0; 4];
    assert_eq!(a.peek(&mut buf).unwrap(), 4);
    (&a).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let b = t.join().unwrap();

    assert!(a.local_addr().unwrap().is_unnamed());
    assert!(a.peer_addr().unwrap().is_unnamed());
    assert!(a.take_error().unwrap().is_none());
    let clone = a.try_clone().unwrap();
    // A multiple of 20 ms: the kernel keeps timeouts in jiffies (HZ 100, 250 or 1000).
    a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(
        clone.read_timeout().unwrap(),
        Some(Duration::from_millis(20))
    );
    clone.set_nonblocking(true).unwrap();
    assert_eq!(
        (&a).read(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    clone.set_nonblocking(false).unwrap();

    let mut std_b = std::os::unix::net::UnixStream::from(b);
    std_b.write_all(b"x").unwrap();
    let back = UnixStream::from(std_b);
    drop(back);
    assert_eq!((&a).read(&mut buf).unwrap(), 1);
    assert_eq!((&a).read(&mut buf).unwrap(), 0);
}

#[test]
fn connect_waits_while_the_listener_backlog_is_full() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy");
    run(move || {
        let listener = UnixListener::bind(&path).unwrap();
        // SAFETY: the fd is a bound Unix stream socket owned by `listener`, alive for the
        // call; listen(2) again only shrinks its backlog.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let mut queued = Vec::new();
        let p = path.clone();
        let ticker = Ticker::start(Duration::from_millis(1));
        // Fill the backlog from fibers; the connect that finds it full waits (parked, with
        // back-off) instead of failing or blocking the thread.
        let connector = fiber::spawn(move || {
            let mut n = 0;
            loop {
                let s = UnixStream::connect(&p).unwrap();
                n += 1;
                queued.push(s);
                if n == 8 {
                    return queued;
                }
            }
        });
        while ticker.ticks() < 30 {
            fiber::sleep(Duration::from_millis(1));
        }
        assert!(!connector.is_finished(), "backlog 0 took 8 connections");
        let mut accepted = Vec::new();
        while !connector.is_finished() {
            accepted.push(listener.accept().unwrap());
        }
        assert_eq!(connector.join().unwrap().len(), 8);
        assert!(ticker.stop() >= 30);
    });
}
