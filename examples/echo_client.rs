//! A closed-loop load generator for `echo_server`, on fibers.
//!
//! ```text
//! cargo run --release --example echo_client -- --addr 127.0.0.1:7000 --conns 50 --len 64 --secs 5
//! ```
//!
//! Each of `--conns` connections is a fiber that writes one `--len`-byte message, waits for
//! the echo, checks it, and sends the next: one message in flight per connection. After
//! `--secs` seconds it prints the request rate and the round-trip latency percentiles.
//! `--warmup SECS` (default 1) runs the load first without measuring. `--requests N` instead
//! makes each connection do exactly N round trips, all measured, however long they take (for
//! instruction counts at a fixed amount of work, e.g. under `valgrind --tool=callgrind`).

use std::io::{self, Read, Write};
use std::process::exit;
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::net::TcpStream;

#[derive(Debug, Clone)]
struct Options {
    addr: String,
    conns: usize,
    len: usize,
    secs: f64,
    warmup: f64,
    /// Round trips per connection, when fixed by `--requests`.
    requests: Option<u64>,
}

fn usage() -> ! {
    eprintln!(
        "usage: echo_client [--addr HOST:PORT] [--conns N] [--len BYTES] [--secs S] [--warmup S] \
         [--requests PER_CONN]"
    );
    exit(2)
}

fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value.parse().unwrap_or_else(|_| {
        eprintln!("echo_client: bad value {value:?} for {flag}");
        usage()
    })
}

fn parse_args() -> Options {
    let mut opts = Options {
        addr: "127.0.0.1:7000".to_string(),
        conns: 50,
        len: 64,
        secs: 5.0,
        warmup: 1.0,
        requests: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => opts.addr = value,
            "--conns" => opts.conns = parse(&flag, &value),
            "--len" => opts.len = parse(&flag, &value),
            "--secs" => opts.secs = parse(&flag, &value),
            "--warmup" => opts.warmup = parse(&flag, &value),
            "--requests" => opts.requests = Some(parse(&flag, &value)),
            _ => usage(),
        }
    }
    if opts.conns == 0 || opts.len == 0 || opts.secs <= 0.0 {
        usage();
    }
    opts
}

/// One connection's closed loop. Returns the round-trip times (ns) measured after
/// `measure_from`, stopping at `end` or after `max` round trips.
fn client_loop(
    mut stream: TcpStream,
    len: usize,
    measure_from: Instant,
    end: Instant,
    max: u64,
) -> io::Result<Vec<u32>> {
    let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let mut back = vec![0u8; len];
    let mut samples = Vec::with_capacity(1 << 16);
    let mut now = Instant::now();
    let mut done = 0;
    while now < end && done < max {
        done += 1;
        let sent = now;
        stream.write_all(&msg)?;
        stream.read_exact(&mut back)?;
        now = Instant::now();
        if back != msg {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs"));
        }
        if sent >= measure_from {
            let rtt = now.duration_since(sent).as_nanos();
            samples.push(u32::try_from(rtt).unwrap_or(u32::MAX));
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

fn main() {
    let opts = parse_args();
    let o = opts.clone();
    // A load generator shares its core with whatever else runs: when the OS preempts it, a
    // fiber looks stalled to spindle's stall detector, so that report is off here.
    let runtime = spindle::Runtime::builder()
        .stall_threshold(None)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("echo_client: {e}");
            exit(1)
        });
    let result = runtime.run(move || -> io::Result<(Vec<u32>, f64)> {
        let mut streams = Vec::with_capacity(o.conns);
        for _ in 0..o.conns {
            let stream = TcpStream::connect(o.addr.as_str())?;
            stream.set_nodelay(true)?;
            streams.push(stream);
        }
        let (measure_from, end, max) = match o.requests {
            Some(n) => (
                Instant::now(),
                Instant::now() + Duration::from_secs(1 << 32),
                n,
            ),
            None => {
                let from = Instant::now() + Duration::from_secs_f64(o.warmup);
                (from, from + Duration::from_secs_f64(o.secs), u64::MAX)
            }
        };
        let len = o.len;
        let fibers: Vec<_> = streams
            .into_iter()
            .map(|s| fiber::spawn(move || client_loop(s, len, measure_from, end, max)))
            .collect();
        let all = all_samples(fibers);
        if o.requests.is_some() {
            return Ok((all, measure_from.elapsed().as_secs_f64()));
        }
        Ok((all, o.secs))
    });
    let (mut samples, secs) = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo_client: {e}");
            exit(1);
        }
    };
    samples.sort_unstable();
    let rate = samples.len() as f64 / secs;
    println!(
        "conns={} len={} secs={}: {:.0} req/s, p50 {:.1?} p99 {:.1?} p999 {:.1?} ({} requests)",
        opts.conns,
        opts.len,
        secs,
        rate,
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        percentile(&samples, 99.9),
        samples.len(),
    );
}

/// Joins the connection fibers and gathers their samples.
fn all_samples(fibers: Vec<fiber::JoinHandle<io::Result<Vec<u32>>>>) -> Vec<u32> {
    let mut all = Vec::new();
    for f in fibers {
        match f.join() {
            Ok(Ok(samples)) => all.extend(samples),
            Ok(Err(e)) => eprintln!("echo_client: connection failed: {e}"),
            Err(_) => eprintln!("echo_client: a connection fiber panicked"),
        }
    }
    all
}
