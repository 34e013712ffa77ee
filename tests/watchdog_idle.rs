//! An idle runtime costs nothing: while its scheduler sleeps in the poller the stall
//! detector's watchdog thread parks instead of sampling every quarter threshold. Alone in its
//! test binary, since the watchdog and its wake-up count are process-wide.

use std::time::Duration;

use spindle::fiber;

#[test]
fn the_watchdog_does_not_wake_while_the_runtime_idles() {
    let rt = spindle::Runtime::builder()
        .stall_threshold(Some(Duration::from_millis(10)))
        .build()
        .unwrap();
    let (idle_wakeups, busy_wakeups) = rt.run(|| {
        // Some work first, so that the watchdog is up and sampling.
        let end = std::time::Instant::now() + Duration::from_millis(30);
        while std::time::Instant::now() < end {
            fiber::yield_now();
        }
        // Let it see the scheduler asleep and park (a threshold's worth of samples).
        fiber::sleep(Duration::from_millis(50));
        let before = spindle::stats().unwrap().watchdog_wakeups;
        fiber::sleep(Duration::from_millis(500));
        let idle = spindle::stats().unwrap().watchdog_wakeups - before;
        // Running again wakes it: it samples while fibers run.
        let before = spindle::stats().unwrap().watchdog_wakeups;
        let end = std::time::Instant::now() + Duration::from_millis(100);
        while std::time::Instant::now() < end {
            fiber::yield_now();
        }
        let busy = spindle::stats().unwrap().watchdog_wakeups - before;
        (idle, busy)
    });
    // Sampling every 2.5 ms would be 200 wake-ups in 500 ms. A parked watchdog wakes when
    // the scheduler wakes (twice here: to read the count before, and after) and samples four
    // times, a threshold's worth, before it parks again.
    assert!(
        idle_wakeups <= 10,
        "the watchdog woke {idle_wakeups} times in 500 ms of idling"
    );
    assert!(
        busy_wakeups >= 5,
        "the watchdog woke only {busy_wakeups} times in 100 ms of running fibers"
    );
}
