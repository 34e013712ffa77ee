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

use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use spindle_core::{StallPhase, StallReport, fiber};
// Links the hook into this test.
use spindle_hook as _;

/// How long the hooked sleep lasts (it must not be reported).
const HOLD: Duration = Duration::from_millis(100);

/// How long a stall may wait for its report before the test is declared hung. Each call
/// below holds its thread until its stall has been reported, not for a fixed time: on a
/// loaded machine the thread may get a CPU only now and then, and only its own time counts.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// The names of the fibers reported while their stall went on, and a condvar for waiting.
#[derive(Default)]
struct Reported {
    names: Mutex<HashSet<String>>,
    changed: Condvar,
}

impl Reported {
    fn record(&self, report: &StallReport) {
        if report.phase == StallPhase::Ongoing
            && let Some(name) = &report.name
        {
            self.names.lock().unwrap().insert(name.clone());
            self.changed.notify_all();
        }
    }

    fn has(&self, name: &str) -> bool {
        self.names.lock().unwrap().contains(name)
    }

    /// Blocks the calling (plain) thread until `name` has been reported, or the hang limit.
    fn wait_for(&self, name: &str) {
        let names = self.names.lock().unwrap();
        let _unused = self
            .changed
            .wait_timeout_while(names, HANG_LIMIT, |names| !names.contains(name))
            .unwrap();
    }

    /// Whether `name` has not been reported yet and `start` is less than the hang limit ago.
    fn not_yet(&self, name: &str, start: Instant) -> bool {
        !self.has(name) && start.elapsed() < HANG_LIMIT
    }
}

#[test]
fn calls_the_hook_cannot_catch_stall_the_thread_and_are_reported() {
    let reports: Arc<Mutex<Vec<StallReport>>> = Arc::default();
    let reported = Arc::new(Reported::default());
    let (sink, seen) = (reports.clone(), reported.clone());
    let rt = spindle_core::Runtime::builder()
        .stall_threshold(Some(Duration::from_millis(20)))
        .on_stall(move |r| {
            sink.lock().unwrap().push(r.clone());
            seen.record(r);
        })
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("spindle-hook-uncaught-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c_path` is a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);

    let seen = reported.clone();
    rt.run(move || {
        // A hooked call for contrast: std's sleep parks, so no report names this fiber.
        let parked = fiber::Builder::new()
            .name("std-sleep-hooked".into())
            .spawn(|| std::thread::sleep(HOLD))
            .unwrap();

        // The plain thread holds the lock until the fiber waiting for it has been reported.
        let lock = Arc::new(Mutex::new(()));
        let held = lock.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let holder = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let _g = held.lock().unwrap();
                tx.send(()).unwrap();
                seen.wait_for("std-mutex");
            })
        };
        rx.recv().unwrap();
        fiber::Builder::new()
            .name("std-mutex".into())
            .spawn(move || drop(lock.lock().unwrap()))
            .unwrap()
            .join()
            .unwrap();
        holder.join().unwrap();

        let raw_seen = seen.clone();
        fiber::Builder::new()
            .name("raw-syscall".into())
            .spawn(move || {
                // Raw 10 ms sleeps, without yielding, until the stall has been reported.
                let start = Instant::now();
                while raw_seen.not_yet("raw-syscall", start) {
                    let mut ts = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 10_000_000,
                    };
                    // The stall detector's backtrace signal interrupts the sleep (nanosleep
                    // is never restarted): sleep what remains, as std's sleep does.
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
                }
            })
            .unwrap()
            .join()
            .unwrap();

        // The writer opens the FIFO only once the reader blocked in `open` has been reported.
        let writer_path = fifo.clone();
        let writer = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                seen.wait_for("fifo-read");
                let mut w = std::fs::OpenOptions::new()
                    .write(true)
                    .open(writer_path)
                    .unwrap();
                w.write_all(b"late").unwrap();
            })
        };
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

        let clock_seen = seen.clone();
        fiber::Builder::new()
            .name("clock-loop".into())
            .spawn(move || {
                // Polls the vDSO clock until the stall has been reported.
                let start = Instant::now();
                while clock_seen.not_yet("clock-loop", start) {}
            })
            .unwrap()
            .join()
            .unwrap();
        parked.join().unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();

    let reports = reports.lock().unwrap();
    for name in ["std-mutex", "raw-syscall", "fifo-read", "clock-loop"] {
        assert!(
            reported.has(name),
            "no stall report for {name}: {reports:?}"
        );
    }
    assert!(!reported.has("std-sleep-hooked"), "{reports:?}");
}
