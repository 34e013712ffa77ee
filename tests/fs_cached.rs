//! `spindle::fs` reads data that is in the page cache inline, on the fiber (no pool round
//! trip), and data that is not on the blocking pool, where it stalls only its fiber.

use spindle::fiber;
use spindle::fs::{self, File};
use std::cell::Cell;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;

/// Deterministic bytes that do not repeat with a short period.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A fresh directory on the filesystem of the build (not a tmpfs `/tmp`), where pages can be
/// evicted from the page cache.
fn disk_dir() -> io::Result<tempfile::TempDir> {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
}

/// Writes `data` to `path`, flushes it to the disk and drops its pages from the page cache.
/// Returns false if the filesystem kept them (a tmpfs has nowhere else to keep them).
fn write_uncached(path: &Path, data: &[u8]) -> io::Result<bool> {
    std::fs::write(path, data)?;
    let file = std::fs::File::open(path)?;
    file.sync_all()?;
    // SAFETY: `file` is an open descriptor; fadvise takes no pointers.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise failed");
    Ok(resident_pages(&file, data.len())? == 0)
}

/// How many pages of the first `len` bytes of `file` are in the page cache.
fn resident_pages(file: &std::fs::File, len: usize) -> io::Result<usize> {
    let page = 4096;
    // SAFETY: a fresh shared read-only mapping of an open file; no existing memory is touched.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: `addr` is a mapping of `len` bytes and `vec` has one byte per page of it.
    let rc = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: `addr`/`len` is the mapping made above, and nothing refers to it any more.
    unsafe { libc::munmap(addr, len) };
    if rc != 0 {
        return Err(err);
    }
    Ok(vec.iter().filter(|&&b| b & 1 != 0).count())
}

/// Runs `read` on a fiber while another fiber keeps yielding; returns what `read` returned,
/// how many times the other fiber ran during the read, and the change of
/// `(inline reads, pool reads)`.
fn read_beside_a_ticker<T: 'static>(
    read: impl FnOnce() -> io::Result<T> + 'static,
) -> io::Result<(T, u64, (u64, u64))> {
    spindle::run(move || {
        let ticks = Rc::new(Cell::new(0u64));
        let stop = Rc::new(Cell::new(false));
        let ticker = {
            let (ticks, stop) = (Rc::clone(&ticks), Rc::clone(&stop));
            fiber::spawn(move || {
                while !stop.get() {
                    ticks.set(ticks.get() + 1);
                    fiber::yield_now();
                }
            })
        };
        fiber::yield_now(); // let the ticker start
        let counts = fs::__read_counts();
        let before = ticks.get();
        let result = read();
        let during = ticks.get() - before;
        let after = fs::__read_counts();
        stop.set(true);
        ticker.join().unwrap();
        Ok((result?, during, (after.0 - counts.0, after.1 - counts.1)))
    })
}

/// Writes `data` to `path`, flushes it to the disk (so that no page is dirty or under
/// writeback, which would make a no-wait read refuse it) and reads it back into the page
/// cache.
fn write_cached(path: &Path, data: &[u8]) -> io::Result<()> {
    std::fs::write(path, data)?;
    let file = std::fs::File::open(path)?;
    file.sync_all()?;
    assert!(std::fs::read(path)? == data);
    Ok(())
}

/// Whether every page of the file at `path` is in the page cache.
fn fully_cached(path: &Path) -> io::Result<bool> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    Ok(resident_pages(&file, len)? == len.div_ceil(4096))
}

#[test]
fn cached_file_is_read_inline_without_the_pool() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cached");
    let text = path.with_file_name("text");
    let data = pattern(3 << 20 | 777);
    write_cached(&path, &data)?;
    write_cached(&text, b"hello fiber")?;
    // The kernel may evict pages of a cached file at any time (a loaded machine under memory
    // pressure does): reads that needed the pool while a page went missing prove nothing,
    // and are tried again with the pages brought back. A read that needed the pool while
    // every page stayed cached fails at once.
    let mut evicted = 0;
    let (got, inline, pool) = loop {
        let (p, t) = (path.clone(), text.clone());
        let (got, _, (inline, pool)) = read_beside_a_ticker(move || {
            let whole = fs::read(&p)?;
            let text_len = fs::read_to_string(&t)?.len();
            let mut to_end = Vec::new();
            File::open(&p)?.read_to_end(&mut to_end)?;
            let mut head = vec![0; 1000];
            let n = File::open(&p)?.read(&mut head)?;
            let mut at = vec![0; 5000];
            File::open(&p)?.read_exact_at(&mut at, 12_345)?;
            Ok((whole, text_len, to_end, head[..n].to_vec(), at))
        })?;
        let cached = fully_cached(&path)? && fully_cached(&text)?;
        if pool == 0 || cached || evicted == 5 {
            break (got, inline, pool);
        }
        evicted += 1;
        eprintln!("pages were evicted during the reads ({pool} needed the pool): again");
        write_cached(&path, &data)?;
        write_cached(&text, b"hello fiber")?;
    };
    let (whole, text_len, to_end, head, at) = got;
    assert!(whole == data, "fs::read differs");
    assert_eq!(text_len, 11);
    assert!(to_end == data, "File::read_to_end differs");
    assert!(
        !head.is_empty() && head[..] == data[..head.len()],
        "File::read differs"
    );
    assert!(at[..] == data[12_345..17_345], "read_exact_at differs");
    assert_eq!(
        pool, 0,
        "a cached read went to the blocking pool ({evicted} earlier tries lost pages)"
    );
    assert_eq!(inline, 5, "five reads, each inline");
    Ok(())
}

