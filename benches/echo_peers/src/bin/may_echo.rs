//! Echo server on may (stackful coroutines, N:M on `WORKERS` worker threads, default 2):
//! one coroutine per connection.

use std::io::{Read, Write};

use may::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    may::config().set_workers(workers);
    let listener = TcpListener::bind(&addr)?;
    println!("may_echo listening on {} with {workers} workers", listener.local_addr()?);
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("may_echo: accept: {e}");
                continue;
            }
        };
        may::go!(move || {
            let _ = stream.set_nodelay(true);
            let mut buf = [0u8; 4096];
            loop {
                let n = match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
    }
    Ok(())
}
