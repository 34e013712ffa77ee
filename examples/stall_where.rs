//! Shows a stall report with its backtrace: a fiber calls `std::thread::sleep` inside
//! `handle_client`, which blocks every fiber of the thread.
//!
//! `cargo run --example stall_where`

use std::time::Duration;

use spindle::fiber;

#[inline(never)]
fn handle_client() {
    std::thread::sleep(Duration::from_millis(100));
}

fn main() {
    spindle::run(|| {
        fiber::Builder::new()
            .name("client".into())
            .spawn(handle_client)
            .unwrap()
            .join()
            .unwrap();
    });
}
