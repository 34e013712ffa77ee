//! A scheduler that runs out of work right after serving I/O offers its CPU a few times
//! before it sleeps (`runtime::Builder::yields_before_sleep`), and then sleeps: a connection
//! that goes quiet costs a handful of polls, not a busy loop.

use std::io::{Read, Write};
use std::time::Duration;

use spindle::net::TcpListener;

/// Serves 200 echo round trips to a plain-thread client, then waits in `read` while the
/// client stays quiet for 300 ms; returns the reactor polls made during that wait.
fn polls_while_the_connection_is_quiet(yields: u32) -> u64 {
    let runtime = spindle::Runtime::builder()
        .yields_before_sleep(yields)
        .build()
        .unwrap();
    runtime.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            let mut buf = [7u8; 64];
            for _ in 0..200 {
                stream.write_all(&buf).unwrap();
                stream.read_exact(&mut buf).unwrap();
            }
            std::thread::sleep(Duration::from_millis(300));
            stream.write_all(b"!").unwrap();
        });
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..200 {
            stream.read_exact(&mut buf).unwrap();
            stream.write_all(&buf).unwrap();
        }
        let before = spindle::stats().unwrap().reactor_polls;
        let mut last = [0u8; 1];
        stream.read_exact(&mut last).unwrap();
        let polls = spindle::stats().unwrap().reactor_polls - before;
        assert_eq!(&last, b"!");
        client.join().unwrap();
        polls
    })
}

#[test]
fn a_scheduler_that_served_io_goes_back_to_sleep() {
    for yields in [3, 64] {
        let polls = polls_while_the_connection_is_quiet(yields);
        // The yields (at most `yields` polls), the sleep, the wake-up; a few more if the
        // client's last reply was still in flight when the wait began, or a stall-detector
        // wake. A busy loop would poll many thousand times in 300 ms.
        assert!(
            polls <= u64::from(yields) + 10,
            "{polls} reactor polls during 300 ms of quiet with yields_before_sleep({yields})"
        );
    }
}
