//! The stream-hog case: can one heavy client freeze the other connections of an echo server?
//!
//! ```text
//! stream_hog [--streams N] [--secs S] [--chunk BYTES] NAME=HOST:PORT [NAME=HOST:PORT ...]
//! ```
//!
//! For each server in turn (all named on the command line, measured in the same run): `N`
//! stream connections each write `--chunk`-byte buffers (default 256 KiB) as fast as the
//! server echoes them, on plain threads (one writer and one reader per connection), while a
//! probe connection sends 64 bytes every 10 ms and times each echo. Prints, per server, the
//! probe's round trips (p50, p99, max) and the streams' throughput.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::exit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!(
        "usage: stream_hog [--streams N] [--secs S] [--chunk BYTES] NAME=HOST:PORT [NAME=HOST:PORT ...]"
    );
    exit(2)
}

fn main() {
    let mut streams = 1usize;
    let mut secs = 5.0f64;
    let mut chunk = 256 * 1024usize;
    let mut servers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--streams" => streams = value().parse().unwrap_or_else(|_| usage()),
            "--secs" => secs = value().parse().unwrap_or_else(|_| usage()),
            "--chunk" => chunk = value().parse().unwrap_or_else(|_| usage()),
            _ => match arg.split_once('=') {
                Some((name, addr)) => servers.push((name.to_owned(), addr.to_owned())),
                None => usage(),
            },
        }
    }
    if servers.is_empty() || streams == 0 || chunk == 0 {
        usage();
    }
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>8} {:>12}",
        "server", "probe p50", "probe p99", "probe max", "probes", "streams MB/s"
    );
    for (name, addr) in &servers {
        match measure(addr, streams, chunk, Duration::from_secs_f64(secs)) {
            Ok(r) => println!(
                "{name:<10} {:>10} {:>10} {:>10} {:>8} {:>12.0}",
                fmt(r.p50),
                fmt(r.p99),
                fmt(r.max),
                r.probes,
                r.mb_per_s
            ),
            Err(e) => {
                eprintln!("stream_hog: {name} at {addr}: {e}");
                exit(1);
            }
        }
    }
}

fn fmt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1e3)
    } else {
        format!("{ms:.1} ms")
    }
}

struct Result {
    p50: Duration,
    p99: Duration,
    max: Duration,
    probes: usize,
    mb_per_s: f64,
}

fn measure(addr: &str, streams: usize, chunk: usize, secs: Duration) -> std::io::Result<Result> {
    let stop = Arc::new(AtomicBool::new(false));
    let echoed = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for _ in 0..streams {
        let conn = TcpStream::connect(addr)?;
        let mut reader = conn.try_clone()?;
        let mut writer = conn;
        let stop_w = stop.clone();
        threads.push(thread::spawn(move || {
            let buf = vec![0x5a; chunk];
            while !stop_w.load(Ordering::Relaxed) {
                if writer.write_all(&buf).is_err() {
                    return;
                }
            }
            let _ = writer.shutdown(std::net::Shutdown::Write);
        }));
        let echoed = echoed.clone();
        threads.push(thread::spawn(move || {
            let mut buf = vec![0; 1 << 20];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => echoed.fetch_add(n as u64, Ordering::Relaxed),
                };
            }
        }));
    }
    // Let the streams fill the pipes before probing.
    thread::sleep(Duration::from_millis(300));
    let mut probe = TcpStream::connect(addr)?;
    probe.set_nodelay(true)?;
    let msg = [0x42u8; 64];
    let mut back = [0u8; 64];
    let mut rtts = Vec::new();
    let started = Instant::now();
    let echoed_before = echoed.load(Ordering::Relaxed);
    let mut next = Instant::now();
    while started.elapsed() < secs {
        let sent = Instant::now();
        probe.write_all(&msg)?;
        probe.read_exact(&mut back)?;
        rtts.push(sent.elapsed());
        assert_eq!(back, msg, "the probe's echo was corrupted");
        next += Duration::from_millis(10);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }
    let elapsed = started.elapsed();
    let mb_per_s =
        (echoed.load(Ordering::Relaxed) - echoed_before) as f64 / elapsed.as_secs_f64() / 1e6;
    stop.store(true, Ordering::Relaxed);
    drop(probe);
    for t in threads {
        let _ = t.join();
    }
    rtts.sort_unstable();
    let at = |q: f64| rtts[((rtts.len() as f64 * q) as usize).min(rtts.len() - 1)];
    Ok(Result {
        p50: at(0.5),
        p99: at(0.99),
        max: *rtts.last().expect("at least one probe"),
        probes: rtts.len(),
        mb_per_s,
    })
}
