#!/usr/bin/env python3
"""Writes README's std -> spindle table and tests/std_paths.rs from one list.

Run from the repository root: python3 scripts/std_table.py. The test in tests/std_paths.rs
checks that the two agree and that every spindle path in the table exists.
"""
import re

# (std path, items, spindle path, kind, note); kind: "use" (items are importable),
# "method" (items are methods of the type), "none" (not covered: keep std).
ROWS = [
    ("std::thread", "spawn Builder JoinHandle Thread ThreadId current sleep sleep_until yield_now park park_timeout panicking available_parallelism scope Scope ScopedJoinHandle LocalKey AccessError Result",
     "spindle::thread", "use", "fibers under std's names; closures need `'static`, not `Send`; `panicking` answers for the OS thread; `sleep_until` is still unstable in std"),
    ("std::thread::JoinHandle", "thread join is_finished", "spindle::thread::JoinHandle::<()>", "method", ""),
    ("std::thread::LocalKey", "with::<fn(&std::cell::Cell<u32>),()> try_with::<fn(&std::cell::Cell<u32>),()>", "spindle::thread::LocalKey::<std::cell::Cell<u32>>", "method", "one value per fiber"),
    ("std::thread::LocalKey<Cell<T>>", "set get take replace", "spindle::thread::LocalKey::<std::cell::Cell<u32>>", "method", "`set` does not run the initializer"),
    ("std::thread::LocalKey<RefCell<T>>", "with_borrow::<fn(&u32),()> with_borrow_mut::<fn(&mut_u32),()> set take replace", "spindle::thread::LocalKey::<std::cell::RefCell<u32>>", "method", ""),
    ("std (macros)", "thread_local print println eprint eprintln dbg", "spindle", "use", "`thread_local!` is per fiber; the printing macros write through spindle's stdout/stderr"),
    ("std::time", "Duration Instant SystemTime SystemTimeError TryFromFloatSecsError UNIX_EPOCH", "spindle::time", "use", "std's types, re-exported"),
    ("std::io", "stdin stdout stderr Stdin StdinLock Stdout StdoutLock Stderr StderrLock IsTerminal pipe PipeReader PipeWriter", "spindle::io", "use", "park the fiber; `IsTerminal` is spindle's (std's is sealed), for every `AsFd`"),
    ("std::io", "Read Write BufRead Seek SeekFrom BufReader BufWriter LineWriter Cursor Error ErrorKind Result IoSlice IoSliceMut IntoInnerError WriterPanicked Bytes Chain Empty Lines Repeat Sink Split Take copy empty read_to_string repeat sink prelude", "spindle::io", "use", "std's, re-exported"),
    ("std::net", "TcpListener TcpStream UdpSocket Incoming ToSocketAddrs", "spindle::net", "use", "park the fiber; `ToSocketAddrs` resolves names on the blocking pool"),
    ("std::net", "SocketAddr SocketAddrV4 SocketAddrV6 IpAddr Ipv4Addr Ipv6Addr Shutdown AddrParseError", "spindle::net", "use", "std's, re-exported"),
    ("std::fs", "File OpenOptions DirBuilder DirEntry ReadDir read_dir read read_to_string write copy rename hard_link remove_file create_dir create_dir_all remove_dir remove_dir_all metadata symlink_metadata canonicalize read_link set_permissions exists TryLockError", "spindle::fs", "use", "on the blocking pool; the fiber parks"),
    ("std::fs", "Metadata Permissions FileType FileTimes", "spindle::fs", "use", "std's, re-exported"),
    ("std::fs::File", "lock lock_shared try_lock try_lock_shared unlock", "spindle::fs::File", "method", "a contended `flock` parks the fiber (retries with 1–50 ms sleeps)"),
    ("std::process", "Command Child ChildStdin ChildStdout ChildStderr", "spindle::process", "use", "pipes through the reactor, `wait` on a pidfd"),
    ("std::process", "Stdio ExitStatus ExitCode Output CommandArgs CommandEnvs Termination exit abort id", "spindle::process", "use", "std's, re-exported"),
    ("std::sync", "Mutex MutexGuard RwLock RwLockReadGuard RwLockWriteGuard Condvar WaitTimeoutResult Barrier BarrierWaitResult", "spindle::sync", "use", "park the fiber; also work across threads"),
    ("std::sync", "Arc Weak Once OnceState OnceLock LazyLock LockResult PoisonError TryLockError TryLockResult atomic", "spindle::sync", "use", "std's, re-exported (`Once`/`OnceLock`/`LazyLock` block the thread while another initialises)"),
    ("std::sync::mpsc", "channel sync_channel Sender SyncSender Receiver Iter TryIter IntoIter RecvError TryRecvError RecvTimeoutError SendError TrySendError", "spindle::sync::mpsc", "use", "`recv` parks the fiber"),
    ("std::os::unix::net", "UnixListener UnixStream UnixDatagram Incoming SocketAddr", "spindle::os::unix::net", "use", ""),
    ("std::os::unix::fs", "DirBuilderExt DirEntryExt FileExt FileTypeExt MetadataExt OpenOptionsExt PermissionsExt symlink chown lchown fchown chroot", "spindle::os::unix::fs", "use", "std's traits (spindle's types implement them); the functions run on the pool"),
    ("std::os::unix::process", "CommandExt ExitStatusExt parent_id", "spindle::os::unix::process", "use", "`CommandExt` is spindle's, for spindle's `Command` (std's is sealed)"),
    ("std::os::unix", "ffi io", "spindle::os::unix", "use", "std's, re-exported"),
    ("std::os::unix::prelude", "AsFd AsRawFd BorrowedFd DirEntryExt ExitStatusExt FileExt FileTypeExt FromRawFd IntoRawFd MetadataExt OpenOptionsExt OsStrExt OsStringExt OwnedFd PermissionsExt RawFd CommandExt", "spindle::os::unix::prelude", "use", "`CommandExt` is spindle's; `thread::JoinHandleExt` is not mirrored (fibers have no pthread)"),
    ("std::os", "fd", "spindle::os", "use", "std's, re-exported"),
    ("std", "alloc any arch array ascii backtrace borrow boxed cell char clone cmp collections convert default env error f32 f64 ffi fmt future hash hint iter marker mem num ops option panic path pin primitive ptr rc result slice str string task vec", "spindle", "use", "std's modules that never block, re-exported unchanged so that a swap of every `use` line compiles"),
    ("std::{thread::sleep_ms, thread::park_timeout_ms, fs::soft_link, sync::ONCE_INIT}", "", "", "none", "deprecated in std: not mirrored"),
    ("any other call that blocks (a foreign library, CPU-heavy work, a std type kept as it is)", "", "`spindle::unblock(\\|\\| call())`", "none", "runs on the blocking pool while the fiber parks"),
]

