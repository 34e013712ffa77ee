//! `spindle::net::TcpListener`: accepting on a fiber while others run, `incoming`, several
//! acceptors on one listener, non-blocking mode, plain threads and conversions.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use util::{Ticker, run};

#[test]
fn accept_parks_only_the_accepting_fiber() {
    run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ticker = Ticker::start(Duration::from_millis(1));
        let acceptor = fiber::spawn(move || {
            let (mut s, peer) = listener.accept().unwrap();
            let mut buf = [0; 2];
            s.read_exact(&mut buf).unwrap();
            (peer, buf)
        });
        while ticker.ticks() < 20 {
            fiber::sleep(Duration::from_millis(1));
        }
        assert!(!acceptor.is_finished());
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"hi").unwrap();
        let (peer, buf) = acceptor.join().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(&buf, b"hi");
        ticker.stop();
    });
}

#[test]
fn incoming_serves_many_connections_from_std_threads() {
    const CLIENTS: usize = 200;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clients = thread::spawn(move || {
        for i in 0..CLIENTS {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(&[i as u8]).unwrap();
        }
    });
    let sum = run(move || {
        let mut handles = Vec::new();
        for stream in listener.incoming().take(CLIENTS) {
            let mut stream = stream.unwrap();
            handles.push(fiber::spawn(move || {
                let mut b = [0; 1];
                stream.read_exact(&mut b).unwrap();
                u64::from(b[0])
            }));
        }
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    clients.join().unwrap();
    assert_eq!(sum, (0..CLIENTS as u64).map(|i| i % 256).sum());
}

#[test]
fn several_fibers_accept_from_one_listener() {
    const ACCEPTORS: usize = 10;
    const CLIENTS: usize = 100;
    run(|| {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let accepted = Rc::new(std::cell::Cell::new(0usize));
        let acceptors: Vec<_> = (0..ACCEPTORS)
            .map(|_| {
                let (l, n) = (listener.clone(), accepted.clone());
                fiber::spawn(move || {
                    let mut mine = 0;
                    while n.get() < CLIENTS {
                        let (mut s, _) = l.accept().unwrap();
                        n.set(n.get() + 1);
                        mine += 1;
                        s.write_all(b"k").unwrap();
                    }
                    mine
                })
            })
            .collect();
        let mut streams = Vec::new();
        for _ in 0..CLIENTS {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut b = [0; 1];
            s.read_exact(&mut b).unwrap();
            streams.push(s);
        }
        // Release the acceptors still waiting: one extra connection each.
        for _ in 0..ACCEPTORS {
            streams.push(TcpStream::connect(addr).unwrap());
        }
        let total: usize = acceptors.into_iter().map(|a| a.join().unwrap()).sum();
        assert!(total >= CLIENTS);
    });
}

#[test]
fn nonblocking_accept_says_would_block() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    let _c = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let accepted = loop {
        match listener.accept() {
            Ok(pair) => break pair,
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    };
    // Accepted streams start in blocking mode, as in std.
    let mut s = accepted.0;
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(
        s.read(&mut [0; 1]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[test]
fn accept_on_a_plain_thread_blocks_until_a_client_comes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        TcpStream::connect(addr).unwrap()
    });
    let (_, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.join().unwrap().local_addr().unwrap());
}

#[test]
fn try_clone_ttl_take_error_and_std_conversions() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let clone = listener.try_clone().unwrap();
    assert_eq!(clone.local_addr().unwrap(), listener.local_addr().unwrap());
    listener.set_ttl(77).unwrap();
    assert_eq!(clone.ttl().unwrap(), 77);
    assert!(listener.take_error().unwrap().is_none());
    let addr = listener.local_addr().unwrap();

    // spindle -> std: a blocking std listener that still accepts.
    let std_listener = std::net::TcpListener::from(listener);
    let _c = TcpStream::connect(addr).unwrap();
    let (_s, _) = std_listener.accept().unwrap();

    // std -> spindle.
    let back = TcpListener::from(std_listener);
    let _c2 = std::net::TcpStream::connect(addr).unwrap();
    assert!(back.accept().is_ok());
    drop(clone);
}

#[test]
fn bind_errors_match_std() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = TcpListener::bind(addr).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    let e = TcpListener::bind("not an address").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}
