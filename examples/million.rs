//! Spawns a million sleeping fibers at once and reports what they cost.
//!
//! ```text
//! cargo run --release --example million [-- <fibers>]
//! ```
//!
//! Every fiber gets the default 256 KiB stack (address space; only touched pages cost memory)
//! and sleeps until a common deadline, so all of them are alive at the same time. Prints the
//! time to spawn them, the time until all are asleep, and the resident memory each one adds.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use spindle::fiber;

/// Resident set size of this process, in bytes.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("reading /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// CPU time (user, system) and minor page faults of this process so far.
fn usage() -> (Duration, Duration, i64) {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid out-pointer; getrusage writes only `ru`.
    let ret = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(ret, 0, "getrusage failed");
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (time(ru.ru_utime), time(ru.ru_stime), ru.ru_minflt)
}

/// Number of memory mappings of this process.
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

fn main() {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: million [fibers]  (got {arg:?}, expected a whole number)");
            std::process::exit(2)
        }),
        None => 1_000_000,
    };
    spindle::run(move || {
        let rss_before = rss_bytes();
        let usage_before = usage();
        let start = Instant::now();
        // The common deadline is set once all are spawned; each fiber reads it when it first
        // runs, which is after the root yields below.
        let wake_at = Rc::new(Cell::new(start));
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            let wake_at = wake_at.clone();
            handles.push(fiber::spawn(move || fiber::sleep_until(wake_at.get())));
        }
        let spawned = start.elapsed();
        let usage_spawned = usage();
        wake_at.set(Instant::now() + Duration::from_secs(2));
        // Let every fiber run once, up to its sleep.
        fiber::yield_now();
        let asleep = start.elapsed();
        let stats = spindle::stats().expect("inside a runtime");
        let rss = rss_bytes();
        let maps = mappings();
        let per_fiber = (rss.saturating_sub(rss_before)) as f64 / n as f64;
        println!("fibers alive at once : {}", stats.fibers_alive - 1);
        println!(
            "spawn time           : {:.3} s ({:.0} ns per fiber)",
            spawned.as_secs_f64(),
            spawned.as_nanos() as f64 / n as f64
        );
        // On a loaded machine the wall time includes waits for a core; the CPU time does not.
        println!(
            "spawn CPU time       : {:.3} s user + {:.3} s system, {} minor page faults",
            (usage_spawned.0 - usage_before.0).as_secs_f64(),
            (usage_spawned.1 - usage_before.1).as_secs_f64(),
            usage_spawned.2 - usage_before.2
        );
        println!("all asleep after     : {:.3} s", asleep.as_secs_f64());
        println!(
            "RSS added            : {:.1} MiB ({:.2} KiB per fiber)",
            (rss - rss_before) as f64 / (1 << 20) as f64,
            per_fiber / 1024.0
        );
        println!("timers armed         : {}", stats.timers_armed);
        assert_eq!(stats.timers_armed, n, "every fiber is asleep at once");
        println!(
            "memory mappings      : {maps} (vm.max_map_count: {})",
            std::fs::read_to_string("/proc/sys/vm/max_map_count")
                .unwrap_or_default()
                .trim()
        );
        for h in handles {
            h.join().expect("sleeping fiber panicked");
        }
        println!(
            "all woke and finished: {:.3} s",
            start.elapsed().as_secs_f64()
        );
    });
}
