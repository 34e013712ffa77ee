//! Echo server with std::net and one OS thread per connection.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let listener = TcpListener::bind(&addr)?;
    println!("threads_echo listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("threads_echo: accept: {e}");
                continue;
            }
        };
        thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
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
            })?;
    }
    Ok(())
}
