//! Files opened with `spindle::fs` count toward the descriptor table as sockets do
//! (`tests/descriptor_table.rs`): a file opened inline on a scheduler thread must not be the
//! one whose `open` waits for the kernel to enlarge the table.
//!
//! A file of its own: the table belongs to the process, and other tests' descriptors would
//! move it.

mod util;

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
    util::assert_table_grown_ahead(200);
    drop(files);
    std::fs::remove_dir_all(&dir).unwrap();
}
