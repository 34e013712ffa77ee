//! Behaviour every spindle socket type shares: descriptors closed and reused while registered,
//! mixed socket kinds on one thread, host-name resolution, and `Send` across threads.

mod util;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream, UdpSocket};
use spindle::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use util::{Ticker, run};

/// Regression: a socket dropped after waiting must leave the reactor, or the next socket that
/// gets the same fd number would be registered twice (EEXIST) or miss its wake-ups.
#[test]
fn fd_numbers_reused_after_drop_still_wait_correctly() {
    run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = fiber::spawn(move || {
            for s in listener.incoming().take(200) {
                let s = s.unwrap();
                fiber::spawn(move || util::echo(s).unwrap());
            }
        });
        let mut seen = std::collections::HashSet::new();
        for i in 0..200u32 {
            let mut s = TcpStream::connect(addr).unwrap();
            seen.insert(s.as_raw_fd());
            s.write_all(&i.to_le_bytes()).unwrap();
            let mut b = [0; 4];
            s.read_exact(&mut b).unwrap();
            assert_eq!(u32::from_le_bytes(b), i);
        }
        assert!(seen.len() < 200, "fd numbers were expected to be reused");
        server.join().unwrap();
    });
}

#[test]
fn tcp_udp_and_unix_waits_share_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u");
    run(move || {
        let ticker = Ticker::start(Duration::from_millis(1));
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_addr = tcp.local_addr().unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_addr = udp.local_addr().unwrap();
        let unix = UnixListener::bind(&path).unwrap();
        let (d1, d2) = UnixDatagram::pair().unwrap();
        let waiters = vec![
            fiber::spawn(move || {
                let (mut s, _) = tcp.accept().unwrap();
                let mut b = [0; 3];
                s.read_exact(&mut b).unwrap();
                b.to_vec()
            }),
            fiber::spawn(move || {
                let mut b = [0; 3];
                let n = udp.recv(&mut b).unwrap();
                b[..n].to_vec()
            }),
            fiber::spawn(move || {
                let (mut s, _) = unix.accept().unwrap();
                let mut b = [0; 3];
                s.read_exact(&mut b).unwrap();
                b.to_vec()
            }),
            fiber::spawn(move || {
                let mut b = [0; 3];
                let n = d1.recv(&mut b).unwrap();
                b[..n].to_vec()
            }),
        ];
        while ticker.ticks() < 25 {
            fiber::sleep(Duration::from_millis(1));
        }
        assert!(waiters.iter().all(|w| !w.is_finished()));
        TcpStream::connect(tcp_addr)
            .unwrap()
            .write_all(b"tcp")
            .unwrap();
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(b"udp", udp_addr)
            .unwrap();
        UnixStream::connect(&path)
            .unwrap()
            .write_all(b"uds")
            .unwrap();
        d2.send(b"dgm").unwrap();
        let got: Vec<Vec<u8>> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(
            got,
            [
                b"tcp".to_vec(),
                b"udp".to_vec(),
                b"uds".to_vec(),
                b"dgm".to_vec()
            ]
        );
        ticker.stop();
    });
}

#[test]
fn connect_resolves_host_names() {
    run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ticker = Ticker::start(Duration::from_millis(1));
        let s = TcpStream::connect(("localhost", port)).unwrap();
        assert!(s.peer_addr().unwrap().ip().is_loopback());
        ticker.stop();
    });
}

#[test]
fn sockets_are_send_and_sync_like_std() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TcpListener>();
    assert_send_sync::<TcpStream>();
    assert_send_sync::<UdpSocket>();
    assert_send_sync::<UnixListener>();
    assert_send_sync::<UnixStream>();
    assert_send_sync::<UnixDatagram>();
}
