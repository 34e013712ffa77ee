//! The descriptor table grows ahead of need, off the scheduler threads: in a process of
//! several threads Linux waits for an RCU grace period (milliseconds) whenever it enlarges the
//! table, and the call that needed the new slot (an `accept4` on a scheduler thread) would
//! sleep meanwhile, freezing every fiber of its thread. spindle-io notes each socket it wraps
//! and has a thread of its own ask for the room first.
//!
//! A file of its own: the table belongs to the process, and other tests' sockets would move it.

mod util;

use spindle::net::UdpSocket;

#[test]
fn the_table_grows_before_the_sockets_fill_it() {
    // Without spindle's help, 200 descriptors fit a table of 256 slots, and the 256th would
    // have to wait for the kernel.
    let sockets = util::run(|| {
        (0..200)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect::<Vec<_>>()
    });
    util::assert_table_grown_ahead(200);
    // The descriptor used to make the kernel grow the table is closed again.
    assert!(
        util::highest_open() < 1000,
        "descriptor {} is open: the table-growing duplicate leaked",
        util::highest_open()
    );
    drop(sockets);
}
