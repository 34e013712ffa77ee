//! With the hook linked, `std` sockets created on fibers grow the descriptor table ahead of
//! need too (see spindle-core's `descriptor_table`), so that a scheduler thread's `accept4` or
//! `socket` does not wait for Linux to enlarge it. A file of its own: the table belongs to the
//! process.

use std::time::{Duration, Instant};

// Links the hook into this test (a crate nothing names is not linked).
use spindle_hook as _;

/// The number of descriptor slots the kernel has allocated for this process (`FDSize`).
fn table_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("FDSize:"))
        .expect("/proc/self/status has an FDSize line")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn std_sockets_made_on_fibers_grow_the_table_ahead() {
    let (sockets, highest) = spindle_core::run(|| {
        let sockets: Vec<_> = (0..200)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let highest = sockets
            .iter()
            .map(|s| std::os::fd::AsRawFd::as_raw_fd(s) as usize)
            .max()
            .unwrap();
        (sockets, highest)
    });
    assert!(highest >= 200, "only up to descriptor {highest}");
    // Room for 8 times as many, asked for by a thread in the background; the bound only
    // detects a hang. Without the hook's report the table would hold 256 slots.
    let start = Instant::now();
    while table_size() < 8 * highest && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let size = table_size();
    assert!(
        size >= 8 * highest,
        "the table holds {size} slots with descriptor {highest} open: it was not grown ahead"
    );
    drop(sockets);
}
