//! `spindle::net::UdpSocket`: hundreds of fibers exchanging datagrams, timeouts, connected
//! sockets and ICMP-refused errors, peeking, plain threads and std interop.

mod util;

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::net::{SocketAddr, UdpSocket};
use util::{RuntimeThread, Ticker, run};

#[test]
fn hundreds_of_fibers_ping_one_server_fiber() {
    const CLIENTS: usize = 300;
    const ROUNDS: u32 = 5;
    run(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let done = Rc::new(Cell::new(false));
        let stop = done.clone();
        let server_fiber = fiber::spawn(move || {
            server
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let mut buf = [0; 64];
            let mut replies = 0u64;
            while !stop.get() {
                match server.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        buf[..n].reverse();
                        server.send_to(&buf[..n], from).unwrap();
                        replies += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
            }
            replies
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                fiber::spawn(move || {
                    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                    socket.connect(addr).unwrap();
                    // UDP may drop datagrams when 300 arrive at once: resend on timeout,
                    // as a UDP client must, and skip late replies to earlier sends.
                    socket
                        .set_read_timeout(Some(Duration::from_millis(200)))
                        .unwrap();
                    for r in 0..ROUNDS {
                        let msg = format!("{i}:{r}");
                        let expected: Vec<u8> = msg.bytes().rev().collect();
                        'send: loop {
                            socket.send(msg.as_bytes()).unwrap();
                            let mut buf = [0; 64];
                            loop {
                                match socket.recv(&mut buf) {
                                    Ok(n) if buf[..n] == expected[..] => break 'send,
                                    Ok(_) => {}
                                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue 'send,
                                    Err(e) => panic!("{e}"),
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        done.set(true);
        let replies = server_fiber.join().unwrap();
        assert!(replies >= (CLIENTS as u64) * u64::from(ROUNDS));
    });
}

#[test]
fn recv_timeout_is_would_block_and_does_not_stall_the_thread() {
    run(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ticker = Ticker::start(Duration::from_millis(2));
        let timeout = Duration::from_millis(160);
        socket.set_read_timeout(Some(timeout)).unwrap();
        assert_eq!(socket.read_timeout().unwrap(), Some(timeout));
        let start = Instant::now();
        let e = socket.recv_from(&mut [0; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(start.elapsed() >= timeout);
        assert!(ticker.stop() >= 5);
        socket.set_write_timeout(Some(timeout)).unwrap();
        assert_eq!(socket.write_timeout().unwrap(), Some(timeout));
        let e = socket.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn connected_socket_reports_refused_after_icmp_unreachable() {
    run(|| {
        let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
        let gone_addr = gone.local_addr().unwrap();
        drop(gone);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(gone_addr).unwrap();
        assert_eq!(socket.peer_addr().unwrap(), gone_addr);
        socket.send(b"anyone?").unwrap();
        // The ICMP port-unreachable makes the waiting recv fail instead of waiting forever.
        let e = socket.recv(&mut [0; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn a_waiting_receive_is_woken_by_a_datagram_from_another_fiber() {
    run(|| {
        let a = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a_addr = a.local_addr().unwrap();
        let a2 = a.clone();
        let receiver = fiber::spawn(move || {
            let mut buf = [0; 16];
            let (n, from) = a2.peek_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"wake");
            let (n2, from2) = a2.recv_from(&mut buf).unwrap();
            assert_eq!((n, from), (n2, from2));
            from
        });
        fiber::sleep(Duration::from_millis(20));
        assert!(!receiver.is_finished());
        assert_eq!(b.send_to(b"wake", a_addr).unwrap(), 4);
        assert_eq!(receiver.join().unwrap(), b.local_addr().unwrap());
    });
}

#[test]
fn plain_thread_and_std_socket_talk_to_a_fiber() {
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let std_addr = std_socket.local_addr().unwrap();
    let spindle_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let spindle_addr = spindle_socket.local_addr().unwrap();
    let t = thread::spawn(move || {
        let mut buf = [0; 16];
        let (n, from) = std_socket.recv_from(&mut buf).unwrap();
        std_socket.send_to(&buf[..n], from).unwrap();
        from
    });
    let from = run(move || {
        spindle_socket.send_to(b"hey", std_addr).unwrap();
        let mut buf = [0; 16];
        let (n, from) = spindle_socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hey");
        from
    });
    assert_eq!(from, std_addr);
    assert_eq!(t.join().unwrap(), spindle_addr);

    // The same type on a plain thread: blocks like std.
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a_addr = a.local_addr().unwrap();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(b"late", a_addr)
            .unwrap()
    });
    let mut buf = [0; 8];
    assert_eq!(a.recv(&mut buf).unwrap(), 4);
    sender.join().unwrap();
}

#[test]
fn options_and_conversions_match_std() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_broadcast(true).unwrap();
    assert!(socket.broadcast().unwrap());
    socket.set_ttl(21).unwrap();
    assert_eq!(socket.ttl().unwrap(), 21);
    socket.set_multicast_ttl_v4(3).unwrap();
    assert_eq!(socket.multicast_ttl_v4().unwrap(), 3);
    socket.set_multicast_loop_v4(false).unwrap();
    assert!(!socket.multicast_loop_v4().unwrap());
    assert!(socket.take_error().unwrap().is_none());
    assert_eq!(
        socket.peer_addr().unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    let clone = socket.try_clone().unwrap();
    assert_eq!(clone.local_addr().unwrap(), socket.local_addr().unwrap());

    socket.set_nonblocking(true).unwrap();
    assert_eq!(
        clone.recv(&mut [0; 4]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    socket.set_nonblocking(false).unwrap();

    let addr = socket.local_addr().unwrap();
    let std_socket = std::net::UdpSocket::from(socket);
    std_socket
        .set_read_timeout(Some(Duration::from_millis(40)))
        .unwrap();
    assert!(std_socket.recv(&mut [0; 4]).is_err());
    let back = UdpSocket::from(std_socket);
    assert_eq!(
        back.read_timeout().unwrap(),
        Some(Duration::from_millis(40))
    );
    assert_eq!(back.local_addr().unwrap(), addr);
    let e = back.send_to(b"x", &[] as &[SocketAddr]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// Fds registered with the runtime of `rt` (after it has taken in every hand-over posted to it).
fn registered(rt: &RuntimeThread) -> usize {
    rt.exec(|| spindle::stats().unwrap().io_registered)
}

/// Regression (issue 9, item 3): a socket shared by `Arc` and used on runtime A, then B, then
/// A again failed with `AlreadyExists` (A's epoll still held the fd) and A's registration
/// leaked. Each use now takes the registration over from the other runtime.
#[test]
fn a_socket_used_on_two_runtimes_in_turn_is_handed_over() {
    let a = RuntimeThread::start();
    let b = RuntimeThread::start();
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    socket
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for round in 0..3u8 {
        for (side, rt) in [&a, &b].into_iter().enumerate() {
            let s = Arc::clone(&socket);
            // Nothing is queued: the receive waits in this runtime's reactor and times out.
            let timed_out = rt.exec(move || {
                let mut buf = [0; 8];
                s.recv(&mut buf).map_err(|e| e.kind())
            });
            assert_eq!(
                timed_out,
                Err(ErrorKind::WouldBlock),
                "round {round}, side {side}"
            );
            peer.send_to(&[round, side as u8], addr).unwrap();
            let s = Arc::clone(&socket);
            let got = rt.exec(move || {
                let mut buf = [0; 8];
                let n = s.recv(&mut buf).unwrap();
                buf[..n].to_vec()
            });
            assert_eq!(got, [round, side as u8]);
        }
    }
    // B used it last and owns it; A forgot it when B took it over.
    assert_eq!(registered(&a), 0);
    assert_eq!(registered(&b), 1);
    // Dropped on a plain thread: the owner still forgets it.
    drop(socket);
    assert_eq!(registered(&a), 0);
    assert_eq!(registered(&b), 0);
}

/// Regression (issue 9, item 3): fibers of two runtimes waiting on one socket at the same
/// time each get a datagram, round after round (a lost wake-up hangs; a second registration
/// fails with `AlreadyExists`), and in the end exactly one runtime holds the registration.
#[test]
fn two_runtimes_waiting_on_one_socket_at_once_both_receive() {
    let a = RuntimeThread::start();
    let b = RuntimeThread::start();
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let addr = socket.local_addr().unwrap();
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let receive = |rt: &RuntimeThread| {
        let s = Arc::clone(&socket);
        rt.spawn(move || {
            let mut buf = [0; 8];
            let n = s.recv(&mut buf).unwrap();
            buf[..n].to_vec()
        })
    };
    for round in 0..5u8 {
        let (first, second) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let got_first = receive(first);
        // Let the first runtime's fiber wait before the second one starts to (not required
        // for the test to pass, only to make "both waiting" the likely case).
        thread::sleep(Duration::from_millis(20));
        let got_second = receive(second);
        thread::sleep(Duration::from_millis(20));
        peer.send_to(&[round, 1], addr).unwrap();
        peer.send_to(&[round, 2], addr).unwrap();
        let mut got = [got_first, got_second].map(|rx| {
            rx.recv_timeout(util::HANG_LIMIT)
                .expect("a receiver never woke")
        });
        got.sort();
        assert_eq!(got, [vec![round, 1], vec![round, 2]], "round {round}");
    }
    assert_eq!(registered(&a) + registered(&b), 1);
    drop(socket);
    assert_eq!(registered(&a) + registered(&b), 0);
}

/// Fibers of two runtimes receiving from one socket in loops, with short timeouts so that the
/// registration changes hands again and again while datagrams arrive, together get every
/// datagram: no wake-up is lost in a hand-over.
#[test]
fn two_runtimes_receiving_in_loops_get_every_datagram() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const DATAGRAMS: usize = 200;
    let runtimes = [RuntimeThread::start(), RuntimeThread::start()];
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    socket
        .set_read_timeout(Some(Duration::from_millis(3)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let mut results = Vec::new();
    for rt in &runtimes {
        for _ in 0..2 {
            let (s, received, done) = (socket.clone(), received.clone(), done.clone());
            results.push(rt.spawn(move || {
                let mut buf = [0; 8];
                let mut mine = 0usize;
                while !done.load(Ordering::Relaxed) {
                    match s.recv(&mut buf) {
                        Ok(_) => {
                            mine += 1;
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => panic!("recv failed: {e}"),
                    }
                }
                mine
            }));
        }
    }
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..DATAGRAMS {
        peer.send_to(&i.to_le_bytes(), addr).unwrap();
        if i % 5 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    let start = Instant::now();
    while received.load(Ordering::Relaxed) < DATAGRAMS {
        assert!(
            start.elapsed() < util::HANG_LIMIT,
            "only {} of {DATAGRAMS} datagrams were received",
            received.load(Ordering::Relaxed)
        );
        thread::sleep(Duration::from_millis(5));
    }
    done.store(true, Ordering::Relaxed);
    let total: usize = results
        .into_iter()
        .map(|rx| rx.recv_timeout(util::HANG_LIMIT).unwrap())
        .sum();
    assert_eq!(total, DATAGRAMS);
    drop(socket);
    for rt in &runtimes {
        assert_eq!(registered(rt), 0);
    }
}
