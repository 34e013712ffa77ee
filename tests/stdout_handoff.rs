//! `spindle::println!` and the stdout lock under contention: the test binary re-runs itself as
//! a child whose stdout is a pipe that the parent leaves unread for a while, and checks that
//! the child's other fibers keep running, that the lock is handed over in turn, and that fibers
//! waiting on it are still reported as deadlocked.

use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const MODE: &str = "SPINDLE_STDOUT_HANDOFF_CHILD";
const PRINTERS: usize = 1000;
const LINES_EACH: usize = 20;
/// How long the parent leaves the child's stdout unread once it is full.
const UNREAD_FOR: Duration = Duration::from_secs(1);
/// A child that has not finished in this long is hung.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// The child side; does nothing unless started by one of the tests below.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    match mode.as_str() {
        "thousand" => spindle::run(child_thousand),
        "two" => spindle::run(child_two),
        "deadlock" => child_deadlock(),
        other => panic!("unknown mode {other}"),
    }
}

/// 1000 fibers print 20 lines each; a ticker fiber reports on stderr every 2 ms.
fn child_thousand() {
    use std::cell::Cell;
    use std::rc::Rc;
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let ticker = spindle::thread::spawn(move || {
        let mut n = 0;
        while !d.get() {
            spindle::thread::sleep(Duration::from_millis(2));
            n += 1;
            spindle::eprintln!("TICK:{n}");
        }
    });
    let printers: Vec<_> = (0..PRINTERS)
        .map(|f| {
            spindle::thread::spawn(move || {
                for i in 0..LINES_EACH {
                    spindle::println!("L:{f:04}:{i:02}:{}", "x".repeat(24));
                }
            })
        })
        .collect();
    for p in printers {
        p.join().unwrap();
    }
    done.set(true);
    ticker.join().unwrap();
}

/// Two fibers print 3000 lines each; the second starts while the first waits for the pipe.
fn child_two() {
    let a = spindle::thread::spawn(|| {
        for i in 0..3000 {
            spindle::println!("A:{i}:{}", "a".repeat(90));
        }
    });
    let b = spindle::thread::spawn(|| {
        for i in 0..3000 {
            spindle::println!("B:{i}:{}", "b".repeat(90));
        }
    });
    a.join().unwrap();
    b.join().unwrap();
}

/// One fiber holds the stdout lock and parks for good; another waits for the lock. Nothing
/// can wake either: the runtime must report a deadlock, not hang.
fn child_deadlock() {
    let rt = spindle::Runtime::builder()
        .deadlock_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.run(|| {
            let holder = spindle::thread::spawn(|| {
                let _lock = spindle::io::stdout().lock();
                loop {
                    spindle::thread::park();
                }
            });
            let waiter = spindle::thread::spawn(|| spindle::println!("never printed"));
            waiter.join().unwrap();
            holder.join().unwrap();
        })
    }));
    match outcome {
        Err(_) => eprintln!("ERR:deadlock-reported"),
        Ok(()) => eprintln!("ERR:returned"),
    }
}

fn child(mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(MODE, mode);
    cmd
}

/// Bytes waiting in a pipe (`FIONREAD`).
fn queued_bytes(pipe: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one `c_int` through the pointer, which is valid for that.
    let rc = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", io::Error::last_os_error());
    n as usize
}

/// Kills the child if it has not finished within [`HANG_LIMIT`].
fn watchdog(pid: u32) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if rx.recv_timeout(HANG_LIMIT) == Err(mpsc::RecvTimeoutError::Timeout) {
            // SAFETY: kill takes a pid and a signal number; no memory is involved.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    });
    tx
}

#[test]
fn println_from_1000_fibers_while_stdout_is_a_full_pipe_does_not_stall_the_others() -> io::Result<()>
{
    let mut c = child("thousand")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let _alive = watchdog(c.id());
    let mut stdout = c.stdout.take().unwrap();
    let stderr = c.stderr.take().unwrap();
    let (tick_tx, tick_rx) = mpsc::channel();
    let ticks_reader = thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.starts_with("TICK:") {
                let _ = tick_tx.send(Instant::now());
            }
        }
    });

    // Wait until the child has filled the pipe (a loaded machine may start it slowly).
    let waited = Instant::now();
    while queued_bytes(&stdout) < 60 * 1024 {
        assert!(
            waited.elapsed() < HANG_LIMIT,
            "the child never filled its stdout pipe"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let full_since = Instant::now();
    thread::sleep(UNREAD_FOR);
    let queued = queued_bytes(&stdout);
    let drain_from = Instant::now();
    let ticks_while_full = tick_rx
        .try_iter()
        .filter(|&t| t > full_since && t < drain_from)
        .count();

    let mut data = Vec::new();
    stdout.read_to_end(&mut data)?;
    let status = c.wait()?;
    ticks_reader.join().unwrap();
    assert!(status.success(), "child failed: {status}");
    assert!(
        queued >= 60 * 1024,
        "stdout did not stay full while unread ({queued} bytes queued)"
    );
    assert!(
        ticks_while_full >= 10,
        "the ticker fiber ticked {ticks_while_full} times in the {UNREAD_FOR:?} that stdout \
         was full; the printing fibers stalled their thread"
    );
    let text = String::from_utf8(data).unwrap();
    let mut seen = vec![0usize; PRINTERS];
    for line in text.lines().filter(|l| l.starts_with("L:")) {
        let fields: Vec<&str> = line.split(':').collect();
        assert_eq!(fields.len(), 4, "a torn line: {line:?}");
        assert_eq!(fields[3], "x".repeat(24), "a torn line: {line:?}");
        let f: usize = fields[1].parse().unwrap();
        let i: usize = fields[2].parse().unwrap();
        assert_eq!(i, seen[f], "fiber {f}'s lines out of order");
        seen[f] += 1;
    }
    assert!(seen.iter().all(|&n| n == LINES_EACH), "lines were lost");
    Ok(())
}

#[test]
fn the_stdout_lock_is_handed_to_a_waiting_fiber_not_retaken_by_the_releaser() -> io::Result<()> {
    let mut c = child("two")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let _alive = watchdog(c.id());
    let mut stdout = c.stdout.take().unwrap();
    // Let the first fiber fill the pipe and park holding the lock, so the second queues.
    thread::sleep(Duration::from_millis(300));
    let mut data = Vec::new();
    stdout.read_to_end(&mut data)?;
    assert!(c.wait()?.success());
    let text = String::from_utf8(data).unwrap();
    let order: Vec<char> = text
        .lines()
        .filter_map(|l| l.chars().next().filter(|c| *c == 'A' || *c == 'B'))
        .collect();
    assert_eq!(order.len(), 6000);
    let last_a = order.iter().rposition(|&c| c == 'A').unwrap();
    let first_b = order.iter().position(|&c| c == 'B').unwrap();
    assert!(
        first_b < last_a,
        "fiber B printed nothing until fiber A had printed all its lines: the lock was not \
         handed over (first B line at {first_b}, last A line at {last_a})"
    );
    Ok(())
}

#[test]
fn fibers_waiting_for_the_stdout_lock_are_reported_as_deadlocked() -> io::Result<()> {
    let c = child("deadlock")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let _alive = watchdog(c.id());
    let out = c.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERR:deadlock-reported"),
        "no deadlock report (killed after {HANG_LIMIT:?} if it hung): {stderr}"
    );
    Ok(())
}
