//! `spindle::process`: output, status, streamed pipes, a child killed mid-write, std's error
//! kinds, pidfd waits that park only the fiber, pipelines, plain threads.

use spindle::fiber;
use spindle::process::{Command, Stdio};
use std::cell::Cell;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::Duration;

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    cmd
}

#[test]
fn output_and_status_match_std() -> io::Result<()> {
    let (spindle_out, spindle_code) = spindle::run(|| -> io::Result<_> {
        let out = sh("echo out; echo err >&2; exit 3").output()?;
        let code = Command::new("false").status()?.code();
        Ok((out, code))
    })?;
    let std_out = std::process::Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .output()?;
    assert_eq!(spindle_out, std_out);
    assert_eq!(spindle_out.status.code(), Some(3));
    assert_eq!(spindle_out.stdout, b"out\n");
    assert_eq!(spindle_out.stderr, b"err\n");
    assert_eq!(spindle_code, Some(1));
    Ok(())
}

#[test]
fn a_childs_output_is_streamed_while_other_fibers_run() -> io::Result<()> {
    let (lines, ticks_during) = spindle::run(|| -> io::Result<_> {
        let ticks = Rc::new(Cell::new(0usize));
        let t = ticks.clone();
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        let ticker = fiber::spawn(move || {
            while !s.get() {
                fiber::sleep(Duration::from_millis(10));
                t.set(t.get() + 1);
            }
        });
        let mut child = sh("for i in 1 2 3 4 5; do echo line$i; sleep 0.06; done")
            .stdout(Stdio::piped())
            .spawn()?;
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        for line in out.lines() {
            lines.push(line?);
        }
        assert!(child.wait()?.success());
        let during = ticks.get();
        stop.set(true);
        ticker.join().unwrap();
        Ok((lines, during))
    })?;
    assert_eq!(lines, ["line1", "line2", "line3", "line4", "line5"]);
    // ~300 ms of output; a blocking read would have left the ticker at 0 or 1.
    assert!(ticks_during >= 5, "ticker ticked {ticks_during} times");
    Ok(())
}

#[test]
fn megabytes_through_cat_with_both_pipes() -> io::Result<()> {
    let data: Vec<u8> = (0..(3 << 20)).map(|i: u32| (i % 253) as u8).collect();
    let expected = data.clone();
    let echoed = spindle::run(move || -> io::Result<Vec<u8>> {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        // Writer and reader are separate fibers: both pipes fill up along the way.
        let feeder = fiber::spawn(move || stdin.write_all(&data));
        let mut echoed = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut echoed)?;
        feeder.join().unwrap()?;
        assert!(child.wait()?.success());
        Ok(echoed)
    })?;
    assert!(echoed == expected, "cat echoed different bytes");
    Ok(())
}

#[test]
fn a_child_killed_mid_write() -> io::Result<()> {
    spindle::run(|| -> io::Result<()> {
        // `yes` writes forever; read some, kill it, drain what is left, reap.
        let mut child = Command::new("yes").stdout(Stdio::piped()).spawn()?;
        let mut out = child.stdout.take().unwrap();
        let mut buf = vec![0; 64 * 1024];
        out.read_exact(&mut buf)?;
        assert!(buf.chunks(2).all(|c| c == b"y\n"));
        assert!(child.try_wait()?.is_none(), "yes is still running");
        child.kill()?;
        let mut rest = Vec::new();
        out.read_to_end(&mut rest)?; // ends: the only writer is dead
        let status = child.wait()?;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(!status.success());
        // Killing a reaped child is Ok, as in std.
        child.kill()?;
        assert_eq!(child.try_wait()?, Some(status));
        Ok(())
    })
}

