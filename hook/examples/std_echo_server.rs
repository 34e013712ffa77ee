//! spindle's `examples/echo_server.rs` written with `std::net` and the hook: the same server,
//! with `use std::net::…` instead of `use spindle::net::…`, for the side-by-side echo
//! benchmark (`SERVERS="spindle std_hook" benches/echo_peers/run.sh`).
//!
//! ```text
//! cargo run --release -p spindle-hook --example std_echo_server [ADDR]   # 127.0.0.1:7000
//! ```

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

use spindle_core::fiber;
// The hook: std's accept, read and write park the fiber.
use spindle_hook as _;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    if let Err(e) = spindle_core::run(move || serve(&addr)) {
        eprintln!("std_echo_server: {e}");
        std::process::exit(1);
    }
}

fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    println!("std_echo_server listening on {}", listener.local_addr()?);
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                fiber::spawn(move || {
                    if let Err(e) = handle(stream) {
                        eprintln!("std_echo_server: connection {peer}: {e}");
                    }
                });
                // As in echo_server: let the served fibers run during a burst of accepts.
                fiber::yield_now();
            }
            Err(e) => eprintln!("std_echo_server: accept: {e}"),
        }
    }
}

/// Echoes until the peer closes its side.
fn handle(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}
