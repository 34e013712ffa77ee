//! An unmodified blocking crate made concurrent: `ureq`, which opens its own
//! `std::net::TcpStream`, makes 200 GETs from 200 fibers of one thread against a local server
//! that answers each after 100 ms.
//!
//! ```text
//! cargo run --release --example unmodified_crates                    # serial: ~20 s
//! cargo run --release --example unmodified_crates --features hook    # concurrent: ~0.1 s
//! ```
//!
//! Without the `hook` feature each fiber's `read` blocks the thread, so the 200 requests run one
//! after another. With it, the same calls park the fiber and the thread moves on to the next
//! one. Nothing in this program or in ureq changes between the two runs. An optional argument
//! sets the number of requests.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use spindle::fiber;

/// How long the server takes to answer each request.
const ANSWER_AFTER: Duration = Duration::from_millis(100);

/// A thread-per-connection HTTP/1.1 server on plain threads, outside the runtime: it reads
/// a request's head, waits [`ANSWER_AFTER`], and answers `ok`.
fn slow_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().expect("clone the stream"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                std::thread::sleep(ANSWER_AFTER);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    addr
}

fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("the argument is a number of requests"))
        .unwrap_or(200);
    let url = format!("http://{}/", slow_server());
    let hooked = cfg!(feature = "hook");
    let started = Instant::now();
    let answers = spindle::run(move || {
        let fibers: Vec<_> = (0..requests)
            .map(|_| {
                let url = url.clone();
                fiber::spawn(move || {
                    let response = ureq::get(&url).call().map_err(|e| e.to_string())?;
                    response.into_string().map_err(|e| e.to_string())
                })
            })
            .collect();
        fibers
            .into_iter()
            .map(|f| f.join().expect("a request fiber panicked"))
            .collect::<Vec<Result<String, String>>>()
    });
    let took = started.elapsed();
    let ok = answers
        .iter()
        .filter(|a| matches!(a, Ok(s) if s == "ok"))
        .count();
    println!(
        "{requests} ureq GETs from {requests} fibers, server answers after {} ms, hook {}: \
         {ok} ok in {:.2} s (serial would be {:.1} s)",
        ANSWER_AFTER.as_millis(),
        if hooked { "on" } else { "off" },
        took.as_secs_f64(),
        (ANSWER_AFTER * requests as u32).as_secs_f64(),
    );
    if let Some(Err(e)) = answers.iter().find(|a| a.is_err()) {
        eprintln!("first error: {e}");
    }
}
