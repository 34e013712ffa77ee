//! `spindle::os::unix::net::UnixListener`: accepting on a fiber, incoming, abstract
//! addresses, non-blocking mode, plain threads and conversions.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;
use std::thread;
use std::time::Duration;

use spindle::fiber;
use spindle::os::unix::net::{UnixListener, UnixStream};
use util::{Ticker, run};

#[test]
fn accept_parks_only_its_fiber() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    run(move || {
        let listener = UnixListener::bind(&path).unwrap();
        let ticker = Ticker::start(Duration::from_millis(1));
        let acceptor = fiber::spawn(move || {
            let (mut s, addr) = listener.accept().unwrap();
            assert!(addr.is_unnamed());
            let mut b = [0; 3];
            s.read_exact(&mut b).unwrap();
            b
        });
        while ticker.ticks() < 20 {
            fiber::sleep(Duration::from_millis(1));
        }
        assert!(!acceptor.is_finished());
        UnixStream::connect(&path)
            .unwrap()
            .write_all(b"abc")
            .unwrap();
        assert_eq!(&acceptor.join().unwrap(), b"abc");
        ticker.stop();
    });
}

#[test]
fn abstract_addresses_bind_and_connect() {
    let name = format!("spindle-test-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    run(move || {
        let listener = UnixListener::bind_addr(&addr).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_abstract_name(),
            Some(name.as_bytes())
        );
        let client = fiber::spawn(move || {
            let mut s = UnixStream::connect_addr(&addr).unwrap();
            s.write_all(b"abstract").unwrap();
        });
        let (mut s, _) = listener.accept().unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert_eq!(got, "abstract");
        client.join().unwrap();
    });
}

#[test]
fn incoming_on_a_plain_thread_with_std_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let listener = UnixListener::bind(&path).unwrap();
    let clients = thread::spawn(move || {
        for i in 0..20u8 {
            let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
            s.write_all(&[i]).unwrap();
        }
    });
    let mut sum = 0u32;
    for s in (&listener).into_iter().take(20) {
        let mut b = [0; 1];
        s.unwrap().read_exact(&mut b).unwrap();
        sum += u32::from(b[0]);
    }
    clients.join().unwrap();
    assert_eq!(sum, (0..20).sum());
}

#[test]
fn nonblocking_clone_and_conversions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l");
    let listener = UnixListener::bind(&path).unwrap();
    let clone = listener.try_clone().unwrap();
    listener.set_nonblocking(true).unwrap();
    assert_eq!(clone.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    listener.set_nonblocking(false).unwrap();
    assert!(listener.take_error().unwrap().is_none());
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    let e = UnixListener::bind(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);

    let std_listener = std::os::unix::net::UnixListener::from(listener);
    let _c = UnixStream::connect(&path).unwrap();
    let (_s, _) = std_listener.accept().unwrap();
    let back = UnixListener::from(std_listener);
    let _c2 = UnixStream::connect(&path).unwrap();
    assert!(back.accept().is_ok());
}
