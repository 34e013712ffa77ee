//! The lint preset (`clippy-preset/clippy.toml`) flags every std call it lists.
//!
//! Runs `cargo clippy` on the small crate in `tests/lint_preset/`, which uses each listed std
//! item once, with `CLIPPY_CONF_DIR` pointing at the preset, and checks that clippy reports
//! every entry of the preset as a disallowed method or type. The small crate has no
//! dependencies, so this works offline.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether an entry is in `disallowed-methods` or `disallowed-types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Method,
    Type,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    kind: Kind,
    path: String,
    reason: String,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The value of `key = "..."` in one line of the preset.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key} = \""))? + key.len() + 4;
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_owned())
}

/// Reads the entries of the preset. Each entry is one `{ path = "...", reason = "..." }` line
/// inside `disallowed-methods = [ ... ]` or `disallowed-types = [ ... ]`.
fn preset_entries() -> Vec<Entry> {
    let preset = repo().join("clippy-preset/clippy.toml");
    let text = std::fs::read_to_string(&preset)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", preset.display()));
    let mut kind = None;
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with("disallowed-methods") {
            kind = Some(Kind::Method);
        } else if line.starts_with("disallowed-types") {
            kind = Some(Kind::Type);
        } else if line == "]" {
            kind = None;
        } else if let Some(path) = field(line, "path") {
            let kind = kind.unwrap_or_else(|| panic!("entry outside a list: {line}"));
            let reason = field(line, "reason").unwrap_or_default();
            entries.push(Entry { kind, path, reason });
        }
    }
    entries
}

/// Runs clippy on the small crate and returns its diagnostics, one per line.
fn clippy(conf_dir: Option<&Path>, target: &str) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(target);
    let mut cmd = Command::new(cargo);
    cmd.args(["clippy", "--offline", "--locked", "--message-format=short"])
        .arg("--manifest-path")
        .arg(repo().join("tests/lint_preset/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CLIPPY_CONF_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if let Some(dir) = conf_dir {
        cmd.env("CLIPPY_CONF_DIR", dir);
    }
    let out = cmd.output().expect("cannot run cargo clippy");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "cargo clippy failed (is clippy installed? `rustup component add clippy`):\n{stderr}"
    );
    stderr
}

/// The `(kind, path)` pairs clippy reported as disallowed.
fn flagged(diagnostics: &str) -> BTreeSet<(Kind, String)> {
    let mut found = BTreeSet::new();
    for line in diagnostics.lines() {
        for (kind, marker) in [
            (Kind::Method, "use of a disallowed method `"),
            (Kind::Type, "use of a disallowed type `"),
        ] {
            if let Some(at) = line.find(marker) {
                let rest = &line[at + marker.len()..];
                let end = rest.find('`').expect("unterminated path in clippy output");
                found.insert((kind, rest[..end].to_owned()));
            }
        }
    }
    found
}

#[test]
fn the_preset_names_a_spindle_replacement_for_each_entry() {
    let entries = preset_entries();
    assert!(
        entries.len() >= 40,
        "preset parsed to only {} entries",
        entries.len()
    );
    let paths: BTreeSet<_> = entries.iter().map(|e| &e.path).collect();
    assert_eq!(paths.len(), entries.len(), "an entry is listed twice");
    for e in &entries {
        assert!(e.path.starts_with("std::"), "{}: not a std path", e.path);
        assert!(
            e.reason.contains("spindle::"),
            "{}: the reason must name the spindle replacement, got {:?}",
            e.path,
            e.reason
        );
    }
    for family in [
        "std::thread::sleep",
        "std::net::TcpStream",
        "std::sync::Mutex",
        "std::sync::mpsc::Receiver::recv",
        "std::fs::read",
        "std::net::ToSocketAddrs::to_socket_addrs",
        "std::io::stdin",
        "std::process::Child::wait",
    ] {
        assert!(
            paths.contains(&family.to_owned()),
            "the preset lost {family}"
        );
    }
}

#[test]
fn clippy_flags_every_listed_call() {
    let entries = preset_entries();
    let diagnostics = clippy(Some(&repo().join("clippy-preset")), "lint_preset/with");
    for bad in [
        "does not refer to",
        "expected a",
        "error reading Clippy",
        "unknown field",
    ] {
        assert!(
            !diagnostics.contains(bad),
            "clippy rejected part of the preset:\n{diagnostics}"
        );
    }
    let found = flagged(&diagnostics);
    let missing: Vec<_> = entries
        .iter()
        .filter(|e| !found.contains(&(e.kind, e.path.clone())))
        .map(|e| format!("{:?} {}", e.kind, e.path))
        .collect();
    assert!(
        missing.is_empty(),
        "clippy did not flag {missing:?}; its output:\n{diagnostics}"
    );
    // And it flags nothing the preset does not list.
    let listed: BTreeSet<_> = entries.iter().map(|e| (e.kind, e.path.clone())).collect();
    let extra: Vec<_> = found.difference(&listed).collect();
    assert!(extra.is_empty(), "unexpected findings: {extra:?}");
}

#[test]
fn without_the_preset_clippy_flags_none_of_them() {
    let diagnostics = clippy(None, "lint_preset/without");
    assert!(
        flagged(&diagnostics).is_empty(),
        "clippy flags std calls without the preset, so the other test proves nothing:\n{diagnostics}"
    );
}

/// What `cargo clippy --fix` makes of a program that imports std types in a `use` group and
/// calls std functions the preset replaces.
const FIX_FIXTURE: &str = r#"use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    std::thread::sleep(Duration::from_millis(1));
    let _ = std::fs::read("/dev/null");
    println!("{addr}");
}
"#;

#[test]
fn clippy_fix_with_the_preset_applies_its_replacements_and_keeps_the_code_compiling() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lint_fix");
    let krate = dir.join("crate");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"lint_fix_fixture\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
             publish = false\n\n[dependencies]\nspindle = {{ path = {:?} }}\n\n[workspace]\n",
            repo()
        ),
    )
    .unwrap();
    std::fs::copy(repo().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let main = krate.join("src/main.rs");
    std::fs::write(&main, FIX_FIXTURE).unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "clippy",
            "--fix",
            "--allow-no-vcs",
            "--allow-dirty",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("CLIPPY_CONF_DIR", repo().join("clippy-preset"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cannot run cargo clippy --fix");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo clippy --fix failed:\n{stderr}");
    assert!(
        !stderr.contains("failed to automatically apply fixes"),
        "a replacement in the preset broke the code and --fix rolled back:\n{stderr}"
    );
    let fixed = std::fs::read_to_string(&main).unwrap();
    assert!(fixed.contains("spindle::fiber::sleep("), "{fixed}");
    assert!(fixed.contains("spindle::fs::read("), "{fixed}");
    assert!(
        fixed.contains("use std::net::{SocketAddr, TcpListener};"),
        "the use line was rewritten: {fixed}"
    );
}
