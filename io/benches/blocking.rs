//! The cost of going through the blocking pool.
//!
//! - `unblock/direct`: an empty closure called on the spot (the floor).
//! - `unblock/round_trip`: the same closure through `unblock` from a fiber: submit, park,
//!   a pool thread runs it and unparks, resume. Budget: ≤ 10 µs median.
//! - `fs_read_1MiB/std` vs `fs_read_1MiB/spindle`: `std::fs::read` of a cached 1 MiB file on
//!   the thread, and `spindle_io::fs::read` of it from a fiber (inline: the bytes are in the
//!   page cache, so no pool hop). Budget: within 1.1x of std. On a loaded machine the two
//!   criterion runs drift apart; `cargo run --release --example fs_read_ratio` interleaves
//!   them.
//!
//! Run with `cargo bench -p spindle-io --bench blocking`; medians are in
//! `target/criterion/<group>/<name>/new/estimates.json`.
#![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn`

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use std::time::{Duration, Instant};

fn unblock(c: &mut Criterion) {
    let mut group = c.benchmark_group("unblock");
    group.bench_function("direct", |b| {
        let empty = || black_box(1u64);
        b.iter(|| black_box(empty()))
    });
    group.bench_function("round_trip", |b| {
        b.iter_custom(|iters| {
            spindle_core::run(move || {
                // Warm the pool thread so the sample measures round trips, not a spawn.
                spindle_core::unblock(|| ());
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(spindle_core::unblock(|| black_box(1u64)));
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn fs_read(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("one-mib");
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7) as u8).collect();
    std::fs::write(&path, &data).expect("write");
    assert_eq!(std::fs::read(&path).expect("read"), data); // now in the page cache

    let mut group = c.benchmark_group("fs_read_1MiB");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("std", |b| {
        b.iter(|| black_box(std::fs::read(&path).expect("read")))
    });
    group.bench_function("spindle", |b| {
        b.iter_custom(|iters| {
            let path = path.clone();
            spindle_core::run(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(spindle_io::fs::read(&path).expect("read"));
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, unblock, fs_read);
criterion_main!(benches);
