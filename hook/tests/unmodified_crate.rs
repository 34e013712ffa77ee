//! An unmodified blocking crate on fibers: 200 `ureq` GETs from 200 fibers of one thread,
//! against a local server that answers each after 100 ms. Serially that takes 20 s; with the
//! hook the requests overlap (the bound asserted is a generous 5 s, to stay clear of a loaded
//! machine). `examples/unmodified_crates.rs` prints both timings.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use spindle_core::fiber;
// Links the hook into this test.
use spindle_hook as _;

fn slow_server(answer_after: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                std::thread::sleep(answer_after);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    addr
}

#[test]
fn two_hundred_ureq_gets_from_fibers_overlap() {
    const REQUESTS: usize = 200;
    let url = format!("http://{}/", slow_server(Duration::from_millis(100)));
    let started = Instant::now();
    let bodies = spindle_core::run(move || {
        let fibers: Vec<_> = (0..REQUESTS)
            .map(|_| {
                let url = url.clone();
                fiber::spawn(move || ureq::get(&url).call().unwrap().into_string().unwrap())
            })
            .collect();
        fibers
            .into_iter()
            .map(|f| f.join().unwrap())
            .collect::<Vec<_>>()
    });
    let took = started.elapsed();
    assert_eq!(bodies.len(), REQUESTS);
    assert!(bodies.iter().all(|b| b == "ok"));
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: serial is 20 s"
    );
}
