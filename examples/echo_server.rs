//! A TCP echo server: one fiber per connection, on one scheduler per core.
//!
//! ```text
//! cargo run --release --example echo_server [ADDR] [--threads N] [--acceptor] [--no-budget]
//!                                            [--yields-before-sleep N]
//! cargo run --release --example echo_client -- --conns 50   # in another terminal
//! echo hello | nc -q1 127.0.0.1 7000                        # or by hand
//! ```
//!
//! ADDR defaults to 127.0.0.1:7000; `--threads` to one scheduler per core this process may
//! run on (`taskset -c 0 ...` makes that one). With several schedulers, each binds its own
//! listener to ADDR with `SO_REUSEPORT` and the kernel spreads the connections; with
//! `--acceptor`, scheduler 0 accepts them all and hands each stream to the schedulers in turn
//! with `spindle::runtime::spawn_on`. `--no-budget` turns the cooperative budget off, to measure
//! what it costs and what it buys; `--yields-before-sleep N` sets how often a scheduler that
//! runs out of work offers its CPU before it sleeps (`0`: never; see
//! `runtime::Builder::yields_before_sleep`).
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
    let mut addr = "127.0.0.1:7000".to_string();
    let mut threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut acceptor = false;
    let mut builder = spindle::Runtime::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => threads = n,
                _ => fail("--threads takes a number of schedulers, at least 1"),
            },
            "--acceptor" => acceptor = true,
            // The cooperative budget off (see `runtime::Builder::budget`), to measure what it
            // costs and what it buys.
            "--no-budget" => builder = builder.budget(None),
            // How often an idle scheduler offers its CPU before it sleeps (see
            // `runtime::Builder::yields_before_sleep`; 0 turns it off), to measure what it buys.
            "--yields-before-sleep" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => builder = builder.yields_before_sleep(n),
                None => fail("--yields-before-sleep takes a number, 0 or more"),
            },
            _ if arg.starts_with("--") => fail(&format!(
                "unknown option {arg}; see the docs at the top of echo_server.rs"
            )),
            _ => addr = arg,
        }
    }
    let result = if threads == 1 {
        let runtime = builder.build().expect("these runtime settings are valid");
        runtime.run(move || {
            let listener = TcpListener::bind(&addr)?;
            println!("echo_server listening on {}", listener.local_addr()?);
            serve(&listener, None)
        })
    } else {
        serve_on_each(builder.threads(threads), &addr, threads, acceptor)
    };
    if let Err(e) = result {
        fail(&e.to_string());
    }
}

fn fail(message: &str) -> ! {
    eprintln!("echo_server: {message}");
    std::process::exit(1);
}

/// Thread-per-core: `threads` schedulers, each with its own `SO_REUSEPORT` listener, or
/// scheduler 0 accepting for all of them.
fn serve_on_each(
    builder: spindle::runtime::Builder,
    addr: &str,
    threads: usize,
    acceptor: bool,
) -> io::Result<()> {
    // Bound up front, so that port 0 means one port for all, and errors come out here.
    let first = TcpListener::bind_reuse_port(addr)?;
    let local = first.local_addr()?;
    let mut listeners = vec![Some(first)];
    if !acceptor {
        for _ in 1..threads {
            listeners.push(Some(TcpListener::bind_reuse_port(local)?));
        }
    }
    let mode = if acceptor {
        "one acceptor"
    } else {
        "SO_REUSEPORT"
    };
    println!("echo_server listening on {local} with {threads} schedulers ({mode})");
    let listeners = std::sync::Mutex::new(listeners);
    let runtime = builder.build()?;
    let results = runtime.run_on_each(move |index| {
        let listener = listeners
            .lock()
            .unwrap()
            .get_mut(index)
            .and_then(Option::take);
        match listener {
            Some(listener) => serve(&listener, acceptor.then_some(threads)),
            // A scheduler without a listener serves the streams scheduler 0 hands it.
            None => loop {
                fiber::park();
            },
        }
    });
    results.into_iter().collect()
}

/// Accepts connections for ever, serving each in a fiber of its own: on this scheduler, or
/// (`spread` = the number of schedulers) on each scheduler in turn.
fn serve(listener: &TcpListener, spread: Option<usize>) -> io::Result<()> {
    let mut backoff = MIN_BACKOFF;
    let mut next = 0;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                // A named fiber, so stall and panic reports say which connection; and
                // `Builder::spawn` reports a failure (no memory for a stack) as an error
                // for this connection instead of panicking the accept loop.
                let builder = fiber::Builder::new().name(format!("conn {peer}"));
                let serve_one = move || {
                    if let Err(e) = handle(stream) {
                        eprintln!("echo_server: connection {peer}: {e}");
                    }
                };
                let spawned = match spread {
                    None => builder.spawn(serve_one).map(drop),
                    Some(schedulers) => {
                        next = (next + 1) % schedulers;
                        builder.spawn_on(next, serve_one).map(drop)
                    }
                };
                if let Err(e) = spawned {
                    eprintln!("echo_server: connection {peer} dropped: {e}");
                }
                // No yield here: `accept` counts against the turn's budget, which bounds a burst
                // of connections (see the http_server example).
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
