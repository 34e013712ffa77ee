//! The stall report names the likely cause it can see: a thread blocked in a system call (a
//! blocking std call) or a running thread (a CPU loop, or ready I/O calls that never wait).

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spindle::{StallCause, StallPhase, StallReport};

fn first_report_of(name: &str, body: impl FnOnce() + 'static) -> StallReport {
    let reports: Arc<Mutex<Vec<StallReport>>> = Arc::default();
    let sink = reports.clone();
    let rt = spindle::Runtime::builder()
        .stall_threshold(Some(Duration::from_millis(20)))
        .on_stall(move |r| sink.lock().unwrap().push(r.clone()))
        .build()
        .unwrap();
    let name = name.to_owned();
    let n = name.clone();
    rt.run(move || {
        spindle::thread::Builder::new()
            .name(n)
            .spawn(body)
            .unwrap()
            .join()
            .unwrap()
    });
    let reports = reports.lock().unwrap();
    reports
        .iter()
        .find(|r| r.phase == StallPhase::Ongoing && r.name.as_deref() == Some(&name))
        .unwrap_or_else(|| panic!("no ongoing report for {name} in {reports:?}"))
        .clone()
}

// With the zero-rewrite hook, std's sleep parks the fiber instead: no stall to report.
#[cfg(not(feature = "hook"))]
#[test]
fn a_std_sleep_is_reported_as_blocked_in_a_system_call() {
    let report = first_report_of("sleeper", || std::thread::sleep(Duration::from_millis(300)));
    match &report.cause {
        StallCause::Blocked { syscall } => {
            assert!(syscall.contains("nanosleep"), "{report}")
        }
        other => panic!("cause {other:?}: {report}"),
    }
    assert!(
        report.to_string().contains("blocked in the system call"),
        "{report}"
    );
}

#[test]
fn ready_io_in_a_loop_is_reported_as_running_not_as_a_blocking_call() {
    let report = first_report_of("pump", || {
        let (mut a, mut b) = spindle::os::unix::net::UnixStream::pair().unwrap();
        let mut buf = [0u8; 64];
        let end = Instant::now() + Duration::from_millis(300);
        // Every write and read completes at once: the fiber never waits, so it never yields.
        while Instant::now() < end {
            a.write_all(&buf).unwrap();
            b.read_exact(&mut buf).unwrap();
        }
    });
    assert_eq!(report.cause, StallCause::Running, "{report}");
    let shown = report.to_string();
    assert!(shown.contains("without waiting"), "{shown}");
    assert!(!shown.contains("blocked in"), "{shown}");
}
