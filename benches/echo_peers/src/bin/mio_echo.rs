//! A hand-written single-threaded mio echo server: the event-loop baseline.
//!
//! Every connection is registered once for READABLE | WRITABLE (edge-triggered). On an event
//! it reads until `WouldBlock`, writing each chunk straight back; bytes the socket would not
//! take wait in a per-connection buffer until the next writable event.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

fn main() -> io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into())
        .parse()
        .expect("address as IP:PORT");
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    println!("mio_echo listening on {}", listener.local_addr()?);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let slot = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry().register(
                                &mut stream,
                                Token(slot),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns[slot] = Some(Conn {
                                stream,
                                pending: Vec::new(),
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            eprintln!("mio_echo: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let slot = event.token().0;
            let Some(conn) = conns[slot].as_mut() else {
                continue;
            };
            if !serve(conn, &mut buf) {
                let mut conn = conns[slot].take().unwrap();
                let _ = poll.registry().deregister(&mut conn.stream);
                free.push(slot);
            }
        }
    }
}

/// Flushes pending bytes, then echoes until the socket would block. Returns false when the
/// connection is finished.
fn serve(conn: &mut Conn, buf: &mut [u8]) -> bool {
    if !flush(conn) {
        return false;
    }
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                if conn.pending.is_empty() {
                    match write_some(&mut conn.stream, &buf[..n]) {
                        Ok(w) => conn.pending.extend_from_slice(&buf[w..n]),
                        Err(_) => return false,
                    }
                } else {
                    conn.pending.extend_from_slice(&buf[..n]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Writes as much of `data` as the socket takes now.
fn write_some(stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match stream.write(&data[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn flush(conn: &mut Conn) -> bool {
    if conn.pending.is_empty() {
        return true;
    }
    match write_some(&mut conn.stream, &conn.pending) {
        Ok(n) => {
            conn.pending.drain(..n);
            true
        }
        Err(_) => false,
    }
}
