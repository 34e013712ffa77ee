//! `spindle::io::{stdin, stdout, stderr}`: the test binary re-runs itself as a child whose
//! standard streams are pipes or files, and reports what it saw on stdout ("OUT:" lines).

use spindle::fiber;
use spindle::io::{self as sio, BufRead, Write};
use std::cell::Cell;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::thread;
use std::time::Duration;

const MODE: &str = "SPINDLE_STDIO_CHILD";

fn nonblocking(fd: i32) -> bool {
    // SAFETY: F_GETFL takes no further argument; an invalid fd just gives -1.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_NONBLOCK != 0
}

/// The child side; does nothing unless started by one of the tests below.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    match mode.as_str() {
        "lines" => spindle::run(child_lines),
        "count" => spindle::run(child_count),
        "read_line" => spindle::run(child_read_line),
        "bigout" => spindle::run(child_bigout),
        "plain" => child_plain(),
        "noflush" => spindle::run(|| write!(sio::stdout(), "OUT:partial").unwrap()),
        other => panic!("unknown mode {other}"),
    }
}

/// Echoes each stdin line with the ticks a ticker fiber has made so far; the ticker reports
/// the count itself after every 10th tick.
fn child_lines() {
    let ticks = Rc::new(Cell::new(0usize));
    let t = ticks.clone();
    let stop = Rc::new(Cell::new(false));
    let s = stop.clone();
    let ticker = fiber::spawn(move || {
        while !s.get() {
            fiber::sleep(Duration::from_millis(5));
            t.set(t.get() + 1);
            if t.get().is_multiple_of(10) {
                let mut out = sio::stdout();
                writeln!(out, "OUT:ticks:{}", t.get()).unwrap();
                out.flush().unwrap();
            }
        }
    });
    let mut out = sio::stdout();
    for line in sio::stdin().lines() {
        let line = line.unwrap();
        writeln!(out, "OUT:line:{line}:{}", ticks.get()).unwrap();
        out.flush().unwrap();
    }
    writeln!(out, "OUT:stdin-nonblocking:{}", nonblocking(0)).unwrap();
    out.flush().unwrap();
    stop.set(true);
    ticker.join().unwrap();
}

/// Counts stdin lines and their sum.
fn child_count() {
    let (mut count, mut sum) = (0u64, 0u64);
    for line in sio::stdin().lock().lines() {
        sum += line.unwrap().parse::<u64>().unwrap();
        count += 1;
    }
    let mut out = sio::stdout().lock();
    writeln!(out, "OUT:count:{count}:{sum}").unwrap();
    out.flush().unwrap();
}

/// Three `read_line`s through three separate handles: the buffer is shared.
fn child_read_line() {
    let mut out = sio::stdout();
    for _ in 0..3 {
        let mut line = String::new();
        sio::stdin().read_line(&mut line).unwrap();
        write!(out, "OUT:got:{line}").unwrap();
    }
    out.flush().unwrap();
}

/// Writes 2 MiB to stdout while a ticker runs. Once the ticker has ticked 10 times while
/// the writes are under way (the parent reads nothing until then, so the writer is parked on
/// the full pipe), says so on stderr; at the end reports the ticks on stderr.
fn child_bigout() {
    let ticks = Rc::new(Cell::new(0usize));
    let writing = Rc::new(Cell::new(false));
    let stop = Rc::new(Cell::new(false));
    let (t, w, s) = (ticks.clone(), writing.clone(), stop.clone());
    let ticker = fiber::spawn(move || {
        let mut while_writing = 0;
        while !s.get() {
            fiber::sleep(Duration::from_millis(5));
            t.set(t.get() + 1);
            if w.get() {
                while_writing += 1;
                if while_writing == 10 {
                    writeln!(sio::stderr(), "ERR:ticked-while-writing").unwrap();
                }
            }
        }
    });
    let line = format!("{}\n", "x".repeat(1023));
    let mut out = sio::stdout();
    writing.set(true);
    for _ in 0..2048 {
        out.write_all(line.as_bytes()).unwrap();
    }
    out.flush().unwrap();
    writing.set(false);
    writeln!(
        sio::stderr(),
        "ERR:ticks:{}:stdout-nonblocking:{}",
        ticks.get(),
        nonblocking(1)
    )
    .unwrap();
    stop.set(true);
    ticker.join().unwrap();
}

/// The same handles on a plain thread, outside any runtime.
fn child_plain() {
    let mut text = String::new();
    sio::stdin().read_to_string(&mut text).unwrap();
    let mut out = sio::stdout();
    writeln!(out, "OUT:plain:{}", text.trim_end()).unwrap();
    out.flush().unwrap();
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

fn reported(stdout: &[u8], prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(prefix).map(str::to_owned))
        .collect()
}

