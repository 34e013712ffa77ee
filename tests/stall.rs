//! The stall detector through the facade: a fiber that calls `std::thread::sleep` holds its
//! thread, and the `on_stall` hook hears about it while it lasts and when it ends, with the
//! fiber's name and the place it was spawned; a CPU loop is told apart from a blocking call;
//! a process stopped with `SIGSTOP` is not a stall.
//!
//! Not built with the `hook` feature: std's sleep then parks the fiber and nothing stalls. The
//! hook's own tests (`hook/tests/uncaught.rs`) show the stall detector on what it cannot catch.
#![cfg(not(feature = "hook"))]

use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::{StallCause, StallPhase, StallReport};

/// A runtime whose stall reports go to the returned list.
fn recording_runtime(threshold: Duration) -> (spindle::Runtime, Arc<Mutex<Vec<StallReport>>>) {
    let reports: Arc<Mutex<Vec<StallReport>>> = Arc::default();
    let sink = reports.clone();
    let rt = spindle::Runtime::builder()
        .stall_threshold(Some(threshold))
        .on_stall(move |r| sink.lock().unwrap().push(r.clone()))
        .build()
        .unwrap();
    (rt, reports)
}

#[test]
fn a_fiber_in_std_sleep_is_reported_with_its_name_and_spawn_site() {
    let (rt, reports) = recording_runtime(Duration::from_millis(20));
    let seen = reports.clone();
    let (spawn_line, ticks_before, ticks_after, stalls) = rt.run(move || {
        let ticks = Rc::new(Cell::new(0u32));
        let done = Rc::new(Cell::new(false));
        let ticker = {
            let (ticks, done) = (ticks.clone(), done.clone());
            fiber::spawn(move || {
                while !done.get() {
                    fiber::sleep(Duration::from_millis(1));
                    ticks.set(ticks.get() + 1);
                }
            })
        };
        // Let the ticker tick before the sleeper takes the thread.
        while ticks.get() == 0 {
            fiber::sleep(Duration::from_millis(1));
        }
        let before = ticks.get();
        let spawn_line = line!() + 3;
        let sleeper = fiber::Builder::new()
            .name("sleeper".into())
            .spawn(move || {
                // std's sleep, 10 ms at a time, until the stall has been reported while it
                // goes on (not for a fixed time: a loaded machine may report it late).
                let give_up = Instant::now() + Duration::from_secs(60);
                while seen.lock().unwrap().is_empty() && Instant::now() < give_up {
                    std::thread::sleep(Duration::from_millis(10));
                }
                std::thread::sleep(Duration::from_millis(10));
            })
            .unwrap();
        sleeper.join().unwrap();
        // The ticker was held up, not stopped: it ticks again afterwards.
        let at_join = ticks.get();
        let give_up = Instant::now() + Duration::from_secs(60);
        while ticks.get() < at_join + 3 && Instant::now() < give_up {
            fiber::sleep(Duration::from_millis(1));
        }
        let after = ticks.get() - at_join;
        done.set(true);
        ticker.join().unwrap();
        (spawn_line, before, after, spindle::stats().unwrap().stalls)
    });
    let reports = reports.lock().unwrap();
    let ongoing = reports
        .iter()
        .find(|r| r.phase == StallPhase::Ongoing)
        .unwrap_or_else(|| panic!("no ongoing report in {reports:?}"));
    assert_eq!(ongoing.name.as_deref(), Some("sleeper"), "{ongoing}");
    assert_eq!(ongoing.spawned_at.file(), file!(), "{ongoing}");
    assert_eq!(ongoing.spawned_at.line(), spawn_line, "{ongoing}");
    assert!(ongoing.held_for >= Duration::from_millis(20), "{ongoing}");
    // Asleep in the kernel: off the CPU, not waiting for one.
    assert_eq!(ongoing.cause, StallCause::Blocking, "{ongoing}");
    assert!(
        ongoing.cpu_time.unwrap() < ongoing.held_for / 2,
        "{ongoing}"
    );
    let shown = ongoing.to_string();
    assert!(
        shown.contains("fiber 'sleeper'") && shown.contains(file!()),
        "{shown}"
    );
    let ended = reports
        .iter()
        .find(|r| r.phase == StallPhase::Ended && r.fiber == ongoing.fiber)
        .unwrap_or_else(|| panic!("no end report in {reports:?}"));
    assert_eq!(ended.name.as_deref(), Some("sleeper"));
    assert!(ended.held_for >= ongoing.held_for, "{ended}");
    assert!(stalls >= 1, "Stats::stalls = {stalls}");
    // The ticker is one of the fibers that was held up; it still ticked before and after.
    assert!(
        ticks_before >= 1 && ticks_after >= 3,
        "{ticks_before} then {ticks_after}"
    );
    // The sleeper held the thread: no other fiber reported.
    assert!(
        reports.iter().all(|r| r.name.as_deref() == Some("sleeper")),
        "{reports:?}"
    );
}

