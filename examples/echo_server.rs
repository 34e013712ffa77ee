//! A TCP echo server: one fiber per connection, all on one thread.
//!
//! ```text
//! cargo run --release --example echo_server [ADDR]          # ADDR defaults to 127.0.0.1:7000
//! cargo run --release --example echo_server ADDR --no-budget # cooperative budget off, to measure it
//! cargo run --release --example echo_client -- --conns 50   # in another terminal
//! echo hello | nc -q1 127.0.0.1 7000                        # or by hand
//! ```
//!
//! The code is what one would write with `std::net` and a thread per connection, with
//! `std::thread::spawn` replaced by `fiber::spawn`. A connection that fails or panics is
//! logged and ends alone: its fiber is the only thing that unwinds. When the process runs out
//! of file descriptors (`EMFILE`/`ENFILE`), `accept` backs off for a moment instead of
//! spinning on the error or exiting; the connections that are open keep being served, and
//! closing them makes room again.

use std::io::{self, Read, Write};
use std::time::Duration;

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};

/// The first pause after an out-of-descriptors `accept`; doubles up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--no-budget` turns the cooperative budget off (see `runtime::Builder::budget`), to
    // measure what it costs and what it buys.
    let no_budget = args.iter().any(|a| a == "--no-budget");
    args.retain(|a| a != "--no-budget");
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let mut builder = spindle::Runtime::builder();
    if no_budget {
        builder = builder.budget(None);
    }
    let rt = builder.build().expect("default runtime settings are valid");
    if let Err(e) = rt.run(move || serve(&addr)) {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}

fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    println!("echo_server listening on {}", listener.local_addr()?);
    let mut backoff = MIN_BACKOFF;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                // A named fiber, so stall and panic reports say which connection; and
                // `Builder::spawn` reports a failure (no memory for a stack) as an error
                // for this connection instead of panicking the accept loop.
                let spawned = fiber::Builder::new()
                    .name(format!("conn {peer}"))
                    .spawn(move || {
                        if let Err(e) = handle(stream) {
                            eprintln!("echo_server: connection {peer}: {e}");
                        }
                    });
                if let Err(e) = spawned {
                    eprintln!("echo_server: connection {peer} dropped: {e}");
                }
                // Under a burst of connections `accept` never has to wait, so this loop would
                // hold the thread until the burst ends; let the served fibers run in between.
                fiber::yield_now();
            }
            Err(e) if out_of_descriptors(&e) => {
                eprintln!("echo_server: accept: {e}; retrying in {backoff:?}");
                fiber::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            // ECONNABORTED and friends concern one connection, not the listener.
            Err(e) => eprintln!("echo_server: accept: {e}"),
        }
    }
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Echoes until the peer closes its side. A panic here unwinds this fiber only: the
/// runtime catches it at the fiber's entry and the panic hook prints it.
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
