//! README's porting walk-through: `examples/chat.rs` is `examples/chat_std.rs` with `std::`
//! changed to `spindle::` in its `use` lines and `main`'s body wrapped in `spindle::run`.
//! Nothing else may differ (the `//!` header of each file describes its own version).

/// The file without its `//!` header, with the port's two mechanical changes undone or done.
fn body(file: &str, port: bool) -> String {
    file.split_inclusive('\n')
        .filter(|line| !line.starts_with("//!"))
        .map(|line| {
            if port && line.starts_with("use ") {
                line.replace("std::", "spindle::")
            } else {
                line.to_owned()
            }
        })
        .collect()
}

#[test]
fn chat_and_chat_std_differ_only_in_imports_and_the_run_wrapper() {
    let std_version = body(include_str!("../examples/chat_std.rs"), true);
    let spindle_version = body(include_str!("../examples/chat.rs"), false)
        .replace("spindle::run(chat_main)", "chat_main()");
    let std_lines: Vec<&str> = std_version.lines().collect();
    let spindle_lines: Vec<&str> = spindle_version.lines().collect();
    for (n, (a, b)) in std_lines.iter().zip(&spindle_lines).enumerate() {
        assert_eq!(a, b, "line {} of the programs' bodies differs", n + 1);
    }
    assert_eq!(std_lines.len(), spindle_lines.len(), "one file is longer");
    assert!(
        std_lines
            .iter()
            .any(|l| l.starts_with("use spindle::net::")),
        "the std version imports std::net"
    );
}

#[test]
fn the_chat_demo_delivers_every_message_on_fibers() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["run", "-q", "--example", "chat", "--", "--demo", "20"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("20 clients, 380 messages delivered of 380"),
        "{stdout}"
    );
}

#[test]
fn readme_shows_the_ports_use_lines_as_the_files_have_them() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("## Porting a std program")
        .expect("README has the walk-through");
    let diff = &readme[start..];
    let diff = &diff[diff.find("```diff\n").expect("a diff block") + 8..];
    let diff = &diff[..diff.find("```").expect("the diff block ends")];
    let lines_of = |file: &str, prefix: &str| -> Vec<String> {
        file.lines()
            .filter(|l| l.starts_with("use "))
            .map(|l| format!("{prefix}{l}"))
            .collect()
    };
    let shown: Vec<String> = diff
        .lines()
        .filter(|l| l.starts_with("-use ") || l.starts_with("+use "))
        .map(str::to_owned)
        .collect();
    let mut expected = lines_of(include_str!("../examples/chat_std.rs"), "-");
    expected.extend(lines_of(include_str!("../examples/chat.rs"), "+"));
    assert_eq!(
        shown, expected,
        "README's diff is not the examples' use lines"
    );
}