/// A fiber that computes without yielding is reported as a CPU loop (its thread was running
/// when the stall was first reported), with the thread's CPU time; the end report keeps
/// that cause. The loop goes on until the stall has been reported (only the fiber's own CPU
/// time counts, which a loaded machine hands out slowly), or for a minute.
#[test]
fn a_cpu_loop_is_reported_as_computing() {
    let (rt, reports) = recording_runtime(Duration::from_millis(20));
    let seen = reports.clone();
    rt.run(move || {
        fiber::Builder::new()
            .name("spinner".into())
            .spawn(move || {
                let give_up = Instant::now() + Duration::from_secs(60);
                let mut x = 1u64;
                while seen.lock().unwrap().is_empty() && Instant::now() < give_up {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
            .unwrap()
            .join()
            .unwrap();
    });
    let reports = reports.lock().unwrap();
    let ended = reports
        .iter()
        .find(|r| r.phase == StallPhase::Ended)
        .unwrap_or_else(|| panic!("no end report in {reports:?}"));
    assert_eq!(ended.name.as_deref(), Some("spinner"));
    assert_eq!(ended.cause, StallCause::Computing, "{ended}");
    assert!(ended.to_string().contains("on the CPU"), "{ended}");
}

/// Regression: a process stopped with `SIGSTOP` and continued with `SIGCONT` was reported as
/// a stall of whichever fiber was running when it stopped, for the whole time it was stopped.
/// The child runs fibers that yield after every 15 ms or so of computing, for 1.2 s; the
/// parent stops it for 300 ms in the middle. Stall threshold 50 ms: no report may come.
#[test]
fn a_stopped_process_is_not_a_fiber_stall() {
    if std::env::var_os("SPINDLE_TEST_SIGSTOP_CHILD").is_some() {
        // Work in slices of a fixed amount of computation, about 15 ms each: a slice cut by
        // the stop goes on after it (a slice measured on the wall clock would end at once).
        fn compute(rounds: u64) -> u64 {
            let mut x = 1u64;
            for _ in 0..rounds {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            x
        }
        let start = Instant::now();
        compute(1_000_000);
        let per_ms = 1_000_000 * 1000 / start.elapsed().as_micros().max(1) as u64;
        let (rt, reports) = recording_runtime(Duration::from_millis(50));
        rt.run(move || {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    fiber::spawn(move || {
                        let end = Instant::now() + Duration::from_millis(1200);
                        while Instant::now() < end {
                            compute(15 * per_ms);
                            fiber::yield_now();
                        }
                    })
                })
                .collect();
            println!("ready");
            for w in workers {
                w.join().unwrap();
            }
        });
        let reports = reports.lock().unwrap();
        println!("reports: {}", reports.len());
        for r in reports.iter() {
            println!("{r}");
        }
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_stopped_process_is_not_a_fiber_stall",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SPINDLE_TEST_SIGSTOP_CHILD", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
    }
    let pid = child.id() as libc::pid_t;
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill has no memory-safety preconditions; `pid` is our own child, not yet
    // reaped (we wait for it below), so the pid cannot have been reused.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {rest}");
    assert!(
        rest.contains("reports: 0"),
        "the stop was reported as a stall:\n{rest}"
    );
}