START = "<!-- std-table:start (generated by scripts/std_table.py; checked by tests/std_paths.rs) -->"
END = "<!-- std-table:end -->"


def table():
    out = [START, "", "| std | items | spindle | notes |", "|---|---|---|---|"]
    for std, items, spin, kind, note in ROWS:
        shown = re.sub(r"::<.*>$", "", spin)
        items_md = ", ".join(f"`{re.sub(r'::<.*', '', i)}`" for i in items.split()) if items else "—"
        spin_md = f"`{shown}`" if kind != "none" else (spin or "— (keep std)")
        if kind == "method":
            items_md += " (methods)"
        out.append(f"| `{std}` | {items_md} | {spin_md} | {note} |")
    out += ["", END]
    return "\n".join(out)


def test_file():
    uses, methods = [], []
    for std, items, spin, kind, note in ROWS:
        if kind == "use":
            uses += [f"{spin}::{i}" for i in items.split()]
        elif kind == "method":
            methods += [f"{spin}::{i}".replace("mut_", "mut ") for i in items.split()]
    lines = [
        "//! Every spindle path of README's std -> spindle table exists: each is `use`d (or, for a",
        "//! method, named) below, so this file fails to compile when one is missing, and the test",
        "//! fails when the table and this file disagree. Both are generated by scripts/std_table.py.",
        "",
        "#[allow(unused_imports)]",
        "#[rustfmt::skip] // one path per line, for the test below",
        "mod paths {",
    ]
    for u in sorted(set(uses)):
        lines.append(f"    use {u} as _;")
    lines += [
        "",
        "    /// Methods cannot be imported: name each one as a value.",
        "    #[allow(dead_code)]",
        "    fn methods() {",
    ]
    for m in methods:
        lines.append(f"        let _ = {m};")
    lines += [
        "    }",
        "}",
        "",
        "/// The spindle paths this file names, with generic arguments (`::<...>`) removed.",
        "fn named_here() -> std::collections::BTreeSet<String> {",
        "    include_str!(\"std_paths.rs\")",
        "        .lines()",
        "        .map(str::trim)",
        "        .filter_map(|l| l.strip_prefix(\"use \").or_else(|| l.strip_prefix(\"let _ = \")))",
        "        .filter_map(|l| l.strip_suffix(\" as _;\").or_else(|| l.strip_suffix(';')))",
        "        .filter(|p| p.starts_with(\"spindle\"))",
        "        .map(strip_generics)",
        "        .collect()",
        "}",
        "",
        "fn strip_generics(path: &str) -> String {",
        "    let mut out = String::new();",
        "    let mut depth = 0;",
        "    for c in path.chars() {",
        "        match c {",
        "            '<' => depth += 1,",
        "            '>' => depth -= 1,",
        "            _ if depth == 0 => out.push(c),",
        "            _ => {}",
        "        }",
        "    }",
        "    out.trim_end_matches(':').replace(\"::::\", \"::\")",
        "}",
        "",
        "/// The spindle paths README's table lists as covered: `<spindle path>::<item>` per item.",
        "fn listed_in_readme() -> std::collections::BTreeSet<String> {",
        "    let readme = include_str!(\"../README.md\");",
        "    let start = readme.find(\"<!-- std-table:start\").expect(\"README has the std table\");",
        "    let end = readme.find(\"<!-- std-table:end -->\").expect(\"README's std table ends\");",
        "    let mut paths = std::collections::BTreeSet::new();",
        "    for row in readme[start..end].lines().filter(|l| l.starts_with(\"| `\")) {",
        "        let cells: Vec<&str> = row.split(\" | \").collect();",
        "        let spindle = cells[2].trim_matches('`');",
        "        if !spindle.starts_with(\"spindle\") || spindle.contains(' ') {",
        "            continue; // not covered: keep std, or a call to wrap",
        "        }",
        "        for item in cells[1].split(\", \") {",
        "            let item = item.trim_end_matches(\" (methods)\").trim_matches('`');",
        "            paths.insert(format!(\"{spindle}::{item}\"));",
        "        }",
        "    }",
        "    paths",
        "}",
        "",
        "#[test]",
        "fn every_covered_std_item_in_readme_has_a_spindle_path() {",
        "    let listed = listed_in_readme();",
        "    let named = named_here();",
        "    assert!(listed.len() > 150, \"the table lost rows: {} paths\", listed.len());",
        "    let unchecked: Vec<_> = listed.difference(&named).collect();",
        "    assert!(",
        "        unchecked.is_empty(),",
        "        \"README lists these as covered but tests/std_paths.rs does not name them (run \\",
        "         scripts/std_table.py): {unchecked:?}\"",
        "    );",
        "    let unlisted: Vec<_> = named.difference(&listed).collect();",
        "    assert!(unlisted.is_empty(), \"named here but not in README's table: {unlisted:?}\");",
        "}",
        "",
    ]
    return "\n".join(lines)


def main():
    readme = open("README.md").read()
    if START in readme:
        a = readme.index(START)
        b = readme.index(END) + len(END)
        readme = readme[:a] + table() + readme[b:]
    else:
        raise SystemExit("README.md has no std-table markers")
    open("README.md", "w").write(readme)
    open("tests/std_paths.rs", "w").write(test_file())


if __name__ == "__main__":
    main()
