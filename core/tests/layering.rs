//! The engine (`core/src/engine/`) must not import the API modules built on it, and the base
//! layer (`arch`, `stack`, `sys`, and the leaf utilities) must import neither: imports point
//! down (API → engine → base). See the module docs of `core/src/engine/mod.rs`.

use std::fs;
use std::path::{Path, PathBuf};

/// Top-level modules of spindle-core that code under `engine/` may name as `crate::<module>`.
const ENGINE_MAY_USE: &[&str] = &["engine", "arch", "stack", "sys", "slab", "trace"];
/// Top-level modules that the base layer may name.
const BASE_MAY_USE: &[&str] = &["arch", "stack", "sys", "slab", "trace"];
/// The base layer's directories and files.
const BASE: &[&str] = &["arch", "stack", "sys.rs", "slab.rs", "trace.rs"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.extension().is_some_and(|ext| ext == "rs") {
        out.push(path.to_owned());
    }
}

/// The lines of `file` that hold code, as `(index, line, code)`: comments are cut off, and
/// reading stops at its `#[cfg(test)]` module (whose tests may drive the whole crate).
fn code_lines(file: &Path) -> Vec<(usize, String, String)> {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(")
            && code.contains("test")
            && lines
                .peek()
                .is_some_and(|(_, next)| next.trim_start().starts_with("mod "))
        {
            break;
        }
        if code.starts_with("//") {
            continue;
        }
        let code = code.split("//").next().unwrap_or("").to_owned();
        out.push((number, line.to_owned(), code));
    }
    out
}

/// Every `crate::<module>` that `file` names in code (not in comments, and not in its
/// `#[cfg(test)]` module, whose tests may drive the whole crate) where `<module>` is not in
/// `allowed`, as "path:line: text".
fn violations(file: &Path, allowed: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line, code) in code_lines(file) {
        let code = code.as_str();
        for (at, _) in code.match_indices("crate::") {
            // `$crate::` in a macro is the same path seen from another crate.
            let module: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // `crate::{a, b}`: check each name.
            let modules: Vec<String> = if module.is_empty() {
                let rest = &code[at + "crate::".len()..];
                rest.trim_start_matches('{')
                    .split(['}', ','])
                    .map(|name| name.trim().split("::").next().unwrap_or("").to_owned())
                    .filter(|name| !name.is_empty())
                    .collect()
            } else {
                vec![module]
            };
            for module in modules {
                if !allowed.contains(&module.as_str()) {
                    found.push(format!(
                        "{}:{}: `crate::{module}` in `{}`",
                        file.strip_prefix(src()).unwrap_or(file).display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

fn check(paths: &[PathBuf], allowed: &[&str], layer: &str) {
    let mut files = Vec::new();
    for path in paths {
        rust_files(path, &mut files);
    }
    assert!(!files.is_empty(), "no files found for the {layer}");
    let found: Vec<String> = files.iter().flat_map(|f| violations(f, allowed)).collect();
    assert!(
        found.is_empty(),
        "the {layer} may import only crate::{{{}}}; these lines import from a layer above it:\n{}",
        allowed.join(", "),
        found.join("\n")
    );
}

#[test]
fn the_engine_imports_no_api_module() {
    check(&[src().join("engine")], ENGINE_MAY_USE, "engine");
}

#[test]
fn the_base_layer_imports_neither_engine_nor_api() {
    let paths: Vec<PathBuf> = BASE.iter().map(|p| src().join(p)).collect();
    check(&paths, BASE_MAY_USE, "base layer");
}

/// `libc::<function>(` in code (not comments, not `#[cfg(test)]` modules): a call into libc.
fn libc_calls(file: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line, code) in code_lines(file) {
        let code = code.as_str();
        for (at, _) in code.match_indices("libc::") {
            let name: String = code[at + "libc::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let called = code[at + "libc::".len() + name.len()..].starts_with('(');
            // Functions are lower case; `libc::SIG_DFL`-style constants and tuple-struct types
            // are not calls.
            if called && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
                found.push(format!(
                    "{}:{}: `libc::{name}(` in `{}`",
                    file.strip_prefix(src()).unwrap_or(file).display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn every_libc_call_goes_through_sys() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let found: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("sys.rs"))
        .flat_map(|f| libc_calls(f))
        .collect();
    assert!(
        found.is_empty(),
        "spindle-core calls libc only in src/sys.rs (add a wrapper there); these lines call it \
         directly:\n{}",
        found.join("\n")
    );
}