#[test]
fn stdin_lines_park_only_the_reading_fiber() -> io::Result<()> {
    let mut c = child("lines")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = c.stdin.take().unwrap();
    let stdout = c.stdout.take().unwrap();
    let (line_tx, lines) = std::sync::mpsc::channel();
    let stdout_reader = thread::spawn(move || {
        for line in io::BufReader::new(stdout).lines() {
            if let Some(report) = line.unwrap().strip_prefix("OUT:") {
                let _ = line_tx.send(report.to_owned());
            }
        }
    });
    // 2 minutes only detect a hang: the child may start slowly on a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let next = |what: &str| -> String {
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.starts_with(what) => return line,
                Ok(_) => {}
                Err(e) => panic!("no {what:?} from the child ({e})"),
            }
        }
    };
    let mut echoed = Vec::new();
    for word in ["one", "two", "three"] {
        writeln!(stdin, "{word}")?;
        let line = next(&format!("line:{word}:"));
        let at: usize = line.rsplit(':').next().unwrap().parse().unwrap();
        echoed.push(at);
        // Send nothing more until the ticker has ticked 10 times since the echo: it runs
        // while the reading fiber waits on the empty stdin, or never.
        loop {
            let ticks: usize = next("ticks:")[6..].parse().unwrap();
            if ticks >= at + 10 {
                break;
            }
        }
    }
    drop(stdin);
    assert_eq!(
        next("stdin-nonblocking:"),
        "stdin-nonblocking:false",
        "stdin's mode was changed"
    );
    assert!(c.wait()?.success());
    stdout_reader.join().unwrap();
    assert!(
        echoed.windows(2).all(|w| w[1] >= w[0] + 10),
        "ticks at each line: {echoed:?}"
    );
    Ok(())
}

#[test]
fn stdin_from_a_regular_file_is_read_on_the_pool() -> io::Result<()> {
    let mut file = tempfile::tempfile()?;
    for i in 1..=5000u64 {
        writeln!(file, "{i}")?;
    }
    std::io::Seek::rewind(&mut file)?;
    let out = child("count").stdin(file).output()?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(reported(&out.stdout, "OUT:"), ["count:5000:12502500"]);
    Ok(())
}

#[test]
fn separate_stdin_handles_share_one_buffer() -> io::Result<()> {
    let mut c = child("read_line")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    // All three lines arrive in one read: the first handle buffers them all.
    c.stdin.take().unwrap().write_all(b"a\nb\nc\n")?;
    let out = c.wait_with_output()?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(reported(&out.stdout, "OUT:"), ["got:a", "got:b", "got:c"]);
    Ok(())
}

#[test]
fn stdout_to_a_slow_pipe_parks_only_the_writer() -> io::Result<()> {
    let mut c = child("bigout")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = c.stdout.take().unwrap();
    let stderr = c.stderr.take().unwrap();
    let (line_tx, lines_rx) = std::sync::mpsc::channel();
    let stderr_reader = thread::spawn(move || {
        let mut all = Vec::new();
        for line in io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = line_tx.send(line.clone());
            all.push(line);
        }
        all
    });
    // Read nothing until the child's ticker has ticked while its writer waits on the full
    // pipe; if the writer held the thread, the ticker never would (2 minutes only detect
    // that: the child may start slowly on a loaded machine).
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) if line == "ERR:ticked-while-writing" => break,
            Ok(_) => {}
            Err(e) => {
                let _ = c.kill();
                panic!("the ticker never ticked while stdout was full ({e})");
            }
        }
    }
    let mut data = Vec::new();
    let mut buf = [0; 64 * 1024];
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let status = c.wait()?;
    let stderr = stderr_reader.join().unwrap().join("\n");
    assert!(status.success(), "{status:?}: {stderr}");
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| l.len() == 1023 && l.iter().all(|&b| b == b'x'))
        .collect();
    assert_eq!(lines.len(), 2048, "all of the child's lines arrived intact");
    let report = reported(stderr.as_bytes(), "ERR:ticks:");
    assert_eq!(report.len(), 1, "{stderr}");
    let fields: Vec<&str> = report[0].split(':').collect();
    assert_eq!(fields[2], "false", "stdout's mode was changed");
    Ok(())
}

#[test]
fn stdio_works_on_a_plain_thread() -> io::Result<()> {
    let mut c = child("plain")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    c.stdin.take().unwrap().write_all(b"no runtime here\n")?;
    let out = c.wait_with_output()?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(reported(&out.stdout, "OUT:"), ["plain:no runtime here"]);
    Ok(())
}

#[test]
fn buffered_stdout_is_flushed_at_exit() -> io::Result<()> {
    let out = child("noflush").output()?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(reported(&out.stdout, "OUT:"), ["partial"]);
    Ok(())
}

#[test]
fn handles_expose_their_descriptors() {
    assert_eq!(sio::stdin().as_raw_fd(), 0);
    assert_eq!(sio::stdout().as_raw_fd(), 1);
    assert_eq!(sio::stderr().as_raw_fd(), 2);
}
