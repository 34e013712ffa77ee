//! `Builder::dump_on_signal`: the signal makes the runtime print its dump to stderr. The
//! handler is process-wide, so the runtime runs in a child process (this test binary, re-run
//! with `SPINDLE_DUMP_CHILD` set) and the test reads its stderr.

use std::process::Command;
use std::time::Duration;

use spindle::fiber;

#[inline(never)]
fn idle_until_told() {
    fiber::sleep(Duration::from_secs(2));
}

#[test]
fn child() {
    if std::env::var_os("SPINDLE_DUMP_CHILD").is_none() {
        return;
    }
    let rt = spindle::Runtime::builder()
        .dump_on_signal(libc::SIGUSR2)
        .build()
        .unwrap();
    rt.run(|| {
        let idle = fiber::Builder::new()
            .name("idle-one".into())
            .spawn(idle_until_told)
            .unwrap();
        fiber::yield_now();
        // To the process, as `kill -USR2 <pid>` would: any thread may take it.
        // SAFETY: `getpid` has no preconditions.
        let me = unsafe { libc::getpid() };
        // SAFETY: sending a signal this runtime handles to our own process.
        assert_eq!(unsafe { libc::kill(me, libc::SIGUSR2) }, 0);
        fiber::sleep(Duration::from_millis(500));
        eprintln!("child: done");
        drop(idle);
        std::process::exit(0);
    });
}

#[test]
fn the_signal_prints_every_fiber_with_its_backtrace() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("SPINDLE_DUMP_CHILD", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let dump = err.find("spindle: dump of scheduler").map(|at| &err[at..]);
    let dump = dump.unwrap_or_else(|| panic!("no dump in the child's stderr:\n{err}"));
    assert!(dump.contains("fiber 'idle-one'"), "{err}");
    assert!(dump.contains("in dump_signal::idle_until_told"), "{err}");
    assert!(dump.contains("fiber 'main'"), "{err}");
    // The program went on after the dump.
    assert!(err.contains("child: done"), "{err}");
}

#[test]
fn signals_that_report_faults_are_refused() {
    let err = spindle::Runtime::builder()
        .dump_on_signal(libc::SIGSEGV)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
