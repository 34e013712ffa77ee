//! `spindle::os::unix::net::UnixDatagram`: many fibers, timeouts, shutdown, connected and
//! unbound sockets, plain threads and conversions.

mod util;

use std::io::ErrorKind;
use std::net::Shutdown;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::os::unix::net::UnixDatagram;
use util::{Ticker, run};

#[test]
fn hundreds_of_fibers_send_to_one_bound_socket() {
    const CLIENTS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let server_path = dir.path().join("server");
    let dir_path = dir.path().to_path_buf();
    run(move || {
        let server = UnixDatagram::bind(&server_path).unwrap();
        let server_fiber = fiber::spawn(move || {
            let mut buf = [0; 64];
            for _ in 0..CLIENTS {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                let to = from.as_pathname().unwrap().to_path_buf();
                server.send_to(&buf[..n], to).unwrap();
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (dir, server_path) = (dir_path.clone(), server_path.clone());
                fiber::spawn(move || {
                    let me = UnixDatagram::bind(dir.join(format!("c{i}"))).unwrap();
                    me.connect(&server_path).unwrap();
                    let msg = format!("hello {i}");
                    me.send(msg.as_bytes()).unwrap();
                    let mut buf = [0; 64];
                    let n = me.recv(&mut buf).unwrap();
                    assert_eq!(&buf[..n], msg.as_bytes());
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        server_fiber.join().unwrap();
    });
}

#[test]
fn recv_timeout_and_ticker() {
    run(|| {
        let (a, _b) = UnixDatagram::pair().unwrap();
        let ticker = Ticker::start(Duration::from_millis(2));
        let timeout = Duration::from_millis(120);
        a.set_read_timeout(Some(timeout)).unwrap();
        let start = Instant::now();
        assert_eq!(
            a.recv(&mut [0; 4]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert!(start.elapsed() >= timeout);
        assert!(ticker.stop() >= 5);
        a.set_write_timeout(Some(timeout)).unwrap();
        assert_eq!(a.write_timeout().unwrap(), Some(timeout));
    });
}

#[test]
fn shutdown_read_returns_zero_like_std_instead_of_waiting() {
    // std: a blocking receive after shutdown(Read) returns 0 bytes at once.
    let (a, _b) = UnixDatagram::pair().unwrap();
    a.shutdown(Shutdown::Read).unwrap();
    assert_eq!(a.recv(&mut [0; 4]).unwrap(), 0);
    assert_eq!(a.peek(&mut [0; 4]).unwrap(), 0);
    let (n, from) = a.recv_from(&mut [0; 4]).unwrap();
    assert_eq!(n, 0);
    assert!(from.is_unnamed());

    // A fiber already waiting is woken by the shutdown (from another fiber).
    run(|| {
        let (a, _b) = UnixDatagram::pair().unwrap();
        let a = Rc::new(a);
        let a2 = a.clone();
        let waiter = fiber::spawn(move || a2.recv(&mut [0; 4]).unwrap());
        fiber::sleep(Duration::from_millis(10));
        assert!(!waiter.is_finished());
        a.shutdown(Shutdown::Read).unwrap();
        assert_eq!(waiter.join().unwrap(), 0);
    });
}

#[test]
fn unbound_sender_plain_thread_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r");
    let receiver = UnixDatagram::bind(&path).unwrap();
    let p = path.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        let s = UnixDatagram::unbound().unwrap();
        s.send_to(b"one", &p).unwrap();
        let addr = std::os::unix::net::SocketAddr::from_pathname(&p).unwrap();
        s.send_to_addr(b"two", &addr).unwrap();
    });
    let mut buf = [0; 8];
    let (n, from) = receiver.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"one");
    assert!(from.is_unnamed());
    assert_eq!(receiver.recv(&mut buf).unwrap(), 3);
    t.join().unwrap();
}

#[test]
fn send_waits_while_the_receiver_queue_is_full() {
    run(|| {
        let (a, b) = UnixDatagram::pair().unwrap();
        let b = Rc::new(b);
        // Fill b's queue without anyone reading.
        a.set_nonblocking(true).unwrap();
        let mut sent = 0;
        while a.send(&[0u8; 512]).is_ok() {
            sent += 1;
        }
        assert!(sent > 0);
        a.set_nonblocking(false).unwrap();
        let sender = fiber::spawn(move || a.send(b"after").unwrap());
        fiber::sleep(Duration::from_millis(10));
        assert!(!sender.is_finished());
        let mut buf = [0; 512];
        for _ in 0..sent {
            b.recv(&mut buf).unwrap();
        }
        assert_eq!(sender.join().unwrap(), 5);
        assert_eq!(b.recv(&mut buf).unwrap(), 5);
    });
}

#[test]
fn send_to_an_unconnected_full_receiver_waits_until_it_drains() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full");
    run(move || {
        let receiver = UnixDatagram::bind(&path).unwrap();
        // Another socket fills the queue: draining it then wakes nothing on `sender`.
        let filler = UnixDatagram::unbound().unwrap();
        filler.set_nonblocking(true).unwrap();
        let mut queued = 0;
        while filler.send_to(&[0u8; 256], &path).is_ok() {
            queued += 1;
        }
        let sender = Rc::new(UnixDatagram::unbound().unwrap());
        let ticker = Ticker::start(Duration::from_millis(1));
        let s = sender.clone();
        let p = path.clone();
        let waiting = fiber::spawn(move || s.send_to(b"last", &p).unwrap());
        while ticker.ticks() < 20 {
            fiber::sleep(Duration::from_millis(1));
        }
        assert!(!waiting.is_finished());
        let mut buf = [0; 256];
        for _ in 0..queued {
            receiver.recv(&mut buf).unwrap();
        }
        assert_eq!(waiting.join().unwrap(), 4);
        assert_eq!(receiver.recv(&mut buf).unwrap(), 4);
        ticker.stop();

        // With a write timeout, a receiver that never drains gives std's WouldBlock.
        while filler.send_to(&[0u8; 256], &path).is_ok() {}
        let timeout = Duration::from_millis(40);
        sender.set_write_timeout(Some(timeout)).unwrap();
        let start = Instant::now();
        let e = sender.send_to(b"never", &path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(start.elapsed() >= timeout);
    });
}

#[test]
fn addresses_options_and_conversions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d");
    let d = UnixDatagram::bind(&path).unwrap();
    assert_eq!(d.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    assert_eq!(d.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    assert!(d.take_error().unwrap().is_none());
    let other = UnixDatagram::unbound().unwrap();
    other.connect_addr(&d.local_addr().unwrap()).unwrap();
    assert_eq!(
        other.peer_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    other.send(b"z").unwrap();
    let clone = d.try_clone().unwrap();
    assert_eq!(clone.recv(&mut [0; 2]).unwrap(), 1);

    let std_d = std::os::unix::net::UnixDatagram::from(d);
    other.send(b"y").unwrap();
    assert_eq!(std_d.recv(&mut [0; 2]).unwrap(), 1);
    let back = UnixDatagram::from(std_d);
    back.set_nonblocking(true).unwrap();
    assert_eq!(
        back.recv(&mut [0; 2]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}
