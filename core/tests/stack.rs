//! Stacks: guard pages, overflow reports, many stacks alive, mapping failures.

use std::process::Command;

use spindle_core::fiber;

/// Re-runs this test binary with one test selected and an env var telling it to misbehave.
fn run_child(test: &str, var: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(var, "1")
        .output()
        .unwrap()
}

#[test]
fn overflow_is_reported_with_fiber_name_and_size() {
    if std::env::var_os("SPINDLE_TEST_OVERFLOW").is_some() {
        fn recurse(n: u64) -> u64 {
            let pad = std::hint::black_box([n; 64]);
            if pad[0] == u64::MAX {
                0
            } else {
                recurse(n + 1) + pad[3]
            }
        }
        spindle_core::run(|| {
            fiber::Builder::new()
                .name("deep-diver".into())
                .stack_size(64 * 1024)
                .spawn(|| recurse(0))
                .unwrap()
                .join()
                .ok();
        });
        unreachable!("the overflow must abort");
    }
    let out = run_child(
        "overflow_is_reported_with_fiber_name_and_size",
        "SPINDLE_TEST_OVERFLOW",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("fiber 'deep-diver' (")
            && stderr.contains(
                "has overflowed its stack of 64 KiB; raise it with fiber::Builder::stack_size"
            ),
        "unexpected stderr: {stderr}"
    );
}

#[test]
fn segfault_outside_guard_pages_is_not_reported_as_overflow() {
    if std::env::var_os("SPINDLE_TEST_SEGV").is_some() {
        spindle_core::run(|| {
            fiber::spawn(|| {
                // SAFETY: none — this child process crashes on purpose with a wild write.
                unsafe { std::ptr::write_volatile(16 as *mut u64, 1) };
            })
            .join()
            .ok();
        });
        unreachable!();
    }
    let out = run_child(
        "segfault_outside_guard_pages_is_not_reported_as_overflow",
        "SPINDLE_TEST_SEGV",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{stderr}");
    assert!(!stderr.contains("overflowed"), "{stderr}");
}

#[test]
fn unmappable_stack_is_an_error_naming_the_cause() {
    let err = spindle_core::run(|| {
        fiber::Builder::new()
            .stack_size(1 << 47)
            .spawn(|| ())
            .map(drop)
            .unwrap_err()
    });
    let msg = err.to_string();
    assert!(
        msg.contains("vm.max_map_count") && msg.contains("address space"),
        "{msg}"
    );
}

#[test]
fn spawn_panics_with_the_mapping_error() {
    let rt = spindle_core::Runtime::builder()
        .stack_size(1 << 47)
        .build()
        .unwrap();
    let msg = rt.run(|| {
        let payload = std::panic::catch_unwind(|| drop(fiber::spawn(|| ()))).unwrap_err();
        payload.downcast::<String>().map(|s| *s).unwrap_or_default()
    });
    assert!(msg.contains("vm.max_map_count"), "{msg}");
}

fn count_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn hundred_thousand_guarded_stacks_alive_at_once() {
    const N: usize = 100_000;
    let (alive, maps_before, maps_during) = spindle_core::run(|| {
        let maps_before = count_mappings();
        let handles: Vec<_> = (0..N)
            .map(|_| {
                fiber::Builder::new()
                    .stack_size(16 * 1024)
                    .spawn(fiber::park)
                    .unwrap()
            })
            .collect();
        fiber::yield_now(); // every fiber runs once and parks
        let alive = spindle_core::stats().unwrap().fibers_alive;
        let maps_during = count_mappings();
        for h in &handles {
            h.fiber().unpark();
        }
        for h in handles {
            h.join().unwrap();
        }
        (alive, maps_before, maps_during)
    });
    assert_eq!(alive, N + 1);
    let max_map_count: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        maps_during < max_map_count,
        "{maps_during} mappings for {N} stacks"
    );
    // With MADV_GUARD_INSTALL the stacks add a handful of slabs, not a mapping per stack.
    eprintln!("mappings: {maps_before} before, {maps_during} with {N} fibers alive");
}
