//! spindle's main job, end to end on this machine, in one command:
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! 1. A TCP echo server on fibers (one fiber per connection, one thread) and a load generator
//!    on fibers (one fiber per connection, another thread) talk over loopback for two seconds;
//!    the tour prints the request rate and the round-trip latency. Both sides are written in
//!    std's blocking style: `accept`, `read`, `write_all` on `spindle::net` types.
//! 2. The other half of the 1:N trade-off: the hazards table in short. Each blocking std call
//!    (sleep, socket read, a `Mutex` held across a switch, DNS, file read, CPU loop) is run on
//!    fibers next to a ticker, then its spindle twin; the table shows how late the ticker got
//!    and whether the stall detector or the deadlock report fired. The full table, with the
//!    cost of each shim against std, is `cargo run --release --example hazards`.
//!
//! It needs nothing but cargo: no other binary, no network beyond loopback.

#[path = "hazards.rs"]
#[allow(dead_code)] // The tour uses the table, not the example's own `main`.
mod hazards;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::mpsc;

/// Client connections, each a fiber with one 64-byte message in flight.
const CONNS: usize = 50;
const MSG_LEN: usize = 64;
const WARMUP: Duration = Duration::from_millis(300);
const MEASURE: Duration = Duration::from_secs(2);

/// What the server's runtime did, read on its thread before it stops.
#[derive(Debug, Default)]
struct ServerStats {
    fibers_spawned: u64,
    switches: u64,
    reactor_polls: u64,
}

/// A runtime that counts stall reports instead of printing them: on a busy machine, a
/// thread that the kernel preempts for longer than the threshold looks like a stall.
fn runtime(stalls: &Arc<AtomicU32>) -> spindle::Runtime {
    let stalls = stalls.clone();
    spindle::Runtime::builder()
        .on_stall(move |r| {
            if r.phase == spindle::StallPhase::Ongoing {
                stalls.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .expect("runtime settings are valid")
}

/// Echoes until the peer closes.
fn echo(mut stream: TcpStream) -> io::Result<()> {
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

/// Starts the echo server on its own thread and runtime. It serves until a message comes on
/// the returned channel; the thread then returns the runtime's statistics.
fn start_server(
    stalls: &Arc<AtomicU32>,
) -> (
    SocketAddr,
    mpsc::Sender<()>,
    thread::JoinHandle<ServerStats>,
) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let rt = runtime(stalls);
    let server = thread::spawn(move || {
        rt.run(move || {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
            addr_tx
                .send(listener.local_addr().expect("local_addr"))
                .expect("main thread gone");
            fiber::Builder::new()
                .name("acceptor".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        match stream {
                            Ok(stream) => {
                                fiber::spawn(move || {
                                    if let Err(e) = echo(stream) {
                                        eprintln!("tour: echo connection: {e}");
                                    }
                                });
                            }
                            Err(e) => eprintln!("tour: accept: {e}"),
                        }
                    }
                })
                .expect("spawn the acceptor");
            // Serve until told to stop; returning unwinds the acceptor and the connections.
            let _ = stop_rx.recv();
            let s = spindle::stats().expect("inside a runtime");
            ServerStats {
                fibers_spawned: s.fibers_spawned,
                switches: s.switches,
                reactor_polls: s.reactor_polls,
            }
        })
    });
    let addr = addr_rx.recv().expect("the echo server did not start");
    (addr, stop_tx, server)
}

/// One connection's closed loop: write a message, read the echo, check it, again. Returns
/// the round-trip times (ns) that began after `measure_from`.
fn client_loop(addr: SocketAddr, measure_from: Instant, end: Instant) -> io::Result<Vec<u32>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let msg: Vec<u8> = (0..MSG_LEN).map(|i| (i % 251) as u8).collect();
    let mut back = vec![0u8; MSG_LEN];
    let mut samples = Vec::with_capacity(1 << 16);
    let mut now = Instant::now();
    while now < end {
        let sent = now;
        stream.write_all(&msg)?;
        stream.read_exact(&mut back)?;
        now = Instant::now();
        if back != msg {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs"));
        }
        if sent >= measure_from {
            samples.push(u32::try_from(now.duration_since(sent).as_nanos()).unwrap_or(u32::MAX));
        }
    }
    Ok(samples)
}

fn percentile(sorted: &[u32], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Duration::from_nanos(u64::from(sorted[rank.clamp(1, sorted.len()) - 1]))
}

/// Part 1: the echo server and its clients.
fn echo_demo() {
    println!(
        "== 1. TCP echo on fibers: a server thread (one fiber per connection) and a client \
         thread ({CONNS} fibers, {MSG_LEN} B messages, one in flight each), {:.0} s over loopback",
        MEASURE.as_secs_f64()
    );
    let stalls = Arc::new(AtomicU32::new(0));
    let (addr, stop, server) = start_server(&stalls);
    let client_rt = runtime(&stalls);
    let client = thread::spawn(move || {
        client_rt.run(move || {
            let measure_from = Instant::now() + WARMUP;
            let end = measure_from + MEASURE;
            let fibers: Vec<_> = (0..CONNS)
                .map(|_| fiber::spawn(move || client_loop(addr, measure_from, end)))
                .collect();
            let mut all = Vec::new();
            for f in fibers {
                match f.join() {
                    Ok(Ok(samples)) => all.extend(samples),
                    Ok(Err(e)) => eprintln!("tour: client connection failed: {e}"),
                    Err(_) => eprintln!("tour: a client fiber panicked"),
                }
            }
            all
        })
    });
    let mut samples = client.join().expect("the client thread panicked");
    stop.send(()).expect("the server stopped early");
    let server = server.join().expect("the server thread panicked");
    samples.sort_unstable();
    println!(
        "   {:.0} req/s, round trip p50 {:.1?}, p99 {:.1?} ({} requests measured)",
        samples.len() as f64 / MEASURE.as_secs_f64(),
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        samples.len()
    );
    println!(
        "   server runtime: {} fibers spawned, {} switches, {} reactor polls; \
         stall reports on either side: {} (on a busy machine, the OS preempting a thread \
         for over 10 ms counts too)",
        server.fibers_spawned,
        server.switches,
        server.reactor_polls,
        stalls.load(Ordering::Relaxed)
    );
}

/// Part 2: the hazards table, short.
fn hazards_demo() {
    println!(
        "\n== 2. What a blocking std call does to the other fibers of its thread, and the \
         spindle twin (a few seconds)"
    );
    let runs = hazards::run_all(false);
    println!("{}\n", hazards::legend(true));
    print!("{}", hazards::render(&runs, false, true));
    println!(
        "\nFull table with the cost of each shim against std: \
         cargo run --release --example hazards"
    );
}

fn main() {
    // The hazards table runs the std Mutex cases in a child process: this same binary.
    hazards::run_child_if_asked();
    let started = Instant::now();
    echo_demo();
    hazards_demo();
    println!("\ntour done in {:.1} s", started.elapsed().as_secs_f64());
}
