//! `spindle::Runtime` and `runtime::Builder`: a runtime is reusable settings, each option
//! the builder offers changes what the runtime does, and settings out of range are refused.
//!
//! Options with a file of their own are not repeated here: `poll_interval` and `budget`
//! (`tests/fairness.rs`), `yields_before_sleep` (`tests/sleep_after_io.rs`), the stall
//! detector's (`tests/stall*.rs`), `deadlock_timeout` (`tests/deadlock.rs`),
//! `unwind_at_shutdown` (`tests/shutdown.rs`), `name_panics` (`tests/panic_names.rs`),
//! `dump_on_signal` (`tests/dump_signal.rs`), `threads` (`tests/thread_per_core.rs`).
//!
//! Settings that abort the process (stack overflows) or change the whole process (the
//! blocking pool) are tried in a child: the test binary re-run with one test selected.

use std::cell::Cell;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::runtime::{Builder, Runtime};

mod util;

/// Set in the child: which test's child part to run.
const CHILD: &str = "SPINDLE_RUNTIME_TEST_CHILD";

/// Re-runs this test binary with only `test` selected and [`CHILD`] set.
fn run_child(test: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .unwrap()
}

/// Whether this process is the child started by `test`.
fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|t| t == test)
}

/// Recurses until at least `bytes` of stack below the first frame are in use.
fn use_stack(bytes: usize) -> usize {
    fn descend(top: usize, bytes: usize) -> usize {
        let pad = std::hint::black_box([1u8; 512]);
        let here = pad.as_ptr() as usize;
        if top - here >= bytes {
            return usize::from(pad[0]);
        }
        descend(top, bytes) + usize::from(pad[1])
    }
    let top = std::hint::black_box(0u8);
    descend(&top as *const u8 as usize, bytes)
}

#[test]
fn a_runtime_runs_again_and_each_run_is_a_fresh_scheduler() {
    let rt = Runtime::new().unwrap();
    let first = rt.run(|| {
        fiber::spawn(|| ()).join().unwrap();
        spindle::stats().unwrap().fibers_spawned
    });
    let second = rt.run(|| spindle::stats().unwrap().fibers_spawned);
    assert_eq!(
        (first, second),
        (2, 1),
        "the second run kept the first's fibers"
    );
    // A clone runs on another thread at the same time.
    let clone = rt.clone();
    let other = std::thread::spawn(move || clone.run(|| fiber::spawn(|| 6).join().unwrap()));
    assert_eq!(rt.run(|| 7), 7);
    assert_eq!(other.join().unwrap(), 6);
}

#[test]
fn run_inside_a_runtime_panics_with_what_to_do_instead() {
    let message = spindle::run(|| {
        let payload = std::panic::catch_unwind(|| Runtime::new().unwrap().run(|| ())).unwrap_err();
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    });
    assert!(
        message.contains("called inside a runtime") && message.contains("spawn"),
        "{message}"
    );
}

#[test]
fn out_of_range_settings_are_refused_naming_the_setting() {
    let cases: [(Builder, &str); 4] = [
        (Runtime::builder().threads(0), "threads"),
        (Runtime::builder().poll_interval(0), "poll_interval"),
        (
            Runtime::builder().stall_threshold(Some(Duration::ZERO)),
            "stall_threshold",
        ),
        (
            Runtime::builder().blocking_pool(0, Duration::from_secs(1)),
            "blocking_pool",
        ),
    ];
    for (builder, setting) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{setting}: {err}");
        assert!(err.to_string().contains(setting), "{setting}: {err}");
    }
    // The limits themselves are fine.
    Runtime::builder()
        .threads(1)
        .poll_interval(1)
        .stall_threshold(Some(Duration::from_nanos(1)))
        .build()
        .unwrap();
}

#[test]
fn the_builder_shows_its_settings() {
    let builder = Runtime::builder()
        .stack_size(64 * 1024)
        .yields_before_sleep(0)
        .time_slice(None)
        .pin_to_cores(true);
    let shown = format!("{builder:?}");
    for field in [
        "stack_size: 65536",
        "yields_before_sleep: 0",
        "time_slice: None",
        "pin_to_cores: true",
    ] {
        assert!(shown.contains(field), "no {field:?} in {shown}");
    }
    let runtime = builder.build().unwrap();
    assert!(format!("{runtime:?}").contains("stack_size: 65536"));
}

