//! Files opened with `spindle::fs` count toward the descriptor table as sockets do
//! (`tests/descriptor_table.rs`): a file opened inline on a scheduler thread must not be the
//! one whose `open` waits for the kernel to enlarge the table.
//!
//! A file of its own: the table belongs to the process, and other tests' descriptors would
//! move it.

mod util;

use std::time::{Duration, Instant};

#[test]
fn the_table_grows_before_the_files_fill_it() {
    let dir = std::env::temp_dir().join(format!("spindle-fdtable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data");
    std::fs::write(&path, b"spindle").unwrap();
    // Without spindle's help, 200 descriptors fit a table of 256 slots.
    let opened = path.clone();
    let files = util::run(move || {
        (0..200)
            .map(|_| spindle::fs::File::open(&opened).unwrap())
            .collect::<Vec<_>>()
    });
    let highest = util::highest_open();
    assert!(highest >= 200, "only up to descriptor {highest} open");
    // Room for 8 times as many, asked for by a thread in the background; the bound only
    // detects a hang.
    let start = Instant::now();
    while util::table_size() < 8 * highest as usize && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let size = util::table_size();
    assert!(
        size >= 8 * highest as usize,
        "the table holds {size} slots with descriptor {highest} open: it was not grown ahead"
    );
    drop(files);
    std::fs::remove_dir_all(&dir).unwrap();
}
