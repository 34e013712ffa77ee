//! The README's first example: an echo server on fibers and one client, on one thread.
//!
//! `cargo run --example hello`. CI also runs it built with `panic = "abort"`, where the
//! fibers left when the root returns (the accept loop) are abandoned instead of unwound.
//! `tests/readme_example.rs` checks that this file holds the README's example as it is.

use spindle::io::{Read, Write};
use spindle::net::{TcpListener, TcpStream};
use spindle::thread;

fn main() -> spindle::io::Result<()> {
    spindle::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        // A fiber per connection, written like a thread per connection.
        thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                thread::spawn(move || {
                    let mut buf = [0; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        stream.write_all(&buf[..n]).unwrap();
                    }
                });
            }
        });
        let mut client = TcpStream::connect(addr)?;
        client.write_all(b"ping")?;
        let mut reply = [0; 4];
        client.read_exact(&mut reply)?;
        assert_eq!(&reply, b"ping");
        Ok(())
    })
}
