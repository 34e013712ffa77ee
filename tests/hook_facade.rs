//! The `hook` feature through the facade: a program that names nothing but `spindle::run` and
//! `spindle::fiber` gets every hook linked (the facade links spindle-hook, whose `#[used]`
//! table keeps all of them), so std's blocking calls park the fiber.
//!
//! Built only with `--features hook` (CI runs the workspace tests a second time with it).
#![cfg(feature = "hook")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use spindle::fiber;

#[test]
fn std_accept_on_one_fiber_and_connect_on_another_do_not_deadlock() {
    let started = Instant::now();
    let echoed = spindle::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Without the hook this accept would block the thread before the connect below runs.
        let server = fiber::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4];
            conn.read_exact(&mut buf).unwrap();
            conn.write_all(&buf).unwrap();
        });
        std::thread::sleep(Duration::from_millis(10));
        let mut client = TcpStream::connect(addr).unwrap();
        // Unhooked, the read below would block the thread for ever; this makes it a failure.
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf).unwrap();
        server.join().unwrap();
        buf
    });
    assert_eq!(&echoed, b"ping");
    assert!(started.elapsed() < Duration::from_secs(5));
}
