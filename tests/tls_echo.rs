//! `rustls::StreamOwned`, unmodified, over spindle sockets: `examples/tls_echo.rs`'s server with
//! a hundred TLS sessions open at once on one thread.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/tls_echo.rs"]
mod tls_echo;
mod util;

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::Barrier;

const SESSIONS: usize = 100;

#[test]
fn hundred_tls_sessions_open_at_once_on_one_thread() {
    util::run(|| {
        let (server, client) = tls_echo::configs().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        fiber::spawn(move || tls_echo::serve(listener, server));
        // Every client finishes its handshake and a first echo, then waits for all the others:
        // the barrier opens only if all sessions are in progress at the same time.
        let barrier = Arc::new(Barrier::new(SESSIONS));
        let thread = std::thread::current().id();
        let clients: Vec<_> = (0..SESSIONS)
            .map(|i| {
                let (client, barrier) = (Arc::clone(&client), Arc::clone(&barrier));
                fiber::spawn(move || {
                    let name = ServerName::try_from("localhost").unwrap();
                    let conn = ClientConnection::new(client, name).unwrap();
                    let mut tls = StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
                    let mut echo = |message: &[u8]| {
                        tls.write_all(message).unwrap();
                        tls.flush().unwrap();
                        let mut back = vec![0; message.len()];
                        tls.read_exact(&mut back).unwrap();
                        assert_eq!(back, message);
                    };
                    echo(format!("hello from {i}").as_bytes());
                    barrier.wait();
                    assert_eq!(std::thread::current().id(), thread);
                    // Larger than one TLS record (16 KiB): split and reassembled by rustls.
                    let big: Vec<u8> = (0..40_000u32).map(|b| (b * 7 + i as u32) as u8).collect();
                    echo(&big);
                    tls.conn.send_close_notify();
                    tls.flush().unwrap();
                    let mut rest = Vec::new();
                    tls.read_to_end(&mut rest).unwrap();
                    assert!(rest.is_empty());
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        // The example's own client, too.
        tls_echo::echo_client(addr, client, 7, 5).unwrap();
    });
}

#[test]
fn a_client_that_is_not_tls_fails_alone() {
    util::run(|| {
        let (server, client) = tls_echo::configs().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        fiber::spawn(move || tls_echo::serve(listener, server));
        let mut plain = TcpStream::connect(addr).unwrap();
        plain.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        // rustls answers with an alert and the server's fiber ends; the listener goes on.
        let mut answer = Vec::new();
        let _ = plain.read_to_end(&mut answer);
        assert_eq!(
            answer.first(),
            Some(&0x15),
            "expected a TLS alert record, got {answer:?}"
        );
        tls_echo::echo_client(addr, client, 1, 3).unwrap();
    });
}
