//! What the hook cannot catch, each shown with what the stall detector reports: a fiber that
//! makes one of these calls holds its thread, and the detector names it.
//!
//! - `std::sync::Mutex` contended by a plain thread: futex through `syscall(2)`, no libc
//!   symbol to interpose;
//! - a direct `syscall(2)` (here `SYS_nanosleep`);
//! - a pipe or FIFO read (`std::fs::File`): only sockets are managed, and the `open` of a FIFO
//!   blocks in the kernel; regular files block in the kernel alike and have no readiness;
//! - a loop polling a vDSO clock: vDSO calls never block, so there is nothing to catch, but
//!   the loop is a CPU loop.
//!
//! One test (the runs share a runtime, so the reports cannot mix with another test's).

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spindle_core::{StallPhase, StallReport, fiber};
// Links the hook into this test.
use spindle_hook as _;

const HOLD: Duration = Duration::from_millis(100);

#[test]
fn calls_the_hook_cannot_catch_stall_the_thread_and_are_reported() {
    let reports: Arc<Mutex<Vec<StallReport>>> = Arc::default();
    let sink = reports.clone();
    let rt = spindle_core::Runtime::builder()
        .stall_threshold(Some(Duration::from_millis(20)))
        .on_stall(move |r| sink.lock().unwrap().push(r.clone()))
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("spindle-hook-uncaught-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c_path` is a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);

    rt.run(move || {
        // A hooked call for contrast: std's sleep parks, so no report names this fiber.
        let parked = fiber::Builder::new()
            .name("std-sleep-hooked".into())
            .spawn(|| std::thread::sleep(HOLD))
            .unwrap();

        let lock = Arc::new(Mutex::new(()));
        let held = lock.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let _g = held.lock().unwrap();
            tx.send(()).unwrap();
            std::thread::sleep(HOLD);
        });
        rx.recv().unwrap();
        fiber::Builder::new()
            .name("std-mutex".into())
            .spawn(move || drop(lock.lock().unwrap()))
            .unwrap()
            .join()
            .unwrap();
        holder.join().unwrap();

        fiber::Builder::new()
            .name("raw-syscall".into())
            .spawn(|| {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: HOLD.as_nanos() as i64,
                };
                // The stall detector's backtrace signal interrupts the sleep (nanosleep is
                // never restarted): sleep what remains, as std's sleep does.
                loop {
                    let mut rem = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    // SAFETY: `ts` and `rem` are valid timespecs.
                    let r = unsafe { libc::syscall(libc::SYS_nanosleep, &ts, &mut rem) };
                    if r == 0 {
                        break;
                    }
                    assert_eq!(
                        std::io::Error::last_os_error().raw_os_error(),
                        Some(libc::EINTR)
                    );
                    ts = rem;
                }
            })
            .unwrap()
            .join()
            .unwrap();

        let writer_path = fifo.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(HOLD);
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .unwrap();
            w.write_all(b"late").unwrap();
        });
        fiber::Builder::new()
            .name("fifo-read".into())
            .spawn(move || {
                let mut s = String::new();
                std::fs::File::open(&fifo)
                    .unwrap()
                    .read_to_string(&mut s)
                    .unwrap();
                assert_eq!(s, "late");
            })
            .unwrap()
            .join()
            .unwrap();
        writer.join().unwrap();

        fiber::Builder::new()
            .name("clock-loop".into())
            .spawn(|| {
                let end = Instant::now() + HOLD;
                while Instant::now() < end {}
            })
            .unwrap()
            .join()
            .unwrap();
        parked.join().unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();

    let reports = reports.lock().unwrap();
    let reported = |name: &str| {
        reports
            .iter()
            .any(|r| r.name.as_deref() == Some(name) && r.phase == StallPhase::Ongoing)
    };
    for name in ["std-mutex", "raw-syscall", "fifo-read", "clock-loop"] {
        assert!(reported(name), "no stall report for {name}: {reports:?}");
    }
    assert!(!reported("std-sleep-hooked"), "{reports:?}");
}