#[test]
fn stack_size_is_the_default_of_every_fiber_the_runtime_spawns() {
    const TEST: &str = "stack_size_is_the_default_of_every_fiber_the_runtime_spawns";
    if is_child(TEST) {
        // 2 MiB stacks hold 1 MiB of recursion, which would overflow the 256 KiB default …
        let rt = Runtime::builder().stack_size(2 << 20).build().unwrap();
        let deep = rt.run(|| fiber::spawn(|| use_stack(1 << 20)).join().unwrap());
        println!("deep recursion returned {deep}");
        // … and 60 001 bytes, rounded up to 60 KiB, do not hold 100 KiB.
        let rt = Runtime::builder().stack_size(60_001).build().unwrap();
        rt.run(|| fiber::spawn(|| use_stack(100 << 10)).join().ok());
        unreachable!("the overflow must abort");
    }
    let out = run_child(TEST);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("deep recursion returned"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("has overflowed its stack of 60 KiB"),
        "{stderr}"
    );
}

#[test]
fn root_stack_size_sets_the_root_fiber_s_stack() {
    const TEST: &str = "root_stack_size_sets_the_root_fiber_s_stack";
    if is_child(TEST) {
        let rt = Runtime::builder()
            .root_stack_size(128 * 1024)
            .build()
            .unwrap();
        // The spawned fiber's default stack (256 KiB) is not the root's.
        let spawned = rt.run(|| fiber::spawn(|| use_stack(160 << 10)).join().unwrap());
        println!("spawned fiber returned {spawned}");
        rt.run(|| use_stack(160 << 10));
        unreachable!("the overflow must abort");
    }
    let out = run_child(TEST);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("spawned fiber returned"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("fiber 'main' (") && stderr.contains("overflowed its stack of 128 KiB"),
        "{stderr}"
    );
}