#[test]
fn uncached_file_is_read_on_the_pool_and_the_thread_keeps_running() -> io::Result<()> {
    let dir = disk_dir()?;
    let path = dir.path().join("cold");
    let data = pattern(32 << 20);
    // The other fiber runs while the reading fiber is parked waiting for the pool. When the
    // OS deschedules the reading thread right after it hands the read over, the pool may
    // finish before the fiber gets to park, and then it never parks: tried again (a read
    // that blocked its thread would never let the other fiber run, however often tried).
    for attempt in 1..=5 {
        if !write_uncached(&path, &data)? {
            eprintln!("the filesystem of {path:?} keeps evicted pages (tmpfs?): nothing to test");
            return Ok(());
        }
        let p = path.clone();
        let (whole, during, (inline, pool)) = read_beside_a_ticker(move || fs::read(&p))?;
        assert!(whole == data, "fs::read of an uncached file differs");
        assert_eq!(
            (inline, pool),
            (0, 1),
            "the read should have needed the pool"
        );
        if during > 0 {
            return Ok(());
        }
        eprintln!("attempt {attempt}: the read finished before its fiber parked");
    }
    panic!("the other fiber never ran during an uncached read, in five attempts");
}

#[test]
fn partly_cached_range_is_finished_on_the_pool() -> io::Result<()> {
    let dir = disk_dir()?;
    let path = dir.path().join("half");
    let data = pattern(8 << 20);
    // The no-wait read that stops at the first missing page starts the kernel's readahead of
    // the rest; when the OS deschedules the fiber's thread before its next no-wait read, that
    // readahead may finish first and the read ends inline, legitimately. Tried again then (a
    // read that waited for the disk inline would end inline every time).
    for attempt in 1..=5 {
        if !write_uncached(&path, &data)? {
            eprintln!("the filesystem of {path:?} keeps evicted pages (tmpfs?): nothing to test");
            return Ok(());
        }
        // Bring the first 64 KiB back into the cache, and nothing else (no readahead).
        let file = std::fs::File::open(&path)?;
        // SAFETY: `file` is an open descriptor; fadvise takes no pointers.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
        assert_eq!(rc, 0);
        let mut head = vec![0; 64 << 10];
        file.read_exact_at(&mut head, 0)?;
        let cached = resident_pages(&file, data.len())?;
        assert!(cached < data.len() / 4096, "all pages came back: {cached}");
        let p = path.clone();
        // (Whether the ticker runs meanwhile is racy here: a 1 MiB pool read can finish
        // before the fiber parks when the OS deschedules its thread; the 32 MiB test checks
        // that.)
        let (got, _, (inline, pool)) = read_beside_a_ticker(move || {
            let mut buf = vec![0; 1 << 20];
            File::open(&p)?.read_exact_at(&mut buf, 1000)?;
            Ok(buf)
        })?;
        assert!(
            got[..] == data[1000..1000 + (1 << 20)],
            "read_exact_at differs"
        );
        if (inline, pool) == (1, 0) {
            eprintln!("attempt {attempt}: readahead filled the range before the pool was needed");
            continue;
        }
        assert_eq!(
            (inline, pool),
            (0, 1),
            "(inline, pool) reads; {cached} of {} pages were cached",
            data.len() / 4096
        );
        return Ok(());
    }
    panic!("a partly cached range was read inline in five attempts");
}

#[test]
fn reads_on_a_plain_thread_count_nothing() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("plain");
    std::fs::write(&path, b"plain thread")?;
    let before = fs::__read_counts();
    assert_eq!(fs::read(&path)?, b"plain thread");
    assert_eq!(fs::__read_counts(), before);
    Ok(())
}
