//! `spindle::os::unix::{fs, process}` and `spindle::io::IsTerminal`: the Unix extensions a
//! swapped program imports, on spindle's own types.

use spindle::io::IsTerminal;
use spindle::os::unix::fs::{PermissionsExt, symlink};
use spindle::os::unix::process::{CommandExt, ExitStatusExt};
use spindle::process::{Command, Stdio};

#[test]
fn command_ext_works_on_spindles_command() {
    spindle::run(|| {
        let out = Command::new("sh")
            .arg0("renamed")
            .args(["-c", "echo $0; kill -TERM $$"])
            .process_group(0)
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "renamed\n");
        assert_eq!(out.status.signal(), Some(libc::SIGTERM));
        let mut cmd = Command::new("true");
        // SAFETY: the closure only returns Ok; it calls nothing that is not async-signal-safe.
        unsafe { cmd.pre_exec(|| Ok(())) };
        let status = cmd.status().unwrap();
        assert!(status.success());
    });
}

#[test]
fn unix_fs_functions_and_std_extension_traits_on_spindle_fs() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    let link = dir.path().join("link");
    spindle::run(move || {
        spindle::fs::write(&target, "x").unwrap();
        symlink(&target, &link).unwrap();
        assert_eq!(spindle::fs::read_link(&link).unwrap(), target);
        let mode = spindle::fs::metadata(&target).unwrap().permissions().mode();
        assert_ne!(mode & 0o600, 0);
    });
}

#[test]
fn is_terminal_is_spindles_trait_for_its_stdio_and_any_descriptor() {
    let (reader, _writer) = spindle::io::pipe().unwrap();
    assert!(!reader.is_terminal());
    // Whatever the test harness gives as stdin, the call answers like std's.
    assert_eq!(
        spindle::io::stdin().is_terminal(),
        std::io::IsTerminal::is_terminal(&std::io::stdin())
    );
    assert!(!std::fs::File::open("/dev/null").unwrap().is_terminal());
}
