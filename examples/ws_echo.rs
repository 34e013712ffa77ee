//! A WebSocket echo server and its clients, all fibers on one thread, with `tungstenite` —
//! the blocking WebSocket crate, unmodified — over `spindle::net::TcpStream`.
//!
//! ```text
//! cargo run --release --example ws_echo [SOCKETS]     # 100 sockets by default
//! ```
//!
//! `tungstenite::accept` and `tungstenite::client` take any `Read + Write` stream and run the
//! HTTP upgrade and then the framing with blocking calls on it. On a spindle socket each of
//! those calls parks only its own fiber, so a hundred WebSockets are served at once by one thread.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use tungstenite::{Error, Message};

#[allow(dead_code)] // unused when the integration tests include this file as a module
fn main() {
    let sockets = match std::env::args().nth(1).map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: ws_echo [SOCKETS]   (a positive number, 100 by default)");
            std::process::exit(2);
        }
    };
    let result = spindle::run(move || -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        fiber::spawn(move || serve(listener));
        let started = Instant::now();
        let clients: Vec<_> = (0..sockets)
            .map(|i| fiber::spawn(move || echo_client(addr, i, 10)))
            .collect();
        for c in clients {
            c.join().expect("a client fiber panicked")?;
        }
        println!(
            "{sockets} WebSockets (upgrade + 10 echoes + close each) on one thread in {:?}",
            started.elapsed()
        );
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("ws_echo: {e}");
        std::process::exit(1);
    }
}

/// Accepts connections forever; each gets a fiber that upgrades it and echoes every text and
/// binary message until the client closes.
pub fn serve(listener: TcpListener) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                fiber::spawn(move || {
                    if let Err(e) = echo(stream) {
                        eprintln!("ws_echo: socket: {e}");
                    }
                });
            }
            Err(e) => eprintln!("ws_echo: accept: {e}"),
        }
    }
}

/// The server's side of one socket: plain blocking tungstenite.
fn echo(stream: TcpStream) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    let mut ws = tungstenite::accept(stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        // Only a nonblocking stream interrupts a handshake; a spindle socket blocks its fiber.
        tungstenite::HandshakeError::Interrupted(_) => Error::Io(io::ErrorKind::WouldBlock.into()),
    })?;
    loop {
        match ws.read() {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => ws.send(msg)?,
            // Pings are answered and a close is confirmed by tungstenite itself.
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// One client socket: upgrades, sends `rounds` text and binary messages and checks each echo,
/// then closes and waits for the server to confirm.
///
/// # Errors
///
/// Any I/O or WebSocket error, or `InvalidData` if an echo differs from what was sent.
pub fn echo_client(addr: SocketAddr, id: usize, rounds: usize) -> io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let (mut ws, response) = tungstenite::client(format!("ws://{addr}/echo"), stream)
        .map_err(|e| io::Error::other(e.to_string()))?;
    if response.status() != 101 {
        return Err(io::Error::other(format!(
            "upgrade answered {}",
            response.status()
        )));
    }
    for round in 0..rounds {
        let message = if round % 2 == 0 {
            Message::text(format!("socket {id} round {round}"))
        } else {
            Message::binary(vec![id as u8; round * 100])
        };
        ws.send(message.clone()).map_err(io::Error::other)?;
        let echoed = ws.read().map_err(io::Error::other)?;
        if echoed != message {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "echo differs from the message",
            ));
        }
    }
    ws.close(None).map_err(io::Error::other)?;
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(io::Error::other(e)),
        }
    }
}