#[test]
fn writing_to_a_killed_child_gives_broken_pipe() -> io::Result<()> {
    spindle::run(|| -> io::Result<()> {
        let mut child = Command::new("sleep")
            .arg("10")
            .stdin(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        let writer = fiber::spawn(move || -> io::Result<()> {
            let chunk = vec![b'x'; 64 * 1024];
            loop {
                stdin.write_all(&chunk)?; // parks once the pipe is full
            }
        });
        fiber::sleep(Duration::from_millis(50));
        child.kill()?;
        let err = writer.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        assert_eq!(child.wait()?.signal(), Some(libc::SIGKILL));
        Ok(())
    })
}

#[test]
fn bad_commands_give_std_error_kinds() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\n")?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644))?;
    let s = script.clone();
    let kinds = spindle::run(move || {
        [
            Command::new("/nonexistent/program")
                .spawn()
                .unwrap_err()
                .kind(),
            Command::new("no-such-program-spindle")
                .output()
                .unwrap_err()
                .kind(),
            Command::new(&s).status().unwrap_err().kind(),
            Command::new("true")
                .current_dir("/nonexistent")
                .spawn()
                .unwrap_err()
                .kind(),
        ]
    });
    let std_kinds = [
        std::process::Command::new("/nonexistent/program")
            .spawn()
            .unwrap_err()
            .kind(),
        std::process::Command::new("no-such-program-spindle")
            .output()
            .unwrap_err()
            .kind(),
        std::process::Command::new(&script)
            .status()
            .unwrap_err()
            .kind(),
        std::process::Command::new("true")
            .current_dir("/nonexistent")
            .spawn()
            .unwrap_err()
            .kind(),
    ];
    assert_eq!(kinds, std_kinds);
    assert_eq!(kinds[0], ErrorKind::NotFound);
    assert_eq!(kinds[2], ErrorKind::PermissionDenied);
    Ok(())
}

#[test]
fn waiting_parks_only_the_fiber() -> io::Result<()> {
    let ticks = spindle::run(|| -> io::Result<usize> {
        let ticks = Rc::new(Cell::new(0usize));
        let t = ticks.clone();
        let ticker = fiber::spawn(move || {
            for _ in 0..100 {
                fiber::sleep(Duration::from_millis(10));
                t.set(t.get() + 1);
            }
        });
        let status = Command::new("sleep").arg("0.3").status()?;
        assert!(status.success());
        let during = ticks.get();
        drop(ticker);
        Ok(during)
    })?;
    assert!(
        ticks >= 5,
        "ticker ticked {ticks} times during a 300 ms wait"
    );
    Ok(())
}

#[test]
fn wait_with_output_drains_both_pipes_beyond_their_capacity() -> io::Result<()> {
    let script = "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2; echo done";
    let on_fiber = spindle::run(move || sh(script).output())?;
    let on_thread = sh(script).output()?;
    for out in [on_fiber, on_thread] {
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 300_005);
        assert_eq!(out.stderr.len(), 200_000);
    }
    Ok(())
}

#[test]
fn a_pipeline_of_two_children() -> io::Result<()> {
    let text = spindle::run(|| -> io::Result<Vec<u8>> {
        let mut first = sh("printf 'b\\na\\nc\\n'").stdout(Stdio::piped()).spawn()?;
        let sorted = Command::new("sort")
            .stdin(first.stdout.take().unwrap())
            .output()?;
        assert!(first.wait()?.success());
        Ok(sorted.stdout)
    })?;
    assert_eq!(text, b"a\nb\nc\n");
    Ok(())
}

#[test]
fn many_children_waited_concurrently_from_fibers() -> io::Result<()> {
    let codes = spindle::run(|| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                fiber::spawn(move || {
                    sh(&format!("sleep 0.05; exit {i}"))
                        .status()
                        .map(|s| s.code())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<io::Result<Vec<_>>>()
    })?;
    assert_eq!(codes, (0..20).map(Some).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn env_current_dir_and_getters() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path().to_path_buf();
    let out = spindle::run(move || {
        let mut cmd = sh("echo $SPINDLE_X; pwd");
        cmd.env("SPINDLE_X", "42").current_dir(&d);
        assert_eq!(cmd.get_program(), "sh");
        assert_eq!(cmd.get_args().count(), 2);
        assert_eq!(cmd.get_current_dir(), Some(d.as_path()));
        cmd.output()
    })?;
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("42"));
    assert_eq!(
        std::fs::canonicalize(lines.next().unwrap())?,
        std::fs::canonicalize(dir.path())?
    );
    Ok(())
}
