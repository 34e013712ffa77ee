//! A fiber's panic is named by fiber, not by thread, and `name_panics(false)` opts out.
//!
//! The panic hook is process-wide, so each case runs in a child process (this test binary,
//! re-run with `SPINDLE_PANIC_CHILD` set) and the test reads the child's stderr.

use std::process::Command;

use spindle::fiber;

/// Runs the child case `case` and returns its stderr.
fn child_stderr(case: &str, backtrace: bool) -> String {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("SPINDLE_PANIC_CHILD", case)
        .env("RUST_BACKTRACE", if backtrace { "1" } else { "0" })
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The child's body: a named fiber panics; the parent reads the message.
#[test]
fn child() {
    let Ok(case) = std::env::var("SPINDLE_PANIC_CHILD") else {
        return;
    };
    if case == "user-hook" {
        std::panic::set_hook(Box::new(|info| {
            let message = info.payload().downcast_ref::<&str>().copied();
            eprintln!("user hook saw: {}", message.unwrap_or("?"));
        }));
    }
    let rt = spindle::Runtime::builder()
        .name_panics(case != "opt-out")
        .build()
        .unwrap();
    rt.run(|| {
        let handle = fiber::Builder::new()
            .name("worker-7".into())
            .spawn(|| {
                let id = fiber::current().id().as_u64();
                eprintln!("child: fiber id {id}");
                panic!("the sky is falling");
            })
            .unwrap();
        assert!(handle.join().is_err());
    });
}

#[test]
fn a_fiber_panic_names_the_fiber_and_its_id() {
    let err = child_stderr("named", false);
    let id = err
        .lines()
        .find_map(|l| l.strip_prefix("child: fiber id "))
        .expect("the child printed its fiber id");
    let expected = format!("fiber 'worker-7' ({id}) panicked at tests/panic_names.rs:");
    assert!(err.contains(&expected), "stderr: {err}");
    assert!(err.contains(":\nthe sky is falling\n"), "stderr: {err}");
    // std's hook would say `thread 'child' panicked` (the test thread's name).
    assert!(!err.contains("thread '"), "stderr: {err}");
    assert!(err.contains("RUST_BACKTRACE=1"), "stderr: {err}");
}

#[test]
fn rust_backtrace_still_prints_a_backtrace() {
    let err = child_stderr("named", true);
    assert!(err.contains("fiber 'worker-7' ("), "stderr: {err}");
    assert!(err.contains("stack backtrace:"), "stderr: {err}");
}

#[test]
fn name_panics_false_keeps_std_message() {
    let err = child_stderr("opt-out", false);
    assert!(
        err.contains("panicked at tests/panic_names.rs:"),
        "stderr: {err}"
    );
    assert!(!err.contains("fiber 'worker-7'"), "stderr: {err}");
}

#[test]
fn a_hook_set_by_the_program_is_still_called() {
    let err = child_stderr("user-hook", false);
    assert!(
        err.contains("user hook saw: the sky is falling"),
        "stderr: {err}"
    );
    assert!(!err.contains("fiber 'worker-7'"), "stderr: {err}");
}
