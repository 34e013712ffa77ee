//! `spindle::io::IsTerminal` on a real terminal: both ends of a pseudo-terminal answer
//! `true`, and a child whose stdin and stderr are a pseudo-terminal and whose stdout is a pipe
//! sees exactly that through spindle's standard streams.
//!
//! (`tests/os_unix.rs` covers pipes, `/dev/null` and agreement with std on the harness's stdin.)

use std::ffi::CStr;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};

use spindle::io::IsTerminal;

const CHILD: &str = "SPINDLE_IS_TERMINAL_CHILD";

/// A new pseudo-terminal: (master, slave), or `None` where the system has none to give.
fn open_pty() -> Option<(OwnedFd, OwnedFd)> {
    // SAFETY: posix_openpt takes flags only and returns a new descriptor or -1.
    let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        eprintln!(
            "no pseudo-terminal ({}): nothing to test",
            io::Error::last_os_error()
        );
        return None;
    }
    // SAFETY: `fd` was just returned by posix_openpt and is owned by nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `fd` is an open pseudo-terminal master (grantpt and unlockpt take nothing else).
    assert_eq!(unsafe { libc::grantpt(fd) }, 0, "grantpt");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::unlockpt(fd) }, 0, "unlockpt");
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: `name` is a writable buffer of the length passed.
    let rc = unsafe { libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) };
    assert_eq!(rc, 0, "ptsname_r");
    // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated path.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned();
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    Some((master, slave.into()))
}

#[test]
fn both_ends_of_a_pseudo_terminal_are_terminals_and_a_socket_is_not() {
    let Some((master, slave)) = open_pty() else {
        return;
    };
    assert!(master.is_terminal());
    assert!(slave.is_terminal());
    // spindle's own types with a descriptor answer the same, on a fiber.
    spindle::run(move || {
        let slave = spindle::fs::File::from(std::fs::File::from(slave));
        assert!(slave.is_terminal());
        let (a, _b) = spindle::os::unix::net::UnixStream::pair().unwrap();
        assert!(!a.is_terminal());
    });
}

/// The child side: reports what spindle's standard streams say, on a fiber.
#[test]
fn child_entry() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let seen = spindle::run(|| {
        format!(
            "TERMINALS stdin={} stdout={} stderr={}",
            spindle::io::stdin().is_terminal(),
            spindle::io::stdout().is_terminal(),
            spindle::io::stderr().is_terminal()
        )
    });
    println!("\n{seen}");
}

#[test]
fn a_child_s_standard_streams_say_which_of_them_is_a_terminal() {
    let Some((_master, slave)) = open_pty() else {
        return;
    };
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("TERMINALS"))
        .unwrap_or_else(|| panic!("no report in {stdout}"));
    assert_eq!(line, "TERMINALS stdin=true stdout=false stderr=true");
}