/// Pages of `len` bytes at `addr` (within a live mapping) that are resident.
fn resident_pages(addr: usize, len: usize) -> usize {
    const PAGE: usize = 4096;
    let start = addr / PAGE * PAGE;
    let pages = (addr + len).div_ceil(PAGE) - start / PAGE;
    let mut vec = vec![0u8; pages];
    // SAFETY: `start` is page-aligned and `start..start + pages * PAGE` lies in a fiber stack
    // that stays mapped until the runtime ends (the caller is still inside it); `vec` has one
    // byte per page.
    let rc = unsafe { libc::mincore(start as *mut libc::c_void, pages * PAGE, vec.as_mut_ptr()) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    vec.iter().filter(|&&b| b & 1 != 0).count()
}

/// Runs 128 fibers at once that each touch 64 KiB of their stack; once all have finished,
/// returns how many of the pages they touched are still resident, and how many they touched.
fn pages_kept_after_a_burst(builder: Builder) -> (usize, usize) {
    const FIBERS: usize = 128;
    const TOUCHED: usize = 64 * 1024;
    builder.build().unwrap().run(|| {
        let ranges = Rc::new(Cell::new(Vec::new()));
        let fibers: Vec<_> = (0..FIBERS)
            .map(|_| {
                let ranges = Rc::clone(&ranges);
                fiber::spawn(move || {
                    let buf = std::hint::black_box([1u8; TOUCHED]);
                    let mut all = ranges.take();
                    all.push(buf.as_ptr() as usize);
                    ranges.set(all);
                    // Stay alive until every fiber has its own stack.
                    fiber::yield_now();
                    std::hint::black_box(&buf);
                })
            })
            .collect();
        for f in fibers {
            f.join().unwrap();
        }
        let ranges = ranges.take();
        assert_eq!(ranges.len(), FIBERS);
        let kept = ranges.iter().map(|&a| resident_pages(a, TOUCHED)).sum();
        (kept, FIBERS * TOUCHED / 4096)
    })
}

#[test]
fn stack_cache_bounds_the_finished_stacks_that_keep_their_pages() {
    let (kept, touched) = pages_kept_after_a_burst(Runtime::builder().stack_cache(0));
    assert!(
        kept < touched / 10,
        "stack_cache(0) kept {kept} of {touched} pages"
    );
    let (kept, touched) = pages_kept_after_a_burst(Runtime::builder().stack_cache(1000));
    assert!(
        kept > touched * 9 / 10,
        "stack_cache(1000) kept only {kept} of {touched} pages"
    );
}

/// How many times a yielding fiber ran while another one spent 50 ms of wall time in
/// `consume_budget` calls (operations that never park).
fn ran_beside_a_busy_fiber(builder: Builder) -> u64 {
    util::on_thread(move || {
        // The busy fiber holds the thread on purpose when nothing makes it yield.
        let rt = builder.stall_threshold(None).build().unwrap();
        rt.run(|| {
            let ran = Rc::new(Cell::new(0u64));
            let other = {
                let ran = Rc::clone(&ran);
                fiber::spawn(move || {
                    loop {
                        ran.set(ran.get() + 1);
                        fiber::yield_now();
                    }
                })
            };
            fiber::yield_now(); // the other fiber starts
            let start = ran.get();
            let end = Instant::now() + Duration::from_millis(50);
            while Instant::now() < end {
                fiber::consume_budget();
            }
            let during = ran.get() - start;
            drop(other);
            during
        })
    })
}

#[test]
fn time_slice_makes_a_fiber_yield_before_its_budget_of_operations_is_spent() {
    let budget = Runtime::builder().budget(Some(u32::MAX));
    let sliced = ran_beside_a_busy_fiber(budget.clone().time_slice(Some(Duration::from_millis(1))));
    assert!(sliced > 0, "the time slice never made the busy fiber yield");
    let unsliced = ran_beside_a_busy_fiber(budget.time_slice(None));
    assert_eq!(
        unsliced, 0,
        "without a time slice nothing should preempt it"
    );
}

#[test]
fn blocking_pool_bounds_the_unblock_threads_and_lets_idle_ones_exit() {
    const TEST: &str = "blocking_pool_bounds_the_unblock_threads_and_lets_idle_ones_exit";
    /// Threads of this process named like the pool's (`spindle-blocking`, cut to the 15
    /// bytes the kernel keeps).
    fn pool_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim_end() == &"spindle-blocking"[..15])
            .count()
    }
    if is_child(TEST) {
        static INSIDE: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let rt = Runtime::builder()
            .blocking_pool(1, Duration::from_millis(50))
            .build()
            .unwrap();
        let threads_during = rt.run(|| {
            let jobs: Vec<_> = (0..4)
                .map(|_| {
                    fiber::spawn(|| {
                        spindle::unblock(|| {
                            let now = INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
                            MOST.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            INSIDE.fetch_sub(1, Ordering::SeqCst);
                            pool_threads()
                        })
                    })
                })
                .collect();
            jobs.into_iter().map(|j| j.join().unwrap()).max().unwrap()
        });
        // The idle thread exits after its keep-alive (50 ms); 5 s only detects "never".
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool_threads() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        println!(
            "most={} threads_during={threads_during} threads_after={}",
            MOST.load(Ordering::SeqCst),
            pool_threads()
        );
        return;
    }
    let out = run_child(TEST);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("most=1 threads_during=1 threads_after=0"),
        "{stdout}"
    );
}

/// The CPUs the calling thread may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a writable cpu_set_t of the size given; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(
        rc,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the number of CPUs a cpu_set_t holds.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

#[test]
fn pin_to_cores_pins_scheduler_i_to_the_i_th_allowed_cpu() {
    // On a thread of its own: scheduler 0 is the calling thread, and stays pinned.
    let (allowed, pinned, unpinned) = util::on_thread(|| {
        let allowed = allowed_cpus();
        let each = |pin: bool| {
            Runtime::builder()
                .threads(3)
                .pin_to_cores(pin)
                .build()
                .unwrap()
                .run_on_each(|_| allowed_cpus())
        };
        let unpinned = each(false);
        let pinned = each(true);
        (allowed, pinned, unpinned)
    });
    for (i, cpus) in pinned.iter().enumerate() {
        assert_eq!(
            cpus,
            &[allowed[i % allowed.len()]],
            "scheduler {i} of {pinned:?}; allowed {allowed:?}"
        );
    }
    assert!(unpinned.iter().all(|cpus| cpus == &allowed), "{unpinned:?}");
}
