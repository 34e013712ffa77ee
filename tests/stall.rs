//! The stall detector through the facade: a fiber that calls `std::thread::sleep` holds its
//! thread, and the `on_stall` hook hears about it while it lasts and when it ends, with the
//! fiber's name and the place it was spawned.
//!
//! Not built with the `hook` feature: std's sleep then parks the fiber and nothing stalls. The
//! hook's own tests (`hook/tests/uncaught.rs`) show the stall detector on what it cannot catch.
#![cfg(not(feature = "hook"))]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::{StallPhase, StallReport};

#[test]
fn a_fiber_in_std_sleep_is_reported_with_its_name_and_spawn_site() {
    let reports: Arc<Mutex<Vec<StallReport>>> = Arc::default();
    let sink = reports.clone();
    let rt = spindle::Runtime::builder()
        .stall_threshold(Some(Duration::from_millis(20)))
        .on_stall(move |r| sink.lock().unwrap().push(r.clone()))
        .build()
        .unwrap();
    let (spawn_line, ticks, stalls) = rt.run(|| {
        let ticker = fiber::spawn(|| {
            let mut ticks = 0u32;
            let end = Instant::now() + Duration::from_millis(300);
            while Instant::now() < end {
                fiber::sleep(Duration::from_millis(1));
                ticks += 1;
            }
            ticks
        });
        // Let the ticker start before the sleeper takes the thread.
        fiber::sleep(Duration::from_millis(5));
        let spawn_line = line!() + 3;
        let sleeper = fiber::Builder::new()
            .name("sleeper".into())
            .spawn(|| std::thread::sleep(Duration::from_millis(200)))
            .unwrap();
        sleeper.join().unwrap();
        let ticks = ticker.join().unwrap();
        (spawn_line, ticks, spindle::stats().unwrap().stalls)
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
    assert!(ended.held_for >= Duration::from_millis(150), "{ended}");
    assert!(stalls >= 1, "Stats::stalls = {stalls}");
    // The ticker is one of the fibers that was held up; it still ticked before and after.
    assert!(ticks >= 5, "ticker ticked {ticks} times");
    // The sleeper held the thread: no other fiber reported.
    assert!(
        reports.iter().all(|r| r.name.as_deref() == Some("sleeper")),
        "{reports:?}"
    );
}
